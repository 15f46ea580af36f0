"""Counter maths: increase and rate of a monotonic counter, with resets.

Inputs are one stored scalar series: ``ts`` (Unix seconds, ascending) and
``values`` (the counter's raw readings, in its own unit: tokens, requests,
preemptions...). Outputs are in that unit (``increase``) or that unit per
second (``rate``, ``rate_series``).

Rules (kept simple on purpose, and different from PromQL):

* **No extrapolation.** A window ``[t0, t1]`` uses the first sample with
  ``ts >= t0`` and the last sample with ``ts <= t1``; the increase is the exact
  difference between those two readings, summed across resets. Our samples are
  ~1 s apart and users compare the figure with client-side counts, so a
  PromQL-style extrapolation to the window edges would only add error.
* **Resets** (engine restart): a reading lower than the previous one is a
  reset, and the increase across it is the new reading itself (the counter is
  assumed to have restarted from 0), as in Prometheus.
* **No data is None**, never 0: a window holding fewer than two samples gives
  ``None``.
* Non-finite readings (NaN, ±Inf) are dropped, as if the scrape had failed.
"""

from __future__ import annotations

import math
from bisect import bisect_left, bisect_right
from collections.abc import Sequence

__all__ = [
    "clean",
    "increase",
    "rate",
    "rate_series",
    "resets",
    "window_indices",
]


def clean(ts: Sequence[float], values: Sequence[float]) -> tuple[list[float], list[float]]:
    """Return ``(ts, values)`` without non-finite readings (copies; O(n)).

    Raises ``ValueError`` when the two sequences differ in length.
    """
    if len(ts) != len(values):
        raise ValueError(f"ts and values differ in length: {len(ts)} != {len(values)}")
    if all(math.isfinite(v) for v in values):
        return list(ts), list(values)
    pairs = [(t, v) for t, v in zip(ts, values) if math.isfinite(v)]
    return [p[0] for p in pairs], [p[1] for p in pairs]


def window_indices(ts: Sequence[float], t0: float, t1: float) -> tuple[int, int] | None:
    """Indices ``(i0, i1)`` of the first sample ``>= t0`` and the last ``<= t1``.

    ``None`` when the window holds fewer than two samples. O(log n).
    """
    i0 = bisect_left(ts, t0)
    i1 = bisect_right(ts, t1) - 1
    if i1 - i0 < 1:
        return None
    return i0, i1


def _increase_between(values: Sequence[float], i0: int, i1: int) -> float:
    """Reset-aware increase from ``values[i0]`` to ``values[i1]`` (inclusive)."""
    total = 0.0
    prev = values[i0]
    for k in range(i0 + 1, i1 + 1):
        v = values[k]
        total += v - prev if v >= prev else v
        prev = v
    return total


def increase(
    ts: Sequence[float], values: Sequence[float], t0: float, t1: float
) -> float | None:
    """Increase of a counter over ``[t0, t1]`` (the counter's unit).

    Exact difference between the last sample ``<= t1`` and the first ``>= t0``,
    summed across resets; no extrapolation to the window edges. ``None`` when
    fewer than two finite samples fall in the window.
    """
    ts, values = clean(ts, values)
    idx = window_indices(ts, t0, t1)
    if idx is None:
        return None
    return _increase_between(values, *idx)


def rate(
    ts: Sequence[float], values: Sequence[float], t0: float, t1: float
) -> float | None:
    """Mean per-second rate over ``[t0, t1]``: increase / covered time.

    The covered time is the span between the two samples used (not
    ``t1 - t0``), so a window that starts before the first scrape is not
    diluted. Unit: the counter's unit per second. ``None`` when fewer than two
    samples fall in the window.
    """
    ts, values = clean(ts, values)
    idx = window_indices(ts, t0, t1)
    if idx is None:
        return None
    i0, i1 = idx
    span = ts[i1] - ts[i0]
    if span <= 0:
        return None
    return _increase_between(values, i0, i1) / span


def resets(ts: Sequence[float], values: Sequence[float], t0: float, t1: float) -> int:
    """Number of counter resets (readings lower than the previous one) in ``[t0, t1]``."""
    ts, values = clean(ts, values)
    idx = window_indices(ts, t0, t1)
    if idx is None:
        return 0
    i0, i1 = idx
    return sum(1 for k in range(i0 + 1, i1 + 1) if values[k] < values[k - 1])


def rate_series(
    ts: Sequence[float],
    values: Sequence[float],
    window_s: float,
    jitter_s: float = 0.25,
) -> tuple[list[float], list[float]]:
    """Sliding-window rate at every sample, for plots (unit per second, e.g. tok/s).

    The point at sample ``j`` is the reset-aware increase from the oldest
    sample with ``ts >= ts[j] - window_s - jitter_s`` to sample ``j``, divided
    by the time actually covered between those two samples. ``jitter_s``
    tolerates scrape-timing jitter so that ``window_s=1`` at 1 Hz still pairs
    neighbouring samples; it only moves the anchor, the division is always by
    the real span, so the figure stays exact.

    A sample whose window holds no older sample (the first one, or the first
    after a scrape gap longer than the window) yields no point: gaps stay gaps.
    O(n) time (two pointers over a running reset-corrected total).
    """
    if window_s <= 0:
        raise ValueError("window_s must be > 0")
    ts, values = clean(ts, values)
    n = len(ts)
    out_ts: list[float] = []
    out_v: list[float] = []
    if n < 2:
        return out_ts, out_v
    cum = [0.0] * n
    for k in range(1, n):
        d = values[k] - values[k - 1]
        cum[k] = cum[k - 1] + (d if d >= 0 else values[k])
    reach = window_s + jitter_s
    i = 0
    for j in range(1, n):
        lo = ts[j] - reach
        while ts[i] < lo:
            i += 1
        if i < j:
            span = ts[j] - ts[i]
            if span > 0:
                out_ts.append(ts[j])
                out_v.append((cum[j] - cum[i]) / span)
    return out_ts, out_v
