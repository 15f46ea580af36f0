"""Confidence intervals for "is run B different from run A?" (pure, numpy, seeded).

Decisions:

* **Direction**: every difference is ``B − A`` (the second run minus the first), in the
  figure's own unit.
* **Latencies** (per-request samples: TTFT, TPOT, ITL, E2EL): percentile bootstrap of the
  difference of a statistic (``p50``, ``p99``, ``mean``). Each resample draws ``len(a)``
  requests from A and ``len(b)`` from B with replacement, independently; the interval is
  the ``α/2`` and ``1 − α/2`` quantiles of the resampled differences. Percentiles are
  numpy's default (linear), the load generator's own definition, so the point estimate
  equals the figure the run reports.
* **Pooled per-chunk samples** (ITL: every gap of every request, pooled as vLLM does):
  the gaps of one request are not independent, so ``cluster_bootstrap_diff`` resamples
  whole requests and pools the gaps of the drawn ones.
* **Per-second rates** (tok/s, req/s: autocorrelated, a busy second follows a busy
  second): circular block bootstrap of the mean (Politis & Romano's circular variant of
  Künsch's moving blocks). Block length ``L = ⌈n^(1/3)⌉`` (the classical rate for the
  variance of a mean), at least 1, at most ``n``; each resample joins ``⌈n/L⌉`` blocks
  starting at uniform positions, wrapping around the end, cut to ``n`` values. A series
  shorter than ``MIN_SECONDS`` (10) gives no interval: a handful of blocks cannot show
  the spread (two one-second bins would give a zero-width interval).
  Measured here (``tests/unit/test_derive_stats.py``): on AR(1) series with φ = 0.8,
  240 s, a zero difference is covered 82 % of the time (an i.i.d. bootstrap: 49 %);
  strong autocorrelation wants longer blocks than the rate rule gives.
* **Multiple comparisons**: Bonferroni. When ``m`` figures are compared at once, each
  interval is taken at level ``1 − 0.05/m``, so the ``m`` intervals hold their true
  differences together with probability ≥ 95 % (family-wise error ≤ 5 %). ``m`` and the
  per-interval level are reported with the figures (``adjust_level``).
* **Significant** means the interval excludes 0. An empty sample gives no interval
  (``None``), never a guess.
* **Repetitions only** (a matrix cell's mean ± sd over repetitions, no samples): Welch's
  t interval of the difference of two means (``welch_interval``), Student quantiles from
  a table (``t975``: the two-sided 95 % point; the Welch degrees of freedom are rounded
  down, which widens the interval slightly: conservative).
* Deterministic: every resampling takes a ``seed`` (default 0) and uses its own
  ``numpy.random.default_rng(seed)``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

__all__ = ["Interval", "STATISTICS", "adjust_level", "block_length", "bootstrap_diff", "block_bootstrap_diff",
           "cluster_bootstrap_diff", "mark_best", "statistic", "t975", "welch_interval", "FAMILY_LEVEL", "MIN_SECONDS"]

#: The family-wise confidence every comparison is held to.
FAMILY_LEVEL = 0.95
#: Resamples per interval: enough for stable 95 %–99.9 % quantiles at these sizes.
N_BOOT = 2000
STATISTICS = ("p50", "p90", "p99", "mean")
#: The shortest per-second series the block bootstrap takes.
MIN_SECONDS = 10


@dataclass(frozen=True)
class Interval:
    """A difference ``b − a`` with its confidence interval at ``level``."""

    a: float
    b: float
    diff: float
    lo: float
    hi: float
    level: float
    method: str

    @property
    def significant(self) -> bool:
        return not (self.lo <= 0.0 <= self.hi)


def adjust_level(m: int, family: float = FAMILY_LEVEL) -> float:
    """Bonferroni: the level of each of ``m`` intervals for a family-wise ``family``."""
    return 1.0 - (1.0 - family) / max(int(m), 1)


def statistic(values: np.ndarray, stat: str, axis: int = -1) -> np.ndarray | float:
    """``p50``/``p90``/``p99`` (numpy linear percentiles) or ``mean`` along ``axis``."""
    if stat == "mean":
        return np.mean(values, axis=axis)
    if stat.startswith("p") and stat[1:].replace(".", "", 1).isdigit():
        return np.percentile(values, float(stat[1:]), axis=axis)
    raise ValueError(f"unknown statistic {stat!r}: one of {', '.join(STATISTICS)}")


def _clean(x: Sequence[float]) -> np.ndarray:
    a = np.asarray(list(x), dtype=float)
    return a[np.isfinite(a)]


def _resample_stat(x: np.ndarray, stat: str, rng: np.random.Generator, n_boot: int) -> np.ndarray:
    # in slices, so a 100k-sample ITL pool does not build a 2000 × 100k matrix at once
    out = np.empty(n_boot)
    step = max(1, int(2_000_000 // max(len(x), 1)))
    for s in range(0, n_boot, step):
        k = min(step, n_boot - s)
        idx = rng.integers(0, len(x), size=(k, len(x)))
        out[s:s + k] = statistic(x[idx], stat, axis=1)
    return out


def bootstrap_diff(a: Sequence[float], b: Sequence[float], stat: str = "p50", level: float = 0.95,
                   seed: int = 0, n_boot: int = N_BOOT) -> Interval | None:
    """Percentile-bootstrap interval of ``stat(b) − stat(a)`` over per-request samples."""
    xa, xb = _clean(a), _clean(b)
    if len(xa) == 0 or len(xb) == 0:
        return None
    rng = np.random.default_rng(seed)
    da = _resample_stat(xa, stat, rng, n_boot)
    db = _resample_stat(xb, stat, rng, n_boot)
    d = db - da
    alpha = 1.0 - level
    lo, hi = np.quantile(d, [alpha / 2, 1 - alpha / 2])
    va, vb = float(statistic(xa, stat)), float(statistic(xb, stat))
    return Interval(va, vb, vb - va, float(lo), float(hi), level, f"bootstrap of the {stat}, {n_boot} resamples")


def _cluster_stat(groups: list[np.ndarray], stat: str, rng: np.random.Generator, n_boot: int) -> np.ndarray:
    out = np.empty(n_boot)
    for i in range(n_boot):
        idx = rng.integers(0, len(groups), size=len(groups))
        out[i] = statistic(np.concatenate([groups[j] for j in idx]), stat)
    return out


def cluster_bootstrap_diff(a: Sequence[Sequence[float]], b: Sequence[Sequence[float]], stat: str = "p50",
                           level: float = 0.95, seed: int = 0, n_boot: int = N_BOOT) -> Interval | None:
    """Bootstrap interval of ``stat(pooled b) − stat(pooled a)``, resampling whole groups
    (requests) and pooling their values (a request's ITL gaps)."""
    ga = [g for g in (_clean(x) for x in a) if len(g)]
    gb = [g for g in (_clean(x) for x in b) if len(g)]
    if not ga or not gb:
        return None
    rng = np.random.default_rng(seed)
    d = _cluster_stat(gb, stat, rng, n_boot) - _cluster_stat(ga, stat, rng, n_boot)
    alpha = 1.0 - level
    lo, hi = np.quantile(d, [alpha / 2, 1 - alpha / 2])
    va, vb = float(statistic(np.concatenate(ga), stat)), float(statistic(np.concatenate(gb), stat))
    return Interval(va, vb, vb - va, float(lo), float(hi), level,
                    f"bootstrap of the {stat} over whole requests, {n_boot} resamples")


def block_length(n: int) -> int:
    """The block length of a series of ``n`` values: ``⌈n^(1/3)⌉``, within ``[1, n]``."""
    if n <= 1:
        return 1
    return min(n, max(1, math.ceil(n ** (1.0 / 3.0) - 1e-9)))


def _block_means(x: np.ndarray, rng: np.random.Generator, n_boot: int) -> np.ndarray:
    n = len(x)
    L = block_length(n)
    k = math.ceil(n / L)
    starts = rng.integers(0, n, size=(n_boot, k))
    idx = (starts[:, :, None] + np.arange(L)[None, None, :]) % n  # circular: wrap around the end
    idx = idx.reshape(n_boot, k * L)[:, :n]
    return x[idx].mean(axis=1)


def block_bootstrap_diff(a: Sequence[float], b: Sequence[float], level: float = 0.95, seed: int = 0,
                         n_boot: int = N_BOOT, min_n: int = MIN_SECONDS) -> Interval | None:
    """Circular-block-bootstrap interval of ``mean(b) − mean(a)`` of two per-second series;
    None when either has fewer than ``min_n`` values."""
    xa, xb = _clean(a), _clean(b)
    if len(xa) < max(min_n, 1) or len(xb) < max(min_n, 1):
        return None
    rng = np.random.default_rng(seed)
    d = _block_means(xb, rng, n_boot) - _block_means(xa, rng, n_boot)
    alpha = 1.0 - level
    lo, hi = np.quantile(d, [alpha / 2, 1 - alpha / 2])
    va, vb = float(xa.mean()), float(xb.mean())
    return Interval(va, vb, vb - va, float(lo), float(hi), level,
                    f"circular block bootstrap of the mean, blocks of {block_length(len(xa))}/"
                    f"{block_length(len(xb))} s, {n_boot} resamples")


# Two-sided 95 % Student quantiles t(0.975, df), df = 1..30; the normal 1.96 beyond.
_T975 = (12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.160, 2.145,
         2.131, 2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048,
         2.045, 2.042)


def t975(df: float) -> float:
    """Student's two-sided 95 % point for ``df`` degrees of freedom (rounded down; ≥ 1)."""
    d = max(int(math.floor(df)), 1)
    return _T975[d - 1] if d <= len(_T975) else 1.96


def welch_interval(mean_a: float, sd_a: float | None, n_a: int, mean_b: float, sd_b: float | None,
                   n_b: int) -> Interval | None:
    """Welch's 95 % interval of ``mean_b − mean_a`` from means, sample sds and counts over
    repetitions; None when either side has fewer than two repetitions (no sd)."""
    if n_a < 2 or n_b < 2 or sd_a is None or sd_b is None:
        return None
    va, vb = sd_a ** 2 / n_a, sd_b ** 2 / n_b
    se = math.sqrt(va + vb)
    diff = mean_b - mean_a
    if se == 0:
        return Interval(mean_a, mean_b, diff, diff, diff, 0.95, "Welch t (no spread)")
    df = (va + vb) ** 2 / ((va ** 2 / (n_a - 1)) + (vb ** 2 / (n_b - 1))) if va + vb > 0 else 1.0
    h = t975(df) * se
    return Interval(mean_a, mean_b, diff, diff - h, diff + h, 0.95, f"Welch t, {df:.1f} df")


def mark_best(cands: Sequence[tuple[str, float, float | None, int]], higher: bool) -> dict[str, str]:
    """Which of ``(name, mean, sd, n)`` (means over repetitions) to mark in a column.

    The top mean is ``"best"`` only when Welch's 95 % interval of its difference with the
    runner-up excludes 0; otherwise the top and every candidate whose interval with the top
    holds 0 are ``"tie"``. With fewer than two repetitions on either side there is no
    interval: nothing is marked (``{}``). One candidate alone is never marked.
    """
    c = [x for x in cands if x[1] is not None and math.isfinite(x[1])]
    if len(c) < 2:
        return {}
    c.sort(key=lambda x: x[1], reverse=higher)
    top = c[0]
    ivs = {x[0]: welch_interval(x[1], x[2], x[3], top[1], top[2], top[3]) for x in c[1:]}
    if any(iv is None for iv in ivs.values()):
        return {}
    if ivs[c[1][0]].significant:
        return {top[0]: "best"}
    return {top[0]: "tie", **{n: "tie" for n, iv in ivs.items() if not iv.significant}}
