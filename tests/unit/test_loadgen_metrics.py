"""Metric maths against hand-computed values and numpy's outputs (recorded here)."""

import json
import math
from pathlib import Path

import pytest

from collectors.loadgen.client import RequestRecord
from collectors.loadgen.config import parse_args
from collectors.loadgen.metrics import calculate_metrics, mean, median, peak_buckets, percentile, std
from collectors.loadgen.report import format_summary, result_json, result_path

# numpy 2.x outputs for this list (np.percentile / np.mean / np.std / np.median)
V = [62.29, 74.179, 79.519, 94.245, 73.99, 92.232, 2.901, 46.562, 94.336, 64.897, 90.09,
     11.321, 46.907, 24.657, 54.376, 57.394, 1.311, 21.673, 27.948, 91.635, 76.573, 15.96,
     79.715, 13.877, 61.745, 12.67, 0.177, 87.14, 20.946, 21.548, 98.242, 87.241, 28.931,
     96.148, 53.922, 67.783, 20.478]
NP_PCT = {0: 0.177, 1: 0.58524, 25: 21.548, 50: 57.394, 90: 93.0372, 99: 97.48816000000001,
          99.9: 98.16661600000002, 100: 98.242}


@pytest.mark.parametrize("p", sorted(NP_PCT))
def test_percentile_matches_numpy_linear(p):
    assert percentile(V, p) == pytest.approx(NP_PCT[p], rel=1e-12)


def test_mean_std_median_match_numpy():
    assert mean(V) == pytest.approx(52.85294594594595, rel=1e-12)
    assert std(V) == pytest.approx(31.984986948648054, rel=1e-12)
    assert median(V) == 57.394
    assert median([1.0, 2.0, 3.0, 4.0]) == 2.5
    assert percentile([1.0, 2.0, 3.0, 4.0], 99) == pytest.approx(3.97)
    assert (percentile([], 99), mean([]), std([]), median([])) == (0.0, 0.0, 0.0, 0.0)


def rec(i, send, chunks, out_tokens, prompt=10, expected=0, ok=True):
    r = RequestRecord(index=i, send_time=send, dispatch_time=send, ready_time=send,
                      prompt_len=prompt, expected_output_len=expected)
    if ok:
        r.chunk_times = [send + c for c in chunks]
        r.ttft, r.latency = chunks[0], chunks[-1]
        r.output_tokens, r.success = out_tokens, True
    else:
        r.error, r.error_kind = "HTTP 500", "http"
    return r


def test_calculate_metrics_by_hand():
    records = [
        rec(0, 0.0, [0.1, 0.2, 0.3, 0.5], 4),  # TPOT (0.5-0.1)/3
        rec(1, 0.5, [0.2, 0.6], 5, expected=8),  # multi-token chunks: TPOT (0.6-0.2)/4
        rec(2, 1.0, [0.3], 1),  # one token: no TPOT sample, TPOT 0 for goodput
        rec(3, 1.0, [], 0, ok=False),
    ]
    m = calculate_metrics(records, dur_s=2.0, selected_percentiles=[50, 99],
                          goodput={"ttft": 250, "tpot": 120})
    assert (m.completed, m.failed, m.total_input, m.total_output) == (3, 1, 30, 10)
    assert m.output_lens == [4, 5, 1, 0]
    assert m.request_throughput == 1.5 and m.output_throughput == 5.0
    assert m.total_token_throughput == 20.0
    assert m.ttft.mean == pytest.approx(200.0) and m.ttft.median == pytest.approx(200.0)
    assert m.ttft.std == pytest.approx(math.sqrt(((100 - 200) ** 2 + 0 + 100 ** 2) / 3) )
    assert m.tpot.mean == pytest.approx((400 / 3 + 100) / 2)
    assert m.itl.mean == pytest.approx((100 + 100 + 200 + 400) / 4)  # ITLs pooled
    assert m.e2el.median == pytest.approx(500.0)
    # goodput: rec0 TPOT 133ms > 120 fails; rec1 (ttft 200, tpot 100) ok; rec2 ttft 300 fails
    assert m.good_completed == 1 and m.request_goodput == 0.5
    assert m.short_outputs == 1  # rec1 asked 8, got 5


def test_missing_usage_falls_back_to_token_counter_then_one():
    r = rec(0, 0.0, [0.1, 0.2, 0.3], 0)
    r.generated_text = "a b c d"
    m = calculate_metrics([r], 1.0, [99], {}, count_tokens=lambda t: len(t.split()))
    assert m.total_output == 4 and m.output_tokens_counted == 1
    m = calculate_metrics([r], 1.0, [99], {})
    assert m.total_output == 1  # vLLM without a tokenizer


def test_peak_buckets_one_token_per_chunk():
    records = [rec(0, 0.0, [0.1, 0.2, 1.5], 3), rec(1, 0.5, [0.1, 0.2], 2)]
    # second 0: 0.1,0.2,0.6,0.7 -> 4 tokens; second 1: 1.5 -> 1; concurrency 2 in second 0
    assert peak_buckets(records) == (4.0, 2)


def test_result_json_keys_and_summary_layout_match_vllm(tmp_path):
    cfg = parse_args(["--model", "m", "--max-concurrency", "4", "--goodput", "ttft:250",
                      "--save-result", "--result-dir", str(tmp_path), "--metadata", "k=v"])
    records = [rec(0, 0.0, [0.1, 0.2, 0.3, 0.5], 4), rec(1, 0.5, [0.2, 0.6], 5)]
    m = calculate_metrics(records, 2.0, cfg.metric_percentiles, cfg.goodput)
    res = result_json(cfg, m, records, 2.0, model_id="org/m", tokenizer_id="org/m",
                      date="20260101-000000")
    assert list(res) == [
        "date", "endpoint_type", "backend", "label", "model_id", "tokenizer_id", "num_prompts",
        "k", "request_rate", "burstiness", "max_concurrency", "duration", "completed",
        "failed", "total_input_tokens", "total_output_tokens", "request_throughput",
        "request_goodput", "output_throughput", "total_token_throughput", "latencies",
        "queue_times", "max_output_tokens_per_s", "max_concurrent_requests", "rtfx",
        "mean_ttft_ms", "median_ttft_ms", "std_ttft_ms", "p99_ttft_ms", "mean_tpot_ms",
        "median_tpot_ms", "std_tpot_ms", "p99_tpot_ms", "mean_itl_ms", "median_itl_ms",
        "std_itl_ms", "p99_itl_ms"]
    assert res["request_rate"] == "inf"
    text = format_summary(res, cfg.metric_percentiles).splitlines()
    assert text[0] == "============ Serving Benchmark Result ============"
    assert text[1] == "Successful requests:                     2         "
    assert text[3] == "Maximum request concurrency:             4         "
    assert text[4] == "Benchmark duration (s):                  2.00      "
    assert "Request goodput (req/s):                 1.00      " in text
    assert text[-1] == "=" * 50
    assert "---------------Time to First Token----------------" in text
    assert "-----Time per Output Token (excl. 1st token)------" in text
    assert "P99 ITL (ms):                            394.00    " in text
    assert result_path(cfg, "org/m", "D").endswith("openai-infqps-concurrency4-m-D.json")


REF = Path(__file__).resolve().parents[1] / "data"


@pytest.mark.skipif(not (REF / "vllm-0.32-bench-serve-result.json").exists(),
                    reason="no recorded vllm bench serve run")
def test_same_keys_and_same_printed_block_as_recorded_vllm_run():
    ref = json.loads((REF / "vllm-0.32-bench-serve-result.json").read_text())
    stdout = (REF / "vllm-0.32-bench-serve-stdout.txt").read_text()
    start = stdout.index("============ Serving Benchmark Result")
    block = stdout[start:stdout.index("=" * 50 + "\n", start + 60) + 50]
    assert format_summary(ref, [99]) == block  # same layout, character for character
    cfg = parse_args(["--model", "tiny", "--backend", "vllm", "--max-concurrency", "8"])
    records = [rec(0, 0.0, [0.1, 0.2], 2)]
    m = calculate_metrics(records, 1.0, cfg.metric_percentiles, cfg.goodput)
    ours = result_json(cfg, m, records, 1.0, model_id="tiny", tokenizer_id="t",
                       extras={"x": 1})
    assert [k for k in ours if k != "iejtui"] == list(ref)
