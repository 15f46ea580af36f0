"""Time-bucket downsampling of a scalar series for plotting.

A 24 h run at 1 Hz is 86,400 samples; a plot is ~200 columns wide. The window
``[t0, t1]`` is cut into ``max_points`` equal-width time buckets and each
bucket's samples are reduced to one value. Buckets without samples produce no
point, so scrape gaps stay visible as gaps. Units are unchanged.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Literal

__all__ = ["HOW", "downsample"]

HOW = ("mean", "max", "min", "last")
How = Literal["mean", "max", "min", "last"]


def downsample(
    ts: Sequence[float],
    values: Sequence[float],
    max_points: int,
    how: How = "mean",
    t0: float | None = None,
    t1: float | None = None,
) -> tuple[list[float], list[float]]:
    """Reduce ``(ts, values)`` to at most ``max_points`` points. O(n).

    The grid spans ``[t0, t1]`` (default: first and last sample); bucket ``k``
    covers ``[t0 + k·w, t0 + (k+1)·w)`` with ``w = (t1 - t0) / max_points``, the
    last bucket also holding ``t1``. Each output point is stamped with its
    bucket's **start** time (so ``(t - t0) / w`` is the column index) and carries
    the ``how`` reduction of the bucket's samples: ``mean``, ``max``, ``min`` or
    ``last``. Samples outside ``[t0, t1]`` and non-finite values are ignored;
    empty buckets are absent from the output.

    When neither ``t0`` nor ``t1`` is given and the series already has at most
    ``max_points`` samples, it is returned as is (copies, non-finite values
    dropped): nothing to reduce, and the real sample times are kept.
    Pass ``t0``/``t1`` to pin the grid to a window (steady columns while a live
    plot scrolls).
    """
    if len(ts) != len(values):
        raise ValueError(f"ts and values differ in length: {len(ts)} != {len(values)}")
    if max_points < 1:
        raise ValueError("max_points must be >= 1")
    if how not in HOW:
        raise ValueError(f"how must be one of {HOW}, got {how!r}")
    if not ts:
        return [], []
    if t0 is None and t1 is None and len(ts) <= max_points:
        keep = [k for k, v in enumerate(values) if math.isfinite(v)]
        return [ts[k] for k in keep], [values[k] for k in keep]
    lo = ts[0] if t0 is None else t0
    hi = ts[-1] if t1 is None else t1
    if hi < lo:
        raise ValueError(f"empty window: t1 ({hi}) < t0 ({lo})")
    width = (hi - lo) / max_points
    out_ts: list[float] = []
    out_v: list[float] = []
    cur = -1  # bucket being accumulated
    acc = 0.0
    n = 0
    for t, v in zip(ts, values):
        if t < lo or t > hi or not math.isfinite(v):
            continue
        k = min(int((t - lo) / width), max_points - 1) if width > 0 else 0
        if k != cur:
            if n:
                out_ts.append(lo + cur * width)
                out_v.append(acc / n if how == "mean" else acc)
            cur, acc, n = k, v, 1
            continue
        n += 1
        if how == "mean":
            acc += v
        elif how == "max":
            acc = v if v > acc else acc
        elif how == "min":
            acc = v if v < acc else acc
        else:
            acc = v
    if n:
        out_ts.append(lo + cur * width)
        out_v.append(acc / n if how == "mean" else acc)
    return out_ts, out_v
