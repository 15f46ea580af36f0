"""Time-bucket downsampling: reductions, grid, gaps."""

from __future__ import annotations

import math
import random

import pytest

from iejtui.derive.downsample import downsample


def test_small_series_passes_through_without_grid():
    assert downsample([0, 1, 2], [1.0, math.nan, 3.0], 10) == ([0, 2], [1.0, 3.0])
    assert downsample([], [], 10) == ([], [])


def test_reductions_on_a_fixed_grid():
    ts = list(range(10))
    vs = [1.0, 5.0, 2.0, 8.0, 3.0, 3.0, 9.0, 0.0, 4.0, 6.0]
    # grid [0, 10) in 5 buckets of 2 s; samples (0,1) (2,3) (4,5) (6,7) (8,9)
    assert downsample(ts, vs, 5, "mean", 0, 10) == ([0, 2, 4, 6, 8], [3.0, 5.0, 3.0, 4.5, 5.0])
    assert downsample(ts, vs, 5, "max", 0, 10)[1] == [5.0, 8.0, 3.0, 9.0, 6.0]
    assert downsample(ts, vs, 5, "min", 0, 10)[1] == [1.0, 2.0, 3.0, 0.0, 4.0]
    assert downsample(ts, vs, 5, "last", 0, 10)[1] == [5.0, 8.0, 3.0, 0.0, 6.0]


def test_default_grid_spans_data_and_last_sample_lands_in_last_bucket():
    ts = [0.0, 1.0, 2.0, 3.0, 4.0]
    out_ts, out_v = downsample(ts, [1.0, 2.0, 3.0, 4.0, 5.0], 2)
    # w = 2: bucket 0 = [0, 2), bucket 1 = [2, 4] (t1 included)
    assert out_ts == [0.0, 2.0]
    assert out_v == [1.5, 4.0]


def test_gaps_stay_absent():
    ts = [0, 1, 2, 3] + [50, 51, 52] + [98, 99, 100]
    vs = [1.0] * 4 + [2.0] * 3 + [3.0] * 3
    out_ts, out_v = downsample(ts, vs, 10, "mean", 0, 100)
    assert out_ts == [0, 50, 90]
    assert out_v == [1.0, 2.0, 3.0]


def test_samples_outside_window_and_nan_ignored():
    ts = [-5, 0, 1, 2, 3, 20]
    vs = [100.0, 1.0, math.nan, 3.0, 5.0, 100.0]
    assert downsample(ts, vs, 2, "max", 0, 4) == ([0, 2], [1.0, 5.0])


def test_zero_span_window():
    assert downsample([5, 5, 5], [1.0, 2.0, 3.0], 1, "mean", 5, 5) == ([5], [2.0])


def test_bad_arguments():
    with pytest.raises(ValueError):
        downsample([0, 1], [1.0], 5)
    with pytest.raises(ValueError):
        downsample([0, 1], [1.0, 2.0], 0)
    with pytest.raises(ValueError):
        downsample([0, 1], [1.0, 2.0], 5, "median")  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        downsample([0, 1], [1.0, 2.0], 5, "mean", 2, 1)


@pytest.mark.parametrize("seed", range(20))
def test_matches_brute_force_grouping(seed):
    rnd = random.Random(seed)
    ts, t = [], 0.0
    for _ in range(rnd.randint(1, 500)):
        t += rnd.choice([1.0, 1.0, 1.0, 0.5, 30.0])
        ts.append(t)
    vs = [rnd.uniform(-10, 10) for _ in ts]
    points = rnd.randint(1, 60)
    how = rnd.choice(["mean", "max", "min", "last"])
    t0, t1 = ts[0], ts[-1]
    out_ts, out_v = downsample(ts, vs, points, how, t0, t1)
    width = (t1 - t0) / points
    groups: dict[int, list[float]] = {}
    for x, v in zip(ts, vs):
        k = min(int((x - t0) / width), points - 1) if width > 0 else 0
        groups.setdefault(k, []).append(v)
    reduce = {"mean": lambda g: sum(g) / len(g), "max": max, "min": min, "last": lambda g: g[-1]}[how]
    assert len(out_ts) <= points
    assert out_ts == pytest.approx([t0 + k * width for k in sorted(groups)])
    assert out_v == pytest.approx([reduce(groups[k]) for k in sorted(groups)])
