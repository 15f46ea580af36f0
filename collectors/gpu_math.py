"""Pure maths over stored GPU series: counter increases, energy, J/token, power.

No NVML, no store: give these the (ts, value) series read back from the journal.
Counters (``gpu.energy_mj``, PCIe/NVLink byte counters, engine token counters) can reset
(driver reload, engine restart): a value lower than the previous one starts a new segment,
and its own value counts as the increase since the reset (Prometheus ``increase()`` rule).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from itertools import pairwise


def _interp(t: float, t0: float, v0: float, t1: float, v1: float) -> float:
    if t1 == t0:
        return v1
    return v0 + (v1 - v0) * (t - t0) / (t1 - t0)


def counter_increase(
    ts: Sequence[float],
    values: Sequence[float],
    start: float | None = None,
    end: float | None = None,
) -> float:
    """Increase of a monotonic counter over ``[start, end]`` (reset-aware).

    Points are sorted by time first; non-finite values are skipped. A window edge that
    falls between two points is linearly interpolated (within one segment); outside the
    sampled range the window is clipped to what was sampled.
    """
    pts = sorted((float(t), float(v)) for t, v in zip(ts, values) if math.isfinite(float(v)))
    if len(pts) < 2:
        return 0.0
    lo = pts[0][0] if start is None else max(start, pts[0][0])
    hi = pts[-1][0] if end is None else min(end, pts[-1][0])
    if hi <= lo:
        return 0.0
    total = 0.0
    for (t0, v0), (t1, v1) in pairwise(pts):
        if t1 <= lo or t0 >= hi or t1 == t0:
            continue
        if v1 < v0:  # reset: the new value is what accrued since the reset
            a, b = max(t0, lo), min(t1, hi)
            total += v1 * (b - a) / (t1 - t0)
            continue
        a, b = max(t0, lo), min(t1, hi)
        total += _interp(b, t0, v0, t1, v1) - _interp(a, t0, v0, t1, v1)
    return total


def energy_joules(
    ts: Sequence[float],
    energy_mj: Sequence[float],
    start: float | None = None,
    end: float | None = None,
) -> float:
    """Joules consumed, from ``gpu.energy_mj`` counter readings (mJ since driver load)."""
    return counter_increase(ts, energy_mj, start, end) / 1000.0


def energy_joules_multi(
    series: Mapping[str, tuple[Sequence[float], Sequence[float]]],
    start: float | None = None,
    end: float | None = None,
) -> float:
    """Sum of ``energy_joules`` over several GPUs: {uuid: (ts, energy_mj)}."""
    return sum(energy_joules(t, v, start, end) for t, v in series.values())


def average_power_w(
    ts: Sequence[float],
    energy_mj: Sequence[float],
    start: float | None = None,
    end: float | None = None,
) -> float | None:
    """Exact mean power over the window from the energy counter, in watts."""
    if len(ts) < 2:
        return None
    lo = min(ts) if start is None else max(start, min(ts))
    hi = max(ts) if end is None else min(end, max(ts))
    if hi <= lo:
        return None
    return energy_joules(ts, energy_mj, lo, hi) / (hi - lo)


def joules_per_token(energy_j: float | None, tokens: float | None) -> float | None:
    """Energy per generated token; None when either is unknown or no token was made."""
    if energy_j is None or tokens is None or tokens <= 0 or not math.isfinite(energy_j):
        return None
    return energy_j / tokens


def run_joules_per_token(
    energy: Mapping[str, tuple[Sequence[float], Sequence[float]]],
    token_ts: Sequence[float],
    token_counter: Sequence[float],
    start: float | None = None,
    end: float | None = None,
) -> tuple[float, float, float | None]:
    """(joules, tokens, J/token) of a run window: energy over the run's GPUs,
    tokens from a generation counter (e.g. ``vllm:generation_tokens_total``)."""
    j = energy_joules_multi(energy, start, end)
    tok = counter_increase(token_ts, token_counter, start, end)
    return j, tok, joules_per_token(j, tok)


def counter_rate(
    ts: Sequence[float], values: Sequence[float]
) -> list[tuple[float, float]]:
    """Per-interval rate of a counter [(t_end, units/s)], resets handled as above."""
    pts = sorted((float(t), float(v)) for t, v in zip(ts, values) if math.isfinite(float(v)))
    out = []
    for (t0, v0), (t1, v1) in pairwise(pts):
        if t1 <= t0:
            continue
        d = v1 - v0 if v1 >= v0 else v1
        out.append((t1, d / (t1 - t0)))
    return out
