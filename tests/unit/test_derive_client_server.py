"""Client vs server: bucket intervals, the enclosing window, overhead, queue share, verdict."""

from __future__ import annotations

import math

import pytest

from iejtui.derive.client_server import (
    bucket_text,
    client_figures,
    compare,
    enclosing_window,
    server_figure,
    server_figures,
    verdict,
)
from iejtui.derive.histograms import HistSnapshot
from iejtui.derive.metric_map import VLLM

INF = math.inf
LES = (0.01, 0.02, 0.04, 0.1, INF)  # seconds


def delta(counts, s=0.0):
    """A window delta with per-bucket (non-cumulative) ``counts`` on ``LES``."""
    cum, acc = [], 0.0
    for c in counts:
        acc += c
        cum.append(acc)
    return HistSnapshot(0.0, list(zip(LES, cum)), s, acc)


def test_percentile_is_an_interval_naming_its_bucket():
    f = server_figure(delta([2, 6, 1, 1, 0], s=0.2))
    assert f["count"] == 10 and f["mean_ms"] == pytest.approx(20.0)
    assert f["p50"]["bucket_ms"] == pytest.approx([10.0, 20.0])  # rank 5: the second bucket
    assert f["p50"]["text"] == "between 10 and 20 ms"
    assert 10.0 <= f["p50"]["ms"] <= 20.0
    assert f["p99"]["bucket_ms"] == pytest.approx([40.0, 100.0])
    first = server_figure(delta([9, 1, 0, 0, 0]))
    assert first["p50"]["text"] == "< 10 ms" and first["p50"]["bucket_ms"] == pytest.approx([0.0, 10.0])
    top = server_figure(delta([0, 0, 0, 1, 9]))
    assert top["p50"]["bucket_ms"] == [pytest.approx(100.0), None] and top["p50"]["text"] == "> 100 ms"
    empty = server_figure(delta([0, 0, 0, 0, 0]))
    assert empty["p50"] is None and empty["count"] == 0
    assert bucket_text(None) == "n/a"


def test_enclosing_window_takes_the_scrapes_around_the_bench():
    scrapes = [0.0, 1.0, 2.0, 3.0, 4.0]
    assert enclosing_window(scrapes, 1.5, 3.2) == (1.0, 4.0, True)
    assert enclosing_window(scrapes, 1.0, 3.0) == (1.0, 3.0, True)
    # no scrape after the bench yet: up to the last one, and it says so
    assert enclosing_window(scrapes, 1.5, 9.0) == (1.0, 4.0, False)
    assert enclosing_window(scrapes, -3.0, 2.5) == (0.0, 3.0, False)
    assert enclosing_window([5.0], 1.0, 2.0) is None
    assert enclosing_window(scrapes, 7.0, 9.0) is None  # all scrapes before the bench


def _store_rows(name, ts, cum_rows, sums):
    """A histogram as journal.db returns it: ``_bucket`` per ``le``, ``_sum``, ``_count``."""
    out = {}
    for k, le in enumerate(LES):
        lab = {"model_name": "tiny", "le": "+Inf" if math.isinf(le) else repr(le)}
        out.setdefault(name + "_bucket", []).append((lab, list(ts), [row[k] for row in cum_rows]))
    out[name + "_sum"] = [({"model_name": "tiny"}, list(ts), list(sums))]
    out[name + "_count"] = [({"model_name": "tiny"}, list(ts), [row[-1] for row in cum_rows])]
    return out


def test_server_figures_count_only_the_window_between_the_scrapes():
    ts = [10.0, 11.0, 12.0, 13.0]
    # cumulative counts: 100 observations before the bench (all in the top bucket), then
    # 10 in the 10-20 ms bucket between 11 and 13
    rows = [[0, 0, 0, 0, 100], [0, 0, 0, 0, 100], [0, 5, 5, 5, 105], [0, 10, 10, 10, 110]]
    data = _store_rows("vllm:time_to_first_token_seconds", ts, rows, [50.0, 50.0, 50.075, 50.15])
    data.update(_store_rows("vllm:e2e_request_latency_seconds", ts, rows, [0.0, 0.0, 1.0, 2.0]))
    data.update(_store_rows("vllm:request_queue_time_seconds", ts, rows, [0.0, 0.0, 0.25, 0.5]))

    def get(name, flt=None):
        return data.get(name, [])

    s = server_figures(get, VLLM, 11.0, 13.0)
    assert s["ttft"]["count"] == 10 and s["ttft"]["metric"] == "vllm:time_to_first_token_seconds"
    assert s["ttft"]["p50"]["bucket_ms"] == pytest.approx([10.0, 20.0])
    assert s["ttft"]["mean_ms"] == pytest.approx(15.0)
    assert s["itl"] is None  # not stored: not reported
    whole = server_figures(get, VLLM, 10.0, 13.0)
    assert whole["ttft"]["count"] == 10  # the window starts at the scrape at 10: nothing new before 11
    c = compare(client_figures([{"ok": 1, "ttft": 0.025, "e2el": 0.3, "chunk_times": [0.025, 0.05]}]), s)
    assert c["queue_share"] == pytest.approx(0.25)  # 0.5 s queued of 2.0 s e2e
    t = c["figures"]["ttft"]
    assert t["overhead_mean_ms"] == pytest.approx(25.0 - 15.0)
    assert t["overhead_p50_ms"] == pytest.approx([5.0, 15.0])  # 25 ms minus [10, 20] ms


def test_client_figures_pool_chunk_gaps_and_skip_failures():
    rows = [{"ok": 1, "ttft": 0.1, "e2el": 0.4, "chunk_times": [0.1, 0.2, 0.4]},
            {"ok": 1, "ttft": 0.3, "e2el": 0.5, "chunk_times": [0.3, 0.5]},
            {"ok": 0, "ttft": None, "e2el": None, "chunk_times": []}]
    f = client_figures(rows)
    assert f["ttft"]["count"] == 2 and f["ttft"]["p50_ms"] == pytest.approx(200.0)
    assert f["itl"]["count"] == 3 and f["itl"]["p50_ms"] == pytest.approx(200.0)  # gaps .1 .2 .2
    assert client_figures([])["ttft"]["p50_ms"] is None


def _server_ttft(bucket_counts):
    return {"ttft": server_figure(delta(bucket_counts))}


HEALTHY = {"iejtui": {"client": {"client_bottleneck": False, "client_warnings": [],
                                 "send_lag_ms": {"p99": 0.4}, "loop_lag_ms": {"p99": 0.8},
                                 "lag_threshold_ms": 5.0, "cpu_util": 0.2}}}


@pytest.mark.parametrize("client_p50_ms, suspicious", [
    (19.0, False),  # inside the server's bucket
    (23.9, False),  # above it, but by less than 20 %
    (29.0, False),  # > 20 % above, but by less than the 10 ms bucket width
    (30.5, True),  # > 20 % and > the bucket width
])
def test_divergence_rule_beyond_bucket_resolution_and_20_percent(client_p50_ms, suspicious):
    client = {"ttft": {"p50_ms": client_p50_ms}}
    v = verdict(HEALTHY, client, _server_ttft([2, 6, 1, 1, 0]))  # server p50 in 10-20 ms
    assert v["client_bound"] is suspicious
    assert v["signals"]["ttft_server_p50_bucket_ms"] == pytest.approx([10.0, 20.0])
    if suspicious:
        assert "client p50 TTFT" in v["reasons"][0] and "between 10 and 20 ms" in v["reasons"][0]
    else:
        assert v["reasons"] == []


def test_load_generator_flag_makes_the_client_bound_with_its_reasons():
    starved = {"iejtui": {"client": {"client_bottleneck": True,
                                     "client_warnings": ["p99 event-loop lag 48.0 ms > 5.0 ms: late"],
                                     "send_lag_ms": {"p99": 3.0}, "loop_lag_ms": {"p99": 48.0},
                                     "lag_threshold_ms": 5.0, "cpu_util": 0.5}}}
    v = verdict(starved, {"ttft": {"p50_ms": 15.0}}, _server_ttft([2, 6, 1, 1, 0]))
    assert v["client_bound"] is True
    assert v["reasons"] == ["load generator: p99 event-loop lag 48.0 ms > 5.0 ms: late"]
    assert v["signals"]["loop_lag_p99_ms"] == 48.0 and v["signals"]["client_bottleneck"] is True
    # a sweep: any point's flag counts, the worst lag is the signal
    sweep = {"sweep": [HEALTHY, starved]}
    v = verdict(sweep, {"ttft": {"p50_ms": 15.0}}, None)
    assert v["client_bound"] is True and v["signals"]["loop_lag_p99_ms"] == 48.0
    assert v["signals"]["server_compared"] is False
    # no server figures, a healthy client: not client-bound, nothing compared
    v = verdict(HEALTHY, {"ttft": {"p50_ms": 500.0}}, None)
    assert v == {"client_bound": False, "reasons": [], "signals": v["signals"]}
    assert set(v) == {"client_bound", "reasons", "signals"}


@pytest.mark.parametrize("client_p50_ms, suspicious", [
    (125.0, False),  # above the 100-110 ms bucket by 15 ms: more than its 10 ms width, but < 20 %
    (133.0, True),  # and by more than 20 %
])
def test_divergence_needs_20_percent_where_buckets_are_narrow(client_p50_ms, suspicious):
    les = (0.1, 0.11, INF)
    server = {"ttft": server_figure(HistSnapshot(0.0, list(zip(les, (1.0, 9.0, 10.0))), 1.0, 10.0))}
    assert server["ttft"]["p50"]["bucket_ms"] == pytest.approx([100.0, 110.0])
    assert verdict(HEALTHY, {"ttft": {"p50_ms": client_p50_ms}}, server)["client_bound"] is suspicious
