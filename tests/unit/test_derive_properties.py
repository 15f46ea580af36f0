"""Property checks with hypothesis (skipped where hypothesis is not installed;
seeded equivalents of the key properties run in the other test_derive_* files)."""

from __future__ import annotations

import math

import pytest

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from iejtui.derive.counters import increase, rate_series  # noqa: E402
from iejtui.derive.downsample import downsample  # noqa: E402
from iejtui.derive.histograms import (  # noqa: E402
    HistSnapshot,
    bucket_bounds,
    merge,
    quantile,
    window_delta,
)

INF = math.inf
LES = (0.01, 0.05, 0.1, 0.5, 1.0, 5.0, INF)

qs = st.floats(min_value=0.0, max_value=1.0, allow_nan=False)
per_bucket = st.lists(st.integers(min_value=0, max_value=50), min_size=len(LES), max_size=len(LES))


def cumulative(counts: list[int]) -> list[tuple[float, float]]:
    out, run = [], 0.0
    for le, c in zip(LES, counts):
        run += c
        out.append((le, run))
    return out


@settings(max_examples=300, deadline=None)
@given(per_bucket, qs, qs)
def test_quantile_monotone_in_q(counts, q1, q2):
    b = cumulative(counts)
    lo_q, hi_q = sorted((q1, q2))
    a, z = quantile(lo_q, b), quantile(hi_q, b)
    if sum(counts) == 0:
        assert a is None and z is None
    else:
        assert a <= z + 1e-12


@settings(max_examples=300, deadline=None)
@given(per_bucket, qs)
def test_quantile_inside_its_bucket(counts, q):
    b = cumulative(counts)
    v = quantile(q, b)
    if v is None:
        assert sum(counts) == 0
        return
    lo, hi = bucket_bounds(q, b)
    assert lo <= v <= hi
    assert 0 <= v <= LES[-2]


@settings(max_examples=300, deadline=None)
@given(st.lists(per_bucket, min_size=1, max_size=4), qs)
def test_merged_quantile_within_parts_bucket_bounds(parts, q):
    snaps = [HistSnapshot(0, cumulative(c), 0.0, float(sum(c))) for c in parts]
    m = merge(snaps)
    v = quantile(q, m.buckets)
    bounds = [bucket_bounds(q, s.buckets) for s in snaps]
    bounds = [b for b in bounds if b is not None]
    if not bounds:
        assert v is None
        return
    assert min(b[0] for b in bounds) <= v <= max(b[1] for b in bounds)


counter_steps = st.lists(
    st.tuples(st.sampled_from([0.5, 1.0, 1.0, 1.0, 2.0, 7.0]), st.integers(0, 100), st.booleans()),
    min_size=1,
    max_size=60,
)


def build_counter(steps):
    ts, vs, t, v = [], [], 0.0, 0.0
    for dt, inc, restart in steps:
        t += dt
        v = float(inc) if restart else v + inc
        ts.append(t)
        vs.append(v)
    return ts, vs


@settings(max_examples=200, deadline=None)
@given(counter_steps, st.floats(min_value=0.5, max_value=20))
def test_rate_series_is_windowed_increase_over_span(steps, window):
    ts, vs = build_counter(steps)
    out_ts, out_v = rate_series(ts, vs, window)
    assert all(v >= 0 for v in out_v)
    for t, r in zip(out_ts, out_v):
        anchor = next(x for x in ts if x >= t - window - 0.25)
        assert r == pytest.approx(increase(ts, vs, anchor, t) / (t - anchor))


@settings(max_examples=200, deadline=None)
@given(counter_steps, st.integers(0, 59))
def test_increase_is_additive(steps, a):
    ts, vs = build_counter(steps)
    i = a % len(ts)
    whole = increase(ts, vs, ts[0], ts[-1])
    left = increase(ts, vs, ts[0], ts[i]) or 0.0
    right = increase(ts, vs, ts[i], ts[-1]) or 0.0
    if whole is not None:
        assert whole == pytest.approx(left + right)


@settings(max_examples=200, deadline=None)
@given(st.lists(per_bucket, min_size=3, max_size=30), st.data())
def test_window_delta_additive_across_split(increments, data):
    series, counts = [], [0.0] * len(LES)
    for t, inc in enumerate(increments):
        counts = [c + x for c, x in zip(counts, (b for _, b in cumulative(inc)))]
        series.append(HistSnapshot(float(t), list(zip(LES, counts)), 0.0, counts[-1]))
    last = len(series) - 1
    k = data.draw(st.integers(1, last - 1))
    whole = window_delta(series, 0, last)
    left, right = window_delta(series, 0, k), window_delta(series, k, last)
    assert whole.counts == pytest.approx(tuple(a + b for a, b in zip(left.counts, right.counts)))


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.tuples(st.floats(0, 1000, allow_nan=False), st.floats(-1e6, 1e6, allow_nan=False)), min_size=1, max_size=200),
    st.integers(1, 50),
    st.sampled_from(["mean", "max", "min", "last"]),
)
def test_downsample_bounds(points, max_points, how):
    points.sort()
    ts = [p[0] for p in points]
    vs = [p[1] for p in points]
    out_ts, out_v = downsample(ts, vs, max_points, how, ts[0], ts[-1])
    assert len(out_ts) <= max_points
    assert out_ts == sorted(set(out_ts))
    assert min(vs) - 1e-6 <= min(out_v) and max(out_v) <= max(vs) + 1e-6
