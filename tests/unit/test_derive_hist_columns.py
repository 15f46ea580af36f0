"""Column-wise histogram windows agree with the snapshot-based reference."""

from __future__ import annotations

import math
import random

import pytest

from iejtui.derive.hist_columns import HistColumns
from iejtui.derive.histograms import window_delta

INF = math.inf
LES = (0.1, 0.5, 1.0, 5.0, INF)


def random_columns(rnd: random.Random, n: int) -> HistColumns:
    ts, cols, sums, counts = [], [[] for _ in LES], [], []
    cum, s, t = [0.0] * len(LES), 0.0, 0.0
    for _ in range(n):
        t += rnd.choice([1.0, 1.0, 0.8, 2.0])
        if rnd.random() < 0.08:  # engine restart
            cum, s = [0.0] * len(LES), 0.0
        run = 0.0
        for b in range(len(LES)):
            run += rnd.randint(0, 3)
            cum[b] += run
        s += run * 0.2
        ts.append(t)
        for b, c in enumerate(cum):
            cols[b].append(c)
        sums.append(s)
        counts.append(cum[-1])
    return HistColumns.from_rows(ts, LES, cols, sums, counts)


@pytest.mark.parametrize("seed", range(30))
def test_window_delta_matches_snapshot_reference(seed):
    rnd = random.Random(seed)
    hc = random_columns(rnd, rnd.randint(1, 80))
    snaps = hc.snapshots()
    t_lo, t_hi = hc.ts[0], hc.ts[-1]
    for _ in range(5):
        a, b = sorted(rnd.uniform(t_lo - 2, t_hi + 2) for _ in range(2))
        got, want = hc.window_delta(a, b), window_delta(snaps, a, b)
        if want is None:
            assert got is None
            continue
        assert got.ts == want.ts and got.les == want.les
        assert got.counts == pytest.approx(want.counts)
        assert got.count == pytest.approx(want.count)
        assert got.sum == pytest.approx(want.sum)


def test_resets_found_in_count_or_any_bucket():
    hc = HistColumns.from_rows(
        [0, 1, 2, 3],
        (1.0, INF),
        [[1, 2, 0, 1], [3, 4, 9, 2]],  # bucket 1.0 drops at 2 while the count grows
        [0.0] * 4,
        [3, 4, 9, 2],  # count drops at 3
    )
    assert hc.resets(0, 3) == [2, 3]
    d = hc.window_delta(0, 3)
    # 0→1: +1/+1; restart at 2 counts itself (0, 9); restart at 3 again (1, 2)
    assert d.counts == (1 + 0 + 1, 1 + 9 + 2)


def test_non_finite_scrapes_are_dropped():
    hc = HistColumns.from_rows(
        [0, 1, 2], (1.0, INF), [[1, math.nan, 3], [2, 3, 4]], [0.1, 0.2, math.nan], [2, 3, 4]
    )
    assert list(hc.ts) == [0, 2]
    assert [list(c) for c in hc.cols] == [[1, 3], [2, 4]]
    assert math.isnan(hc.sums[1])  # a missing _sum keeps the scrape
    assert len(hc) == 2


def test_window_needs_two_scrapes():
    hc = HistColumns.from_rows([0.0], (1.0, INF), [[1.0], [1.0]], [1.0], [1.0])
    assert hc.window_delta(-10, 10) is None
