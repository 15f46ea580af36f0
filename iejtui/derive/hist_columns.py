"""A histogram series held column-wise, as the store returns it.

Building one ``HistSnapshot`` per scrape costs ~20 µs; a 24 h run at 1 Hz has
86,400 scrapes per histogram. ``HistColumns`` keeps the raw columns (one list
of cumulative counts per ``le``) and computes a window's delta with C-speed
column scans, materialising snapshots only at the window edges and at resets.
Same rules and units as ``histograms.window_delta``.
"""

from __future__ import annotations

import math
from bisect import bisect_left, bisect_right
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import compress
from operator import add, lt, sub

from iejtui.derive.histograms import HistSnapshot

__all__ = ["HistColumns"]


@dataclass(frozen=True)
class HistColumns:
    """One histogram (one label set) over time.

    ``ts``: scrape times (Unix seconds, ascending). ``les``: bucket upper bounds
    (last +inf). ``cols[b][k]``: cumulative count of bucket ``les[b]`` at
    ``ts[k]``. ``sums[k]`` (``le`` unit; NaN when unknown) and ``counts[k]``.
    All readings are finite except possibly ``sums``.
    """

    ts: Sequence[float]
    les: tuple[float, ...]
    cols: Sequence[Sequence[float]]
    sums: Sequence[float]
    counts: Sequence[float]

    @classmethod
    def from_rows(
        cls,
        ts: Sequence[float],
        les: Sequence[float],
        cols: Sequence[Sequence[float]],
        sums: Sequence[float],
        counts: Sequence[float],
    ) -> HistColumns:
        """Columns as read; scrapes with a non-finite count or bucket are dropped."""
        # sum() is a C loop and NaN/±Inf propagate through it (counts never
        # overflow), so a finite sum means every reading is finite.
        if all(math.isfinite(sum(c)) for c in (counts, *cols)):
            return cls(ts, tuple(les), cols, sums, counts)
        keep = [
            k
            for k in range(len(ts))
            if math.isfinite(counts[k]) and all(math.isfinite(c[k]) for c in cols)
        ]
        return cls(
            [ts[k] for k in keep],
            tuple(les),
            [[c[k] for k in keep] for c in cols],
            [sums[k] for k in keep],
            [counts[k] for k in keep],
        )

    def __len__(self) -> int:
        return len(self.ts)

    def snapshot(self, k: int) -> HistSnapshot:
        """The ``k``-th scrape as a ``HistSnapshot``."""
        return HistSnapshot(self.ts[k], [(le, c[k]) for le, c in zip(self.les, self.cols)], self.sums[k], self.counts[k])

    def snapshots(self) -> list[HistSnapshot]:
        """Every scrape as a ``HistSnapshot`` (O(n × buckets); slow for long runs)."""
        return [self.snapshot(k) for k in range(len(self.ts))]

    def resets(self, i0: int, i1: int) -> list[int]:
        """Indices ``k`` in ``(i0, i1]`` where scrape ``k`` cannot follow ``k-1``
        (count or any bucket decreased), ascending."""
        idx = range(i0 + 1, i1 + 1)
        found: set[int] = set()
        for col in (self.counts, *self.cols):
            later, earlier = col[i0 + 1 : i1 + 1], col[i0:i1]
            if any(map(lt, later, earlier)):  # resets are rare: scan again only then
                found.update(compress(idx, map(lt, later, earlier)))
        return sorted(found)

    def window_delta(self, t0: float, t1: float) -> HistSnapshot | None:
        """Observations recorded in ``[t0, t1]``: last scrape ``<= t1`` minus
        first ``>= t0``, summed across resets; ``None`` with fewer than two."""
        i0 = bisect_left(self.ts, t0)
        i1 = bisect_right(self.ts, t1) - 1
        if i1 - i0 < 1:
            return None
        base: HistSnapshot | None = self.snapshot(i0)
        acc = [0.0] * len(self.les)
        acc_s = acc_c = 0.0
        for r in self.resets(i0, i1):
            end = self.snapshot(r - 1)
            part = end if base is None else _minus(end, base)
            acc = list(map(add, acc, part.counts))
            acc_s, acc_c = acc_s + part.sum, acc_c + part.count
            base = None
        last = self.snapshot(i1)
        part = last if base is None else _minus(last, base)
        return HistSnapshot(
            last.ts,
            list(zip(self.les, map(add, acc, part.counts))),
            acc_s + part.sum,
            acc_c + part.count,
        )


def _minus(b: HistSnapshot, a: HistSnapshot) -> HistSnapshot:
    return HistSnapshot(b.ts, list(zip(b.les, map(sub, b.counts, a.counts))), b.sum - a.sum, b.count - a.count)
