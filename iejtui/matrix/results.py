"""results.json of a matrix: gathered from journal.db (read-only), then aggregated (pure).

``collect(reader, run, config_cost)`` → the document: the matrix definition, hardware and
versions, every variant (its engine run, startup time and facts such as KV capacity, or
why it failed), every cell (status, its bench run, the full bench result JSON and the
figures of ``iejtui.matrix.figures`` plus KV peak, GPU energy, memory headroom and cost),
the groups averaged over repetitions and the best variant per SLO.
"""

from __future__ import annotations

import re
import time
from typing import Any

from iejtui import __version__
from iejtui.matrix import cost as costm
from iejtui.matrix.figures import aggregate, best_per_slo, cell_figures
from iejtui.matrix.spec import spec_from_dict
from iejtui.redact import redact_argv, redact_env, redact_text

SCHEMA = "iejtui.matrix"
SCHEMA_VERSION = 1
LOG_TAIL = 15
_USAGE = re.compile(r"^(usage: |\s+\[)")  # an argparse usage block says nothing about the failure


def _kv_window(reader, engine: dict, t0: float, t1: float) -> tuple[float | None, float | None]:
    """(peak KV usage %, KV capacity tokens) of an engine run over [t0, t1] from its samples."""
    from iejtui.derive.engine import engine_figures
    from iejtui.derive.metric_map import metric_map_for
    from iejtui.summary import store_getter
    mmap = metric_map_for(engine.get("engine_kind") or "vllm")
    if mmap is None:
        return None, None
    try:
        figs = engine_figures(store_getter(reader, engine["id"], t0, t1), t0, t1, mmap)
    except Exception:  # noqa: BLE001 - figures are optional; a broken series must not lose the report
        return None, None
    return figs.kv_usage_pct_peak, figs.kv_capacity_tokens


def _gpu_window(reader, bench: dict, engine: dict | None) -> dict[str, Any]:
    from iejtui.derive.gpu import gpu_window_summary
    probe = {**bench, "env": (engine or {}).get("env") or {}}
    try:
        return gpu_window_summary(reader, probe) or {}
    except Exception:  # noqa: BLE001
        return {}


def _validity(reader, bench: dict) -> dict[str, Any] | None:
    """The advisor's verdict on one cell's bench run (client-bound, engine restarted, GPU
    throttled...): an invalid cell is marked in the report and never called best."""
    from iejtui.advisor.advise import run_validity
    from iejtui.advisor.run_inputs import read_inputs
    try:
        return run_validity(read_inputs(reader, bench))
    except Exception:  # noqa: BLE001 - a verdict is optional; a broken series must not lose the report
        return None


def hardware_label(hw: dict[str, Any]) -> str:
    """``2 × NVIDIA H100 80GB HBM3`` or ``CPU: Intel Xeon … (2 cores)``, for tables."""
    if hw.get("gpu_count"):
        return f"{hw['gpu_count']} × {hw.get('gpu_model') or 'GPU'}"
    cpu = hw.get("cpu") or "unknown CPU"
    return f"CPU: {cpu}" + (f" ({hw['cpu_cores']} cores)" if hw.get("cpu_cores") else "")


def _variant(reader, spec, name: str, vs: dict[str, Any]) -> tuple[dict[str, Any], dict | None]:
    run = reader.run(vs["engine_run"]) if vs.get("engine_run") else None
    argv, _ = redact_argv(spec.engine_argv(name))
    env, _ = redact_env(spec.engine_env(name))
    v = spec.variant(name)
    out = {"name": name, "description": v.description, "args": redact_argv(list(v.args))[0],
           "env": redact_env(dict(v.env))[0], "argv": argv, "engine_env": env, "status": vs.get("status"),
           "reason": redact_text(vs["reason"]) if vs.get("reason") else None, "engine_run": vs.get("engine_run"),
           "engine_runs": vs.get("engine_runs") or [], "startup_s": vs.get("start_s"), "facts": vs.get("facts") or {},
           "log_tail": None, "versions": {}}
    if run:
        out["facts"] = run.get("facts") if isinstance(run.get("facts"), dict) and run.get("facts") else out["facts"]
        out["versions"] = run.get("versions") or {}
        out["model"] = run.get("model")
        if run.get("ready_at"):
            out["startup_s"] = run["ready_at"] - run["started_at"]
        if vs.get("status") == "failed" and run.get("log_tail"):
            lines = [ln for ln in redact_text(run["log_tail"]).splitlines() if not _USAGE.match(ln)]
            out["log_tail"] = "\n".join(lines[-LOG_TAIL:])
    out["kv_capacity_tokens"] = (out["facts"] or {}).get("kv_cache_tokens")
    return out, run


def collect(reader, run: dict[str, Any], config_cost: dict[str, Any] | None = None) -> dict[str, Any]:
    """The results.json document of matrix run ``run`` (its ``facts`` hold the state)."""
    st = run["facts"]
    spec = spec_from_dict(st["spec"])
    hw = dict(st.get("hardware") or {})
    slos = [dict(s.__dict__) for s in spec.slos]
    variants, engines = [], {}
    for v in spec.variants:
        entry, erun = _variant(reader, spec, v.name, st["variants"].get(v.name) or {})
        variants.append(entry)
        if erun:
            engines[erun["id"]] = erun
    versions = next((v["versions"] for v in variants if v.get("versions", {}).get("engine")), None) or next(
        (v["versions"] for v in variants if v.get("versions")), {})
    gpu_by_uuid = {g.get("uuid"): g for g in hw.get("gpus") or []}
    cells = []
    for key in st["order"]:
        c = st["cells"][key]
        entry = {"key": key, **{k: c.get(k) for k in ("variant", "workload", "load", "max_concurrency",
                                                       "request_rate", "rep", "status", "reason", "run_id",
                                                       "started_at", "ended_at", "attempts")}}
        bench = reader.run(c["run_id"]) if c.get("run_id") else None
        if bench and c["status"] == "done" and isinstance(bench.get("summary"), dict):
            result = bench["summary"]
            figs = cell_figures(result, reader.requests(bench["id"]), slos)
            erun = engines.get(bench.get("parent_id")) or (reader.run(bench["parent_id"]) if bench.get("parent_id")
                                                          else None)
            t0, t1 = bench["started_at"], bench.get("ended_at") or time.time()
            if erun:
                kv_pct, kv_cap = _kv_window(reader, erun, t0, t1)
                kv_cap = kv_cap or ((erun.get("facts") or {}).get("kv_cache_tokens"))
                figs["kv_peak_pct"] = kv_pct
                figs["kv_capacity_tokens"] = kv_cap
                figs["kv_peak_tokens"] = kv_pct / 100.0 * kv_cap if kv_pct is not None and kv_cap else None
                figs["kv_headroom_tokens"] = costm.kv_headroom(kv_cap, figs["kv_peak_tokens"])
            gpu = _gpu_window(reader, bench, erun)
            used = [{**gpu_by_uuid.get(u, {}), **g} for u, g in (gpu.get("gpus") or {}).items()]
            head = costm.memory_headroom(used)
            figs["mem_headroom_bytes"], figs["mem_headroom_pct"] = head["bytes"], head["pct"]
            figs["gpu_energy_j"] = gpu.get("energy_j")
            figs["joules_per_token"] = costm.joules_per_token(gpu.get("energy_j"), figs.get("output_tokens"))
            n_gpus = costm.gpus_used(spec.engine_argv(c["variant"]), spec.engine_env(c["variant"]),
                                     int(hw.get("gpu_count") or 0))
            price, basis = costm.hour_price(spec.cost, config_cost or {}, hw.get("gpu_model"), n_gpus)
            figs["gpus_used"], figs["hour_usd"], figs["price_basis"] = n_gpus, price, basis
            figs["output_tok_s_per_gpu"] = (figs["output_tok_s"] / n_gpus
                                            if n_gpus and figs.get("output_tok_s") is not None else None)
            figs["usd_per_1m_output"] = costm.usd_per_million(price, figs.get("duration_s"), figs.get("output_tokens"))
            entry.update(engine_run=bench.get("parent_id"), figures=figs, bench=result,
                         validity=_validity(reader, bench))
        cells.append(entry)
    groups = aggregate(cells, slos)
    n_gpus0 = costm.gpus_used(spec.base_argv, spec.base_env, int(hw.get("gpu_count") or 0))
    price0, basis0 = costm.hour_price(spec.cost, config_cost or {}, hw.get("gpu_model"), n_gpus0)
    counts = {s: sum(1 for c in cells if c["status"] == s) for s in ("done", "failed", "skipped", "pending", "running")}
    return {
        "schema": SCHEMA, "schema_version": SCHEMA_VERSION, "iejtui": __version__, "name": spec.name,
        "description": spec.description, "file": spec.path, "matrix_run": run["id"], "state": st.get("state"),
        "reason": st.get("reason"), "started_at": run["started_at"], "ended_at": run.get("ended_at"),
        "date": time.strftime("%Y-%m-%d", time.localtime(run["started_at"])), "written_at": time.time(),
        "hardware": {**hw, "label": hardware_label(hw)}, "versions": versions,
        "engine": {"profile": spec.profile, "kind": spec.kind, "argv": redact_argv(spec.base_argv)[0],
                   "env": redact_env(spec.base_env)[0], "model": next((v.get("model") for v in variants
                                                                      if v.get("model")), None)},
        "cost": {"hour_usd": price0, "basis": basis0, "matrix": spec.cost, "config": config_cost or {}},
        "slos": slos, "repetitions": spec.repetitions, "warmups": spec.warmups,
        "workloads": [{"name": w.name, "dataset": w.dataset, "input_len": w.input_len, "output_len": w.output_len,
                       "num_prompts": w.num_prompts, "shape": w.shape, "description": w.description,
                       "loads": [lp.label for lp in w.loads], "load_titles": [lp.title for lp in w.loads]}
                      for w in spec.workloads],
        "variants": variants, "counts": counts, "cells": cells, "groups": groups,
        "best": best_per_slo(groups, slos),
        "example_bench_argv": spec.bench_argv(spec.cells()[0]) if spec.cells() else [],
    }
