"""The engine process-tree panel (CPU, RSS, host memory) from an engine run's ``proc`` series.

Live it shows the newest reading (none when older than the stale limit: never frozen
figures); for a past window the mean CPU, and the peaks of CPU and RSS.
"""

from __future__ import annotations

import math
from bisect import bisect_left, bisect_right

from collectors import host_procs as H
from iejtui.derive.series import SeriesGetter
from iejtui.viewmodel.models import ProcPanel

NAMES = frozenset(H.NAMES)


def _col(get: SeriesGetter, name: str, t0: float, t1: float) -> tuple[list[float], list[float]]:
    for _, ts, vs in get(name, None):  # one series per run (no labels)
        i, j = bisect_left(ts, t0), bisect_right(ts, t1)
        pts = [(t, v) for t, v in zip(ts[i:j], vs[i:j]) if math.isfinite(v)]
        return [t for t, _ in pts], [v for _, v in pts]
    return [], []


def proc_panel(get: SeriesGetter | None, t0: float, t1: float, *, live: bool, stale_s: float) -> ProcPanel | None:
    """The panel over ``[t0, t1]``; None when the run has no ``proc`` series there."""
    if get is None:
        return None
    cols = {n: _col(get, n, t0, t1) for n in NAMES}
    newest = max((ts[-1] for ts, _ in cols.values() if ts), default=None)
    if newest is None or (live and t1 - newest > stale_s):
        return None

    def last(name: str) -> float | None:
        ts, vs = cols[name]
        return vs[-1] if vs and ts[-1] >= newest - stale_s else None

    def peak(name: str) -> float | None:
        return max(cols[name][1], default=None)

    cpu_vals = cols[H.CPU][1]
    cpu = last(H.CPU) if live else (math.fsum(cpu_vals) / len(cpu_vals) if cpu_vals else None)
    return ProcPanel(cpu_pct=cpu, cpu_pct_peak=peak(H.CPU), cpus=last(H.CPUS) or peak(H.CPUS),
                     rss_bytes=last(H.RSS), rss_bytes_peak=peak(H.RSS), count=last(H.COUNT),
                     host_mem_used=last(H.MEM_USED), host_mem_total=last(H.MEM_TOTAL) or peak(H.MEM_TOTAL),
                     newest=newest, mem_bw_pmu=bool(last(H.MEM_BW_PMU)))
