"""A window of one host (or one engine of it) read back from Prometheus as frames of a
local ``imported`` run: raw samples (range selectors, not a resampled range query), so an
iejtui host's window comes back with the service's own sample times and values.

Names come back in the local vocabulary: GPU fields as ``gpu.*`` series (iejtui units,
label ``uuid``) under sources ``gpu:<uuid>`` / ``gpu:<uuid>:slow``; engine figures under
vLLM's names (canonical ``iejtui_engine_*`` names are translated, a scraped vLLM's kept),
so the local dashboard, exports and day logs read an imported run like a recorded one.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

from collectors.records import Frame, Sample, labels_of
from iejtui.derive.metric_map import VLLM
from iejtui.fleet import model as M
from iejtui.fleet import names as N
from iejtui.fleet.promql import PromClient

CHUNK_S = 900.0
MAX_WINDOW_S = 7 * 86400.0
SLOW = {"gpu.energy_mj", "gpu.mem_temp_c"}
DROP_LABELS = {"instance", "job", N.ENGINE_NAME_LABEL, N.ENGINE_KIND_LABEL, N.RUN_ID_LABEL}
ENGINE_ALL = tuple(N.engine_wire_names(N.CANONICAL) + N.engine_wire_names(VLLM))
GPU_ALL = tuple(N.dcgm_names(N.GPU_EXPORT.values()))


def import_selector(instance: str, engine: str | None = None, gpus: bool = True) -> str:
    names = ENGINE_ALL + (GPU_ALL if gpus else ())
    extra = f'{N.ENGINE_NAME_LABEL}=~"{M.quote_regex([engine])}|"' if engine else ""
    return M.selector(names, [instance], extra)


def _canon_to_vllm() -> dict[str, tuple[str, dict[str, str]]]:
    out: dict[str, tuple[str, dict[str, str]]] = {}
    for key, fam in N.ENGINE_COUNTERS.items():
        extra = {"source": "local_compute"} if key == "prompt_tokens_by_source" else {}
        out[fam + "_total"] = (N.TO_VLLM[key], extra)
    for key in ("running", "waiting", "kv_usage"):
        out[N.ENGINE_GAUGES[key]] = (N.TO_VLLM[key], {})
    for key, fam in N.ENGINE_HISTOGRAMS.items():
        for part in ("_bucket", "_sum", "_count"):
            out[fam + part] = (N.TO_VLLM[key] + part, {})
    return out


CANON_TO_VLLM = _canon_to_vllm()


def rows_to_frames(rows: Iterable[M.Row], engine: str | None = None) -> tuple[list[Frame], dict[str, Any]]:
    """Frames (one per source and sample time) and what was found (GPUs, engines, kinds)."""
    ticks: dict[tuple[str, float], dict[tuple[str, tuple], float]] = {}
    info: dict[str, Any] = {"gpus": {}, "engines": {}, "runs": set()}

    def put(source: str, t: float, name: str, labels: dict[str, str], v: float) -> None:
        if math.isfinite(v):
            ticks.setdefault((source, round(t, 3)), {})[(name, labels_of(labels))] = v

    for name, labels, ts, vs in rows:
        if name in (N.RUN_INFO, N.SERVICE_INFO):
            continue
        conv = N.from_dcgm(name, 0.0)
        if conv is not None:
            uuid = labels.get("UUID") or labels.get("uuid") or f"gpu{labels.get('gpu', '')}"
            info["gpus"][uuid] = labels.get("modelName")
            source = f"gpu:{uuid}:slow" if conv[0] in SLOW else f"gpu:{uuid}"
            for t, v in zip(ts, vs):
                hit = N.from_dcgm(name, v)
                put(source, t, hit[0], {"uuid": uuid}, hit[1])
            continue
        if not (name.startswith(("vllm:", N.E))):
            continue
        if engine and labels.get(N.ENGINE_NAME_LABEL) not in (None, engine):
            continue
        ename = labels.get(N.ENGINE_NAME_LABEL) or labels.get("job") or "engine"
        info["engines"][ename] = labels.get(N.ENGINE_KIND_LABEL) or "vllm"
        if labels.get(N.RUN_ID_LABEL):
            info["runs"].add(labels[N.RUN_ID_LABEL])
        keep = {k: v for k, v in labels.items() if k not in DROP_LABELS}
        if name == N.ENGINE_GAUGES["kv_capacity_tokens"]:
            for t, v in zip(ts, vs):
                put("engine", t, VLLM.names("cache_config_info")[0],
                    {**keep, "kv_cache_size_tokens": str(int(v)) if math.isfinite(v) else "nan"}, 1.0)
            continue
        if name in CANON_TO_VLLM:
            name, extra = CANON_TO_VLLM[name]
            keep.update(extra)
        elif not name.startswith("vllm:"):  # DCGM fields without an iejtui series (FB_FREE), others
            continue
        for t, v in zip(ts, vs):
            put("engine", t, name, keep, v)
    frames = [Frame(src, t, [Sample(n, v, lab) for (n, lab), v in vals.items()])
              for (src, t), vals in sorted(ticks.items(), key=lambda kv: (kv[0][1], kv[0][0]))]
    info["runs"] = sorted(info["runs"])
    return frames, info


async def fetch_window(client: PromClient, instance: str, t0: float, t1: float, engine: str | None = None,
                       chunk_s: float = CHUNK_S) -> tuple[list[M.Row], str]:
    """Raw samples of ``instance`` in ``[t0, t1]`` (range selectors, ``chunk_s`` per query)."""
    sel = import_selector(instance, engine)
    rows: list[M.Row] = []
    a = t0
    while a < t1:
        b = min(a + chunk_s, t1)
        ms = max(1, int(round((b - a) * 1000)) + (1 if a == t0 else 0))
        data = await client.query(f"{sel}[{ms}ms]", b)
        for name, labels, ts, vs in M.parse_result(data):
            keep = [(t, v) for t, v in zip(ts, vs) if t0 <= t <= t1]
            rows.append((name, labels, [k[0] for k in keep], [k[1] for k in keep]))
        a = b
    return rows, sel
