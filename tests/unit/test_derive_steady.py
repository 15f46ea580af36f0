"""Steady state of a benchmark: the warm-up rule, the drift rule, the figures beside."""

from __future__ import annotations

import pytest

from iejtui.derive.steady import steady_bins, steady_state

T0 = 1_700_000_000.0


def lanes(t_start, t_stop, concurrency, req_s=1.0, chunks=10, first=0.1, t0=T0):
    """``concurrency`` closed-loop lanes, each sending back-to-back ``req_s`` requests."""
    rows = []
    for lane in range(concurrency):
        t = t_start + lane * 0.01
        while t + req_s <= t_stop:
            gap = (req_s - first) / (chunks - 1)
            rows.append({"t_sent": t0 + t, "ok": 1, "ttft": first, "e2el": req_s, "output_tokens": chunks,
                         "chunk_times": [first + k * gap for k in range(chunks)]})
            t += req_s
    return rows


def test_constant_load_is_steady_at_once():
    st = steady_state(lanes(0.0, 20.0, 4))
    assert st["reached"], st["why"]
    assert st["warmup_s"] <= 1.0 and st["bin_s"] == 1.0
    assert "90%" in st["rule"] and "20%" in st["rule"]
    whole, steady = st["figures"]["whole"], st["figures"]["steady"]
    assert steady["output_tok_s"] == pytest.approx(40.0, rel=0.1)  # 4 lanes x 10 tok/s
    assert steady["mean_in_flight"] == pytest.approx(4.0, rel=0.05)
    assert steady["ttft_p50_ms"] == pytest.approx(100.0)
    assert whole["requests"] == len(lanes(0.0, 20.0, 4))


def test_warm_up_is_excluded_by_the_printed_rule():
    # 4 s at half load (4 in flight), then 8 in flight for 16 s
    rows = lanes(0.0, 4.0, 4) + lanes(4.0, 20.0, 8)
    st = steady_state(rows)
    assert st["reached"], st["why"]
    assert 3.5 <= st["warmup_s"] <= 5.0, st
    assert st["figures"]["steady"]["mean_in_flight"] > 7.5
    assert st["figures"]["whole"]["mean_in_flight"] < st["figures"]["steady"]["mean_in_flight"]


def test_a_growing_queue_is_not_steady():
    # requests arrive faster than they finish: in flight keeps growing (1 → 20)
    rows = []
    for k in range(20):
        rows += lanes(float(k), 21.0, 1, req_s=21.0 - k - 0.001)
    st = steady_state(rows)
    assert not st["reached"] and "not settled" in st["why"], st


def test_too_short_and_empty_runs_say_why():
    rows = lanes(0.0, 2.5, 2)
    st = steady_state(rows)
    assert not st["reached"] and "too short" in st["why"]
    assert st["figures"]["whole"]["requests"] == len(rows) == 4
    assert steady_state([])["why"] == "no requests"


def test_drain_at_the_end_is_cool_down():
    rows = lanes(0.0, 16.0, 6) + lanes(16.0, 20.0, 1)
    st = steady_state(rows)
    assert st["reached"], st["why"]
    assert st["cooldown_s"] >= 3.0
    assert steady_bins([0.0, 0.0], [0.0, 0.0]) is None
