"""Gauge maths over a window: latest, peak and mean reading.

Inputs are one stored scalar series (``ts`` in Unix seconds, ascending;
``values`` in the gauge's own unit). Outputs keep that unit. A window is the
closed interval ``[t0, t1]``; a window without a finite sample gives ``None``.
"""

from __future__ import annotations

import math
from bisect import bisect_left, bisect_right
from collections.abc import Sequence

__all__ = ["last_value", "window_max", "window_mean", "window_min"]


def _window(
    ts: Sequence[float], values: Sequence[float], t0: float, t1: float
) -> list[float]:
    if len(ts) != len(values):
        raise ValueError(f"ts and values differ in length: {len(ts)} != {len(values)}")
    i0 = bisect_left(ts, t0)
    i1 = bisect_right(ts, t1)
    return [v for v in values[i0:i1] if math.isfinite(v)]


def last_value(
    ts: Sequence[float], values: Sequence[float], t0: float, t1: float
) -> float | None:
    """The last finite reading with ``t0 <= ts <= t1``, or ``None``."""
    if len(ts) != len(values):
        raise ValueError(f"ts and values differ in length: {len(ts)} != {len(values)}")
    i0 = bisect_left(ts, t0)
    for k in range(bisect_right(ts, t1) - 1, i0 - 1, -1):
        if math.isfinite(values[k]):
            return values[k]
    return None


def window_max(
    ts: Sequence[float], values: Sequence[float], t0: float, t1: float
) -> float | None:
    """Largest finite reading in ``[t0, t1]``, or ``None``."""
    w = _window(ts, values, t0, t1)
    return max(w) if w else None


def window_min(
    ts: Sequence[float], values: Sequence[float], t0: float, t1: float
) -> float | None:
    """Smallest finite reading in ``[t0, t1]``, or ``None``."""
    w = _window(ts, values, t0, t1)
    return min(w) if w else None


def window_mean(
    ts: Sequence[float], values: Sequence[float], t0: float, t1: float
) -> float | None:
    """Arithmetic mean of the finite readings in ``[t0, t1]`` (not time-weighted:
    samples are taken at a steady 1 Hz), or ``None``."""
    w = _window(ts, values, t0, t1)
    return math.fsum(w) / len(w) if w else None
