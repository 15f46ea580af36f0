"""Prometheus classic histograms: deltas, merges, quantiles, windows.

A ``HistSnapshot`` is one scrape of one histogram: cumulative bucket counts by
upper bound ``le`` (seconds for latency histograms, tokens for token
histograms; the last ``le`` is ``+inf``), plus ``_sum`` (same unit as ``le``)
and ``_count`` (observations). Quantiles come back in the ``le`` unit.

Decisions:

* **No data is None.** Where PromQL's ``histogram_quantile`` returns NaN (no
  observations, fewer than two buckets, no ``+Inf`` bucket) we return ``None``.
  ``q`` outside ``[0, 1]`` (or NaN) raises ``ValueError`` (PromQL gives ±Inf /
  NaN; for us it is a caller bug).
* **Quantile = PromQL ``histogram_quantile``** on classic buckets: buckets are
  sorted, duplicates of one ``le`` coalesced (summed, as PromQL does), the
  cumulative counts forced monotonic (running max, as PromQL does), the rank is
  ``q × count(+Inf bucket)``, the bucket is the first whose cumulative count
  reaches the rank, and the value is interpolated linearly inside it. The first
  bucket's lower bound is 0 when its ``le > 0``; if its ``le <= 0`` that ``le``
  is returned. A rank in the ``+Inf`` bucket returns the highest finite ``le``.
  One refinement: for ``q == 0`` we pick the first *non-empty* bucket (PromQL
  divides 0 by 0 there when the first bucket is empty) and return its lower
  bound.
* **Reset detection** (engine restart) between two snapshots: ``_count``
  decreased or any bucket decreased. The delta across a reset is the later
  snapshot itself (counts restarted from 0). A change of bucket layout (set of
  ``le``) is treated as a reset too; inside a window, everything before a
  layout change is dropped (the two parts cannot be added).
* **Windows** ``[t0, t1]`` follow ``counters``: first snapshot ``>= t0`` to
  last ``<= t1``, no extrapolation, summed across resets; fewer than two
  snapshots in the window means no data.
* **Data-parallel engines**: merge bucket-wise (same ``le`` set) *before* the
  quantile; never average per-engine percentiles.
"""

from __future__ import annotations

import math
from bisect import bisect_left, bisect_right
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from operator import add, lt, sub

__all__ = [
    "HistSnapshot",
    "bucket_bounds",
    "delta",
    "is_reset",
    "mean",
    "merge",
    "merge_series",
    "merged_window_delta",
    "quantile",
    "quantile_series",
    "snapshot_mean",
    "window_delta",
    "windowed_quantiles",
]

Buckets = Sequence[tuple[float, float]]


@dataclass(frozen=True)
class HistSnapshot:
    """One histogram reading at ``ts`` (Unix seconds).

    ``buckets``: ``(le, cumulative_count)`` sorted by ``le``, last ``le`` +inf.
    ``sum``: sum of observations (``le`` unit). ``count``: observations.
    ``les`` / ``counts`` are derived tuples kept for fast comparisons.
    """

    ts: float
    buckets: Sequence[tuple[float, float]]
    sum: float
    count: float
    les: tuple[float, ...] = field(init=False, repr=False, compare=False)
    counts: tuple[float, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        les, counts = tuple(zip(*self.buckets)) or ((), ())
        object.__setattr__(self, "les", les)
        object.__setattr__(self, "counts", counts)


def _make(ts: float, les: Sequence[float], counts: Iterable[float], s: float, c: float) -> HistSnapshot:
    return HistSnapshot(ts, list(zip(les, counts)), s, c)


def is_reset(a: HistSnapshot, b: HistSnapshot) -> bool:
    """True when ``b`` cannot follow ``a`` without a restart: ``b.count < a.count``,
    any bucket decreased, or the bucket layout changed."""
    if a.les != b.les:
        return True
    return b.count < a.count or any(map(lt, b.counts, a.counts))


def delta(a: HistSnapshot, b: HistSnapshot) -> HistSnapshot:
    """``b − a`` bucket-wise (observations that arrived between the two scrapes).

    On a reset (see ``is_reset``) the result is ``b`` itself. ``ts`` is ``b.ts``.
    """
    if is_reset(a, b):
        return b
    return _make(b.ts, b.les, map(sub, b.counts, a.counts), b.sum - a.sum, b.count - a.count)


def merge(snapshots: Sequence[HistSnapshot]) -> HistSnapshot:
    """Bucket-wise sum of histograms with the same ``le`` set (e.g. the
    ``engine="0..N-1"`` series of a data-parallel vLLM). ``ts`` is the latest.

    Raises ``ValueError`` on an empty input or differing ``le`` sets.
    """
    if not snapshots:
        raise ValueError("merge() needs at least one snapshot")
    first = snapshots[0]
    if len(snapshots) == 1:
        return first
    counts = list(first.counts)
    s, c, ts = first.sum, first.count, first.ts
    for h in snapshots[1:]:
        if h.les != first.les:
            raise ValueError(f"bucket layouts differ: {first.les} vs {h.les}")
        counts = list(map(add, counts, h.counts))
        s += h.sum
        c += h.count
        ts = max(ts, h.ts)
    return _make(ts, first.les, counts, s, c)


def merge_series(series_list: Sequence[Sequence[HistSnapshot]]) -> list[HistSnapshot]:
    """Merge several histogram series (one per engine) instant by instant.

    Only timestamps present in *every* series are kept (a partial sum would look
    like a counter reset); instants whose layouts differ are dropped too.
    Inputs are ascending by ``ts``; so is the output.
    """
    if not series_list:
        return []
    if len(series_list) == 1:
        return list(series_list[0])
    others = [{h.ts: h for h in s} for s in series_list[1:]]
    out: list[HistSnapshot] = []
    for h in series_list[0]:
        parts = [h]
        for m in others:
            o = m.get(h.ts)
            if o is None or o.les != h.les:
                break
            parts.append(o)
        else:
            out.append(merge(parts))
    return out


def _prepare(q: float, buckets: Buckets) -> tuple[list[float], list[float], float] | None:
    """Sorted, coalesced, monotonic ``(les, cums, rank)`` or ``None`` (no data)."""
    if math.isnan(q) or q < 0 or q > 1:
        raise ValueError(f"quantile q must be within [0, 1], got {q}")
    if len(buckets) < 2:
        return None
    if any(buckets[k][0] > buckets[k + 1][0] for k in range(len(buckets) - 1)):
        buckets = sorted(buckets, key=lambda b: b[0])
    if not math.isinf(buckets[-1][0]) or buckets[-1][0] < 0:
        return None
    les: list[float] = []
    cums: list[float] = []
    for le, c in buckets:
        if les and le == les[-1]:
            cums[-1] += c
        else:
            les.append(le)
            cums.append(c)
    top = -math.inf
    for k, c in enumerate(cums):
        if c < top:
            cums[k] = top
        else:
            top = c
    if len(les) < 2:
        return None
    observations = cums[-1]
    if not observations > 0:
        return None
    return les, cums, q * observations


def _bucket_index(les: list[float], cums: list[float], rank: float) -> int:
    """First bucket whose cumulative count reaches ``rank`` (and is non-empty);
    ``len - 1`` means the ``+Inf`` bucket."""
    last = len(les) - 1
    if rank > 0:
        return bisect_left(cums, rank, 0, last)
    return bisect_right(cums, 0.0, 0, last)


def quantile(q: float, buckets: Buckets) -> float | None:
    """The ``q``-quantile (0 ≤ q ≤ 1) of cumulative ``(le, count)`` buckets,
    PromQL ``histogram_quantile`` style (see module doc). Unit: the ``le`` unit.
    ``None`` when there is no data."""
    prep = _prepare(q, buckets)
    if prep is None:
        return None
    les, cums, rank = prep
    b = _bucket_index(les, cums, rank)
    if b == len(les) - 1:
        return les[-2]
    if b == 0 and les[0] <= 0:
        return les[0]
    start, end, count = 0.0, les[b], cums[b]
    if b > 0:
        start = les[b - 1]
        count -= cums[b - 1]
        rank -= cums[b - 1]
    return start + (end - start) * (rank / count)


def bucket_bounds(q: float, buckets: Buckets) -> tuple[float, float] | None:
    """``(lower, upper)`` bounds of the bucket holding the ``q``-quantile.

    The first bucket's lower bound is 0 when its ``le > 0`` (else -inf); the
    ``+Inf`` bucket gives ``(highest finite le, inf)``. ``quantile`` always
    lies within these bounds. ``None`` when there is no data.
    """
    prep = _prepare(q, buckets)
    if prep is None:
        return None
    les, cums, rank = prep
    b = _bucket_index(les, cums, rank)
    if b == 0:
        return (0.0 if les[0] > 0 else -math.inf), les[0]
    return les[b - 1], les[b]


def snapshot_mean(h: HistSnapshot) -> float | None:
    """``sum / count`` of a (delta) snapshot; ``None`` when count ≤ 0 or sum is NaN."""
    if not h.count > 0 or math.isnan(h.sum):
        return None
    return h.sum / h.count


def _ts(h: HistSnapshot) -> float:
    return h.ts


def window_delta(series: Sequence[HistSnapshot], t0: float, t1: float) -> HistSnapshot | None:
    """Observations recorded in ``[t0, t1]``: last snapshot ``<= t1`` minus
    first ``>= t0``, summed across resets (see module doc). ``ts`` of the result
    is that of the last snapshot used. ``None`` with fewer than two snapshots."""
    i0 = bisect_left(series, t0, key=_ts)
    i1 = bisect_right(series, t1, key=_ts) - 1
    if i1 - i0 < 1:
        return None
    les = series[i0].les
    acc = [0.0] * len(les)
    acc_s = acc_c = 0.0
    base: HistSnapshot | None = series[i0]
    for k in range(i0 + 1, i1 + 1):
        prev, cur = series[k - 1], series[k]
        if cur.les != prev.les:
            les = cur.les
            acc = [0.0] * len(les)
            acc_s = acc_c = 0.0
            base = None
        elif is_reset(prev, cur):
            if base is None:
                acc = list(map(add, acc, prev.counts))
                acc_s, acc_c = acc_s + prev.sum, acc_c + prev.count
            else:
                acc = [x + p - b for x, p, b in zip(acc, prev.counts, base.counts)]
                acc_s, acc_c = acc_s + prev.sum - base.sum, acc_c + prev.count - base.count
            base = None
    last = series[i1]
    if base is None:
        counts = list(map(add, acc, last.counts))
        s, c = acc_s + last.sum, acc_c + last.count
    else:
        counts = [x + p - b for x, p, b in zip(acc, last.counts, base.counts)]
        s, c = acc_s + last.sum - base.sum, acc_c + last.count - base.count
    return _make(last.ts, les, counts, s, c)


def merged_window_delta(
    series_list: Sequence[Sequence[HistSnapshot]], t0: float, t1: float
) -> HistSnapshot | None:
    """``window_delta`` of each series (one per engine), then ``merge``d.

    Windows each engine on its own, so the engines' scrape timestamps need not
    line up. ``None`` when no series has data in the window; ``ValueError``
    when the engines' bucket layouts differ.
    """
    parts = [d for d in (window_delta(s, t0, t1) for s in series_list) if d is not None]
    return merge(parts) if parts else None


def windowed_quantiles(
    series: Sequence[HistSnapshot],
    t0: float,
    t1: float,
    qs: Sequence[float] = (0.5, 0.9, 0.99),
) -> dict[float, float | None]:
    """``{q: quantile}`` of the observations recorded in ``[t0, t1]`` (``le``
    unit); every value is ``None`` when the window holds no observation."""
    d = window_delta(series, t0, t1)
    return {q: (quantile(q, d.buckets) if d is not None else None) for q in qs}


def mean(series: Sequence[HistSnapshot], t0: float, t1: float) -> float | None:
    """Mean observation in ``[t0, t1]``: Δsum / Δcount (``le`` unit), or ``None``."""
    d = window_delta(series, t0, t1)
    return snapshot_mean(d) if d is not None else None


def quantile_series(
    series: Sequence[HistSnapshot],
    window_s: float,
    q: float,
    jitter_s: float = 0.25,
    step_s: float | None = None,
) -> tuple[list[float], list[float]]:
    """Sliding-window ``q``-quantile at each snapshot, for plots (``le`` unit).

    The point at snapshot ``j`` is the quantile of the observations recorded
    between the oldest snapshot with ``ts >= ts[j] - window_s - jitter_s`` and
    ``j`` (reset-aware; never across a layout change). Snapshots whose window
    holds no observation (or no older snapshot) give no point: gaps stay gaps.
    A window reaching past a bucket-layout change counts from that change, as
    ``window_delta`` does.
    ``step_s`` emits at most one point per ``step_s``-wide time bucket (aligned
    on the first snapshot), which saves work when the plot is narrow.
    O(n × buckets): ~3 s for 24 h at 1 Hz, so pass ``step_s`` for long ranges
    (~0.3 s with 200 steps).
    """
    if window_s <= 0:
        raise ValueError("window_s must be > 0")
    if math.isnan(q) or q < 0 or q > 1:
        raise ValueError(f"quantile q must be within [0, 1], got {q}")
    n = len(series)
    out_ts: list[float] = []
    out_v: list[float] = []
    if n < 2:
        return out_ts, out_v
    # Pass 1: per snapshot, the start of its layout epoch and the running
    # offset (sum of the readings just before each reset) that turns raw
    # counts into a reset-corrected cumulative total: C_k = counts_k + off_k.
    zero = ((0.0,) * len(series[0].les), 0.0, 0.0)
    epoch = [0] * n
    offs = [zero] * n
    start, off = 0, zero
    for k in range(1, n):
        prev, cur = series[k - 1], series[k]
        if cur.les != prev.les:
            start, off = k, ((0.0,) * len(cur.les), 0.0, 0.0)
        elif is_reset(prev, cur):
            off = (tuple(map(add, off[0], prev.counts)), off[1] + prev.sum, off[2] + prev.count)
        epoch[k], offs[k] = start, off
    # Pass 2: two pointers.
    reach = window_s + jitter_s
    t_first = series[0].ts
    last_cell = None
    i = 0
    for j in range(1, n):
        hj = series[j]
        if step_s:
            cell = math.floor((hj.ts - t_first) / step_s)
            if cell == last_cell:
                continue
        lo = hj.ts - reach
        while series[i].ts < lo:
            i += 1
        oj = offs[j]
        if i < epoch[j]:
            # The window reaches past a layout change: count from the restart.
            counts = list(map(add, hj.counts, oj[0]))
        elif i < j:
            ha, oa = series[i], offs[i]
            counts = [cj + xj - ca - xa for cj, xj, ca, xa in zip(hj.counts, oj[0], ha.counts, oa[0])]
        else:
            continue
        v = quantile(q, list(zip(hj.les, counts)))
        if v is None:
            continue
        out_ts.append(hj.ts)
        out_v.append(v)
        if step_s:
            last_cell = cell
    return out_ts, out_v
