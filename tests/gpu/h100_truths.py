"""What the hardware must show in each phase of the H100 workload (pure, no NVML, no torch).

Used live by ``tests/gpu/h100_run.py`` on the GPU and on the replayed recording by
``tests/unit/test_gpu_replay.py`` in CI, so both check the same truths on the same frames.

Phases (names used in the timeline JSON): idle, spin (``torch.cuda._sleep``: one thread
spinning), tiny (back-to-back 1-element kernels from Python), matmul (bf16 8192^3),
alloc (a 20 GiB allocation held), idle_end.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable
from itertools import pairwise
from typing import Any

GIB = 1 << 30
SETTLE_S = 1.1  # a 1 s tier value covers the second before its tick: skip a phase's first one


def series(frames: Iterable[Any], source: str, name: str) -> list[tuple[float, float]]:
    out = []
    for f in frames:
        if f.source != source:
            continue
        for s in f.samples:
            if s.name == name:
                out.append((f.ts, s.value))
    return sorted(out)


def window(points: list[tuple[float, float]], start: float, end: float) -> list[float]:
    return [v for t, v in points if start <= t <= end]


def _stats(vals: list[float]) -> dict[str, float | int | None]:
    if not vals:
        return {"n": 0, "median": None, "min": None, "max": None}
    return {"n": len(vals), "median": statistics.median(vals), "min": min(vals), "max": max(vals)}


FAST = ("gpu.util_gpu", "gpu.sm_active", "gpu.sm_occupancy", "gpu.tensor_active",
        "gpu.dram_active", "gpu.gr_active", "gpu.power_mw", "gpu.mem_used", "gpu.clock_sm_mhz",
        "gpu.util_mem", "gpu.clocks_event_reasons", "gpu.pstate", "gpu.temp_c")  # fmt: skip


def phase_stats(frames: list[Any], phases: list[dict[str, Any]], uuid: str) -> dict[str, Any]:
    """{phase: {series: {n, median, min, max}}} over the settled part of each phase."""
    src = f"gpu:{uuid}"
    pts = {name: series(frames, src, name) for name in FAST}
    power_samples = series(frames, f"gpu-samples:{uuid}:power", "gpu.sample.power_mw")
    out: dict[str, Any] = {}
    for ph in phases:
        a, b = ph["start"] + SETTLE_S, ph["end"]
        st = {name: _stats(window(p, a, b)) for name, p in pts.items()}
        st["sample.power_mw"] = _stats(window(power_samples, ph["start"], ph["end"]))
        out[ph["name"]] = st
    return out


def energy_points(frames: list[Any], uuid: str) -> list[tuple[float, float]]:
    return series(frames, f"gpu:{uuid}:slow", "gpu.energy_mj")


def check(frames: list[Any], phases: list[dict[str, Any]], uuid: str) -> list[dict[str, Any]]:
    """Each truth as {name, ok, detail}."""
    from collectors.gpu_math import energy_joules

    st = phase_stats(frames, phases, uuid)
    by = {p["name"]: p for p in phases}
    res: list[dict[str, Any]] = []

    def med(ph: str, name: str) -> float:
        v = st[ph][name]["median"]
        return float("nan") if v is None else v

    def add(name: str, ok: bool, detail: str) -> None:
        res.append({"name": name, "ok": bool(ok), "detail": detail})

    u, sm = med("spin", "gpu.util_gpu"), med("spin", "gpu.sm_active")
    add("spin: kernel-active time high", u >= 90, f"util_gpu median {u:.1f} %")
    add("spin: SM-active < 5 %", sm < 5, f"sm_active median {sm:.3f} %")
    u, sm = med("tiny", "gpu.util_gpu"), med("tiny", "gpu.sm_active")
    add("tiny: SM-active < 5 % while util > SM-active", sm < 5 and u > sm,
        f"util_gpu median {u:.1f} %, sm_active median {sm:.3f} %")
    ta, pw, sm = med("matmul", "gpu.tensor_active"), med("matmul", "gpu.power_mw"), med(
        "matmul", "gpu.sm_active")
    idle_pw = med("idle", "gpu.power_mw")
    add("matmul: tensor activity high", ta >= 50, f"tensor_active median {ta:.1f} %")
    add("matmul: SM-active high", sm >= 50, f"sm_active median {sm:.1f} %")
    add("matmul: power high", pw >= 300_000 and pw >= 2 * idle_pw,
        f"power median {pw / 1000:.0f} W vs idle {idle_pw / 1000:.0f} W")
    spk = st["matmul"]["sample.power_mw"]["max"]
    add("matmul: driver power samples show it", spk is not None and spk >= 300_000,
        f"max driver power sample {None if spk is None else round(spk / 1000)} W "
        f"({st['matmul']['sample.power_mw']['n']} samples kept)")
    u, sm = med("idle", "gpu.util_gpu"), med("idle", "gpu.sm_active")
    add("idle: quiet", u <= 5 and sm <= 1, f"util_gpu {u:.1f} %, sm_active {sm:.3f} %")
    mu_idle = med("idle", "gpu.mem_used")
    mu_alloc = st["alloc"]["gpu.mem_used"]["max"] or float("nan")
    mu_end = med("idle_end", "gpu.mem_used")
    add("alloc: memory used rises by the allocation", mu_alloc - mu_idle >= 19 * GIB,
        f"mem_used idle {mu_idle / GIB:.2f} GiB -> alloc max {mu_alloc / GIB:.2f} GiB")
    add("alloc: memory released after", mu_end <= mu_alloc - 15 * GIB,
        f"mem_used after {mu_end / GIB:.2f} GiB")
    e = energy_points(frames, uuid)
    diffs = [b - a for (_, a), (_, b) in pairwise(e)]
    add("energy monotonic", len(e) >= 5 and all(d >= 0 for d in diffs),
        f"{len(e)} energy readings, min step {min(diffs) if diffs else None} mJ")
    ts, vs = [t for t, _ in e], [v for _, v in e]

    def mean_w(ph: str) -> float:
        a, b = by[ph]["start"], by[ph]["end"]
        lo, hi = max(a, ts[0]), min(b, ts[-1])
        return energy_joules(ts, vs, lo, hi) / (hi - lo) if hi > lo else float("nan")

    w_mm, w_idle = mean_w("matmul"), mean_w("idle")
    add("energy: matmul draws more than idle", w_mm > 2 * w_idle,
        f"mean power from energy counter: matmul {w_mm:.0f} W, idle {w_idle:.0f} W")
    return res


def report(results: list[dict[str, Any]]) -> str:
    return "\n".join(f"  [{'ok' if r['ok'] else 'FAIL'}] {r['name']}: {r['detail']}"
                     for r in results)  # fmt: skip
