"""Counter and gauge maths: increase/rate edges, resets, sliding rates."""

from __future__ import annotations

import math
import random

import pytest

from iejtui.derive import counters, gauges
from iejtui.derive.counters import increase, rate, rate_series, resets

TS = [0.0, 1.0, 2.0, 3.0, 4.0, 5.0]
VS = [10.0, 15.0, 15.0, 25.0, 40.0, 41.0]


def test_increase_exact_between_edge_samples():
    assert increase(TS, VS, 0, 5) == 31.0
    assert increase(TS, VS, 1, 4) == 25.0


def test_increase_no_extrapolation_at_window_edges():
    # window edges between samples: first sample >= t0 (2.0), last <= t1 (4.0)
    assert increase(TS, VS, 1.5, 4.5) == 25.0  # 40 - 15, not scaled to 3 s
    # a window reaching past the data uses the data it has
    assert increase(TS, VS, -100, 100) == 31.0


def test_increase_needs_two_samples():
    assert increase(TS, VS, 1.5, 2.5) is None  # one sample
    assert increase(TS, VS, 10, 20) is None  # none
    assert increase([], [], 0, 1) is None
    assert rate(TS, VS, 1.5, 2.5) is None


def test_increase_across_reset_counts_new_value():
    ts = [0, 1, 2, 3, 4]
    vs = [100.0, 110.0, 5.0, 8.0, 20.0]  # restart between 1 and 2
    # 10 before the reset, +5 (new value itself), +3, +12
    assert increase(ts, vs, 0, 4) == 30.0
    assert resets(ts, vs, 0, 4) == 1
    # window starting right at the reset sample
    assert increase(ts, vs, 2, 4) == 15.0
    assert resets(ts, vs, 2, 4) == 0


def test_reset_to_zero_and_two_resets():
    ts = [0, 1, 2, 3, 4, 5]
    vs = [50.0, 60.0, 0.0, 7.0, 3.0, 4.0]
    assert increase(ts, vs, 0, 5) == 10 + 0 + 7 + 3 + 1
    assert resets(ts, vs, 0, 5) == 2


def test_rate_divides_by_covered_time_not_window():
    # samples cover 1..4 (3 s) inside a 10 s window
    assert rate(TS, VS, -3, 4) == pytest.approx(30.0 / 4)
    assert rate(TS, VS, 0.5, 4.2) == pytest.approx(25.0 / 3)


def test_nan_readings_are_dropped():
    ts = [0, 1, 2, 3]
    vs = [0.0, math.nan, 4.0, 6.0]
    assert increase(ts, vs, 0, 3) == 6.0
    assert increase(ts, vs, 0.5, 1.5) is None


def test_length_mismatch_raises():
    with pytest.raises(ValueError):
        increase([0, 1], [1.0], 0, 1)


def test_rate_series_per_sample_and_window():
    ts = [0.0, 1.0, 2.0, 3.0, 4.0]
    vs = [0.0, 10.0, 30.0, 30.0, 70.0]
    out_ts, out_v = rate_series(ts, vs, window_s=1)
    assert out_ts == [1.0, 2.0, 3.0, 4.0]
    assert out_v == [10.0, 20.0, 0.0, 40.0]
    out_ts, out_v = rate_series(ts, vs, window_s=2)
    assert out_ts == [1.0, 2.0, 3.0, 4.0]
    assert out_v == [10.0, 15.0, 10.0, 20.0]


def test_rate_series_tolerates_scrape_jitter():
    ts = [0.0, 1.004, 1.998, 3.01]
    vs = [0.0, 5.0, 10.0, 15.0]
    out_ts, out_v = rate_series(ts, vs, window_s=1)
    assert out_ts == ts[1:]
    assert out_v == pytest.approx([5 / 1.004, 5 / 0.994, 5 / 1.012])


def test_rate_series_keeps_gaps_and_resets():
    ts = [0.0, 1.0, 2.0, 10.0, 11.0]  # 8 s scrape gap
    vs = [0.0, 5.0, 10.0, 3.0, 6.0]  # restart during the gap
    out_ts, out_v = rate_series(ts, vs, window_s=2)
    assert out_ts == [1.0, 2.0, 11.0]  # no point at 10.0: nothing older in its window
    assert out_v == [5.0, 5.0, 3.0]


def test_rate_series_rejects_bad_window():
    with pytest.raises(ValueError):
        rate_series([0, 1], [0, 1], 0)


def _brute_rate_series(ts, vs, window_s, jitter_s):
    out_ts, out_v = [], []
    for j in range(len(ts)):
        i = next(k for k in range(len(ts)) if ts[k] >= ts[j] - window_s - jitter_s)
        if i < j and ts[j] > ts[i]:
            out_ts.append(ts[j])
            out_v.append(increase(ts, vs, ts[i], ts[j]) / (ts[j] - ts[i]))
    return out_ts, out_v


@pytest.mark.parametrize("seed", range(20))
def test_rate_series_matches_windowed_rate(seed):
    rnd = random.Random(seed)
    ts, vs, t, v = [], [], 0.0, 0.0
    for _ in range(rnd.randint(2, 80)):
        t += rnd.choice([1.0, 1.0, 1.0, 0.9, 1.2, 5.0])
        v = v + rnd.randint(0, 50) if rnd.random() > 0.05 else rnd.randint(0, 10)
        ts.append(t)
        vs.append(float(v))
    window = rnd.choice([1.0, 2.5, 10.0])
    got = rate_series(ts, vs, window)
    want = _brute_rate_series(ts, vs, window, 0.25)
    assert got[0] == want[0]
    assert got[1] == pytest.approx(want[1])
    # increase over the whole series equals the sum of non-negative steps
    whole = increase(ts, vs, ts[0], ts[-1])
    if whole is not None:
        assert whole >= 0
        assert whole == pytest.approx(
            sum(b - a if b >= a else b for a, b in zip(vs, vs[1:]))
        )


def test_clean_and_window_indices():
    assert counters.clean([0, 1, 2], [1.0, math.inf, 2.0]) == ([0, 2], [1.0, 2.0])
    assert counters.window_indices([0, 1, 2, 3], 0.5, 2.5) == (1, 2)
    assert counters.window_indices([0, 1, 2, 3], 0.5, 1.5) is None


def test_gauges_window_figures():
    ts = [0, 1, 2, 3, 4]
    vs = [1.0, 5.0, math.nan, 2.0, 3.0]
    assert gauges.last_value(ts, vs, 0, 2.5) == 5.0  # NaN at 2 skipped
    assert gauges.last_value(ts, vs, 0, 4) == 3.0
    assert gauges.last_value(ts, vs, 10, 20) is None
    assert gauges.window_max(ts, vs, 0, 4) == 5.0
    assert gauges.window_min(ts, vs, 1, 4) == 2.0
    assert gauges.window_mean(ts, vs, 0, 4) == pytest.approx(11 / 4)
    assert gauges.window_mean(ts, vs, 5, 6) is None
