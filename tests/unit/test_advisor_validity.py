"""A bench run's validity verdict: what makes a benchmark's figure unfit to quote."""

from __future__ import annotations

from iejtui.advisor.validity import cut_share_pct, validity


def _summary(**kw):
    base = {"completed": 400, "short_outputs": 0,
            "client": {"client_bottleneck": False, "client_warnings": []}}
    base.update(kw)
    return base


def test_a_clean_run_is_valid_without_caveats():
    assert validity(_summary()) == {"valid": True, "invalid_reasons": [], "caveats": []}


def test_client_bound_reads_the_existing_flag_or_the_verdict_never_its_own():
    v = validity(_summary(client={"client_bottleneck": True, "client_warnings": ["p99 send lag 40 ms > 10 ms"]}))
    assert not v["valid"] and "client-bound" in v["invalid_reasons"][0] and "send lag" in v["invalid_reasons"][0]
    # the numbers work's verdict wins over the raw flag when the run carries it
    s = _summary(client={"client_bottleneck": True}, bench={"verdict": {"client_bound": False, "reasons": []}})
    assert validity(s)["valid"]
    s = _summary(bench={"verdict": {"client_bound": True, "reasons": ["client TTFT 3x the server's"]}})
    assert "3x the server" in validity(s)["invalid_reasons"][0]


def test_engine_restart_and_end_during_the_run_invalidate_it():
    counter = ([0.0, 1, 2, 3, 4], [10.0, 20, 5, 15, 25])  # reset at 2 s
    v = validity(_summary(), window=(0.5, 4.0), engine_counter=counter)
    assert not v["valid"] and "restarted 1 time" in v["invalid_reasons"][0]
    v = validity(_summary(), window=(0.0, 10.0), engine_run={"ended_at": 6.0, "status": "crashed"})
    assert "ended (crashed)" in v["invalid_reasons"][0]
    assert validity(_summary(), window=(0.0, 10.0), engine_run={"ended_at": 12.0})["valid"]


def test_throttle_invalidates_and_small_samples_are_caveats():
    assert not validity(_summary(), throttled_s=3.0)["valid"]
    v = validity(_summary(completed=48))
    assert v["valid"] and "p99 from 48 requests" in v["caveats"][0]
    v = validity(_summary(bench={"steady": {"reached": False}}))
    assert "warm-up" in v["caveats"][0]


def test_cut_share_counts_only_requests_short_of_their_max_tokens():
    s = _summary(completed=40, short_outputs=10)
    assert cut_share_pct(s, ["--ignore-eos"], None) == 25.0  # ignore_eos: short means cut
    assert cut_share_pct(s, [], 5.0) == 5.0  # without it, a short answer may be an EOS
    assert cut_share_pct(s, [], None) is None
    assert cut_share_pct(_summary(completed=40, short_outputs=0), ["--ignore-eos"], 100.0) == 0.0
    # a benchmark with ignore_eos ends every request on `length` by design: not a cut
    assert validity(_summary(short_outputs=0), bench_argv=["--ignore-eos"], engine_length_share_pct=100.0)["caveats"] == []


def test_the_stored_bench_result_keeps_client_health_under_iejtui():
    stored = {"completed": 8, "iejtui": {"short_outputs": 8, "client": {
        "client_bottleneck": True, "client_warnings": ["p99 event-loop lag 40.5 ms > 1.1 ms"]}}}
    v = validity(stored, bench_argv=["--ignore-eos"])
    assert not v["valid"] and "event-loop lag" in v["invalid_reasons"][0]
    assert "100 % of requests were cut short" in v["caveats"][-1]
