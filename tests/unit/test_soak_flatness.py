"""The soak's flatness measure: transient descriptors during a benchmark are not a leak,
a rising floor is."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "perf"))

from soak import flatness  # noqa: E402

MB = 2**20


def test_benchmark_connections_open_at_a_sample_are_not_a_leak():
    # the CI failure of session 1: 51 fds while a benchmark ran, 19-20 otherwise
    samples = [(0, 63 * MB, 19), (10, 68 * MB, 20), (20, 68 * MB, 52), (30, 68 * MB, 51),
               (40, 68 * MB, 20), (50, 68 * MB, 19), (60, 68 * MB, 19), (70, 68 * MB, 52),
               (80, 68 * MB, 19)]
    rss, fds = flatness(samples, warmup_s=30)
    assert abs(fds) <= 0.10 and abs(rss) <= 0.10


def test_a_descriptor_leak_raises_the_floor():
    samples = [(t, 68 * MB, 20 + t // 10 * 3) for t in range(30, 100, 10)]
    _, fds = flatness(samples, warmup_s=30)
    assert fds > 0.10


def test_memory_growth_after_warm_up_is_seen():
    samples = [(t, (60 + t // 10 * 4) * MB, 20) for t in range(0, 100, 10)]
    rss, _ = flatness(samples, warmup_s=30)
    assert rss > 0.10
