"""GPU figures over a run's window, read from the service's host GPU recording.

GPU samples are stored once per service lifetime under a ``record`` run named
``gpu@HOST``; an engine or benchmark run reads them over its own time window. The GPUs
counted are those the run could see: ``CUDA_VISIBLE_DEVICES`` from the run's environment
(indices or UUIDs) when set, every sampled GPU otherwise.
"""

from __future__ import annotations

import time
from typing import Any

from collectors.gpu_math import energy_joules
from iejtui.derive import gauges

GAUGES = {  # series → figure prefix
    "gpu.util_gpu": "kernel_active_pct",
    "gpu.sm_active": "sm_active_pct",
    "gpu.tensor_active": "tensor_active_pct",
    "gpu.dram_active": "dram_active_pct",
    "gpu.mem_used": "mem_used_bytes",
    "gpu.power_mw": "power_mw",
    "gpu.temp_c": "temp_c",
}


def visible_gpus(run: dict, static: list[dict]) -> list[dict]:
    """The GPUs a run could use, from CUDA_VISIBLE_DEVICES in its recorded environment."""
    cvd = ((run.get("env") or {}).get("CUDA_VISIBLE_DEVICES") or "").strip()
    if not cvd:
        return static
    wanted = [w.strip() for w in cvd.split(",") if w.strip()]
    out = []
    for g in static:
        if str(g.get("index")) in wanted or g.get("uuid") in wanted or any(
                w.startswith("GPU-") and str(g.get("uuid", "")).startswith(w) for w in wanted):
            out.append(g)
    return out


def _host_runs(reader, t0: float, t1: float) -> list[dict]:
    return reader.gpu_runs_between(t0, t1)


def gpu_window_summary(reader, run: dict) -> dict[str, Any]:
    """Per-GPU and total figures (energy J, power, SM/tensor activity, memory) for ``run``."""
    t0 = run.get("ready_at") or run["started_at"]
    t1 = run.get("ended_at") or time.time()
    per_gpu: dict[str, dict[str, Any]] = {}
    for host in _host_runs(reader, t0, t1):
        static = (host.get("facts") or {}).get("gpus") or []
        for g in visible_gpus(run, static):
            uuid = g["uuid"]
            figs: dict[str, Any] = {"name": g.get("name"), "index": g.get("index")}
            for name, key in GAUGES.items():
                for sd in reader.series(host["id"], name, t0=t0, t1=t1, source=f"gpu:{uuid}"):
                    figs[f"{key}_mean"] = gauges.window_mean(sd.ts, sd.values, t0, t1)
                    figs[f"{key}_peak"] = gauges.window_max(sd.ts, sd.values, t0, t1)
            for sd in reader.series(host["id"], "gpu.energy_mj", t0=t0 - 6, t1=t1 + 6, source=f"gpu:{uuid}:slow"):
                if len(sd.ts) >= 2:
                    figs["energy_j"] = energy_joules(sd.ts, sd.values, t0, t1)
            if len(figs) > 2:
                per_gpu.setdefault(uuid, {}).update(figs)
    if not per_gpu:
        return {}
    energies = [g["energy_j"] for g in per_gpu.values() if g.get("energy_j") is not None]
    return {
        "gpus": per_gpu,
        "energy_j": sum(energies) if energies else None,
        "mem_used_bytes_peak": max((g.get("mem_used_bytes_peak") or 0) for g in per_gpu.values()),
        "power_w_peak": max((g.get("power_mw_peak") or 0) for g in per_gpu.values()) / 1000.0,
        "sm_active_pct_mean": _mean(g.get("sm_active_pct_mean") for g in per_gpu.values()),
        "tensor_active_pct_mean": _mean(g.get("tensor_active_pct_mean") for g in per_gpu.values()),
        "kernel_active_pct_mean": _mean(g.get("kernel_active_pct_mean") for g in per_gpu.values()),
        "window": [t0, t1],
    }


def _mean(values) -> float | None:
    vs = [v for v in values if v is not None]
    return sum(vs) / len(vs) if vs else None
