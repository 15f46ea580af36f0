"""One refresh of the fleet: the queries a visible page of hosts needs, asked concurrently.

Per refresh, whatever the fleet's size: 2 discovery queries (which hosts exist, which are
up: a few bytes per host) and, for the visible hosts only, 4 instant queries: GPU fields
now, engine series now and one window ago (so rates and windowed percentiles use the
local dashboard's maths on two readings), and the sample times of GPUs and engines
(staleness). Plots of one host are range queries with the step sized to the window.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from iejtui.derive.metric_map import VLLM
from iejtui.fleet import model as M
from iejtui.fleet import names as N
from iejtui.fleet.promql import PromClient, PromError

DEFAULT_WINDOW_S = 60.0
DEFAULT_STALE_S = 45.0  # three 15 s scrapes

#: engine figures the table and panels read (no prefill/decode/tpot, as the local panels)
ENGINE_KEYS = ("prompt_tokens", "prompt_tokens_by_source", "generation_tokens", "prefix_cache_queries",
               "prefix_cache_hits", "preemptions", "request_success", "running", "waiting", "kv_usage",
               "cache_config_info", "kv_capacity_tokens", "ttft", "itl", "e2e", "queue")
ENGINE_NAMES = tuple(N.engine_wire_names(N.CANONICAL, ENGINE_KEYS) + N.engine_wire_names(VLLM, ENGINE_KEYS))
#: what a table row shows (the other hosts of the page): tok/s, KV, queue, TTFT p99
TABLE_KEYS = ("generation_tokens", "running", "waiting", "kv_usage", "cache_config_info", "kv_capacity_tokens", "ttft")
TABLE_ENGINE_NAMES = tuple(N.engine_wire_names(N.CANONICAL, TABLE_KEYS) + N.engine_wire_names(VLLM, TABLE_KEYS))
PRESENCE = tuple(N.dcgm_names(["DCGM_FI_DEV_POWER_USAGE", "DCGM_FI_DEV_GPU_UTIL"])) + (
    N.ENGINE_GAUGES["running"], *VLLM.names("running"), N.SERVICE_INFO)
GPU_NAMES = tuple(N.dcgm_names(N.GPU_PANEL_FIELDS.values()))
TABLE_GPU_NAMES = tuple(N.dcgm_names(N.GPU_PANEL_FIELDS[k] for k in ("gpu.util_gpu", "gpu.sm_active", "gpu.power_mw",
                                                                      "gpu.mem_used")))
FRESH_GPU = tuple(N.dcgm_names(["DCGM_FI_DEV_GPU_UTIL"]))
FRESH_ENGINE = (N.ENGINE_GAUGES["running"], *VLLM.names("running"))


async def discover(client: PromClient, at: float) -> list[dict[str, Any]]:
    count_q = f"count by (instance, job) ({M.selector(PRESENCE)})"
    counts, up = await asyncio.gather(client.query(count_q, at), client.query("up", at))
    return M.discover(M.parse_result(counts), M.parse_result(up))


async def fleet_snapshot(client: PromClient, *, at: float | None = None, window_s: float = DEFAULT_WINDOW_S,
                         offset: int = 0, limit: int | None = None, stale_s: float = DEFAULT_STALE_S,
                         only: list[str] | None = None, detail: bool | list[str] = True) -> M.FleetSnapshot:
    """Hosts ``[offset, offset + limit)`` (or those named in ``only``) with GPUs, engines and runs.

    ``detail``: the hosts whose panels are drawn in full (all of them when True); the
    others get the figures of a table row only (fewer series asked of Prometheus).
    """
    # instant results carry the evaluation time: ask at whole milliseconds, so the two
    # readings sit exactly at the window's ends
    t = round(time.time() if at is None else at, 3)
    t_from = round(t - window_s, 3)
    started = time.perf_counter()
    client.load.reset()
    try:
        hosts = await discover(client, t)
        if only:
            hosts = [h for h in hosts if h["instance"] in only or (h["instance"].split(":")[0] in only)]
        total = len(hosts)
        visible = hosts[offset:offset + limit] if limit is not None else hosts[offset:]
        if not visible:
            return M.FleetSnapshot(client.url, t, window_s, (), total, offset, None, client.load.as_dict(),
                                   time.perf_counter() - started)
        insts = [h["instance"] for h in visible]
        full = insts if detail is True else [i for i in insts if i in (detail or [])]
        rest = [i for i in insts if i not in full]

        def pick(full_names, table_names, extra=()):
            parts = [M.selector(full_names + extra, full)] if full else []
            if rest:
                parts.append(M.selector(table_names + extra, rest))
            return " or ".join(parts)
        info = (N.RUN_INFO, N.SERVICE_INFO)
        fresh_q = f"timestamp({M.selector(FRESH_GPU, insts)}) or timestamp({M.selector(FRESH_ENGINE, insts)})"
        gpu_r, eng1_r, eng0_r, fresh_r = await asyncio.gather(
            client.query(pick(GPU_NAMES, TABLE_GPU_NAMES), t),
            client.query(pick(ENGINE_NAMES, TABLE_ENGINE_NAMES, info), t),
            client.query(pick(ENGINE_NAMES, TABLE_ENGINE_NAMES), t_from),
            client.query(fresh_q, t))
    except PromError as exc:
        return M.FleetSnapshot(client.url, t, window_s, (), 0, offset, str(exc), client.load.as_dict(),
                               time.perf_counter() - started)
    gpu_rows = M.by_instance(M.parse_result(gpu_r))
    eng1 = M.at_time(M.parse_result(eng1_r), t)
    eng_rows = M.by_instance(M.at_time(M.parse_result(eng0_r), t_from) + eng1)
    runs = M.runs_from_rows(eng1)
    names = M.hostnames(M.parse_result(gpu_r) + eng1)
    iejtui_hosts = {r[1].get("instance") for r in eng1 if r[0] == N.SERVICE_INFO}
    fresh_gpu: dict[str, dict[str, float]] = {}
    fresh_eng: dict[tuple[str, str], float] = {}
    for _, labels, _, vs in M.parse_result(fresh_r):
        inst = labels.get("instance", "")
        if labels.get("UUID") and vs:
            fresh_gpu.setdefault(inst, {})[labels["UUID"]] = vs[-1]
        elif vs:
            key = (inst, M._engine_key(labels))
            fresh_eng[key] = max(fresh_eng.get(key, 0.0), vs[-1])
    interval = max((stale_s - 1.0) / 3.0, 0.1)
    out = []
    for h in visible:
        inst = h["instance"]
        gpus = M.gpu_rows_to_panels(gpu_rows.get(inst, []), fresh_gpu.get(inst, {}), t, interval)
        engines = []
        host_runs = runs.get(inst, [])
        for name, rows in sorted(M.engine_groups(eng_rows.get(inst, [])).items()):
            engines.append(M.engine_from_rows(inst, name, rows, host_runs, t_from, t,
                                              fresh_eng.get((inst, name)), stale_s))
        newest = max([*fresh_gpu.get(inst, {}).values(), *(v for (i, _), v in fresh_eng.items() if i == inst)],
                     default=None)
        out.append(M.FleetHost(instance=inst, job=h["job"], up=h["up"], hostname=names.get(inst),
                               iejtui=inst in iejtui_hosts, gpus=tuple(gpus), engines=tuple(engines),
                               runs=tuple(host_runs), newest=newest))
    return M.FleetSnapshot(client.url, t, window_s, tuple(out), total, offset, None, client.load.as_dict(),
                           time.perf_counter() - started)


def snapshot_sync(url: str, timeout_s: float = 5.0, **kw) -> M.FleetSnapshot:
    async def go():
        async with PromClient(url, timeout_s) as c:
            return await fleet_snapshot(c, **kw)
    return asyncio.run(go())


# ---- plots of one host (range queries, step sized to the window) --------------------------
PLOT_POINTS = 120
GPU_PLOT = tuple(N.dcgm_names(["DCGM_FI_PROF_SM_ACTIVE", "DCGM_FI_DEV_GPU_UTIL"]))
TOKENS_PLOT = (N.ENGINE_COUNTERS["generation_tokens"] + "_total", *VLLM.names("generation_tokens"))
KV_PLOT = (N.ENGINE_GAUGES["kv_usage"], *VLLM.names("kv_usage"))
TTFT_PLOT = tuple(n for base in (N.ENGINE_HISTOGRAMS["ttft"], *VLLM.names("ttft")) for n in (base + "_bucket", base + "_count"))


def plot_step(window_s: float, points: int = PLOT_POINTS, floor_s: float = 1.0) -> float:
    """One point per ~window/points seconds, never finer than ``floor_s`` (the scrape rate)."""
    return max(floor_s, window_s / max(points, 1))


async def host_plots(client: PromClient, instance: str, t: float, window_s: float, points: int = PLOT_POINTS):
    """The host's plots: mean SM-active vs kernel-active over its GPUs, generation tok/s, KV
    usage and TTFT p50/p99 of its engines; four range queries whatever the window."""
    from iejtui.viewmodel.engine import quantile_points, rate_points
    from iejtui.viewmodel.gpu import mean_points
    from iejtui.viewmodel.models import Line, Plot
    step = plot_step(window_s, points)
    t0 = t - window_s
    q_w = max(60.0, 3 * step)
    gpu_r, tok_r, kv_r, ttft_r = await asyncio.gather(
        client.query_range(M.selector(GPU_PLOT, [instance]), t0, t, step),
        client.query_range(M.selector(TOKENS_PLOT, [instance]), t0 - 3 * step, t, step),
        client.query_range(M.selector(KV_PLOT, [instance]), t0, t, step),
        client.query_range(M.selector(TTFT_PLOT, [instance]), t0 - q_w, t, step))
    conv = []
    for name, labels, ts, vs in M.parse_result(gpu_r):
        hit = N.from_dcgm(name, 1.0)
        if hit:
            k = hit[1]
            conv.append((hit[0], {"uuid": labels.get("UUID", "")}, ts, [v * k for v in vs]))
    gget = M.getter(conv)
    sm = mean_points(gget, "gpu.sm_active", t0, t)
    util = mean_points(gget, "gpu.util_gpu", t0, t)
    tok_rows = M.parse_result(tok_r)
    tget = M.getter(tok_rows)
    gen = rate_points(tget, tuple(sorted({r[0] for r in tok_rows})), t0, t, 3 * step) if tok_rows else ([], [])
    kv_lines = []
    for _, labels, ts, vs in M.parse_result(kv_r):
        kv_lines.append(Line(labels.get(N.ENGINE_NAME_LABEL) or labels.get("job") or "kv", tuple(ts),
                             tuple(100.0 * v for v in vs)))
    ttft_rows = M.parse_result(ttft_r)
    ttft_lines = []
    if ttft_rows:
        mmap = N.engine_map({r[0] for r in ttft_rows})
        for q, lab in ((0.5, "p50"), (0.99, "p99")):
            qt, qv = quantile_points(M.getter(ttft_rows), mmap, "ttft", q, t0, t, q_w)
            ttft_lines.append(Line(lab, tuple(qt), tuple(v * 1000.0 for v in qv)))
    note = "no GPU series" if not conv else None
    return (
        Plot("gpu", "SM active vs kernel active (mean of GPUs)", "%", t0, t,
             (Line("SM active", tuple(sm[0]), tuple(sm[1])), Line("kernel active", tuple(util[0]), tuple(util[1]))),
             y_max=100.0, note=note),
        Plot("tokens", "generation tok/s", "tok/s", t0, t, (Line("generation", tuple(gen[0]), tuple(gen[1])),),
             note=None if tok_rows else "no engine series"),
        Plot("kv", "KV cache usage", "%", t0, t, tuple(kv_lines), y_max=100.0,
             note=None if kv_lines else "no engine series"),
        Plot("ttft", f"TTFT (sliding {q_w:.0f} s)", "ms", t0, t, tuple(ttft_lines),
             note=None if ttft_rows else "no engine series"),
    )
