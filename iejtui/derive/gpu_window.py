"""GPU series over a run's window for charts, metrics.json's GPU block, and token rates.

Figures come from ``iejtui.derive.gpu.gpu_window_summary`` (the project's one definition);
this module adds the per-tick series the charts need, read from the host GPU recording
(``gpu@HOST`` runs), restricted to the GPUs the run could see.

GPU samples belong to the machine: the service records them once under a ``record`` run
(sources ``gpu:<uuid>`` at 1 Hz and ``gpu:<uuid>:slow`` at 5 s). An engine or benchmark
run reads them over its own ``[start, end]``, restricted to its GPUs when it lists them.
Aggregation across GPUs is per tick (all GPUs of one tick share a timestamp): percentages
are averaged, bytes and watts summed. Pure maths below ``read_gpu_window``.
"""

from __future__ import annotations

import math
import time
from typing import Any

from iejtui.derive import counters


PCT_SERIES = {"sm_active": "gpu.sm_active", "tensor_active": "gpu.tensor_active",
              "kernel_active": "gpu.util_gpu", "dram_active": "gpu.dram_active"}
SUM_SERIES = {"memory_used": "gpu.mem_used", "power": "gpu.power_mw"}


def run_span(run: dict) -> tuple[float, float]:
    end = run.get("ended_at") or time.time()
    return float(run["started_at"]), float(end)


def _gpu_runs(reader, t0: float, t1: float) -> list[dict]:
    return reader.gpu_runs_between(t0, t1)


def aggregate_ticks(per_gpu: list[tuple[list[float], list[float]]], how: str) -> tuple[list[float], list[float]]:
    """Per-timestamp aggregate of several GPUs' series: ``mean`` or ``sum`` (pure)."""
    acc: dict[float, list[float]] = {}
    for ts, vs in per_gpu:
        for t, v in zip(ts, vs):
            if math.isfinite(v):
                acc.setdefault(round(t, 3), []).append(v)
    keys = sorted(acc)
    if how == "sum":
        return keys, [math.fsum(acc[k]) for k in keys]
    return keys, [math.fsum(acc[k]) / len(acc[k]) for k in keys]


def peak_mean(values: list[float]) -> dict[str, float | None]:
    """``{"peak", "mean"}`` of finite values; both ``None`` when there is none (pure)."""
    vals = [v for v in values if math.isfinite(v)]
    if not vals:
        return {"peak": None, "mean": None}
    return {"peak": max(vals), "mean": math.fsum(vals) / len(vals)}


def read_gpu_window(reader, run: dict) -> dict[str, Any]:
    """Aggregated GPU series over the run's window.

    Returns ``{"uuids": [...], "series": {key: (ts, values)}, "window": [t0, t1]}``
    with keys of ``PCT_SERIES`` and ``SUM_SERIES`` (power in W, memory in bytes); empty
    ``uuids`` when no GPU was recorded during the run.
    """
    from iejtui.derive.gpu import visible_gpus
    t0, t1 = run_span(run)
    wanted: set[str] = set()
    names = list(PCT_SERIES.values()) + list(SUM_SERIES.values())
    raw: dict[str, list[tuple[list[float], list[float]]]] = {n: [] for n in names}
    uuids: set[str] = set()
    for gr in _gpu_runs(reader, t0, t1):
        static = (gr.get("facts") or {}).get("gpus") or []
        wanted = {g.get("uuid") for g in visible_gpus(run, static)} if static else set()
        for sd in reader.series_many(gr["id"], names, None, t0, t1):
            parts = sd.source.split(":")
            if len(parts) < 2 or parts[0] != "gpu":
                continue
            uuid = parts[1]
            if wanted and uuid not in wanted:
                continue
            uuids.add(uuid)
            if sd.name in raw:
                raw[sd.name].append((sd.ts, sd.values))
    series: dict[str, tuple[list[float], list[float]]] = {}
    for key, name in PCT_SERIES.items():
        if raw[name]:
            series[key] = aggregate_ticks(raw[name], "mean")
    for key, name in SUM_SERIES.items():
        if raw[name]:
            ts, vs = aggregate_ticks(raw[name], "sum")
            series[key] = (ts, [v / 1000.0 for v in vs] if key == "power" else vs)
    return {"uuids": sorted(uuids), "series": series, "window": [t0, t1]}


def gpu_block(summary: dict[str, Any] | None, generation_tokens: float | None) -> dict[str, Any]:
    """metrics.json's ``gpu`` block from ``iejtui.derive.gpu.gpu_window_summary`` (pure).

    Peaks are the busiest GPU's, means the average over the run's GPUs; power in W,
    memory in bytes. Every figure is ``None`` when it was not sampled (no GPU, no GPM).
    """
    per = (summary or {}).get("gpus") or {}

    def pm(key: str, scale: float = 1.0) -> dict[str, float | None]:
        peaks = [g[f"{key}_peak"] * scale for g in per.values() if g.get(f"{key}_peak") is not None]
        means = [g[f"{key}_mean"] * scale for g in per.values() if g.get(f"{key}_mean") is not None]
        return {"peak": max(peaks) if peaks else None, "mean": math.fsum(means) / len(means) if means else None}

    energy = (summary or {}).get("energy_j")
    return {
        "count": len(per), "uuids": sorted(per), "names": sorted({str(g.get("name")) for g in per.values()
                                                                   if g.get("name")}),
        "sm_active_pct": pm("sm_active_pct"), "tensor_active_pct": pm("tensor_active_pct"),
        "kernel_active_pct": pm("kernel_active_pct"), "dram_active_pct": pm("dram_active_pct"),
        "memory_used_bytes": pm("mem_used_bytes"), "power_w": pm("power_mw", 1e-3),
        "energy_j": energy, "joules_per_token": energy / generation_tokens if energy and generation_tokens else None,
        "window": (summary or {}).get("window"),
    }


#: The sliding window of the token rates (for peaks and plots).
RATE_WINDOW_S = 5.0


def token_rate(reader, run_id: int, name: str, t0: float, t1: float) -> tuple[list[float], list[float]]:
    """Sliding 5 s rate of a token counter (summed over its label sets), for peaks and plots."""
    parts = []
    for sd in reader.series(run_id, name, None, t0 - RATE_WINDOW_S, t1):
        parts.append(counters.rate_series(sd.ts, sd.values, RATE_WINDOW_S))
    if not parts:
        return [], []
    return parts[0] if len(parts) == 1 else aggregate_ticks(parts, "sum")
