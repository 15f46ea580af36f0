"""Flags, arrival schedule (vLLM semantics), concurrency lanes, workers, sweeps."""

import asyncio
import math
from time import perf_counter

import pytest

from collectors.loadgen.client import RequestRecord
from collectors.loadgen.config import BenchUsageError, parse_args
from tests.doubles.mockserver import MockConfig, MockServer
from collectors.loadgen.runner import run_bench
from collectors.loadgen.schedule import arrival_offsets, drive, request_rates
from collectors.loadgen.sweep import format_curve, run_sweep


def test_vllm_flags_parse():
    c = parse_args(["--base-url", "http://h:1", "--endpoint", "/v1/chat/completions",
                    "--backend", "openai-chat", "--model", "m", "--dataset-name", "random",
                    "--random-input-len", "64", "--random-output-len", "32",
                    "--random-range-ratio", "0.1", "--random-prefix-len", "4",
                    "--num-prompts", "7", "--request-rate", "3.5", "--burstiness", "0.5",
                    "--max-concurrency", "8", "--ignore-eos", "--seed", "9",
                    "--percentile-metrics", "ttft,e2el", "--metric-percentiles", "50,99.9",
                    "--goodput", "ttft:100", "tpot:20", "--num-warmups", "2", "--save-result",
                    "--result-dir", "/tmp/x", "--result-filename", "r.json",
                    "--metadata", "a=1", "b=2", "--disable-tqdm", "--temperature", "0",
                    "--extra-body", '{"top_k": 5}'])
    assert c.chat and c.api_url == "http://h:1/v1/chat/completions"
    assert (c.request_rate, c.burstiness, c.max_concurrency, c.seed) == (3.5, 0.5, 8, 9)
    assert c.goodput == {"ttft": 100.0, "tpot": 20.0}
    assert c.metric_percentiles == [50.0, 99.9] and c.percentile_metrics == ["ttft", "e2el"]
    assert c.metadata == {"a": "1", "b": "2"} and c.sampling == {"temperature": 0.0}
    assert c.extra_body == {"top_k": 5} and c.request_id_prefix.startswith("bench-")


@pytest.mark.parametrize("argv,msg", [
    (["--no-such-flag"], "unsupported flag"),
    (["--random-mm-base-items-per-request", "2"], "unsupported flag"),
    (["--goodput", "ttft"], "KEY:VALUE"),
    (["--goodput", "itl:3"], "not one of"),
    (["--max-concurrency", "0"], "greater than 0"),
    (["--dataset-name", "sharegpt"], "needs --dataset-path"),
    (["--dataset-name", "nope"], "invalid choice"),
    (["--percentile-metrics", "ttft,xyz"], "unknown metric"),
    (["--backend", "openai-chat"], "chat/completions"),
    (["--endpoint", "/v1/chat/completions"], "openai-chat"),
])
def test_bad_flags_are_one_line_usage_errors(argv, msg):
    with pytest.raises(BenchUsageError, match=msg) as e:
        parse_args(argv)
    assert "\n" not in str(e.value)


def test_arrivals_follow_vllm():
    assert arrival_offsets(5, math.inf) == [0.0] * 5
    assert arrival_offsets(4, 2.0, math.inf) == pytest.approx([0.5, 1.0, 1.5, 2.0])
    off = arrival_offsets(1000, 50.0, 1.0, seed=1)
    assert off[-1] == pytest.approx(1000 / 50.0)  # rescaled to end at n/rate
    assert all(b >= a for a, b in zip(off, off[1:]))
    gaps = [b - a for a, b in zip(off, off[1:])]
    cv = (sum((g - 0.02) ** 2 for g in gaps) / len(gaps)) ** 0.5 / 0.02
    assert 0.85 < cv < 1.15  # exponential: coefficient of variation 1
    smooth = arrival_offsets(1000, 50.0, 16.0, seed=1)
    sg = [b - a for a, b in zip(smooth, smooth[1:])]
    assert (sum((g - 0.02) ** 2 for g in sg) / len(sg)) ** 0.5 / 0.02 < 0.4  # 1/sqrt(16)
    assert request_rates(3, 1.0, "linear", 1, 5) == [1, 3, 5]


async def test_lanes_cap_concurrency_and_measure_queueing():
    n, cap = 20, 3
    recs = [RequestRecord(index=i) for i in range(n)]
    live = peak = 0

    async def send(r):
        nonlocal live, peak
        r.send_time = perf_counter()
        live += 1
        peak = max(peak, live)
        await asyncio.sleep(0.01)
        live -= 1
        r.end_time = perf_counter()
        return True

    done = []
    t0 = perf_counter()
    await drive(recs, [0.0] * n, t0, send, cap, done.append)
    assert peak == cap and len(done) == n
    assert recs[-1].queue_time > 0.04 and all(r.send_lag < 0.05 for r in recs)
    recs = [RequestRecord(index=i) for i in range(n)]
    await drive(recs, [0.01 * i for i in range(n)], perf_counter(), send, 2, done.append)
    assert all(r.sched_time <= r.dispatch_time <= r.send_time for r in recs)


@pytest.fixture
async def mock():
    srv = MockServer(MockConfig(chunks=16))
    await srv.start()
    yield srv
    await srv.stop()


@pytest.mark.slow
async def test_two_worker_processes_merge_results(mock):
    base = ["--base-url", mock.url, "--model", "mock", "--random-input-len", "8",
            "--random-output-len", "16", "--num-prompts", "60", "--disable-tqdm"]
    for extra in (["--max-concurrency", "6"], ["--request-rate", "200", "--max-concurrency", "4"]):
        r = await run_bench(parse_args(base + ["--num-workers", "2", *extra]))
        assert r.metrics.completed == 60 and r.metrics.total_output == 960
        assert {rec.worker for rec in r.records} == {0, 1}
        assert r.client["num_workers"] == 2 and len(r.client["cpu_util_per_worker"]) == 2


async def test_concurrency_sweep_curve(mock):
    cfg = parse_args(["--base-url", mock.url, "--model", "mock", "--random-input-len", "8",
                      "--random-output-len", "16", "--num-prompts", "20",
                      "--sweep-concurrency", "1,2,4", "--saturation-gain", "-1"])
    sweep = await run_sweep(cfg)
    assert [p.config.max_concurrency for p in sweep.points] == [1, 2, 4]
    salts = {p.result["iejtui"]["prompt_salt"] for p in sweep.points}
    assert len(salts) == 3  # no point rides the previous point's prefix cache
    assert "Throughput-latency curve" in format_curve(sweep)


async def test_slo_search_finds_a_rate():
    srv = MockServer(MockConfig(chunks=4, itl_s=0.01))
    await srv.start()
    try:
        cfg = parse_args(["--base-url", srv.url, "--model", "mock", "--random-input-len", "8",
                          "--random-output-len", "4", "--num-prompts", "10",
                          "--sweep-slo-search", "--request-rate", "20",
                          "--goodput", "e2el:10"])  # 3 gaps of 10 ms: never met
        sweep = await run_sweep(cfg)
    finally:
        await srv.stop()
    assert sweep.best_rate is None and "misses the SLOs" in sweep.stopped


def test_gaps_are_numpys_legacy_draws_so_arrivals_match_vllm():
    from collectors.loadgen.schedule import LegacyNumpyRandom

    # np.random.seed(s); np.random.gamma(shape, scale) with numpy 2.x (as vLLM draws)
    cases = {(42, 1.0, 0.25): [0.11731702249421477, 0.7525303577293803, 0.32918642338636234],
             (7, 0.5, 0.5): [0.0029114775135897926, 0.09610132710629746, 0.03602974301906639],
             (7, 4.0, 0.0625): [0.49686561008685026, 0.17780461821265944, 0.1471227000860846]}
    for (seed, shape, scale), expected in cases.items():
        r = LegacyNumpyRandom(seed)
        assert [r.gamma(shape, scale) for _ in range(3)] == pytest.approx(expected, rel=1e-14)
    # vLLM: cumulative gaps rescaled to end at n / rate
    off = arrival_offsets(3, 4.0, 1.0, seed=42)
    raw = [0.11731702249421477, 0.7525303577293803, 0.32918642338636234]
    cum = [raw[0], raw[0] + raw[1], sum(raw)]
    assert off == pytest.approx([c * (3 / 4.0) / cum[-1] for c in cum], rel=1e-12)
