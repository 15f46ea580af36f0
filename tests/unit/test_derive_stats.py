"""The comparison statistics on synthetic data with a known truth (seeded, no clock)."""

from __future__ import annotations

import numpy as np
import pytest

from iejtui.derive import stats


def coverage(true_diff: float, make, reps: int = 200, level: float = 0.95, **kw) -> float:
    hits = 0
    for r in range(reps):
        a, b = make(r)
        iv = stats.bootstrap_diff(a, b, level=level, seed=r, n_boot=600, **kw)
        hits += iv.lo <= true_diff <= iv.hi
    return hits / reps


def test_bootstrap_interval_covers_a_zero_difference_about_95_percent_of_the_time():
    def make(r):
        rng = np.random.default_rng(1000 + r)
        return rng.lognormal(3.0, 0.4, 150), rng.lognormal(3.0, 0.4, 150)
    true_median = float(np.exp(3.0))  # both medians are exactly e^3: the true difference is 0
    cov = coverage(0.0, make, stat="p50")
    assert 0.88 <= cov <= 0.99, cov
    assert true_median > 0


def test_bootstrap_interval_covers_a_planted_shift():
    shift = 4.0  # every B draw is an A draw + 4: the true difference of any statistic is 4
    def make(r):
        rng = np.random.default_rng(5000 + r)
        return rng.gamma(4.0, 5.0, 200), rng.gamma(4.0, 5.0, 200) + shift
    cov = coverage(shift, make, stat="mean")
    assert 0.88 <= cov <= 0.99, cov


def test_planted_shift_is_significant_and_identical_samples_are_not():
    rng = np.random.default_rng(7)
    a = rng.uniform(40, 80, 300)
    iv = stats.bootstrap_diff(a, a * 1.2, "p50", seed=1)
    true = 0.2 * float(np.median(a))
    assert iv.significant and iv.lo <= true <= iv.hi and iv.diff == pytest.approx(true)
    same = stats.bootstrap_diff(a, a.copy(), "p99", seed=1)
    assert not same.significant and same.diff == 0.0
    assert stats.bootstrap_diff([], a) is None


def test_deterministic_with_a_seed():
    rng = np.random.default_rng(3)
    a, b = rng.normal(10, 2, 80), rng.normal(11, 2, 80)
    assert stats.bootstrap_diff(a, b, seed=4) == stats.bootstrap_diff(a, b, seed=4)
    assert stats.bootstrap_diff(a, b, seed=4) != stats.bootstrap_diff(a, b, seed=5)


def ar1(rng, n, phi, mean, sd):
    x = np.empty(n)
    x[0] = rng.normal(0, sd)
    for i in range(1, n):
        x[i] = phi * x[i - 1] + rng.normal(0, sd)
    return x + mean


def test_block_bootstrap_holds_its_level_on_autocorrelated_rates_where_iid_does_not():
    """AR(1) per-second rates (φ = 0.8): the block bootstrap keeps near-95 % coverage of a
    zero difference; an i.i.d. bootstrap of the same series is far too narrow."""
    hit_block = hit_iid = 0
    reps = 150
    for r in range(reps):
        rng = np.random.default_rng(9000 + r)
        a, b = ar1(rng, 240, 0.8, 100.0, 5.0), ar1(rng, 240, 0.8, 100.0, 5.0)
        blk = stats.block_bootstrap_diff(a, b, seed=r, n_boot=500)
        iid = stats.bootstrap_diff(a, b, "mean", seed=r, n_boot=500)
        hit_block += blk.lo <= 0 <= blk.hi
        hit_iid += iid.lo <= 0 <= iid.hi
    assert hit_block / reps >= 0.80, hit_block / reps   # blocks of ⌈n^⅓⌉ = 7 s: a little short of 95 %
    assert hit_iid / reps <= 0.75, hit_iid / reps        # ignoring the autocorrelation: badly over-confident
    assert hit_block > hit_iid


def test_block_length_rule():
    assert [stats.block_length(n) for n in (0, 1, 2, 8, 9, 27, 28, 1000)] == [1, 1, 2, 2, 3, 3, 4, 10]


def test_bonferroni_level():
    assert stats.adjust_level(1) == pytest.approx(0.95)
    assert stats.adjust_level(10) == pytest.approx(0.995)


def test_welch_interval_from_repetitions():
    # 1,819 ± 681 vs 1,374 ± 1,036 tok/s over 3 repetitions (issue 16): not a difference
    iv = stats.welch_interval(1374, 1036, 3, 1819, 681, 3)
    assert not iv.significant and iv.diff == pytest.approx(445)
    iv = stats.welch_interval(101.5, 0.7, 2, 161.5, 0.7, 2)
    assert iv.significant and iv.lo > 50
    assert stats.welch_interval(1.0, None, 1, 2.0, 0.1, 3) is None
    assert stats.t975(1) == 12.706 and stats.t975(2.9) == 4.303 and stats.t975(500) == 1.96
