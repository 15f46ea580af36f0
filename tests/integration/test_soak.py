"""A short soak in CI (tests/perf/soak.py runs the long one): 8 replayed engines, the
replayed H100, back-to-back benchmarks; the service's memory and descriptors stay flat."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "perf"))

from soak import flatness, run_soak  # noqa: E402


def test_short_soak_is_flat(tmp_path):
    samples = run_soak(90, engines=8, interval=10, journal=tmp_path / "journal", log=lambda s: None)
    assert len(samples) >= 5, samples
    rss, fds = flatness(samples, warmup_s=30)
    # a leak raises the floor; a floor that falls (a bench's connections closed between
    # the halves) is no leak, so only growth fails
    assert fds <= 0.10, samples
    assert rss <= 0.10, samples  # no growth beyond 10% after warm-up
