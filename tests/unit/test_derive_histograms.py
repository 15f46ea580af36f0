"""Histogram maths: PromQL-exact quantiles, deltas, resets, merges, windows."""

from __future__ import annotations

import math
import random

import pytest

from iejtui.derive.histograms import (
    HistSnapshot,
    bucket_bounds,
    delta,
    is_reset,
    mean,
    merge,
    merge_series,
    merged_window_delta,
    quantile,
    quantile_series,
    snapshot_mean,
    window_delta,
    windowed_quantiles,
)

INF = math.inf


def H(ts, counts, les=(0.1, 0.5, 1.0, INF), s=0.0):
    """Snapshot with cumulative ``counts`` on ``les``; ``_count`` = +Inf bucket."""
    return HistSnapshot(ts, list(zip(les, counts)), s, counts[-1])


# ---- quantile: hand-computed cases ------------------------------------------


def test_quantile_interpolates_inside_bucket():
    b = [(1, 2), (2, 6), (4, 10), (INF, 10)]
    assert quantile(0.5, b) == pytest.approx(1.75)  # rank 5: 1 + 1*(3/4)
    assert quantile(0.9, b) == pytest.approx(3.5)  # rank 9: 2 + 2*(3/4)
    assert quantile(1.0, b) == pytest.approx(4.0)
    assert bucket_bounds(0.5, b) == (1, 2)
    assert bucket_bounds(0.9, b) == (2, 4)


def test_all_observations_in_first_bucket():
    b = [(0.1, 10), (0.5, 10), (INF, 10)]
    assert quantile(0.5, b) == pytest.approx(0.05)  # lower bound 0
    assert quantile(0.99, b) == pytest.approx(0.099)
    assert bucket_bounds(0.99, b) == (0.0, 0.1)


def test_quantile_in_inf_bucket_returns_highest_finite_bound():
    b = [(0.1, 0), (0.5, 2), (INF, 10)]
    assert quantile(0.5, b) == 0.5
    assert quantile(1.0, b) == 0.5
    assert bucket_bounds(0.5, b) == (0.5, INF)
    assert quantile(0.1, b) == pytest.approx(0.3)  # rank 1 in (0.1, 0.5]


def test_empty_and_malformed_give_none():
    assert quantile(0.5, [(0.1, 0), (INF, 0)]) is None  # no observations
    assert quantile(0.5, []) is None
    assert quantile(0.5, [(INF, 5)]) is None  # fewer than two buckets
    assert quantile(0.5, [(0.1, 1), (1.0, 5)]) is None  # no +Inf bucket
    assert bucket_bounds(0.5, [(0.1, 0), (INF, 0)]) is None


def test_equal_cumulative_buckets():
    b = [(1, 4), (2, 4), (4, 8), (INF, 8)]
    assert quantile(0.5, b) == pytest.approx(1.0)  # rank 4 reached in the first bucket
    assert quantile(0.75, b) == pytest.approx(3.0)  # empty (1,2] skipped
    assert bucket_bounds(0.75, b) == (2, 4)


def test_q_zero_picks_first_non_empty_bucket():
    assert quantile(0.0, [(1, 0), (2, 4), (INF, 4)]) == 1.0
    assert quantile(0.0, [(1, 3), (2, 4), (INF, 4)]) == 0.0
    assert bucket_bounds(0.0, [(1, 0), (2, 4), (INF, 4)]) == (1, 2)


def test_invalid_q_raises():
    for q in (-0.1, 1.01, math.nan):
        with pytest.raises(ValueError):
            quantile(q, [(1, 1), (INF, 1)])


def test_unsorted_and_duplicate_bounds():
    assert quantile(0.5, [(INF, 10), (2, 6), (1, 2), (4, 10)]) == pytest.approx(1.75)
    # duplicates of one le are coalesced (summed), as PromQL does
    assert quantile(0.5, [(0.1, 1), (0.2, 1), (0.2, 1), (0.2, 1), (INF, 4)]) == pytest.approx(0.15)


# Vectors from Prometheus' own test suite (promql testdata histograms.test),
# cumulative counts as they stand at 50m.
PROM_CASES = [
    # testhistogram{start="positive"}
    ([(0.1, 50), (0.2, 70), (1, 110), (INF, 120)], {0: 0, 0.2: 0.048, 0.5: 0.15, 0.8: 0.72, 1: 1}),
    # testhistogram{start="negative"}: lowest le < 0
    ([(-0.2, 10), (-0.1, 20), (0.3, 20), (INF, 30)], {0: -0.2, 0.2: -0.2, 0.5: -0.15, 0.8: 0.3, 1: 0.3}),
    # testhistogram3: first bucket empty, nothing in +Inf
    ([(0, 0), (0.1, 50), (0.2, 70), (1, 110), (INF, 110)], {0: 0, 0.25: 0.055, 0.5: 0.125, 0.75: 0.45, 1: 1}),
    ([(-0.25, 0), (-0.2, 10), (-0.1, 20), (0.3, 20), (INF, 20)], {0: -0.25, 0.25: -0.225, 0.5: -0.2, 0.75: -0.15, 1: -0.1}),
    # testhistogram2: quantiles in the middle of buckets
    ([(0, 0), (2, 1), (4, 2), (6, 3), (INF, 3)], {1 / 6: 1, 0.5: 3, 5 / 6: 5}),
    # nonmonotonic buckets: forced monotonic
    ([(0.1, 20), (1, 10), (10, 50), (100, 40), (1000, 90), (INF, 80)], {0.01: 0.0045, 0.5: 8.5, 0.99: 979.75}),
]


@pytest.mark.parametrize("buckets,expected", PROM_CASES)
def test_matches_prometheus_test_vectors(buckets, expected):
    for q, want in expected.items():
        assert quantile(q, buckets) == pytest.approx(want), q
        lo, hi = bucket_bounds(q, buckets)
        assert lo <= quantile(q, buckets) <= hi


def test_merged_engines_match_prometheus_sum_by_le():
    # request_duration_seconds: 4 series summed by le (PromQL: 0.075 and 0.12777...)
    les = (0.1, 0.2, INF)
    parts = [H(50, [10, 30, 40], les), H(50, [20, 50, 60], les), H(50, [30, 40, 60], les), H(50, [40, 70, 90], les)]
    m = merge(parts)
    assert m.counts == (100, 190, 250) and m.count == 250
    assert quantile(0.3, m.buckets) == pytest.approx(0.075)
    assert quantile(0.5, m.buckets) == pytest.approx(0.1277777777777778)
    job1 = merge(parts[:2])
    assert quantile(0.5, job1.buckets) == pytest.approx(0.14)


# ---- delta, reset, merge ------------------------------------------------------


def test_delta_and_reset_detection():
    a = H(0, [1, 2, 3, 4], s=2.0)
    b = H(1, [2, 4, 6, 8], s=5.0)
    d = delta(a, b)
    assert d.counts == (1, 2, 3, 4) and d.sum == 3.0 and d.count == 4 and d.ts == 1
    restarted = H(2, [1, 1, 1, 1], s=0.5)
    assert is_reset(b, restarted)
    assert delta(b, restarted) is restarted
    # a bucket going down with the count still growing is a reset too
    odd = H(3, [0, 5, 7, 9])
    assert is_reset(b, odd) and delta(b, odd) is odd
    # a layout change is a reset
    other = H(4, [1, 2, 3], les=(0.2, 1.0, INF))
    assert is_reset(b, other)


def test_merge_rejects_mismatch_and_empty():
    with pytest.raises(ValueError):
        merge([])
    with pytest.raises(ValueError):
        merge([H(0, [1, 2, 3, 4]), H(0, [1, 2, 3], les=(0.2, 1.0, INF))])


def test_merge_series_keeps_common_instants_only():
    e0 = [H(0, [0, 0, 0, 0]), H(1, [1, 1, 1, 1]), H(2, [2, 2, 2, 2])]
    e1 = [H(0, [0, 0, 0, 0]), H(2, [0, 1, 1, 3])]
    out = merge_series([e0, e1])
    assert [h.ts for h in out] == [0, 2]
    assert out[1].counts == (2, 3, 3, 5)
    assert merge_series([]) == []
    assert merge_series([e0]) == e0


# ---- windows -------------------------------------------------------------------


def test_window_delta_with_reset_mid_window():
    series = [
        H(0, [1, 2, 3, 4], s=1.0),
        H(1, [2, 4, 6, 8], s=3.0),  # +1 +2 +3 +4 (sum +2)
        H(2, [0, 1, 1, 2], s=0.7),  # restart: counts itself
        H(3, [1, 2, 2, 3], s=1.0),  # +1 +1 +1 +1
    ]
    d = window_delta(series, 0, 3)
    assert d.counts == (1 + 0 + 1, 2 + 1 + 1, 3 + 1 + 1, 4 + 2 + 1)
    assert d.count == 7 and d.sum == pytest.approx(2.0 + 0.7 + 0.3)
    qs = windowed_quantiles(series, 0, 3)
    assert set(qs) == {0.5, 0.9, 0.99}
    assert qs[0.5] == quantile(0.5, d.buckets)
    assert mean(series, 0, 3) == pytest.approx(3.0 / 7)


def test_window_edges_and_no_data():
    series = [H(t, [t, 2 * t, 3 * t, 4 * t], s=float(t)) for t in range(6)]
    d = window_delta(series, 1.5, 4.5)  # uses snapshots 2 and 4
    assert d.counts == (2, 4, 6, 8) and d.ts == 4
    assert window_delta(series, 1.5, 2.5) is None
    assert windowed_quantiles(series, 10, 20) == {0.5: None, 0.9: None, 0.99: None}
    flat = [H(0, [1, 1, 1, 1], s=1), H(1, [1, 1, 1, 1], s=1)]
    assert windowed_quantiles(flat, 0, 1, qs=(0.5,)) == {0.5: None}  # nothing new
    assert mean(flat, 0, 1) is None


def test_window_across_layout_change_counts_from_the_change():
    series = [H(0, [1, 1, 1, 1]), H(1, [5, 5, 5, 5]), H(2, [2, 3, 3], les=(0.2, 1.0, INF)), H(3, [4, 5, 6], les=(0.2, 1.0, INF))]
    d = window_delta(series, 0, 3)
    assert d.les == (0.2, 1.0, INF) and d.counts == (4, 5, 6)


def test_merged_window_delta_of_dp_engines():
    e0 = [H(0, [0, 0, 0, 0]), H(10, [4, 4, 4, 4])]  # 4 fast requests
    e1 = [H(0.2, [0, 0, 0, 0]), H(10.2, [0, 0, 2, 4])]  # 2 slow, 2 very slow
    d = merged_window_delta([e0, e1], 0, 11)
    assert d.counts == (4, 4, 6, 8)
    assert quantile(0.5, d.buckets) == pytest.approx(0.1)
    assert quantile(0.9, d.buckets) == 1.0  # +Inf bucket → highest finite le
    assert merged_window_delta([e0, e1], 20, 30) is None


def test_snapshot_mean():
    assert snapshot_mean(H(0, [0, 0, 0, 0], s=0)) is None
    assert snapshot_mean(HistSnapshot(0, [(1, 2), (INF, 2)], math.nan, 2)) is None
    assert snapshot_mean(HistSnapshot(0, [(1, 2), (INF, 2)], 1.0, 2)) == 0.5


def test_quantile_series_sliding_window_and_gaps():
    # one observation of ~0.3 s per second, then nothing for 5 s, then 0.05 s ones
    series, c = [], [0, 0, 0, 0]
    for t in range(6):
        series.append(H(float(t), list(c)))
        c = [c[0], c[1] + 1, c[2] + 1, c[3] + 1]
    for t in range(6, 11):
        series.append(H(float(t), list(c)))
    for t in range(11, 14):
        c = [c[0] + 1, c[1] + 1, c[2] + 1, c[3] + 1]
        series.append(H(float(t), list(c)))
    ts, vs = quantile_series(series, window_s=1, q=0.5)
    assert ts == [1, 2, 3, 4, 5, 6, 11, 12, 13]  # no point where nothing finished
    assert vs[:6] == pytest.approx([0.3] * 6)
    assert vs[6:] == pytest.approx([0.05] * 3)


def test_quantile_series_step_and_bad_args():
    series = [H(float(t), [t, 2 * t, 3 * t, 4 * t]) for t in range(20)]
    ts, _ = quantile_series(series, window_s=2, q=0.5, step_s=5)
    assert ts == [1, 5, 10, 15]
    with pytest.raises(ValueError):
        quantile_series(series, window_s=0, q=0.5)
    with pytest.raises(ValueError):
        quantile_series(series, window_s=1, q=2)


# ---- seeded property checks (always run; see test_derive_properties for hypothesis) ----


def _random_series(rnd, n, les=(0.1, 0.5, 1.0, 5.0, INF)):
    counts = [0.0] * len(les)
    out, t, s = [], 0.0, 0.0
    for _ in range(n):
        t += rnd.choice([1.0, 1.0, 0.9, 1.1, 3.0])
        if rnd.random() < 0.05:  # restart
            counts, s = [0.0] * len(les), 0.0
        new = [rnd.randint(0, 3) for _ in les]
        run = 0.0
        for k, x in enumerate(new):
            run += x
            counts[k] += run
        s += run * 0.3
        out.append(HistSnapshot(t, list(zip(les, counts)), s, counts[-1]))
    return out


@pytest.mark.parametrize("seed", range(15))
def test_window_delta_equals_sum_of_pairwise_deltas(seed):
    rnd = random.Random(seed)
    series = _random_series(rnd, rnd.randint(2, 60))
    d = window_delta(series, series[0].ts, series[-1].ts)
    total = [0.0] * len(series[0].les)
    for a, b in zip(series, series[1:]):
        total = [x + y for x, y in zip(total, delta(a, b).counts)]
    assert d.counts == pytest.approx(tuple(total))


@pytest.mark.parametrize("seed", range(15))
def test_quantile_series_agrees_with_windowed_quantiles(seed):
    rnd = random.Random(seed)
    series = _random_series(rnd, rnd.randint(2, 60))
    window, q = rnd.choice([1.0, 3.0, 10.0]), rnd.choice([0.5, 0.9, 0.99])
    ts, vs = quantile_series(series, window, q)
    expected = {}
    for j, h in enumerate(series):
        i = next(k for k in range(len(series)) if series[k].ts >= h.ts - window - 0.25)
        if i < j:
            v = windowed_quantiles(series, series[i].ts, h.ts, (q,))[q]
            if v is not None:
                expected[h.ts] = v
    assert ts == list(expected)
    assert vs == pytest.approx(list(expected.values()))


@pytest.mark.parametrize("seed", range(25))
def test_quantile_monotone_and_within_bucket(seed):
    rnd = random.Random(seed)
    les = sorted(rnd.sample([0.01, 0.1, 0.25, 0.5, 1, 2, 5, 10], rnd.randint(1, 6))) + [INF]
    cums, run = [], 0
    for _ in les:
        run += rnd.choice([0, 0, 1, 5, 20])
        cums.append(run)
    b = list(zip(les, cums))
    prev = -INF
    for q in [k / 50 for k in range(51)]:
        v = quantile(q, b)
        if cums[-1] == 0:
            assert v is None
            continue
        assert v >= prev - 1e-12
        lo, hi = bucket_bounds(q, b)
        assert lo <= v <= hi
        prev = v


@pytest.mark.parametrize("seed", range(25))
def test_merged_quantile_within_parts_bucket_bounds(seed):
    rnd = random.Random(seed)
    les = (0.01, 0.1, 1.0, 10.0, INF)
    parts = []
    for _ in range(rnd.randint(1, 4)):
        cums, run = [], 0
        for _ in les:
            run += rnd.choice([0, 0, 1, 3, 10])
            cums.append(run)
        parts.append(HistSnapshot(0, list(zip(les, cums)), 0.0, cums[-1]))
    m = merge(parts)
    for q in (0.0, 0.1, 0.5, 0.9, 0.99, 1.0):
        bounds = [b for b in (bucket_bounds(q, p.buckets) for p in parts) if b is not None]
        v = quantile(q, m.buckets)
        if not bounds:
            assert v is None
            continue
        assert min(b[0] for b in bounds) <= v <= max(b[1] for b in bounds)
