"""The advisor's pure parts: Prometheus alert semantics, knobs read from the command line,
user overrides, and the catalog's own consistency."""

from __future__ import annotations

import pytest

from iejtui.advisor.catalog import BY_ID, RULES
from iejtui.advisor.evaluate import RuleTracker, evaluate, value_at
from iejtui.advisor.knobs import flag_value, knob_json
from iejtui.advisor.model import Cond, Knob, Rule
from iejtui.advisor.overrides import apply_overrides, parse_duration
from iejtui.advisor.signals import SIGNALS, change_series, derived_signals, trend_series
from iejtui.errors import UserError

RULE = Rule("t", "T", (Cond("x", ">=", 10.0),), 3.0, "warning", "x at {value:.0f} (peak {peak:.0f})",
            "why", "iejtui", Knob("--max-num-seqs", "raise_seqs"), context=("running", "waiting"))


def _run(values, rule=RULE, step=1.0):
    ts = [float(i) * step for i in range(len(values))]
    return evaluate([rule], {"x": (ts, [float(v) for v in values])})


def test_pending_then_firing_after_for_then_resolved():
    tr = RuleTracker(RULE)
    seen = [tr.step(float(t), {"x": v}) for t, v in enumerate([0, 12, 13, 14, 15, 11, 2, 2])]
    assert seen == [None, None, None, None, "firing", None, "resolved", None]
    (f,) = tr.close(7.0)
    assert (f.state, f.start, f.fired_at, f.end, f.peak, f.value) == ("resolved", 1.0, 4.0, 6.0, 15.0, 11.0)
    assert f.message == "x at 13 (peak 15)"  # {value}: the mean over the episode (12, 13, 14, 15, 11)


def test_a_blip_shorter_than_for_is_dropped_not_reported():
    assert _run([0, 12, 12, 0, 12, 12, 12, 0]) == []  # held 2 s, then 3 s: for 3 s needs 4 ticks
    (f,) = _run([0, 12, 12, 12, 12, 0])
    assert f.fired_at == 4.0


def test_still_firing_when_the_run_ends_keeps_firing_with_the_runs_end():
    (f,) = evaluate([RULE], {"x": ([0.0, 1, 2, 3, 4, 5], [20.0] * 6)}, t_end=9.0)
    assert f.state == "firing" and f.end == 9.0


def test_a_missing_reading_is_false_like_an_absent_series():
    # a 10 s scrape gap in the middle: stale readings do not keep the rule alive
    ts = [0.0, 1, 2, 3, 4, 15, 16, 17, 18, 19]
    assert value_at((ts, [1.0] * 10), 10.0) is None and value_at((ts, [1.0] * 10), 4.5) == 1.0
    rule = Rule("t", "T", (Cond("x", ">=", 10.0), Cond("y", ">", 0.0)), 4.0, "warning", "m", "w", "iejtui")
    sig = {"x": (ts, [20.0] * 10), "y": ([0.0], [1.0])}  # y reported once, at 0 s
    assert evaluate([rule], sig) == []  # at the 4 s tick y is 4 s old (> 3 s: stale): never fires
    sig["y"] = ([0.0, 1.0], [1.0] * 2)
    (f,) = evaluate([rule], sig)  # y readable until 4 s: fires at 4 s, resolves at the next tick (15 s)
    assert (f.fired_at, f.end) == (4.0, 15.0)


def test_rules_reading_signals_a_run_lacks_stay_silent():
    assert evaluate(RULES, {"unrelated": ([0.0, 1.0], [1.0, 1.0])}) == []
    assert evaluate([RULE], {}) == []


def test_knob_current_value_from_argv_and_a_value_to_try():
    argv = ["vllm", "serve", "m", "--max_num_seqs=4", "--enforce-eager", "--no-enable-prefix-caching",
            "--gpu-memory-utilization", "0.8"]
    assert flag_value(argv, "--max-num-seqs") == "4"
    assert flag_value(argv, "--enforce-eager") == "on"
    assert flag_value(argv, "--enable-prefix-caching") == "off"
    assert flag_value(argv, "--gpu-memory-utilization") == "0.8"
    assert flag_value(argv, "--max-model-len") is None
    k = knob_json(Knob("--max-num-seqs", "raise_seqs"), argv, {"running": 4, "waiting": 12})
    assert k == {"flag": "--max-num-seqs", "current": "4", "suggested": "16", "note": ""}
    k = knob_json(Knob("--max-num-seqs", "lower_seqs"), ["vllm"], {"running": 256})
    assert (k["current"], k["suggested"]) == ("engine default", "192")
    assert knob_json(BY_ID["kv-saturated"].knob, argv, {})["suggested"] == "0.85"
    # a KV cache the launch sized in blocks is grown there
    k = knob_json(BY_ID["kv-saturated"].knob, ["vllm", "--num-gpu-blocks-override", "24"], {})
    assert (k["flag"], k["current"], k["suggested"]) == ("--num-gpu-blocks-override", "24", "48")
    # a full KV cache makes the queue wait for blocks: raising max-num-seqs is not offered
    assert knob_json(Knob("--max-num-seqs", "raise_seqs"), [], {"running": 3, "waiting": 9, "kv_usage_pct": 97})["suggested"] is None
    assert knob_json(BY_ID["launch-bound"].knob, argv, {})["suggested"] == "remove the flag"
    assert knob_json(BY_ID["launch-bound"].knob, ["vllm"], {})["current"] == "off"


def test_the_knob_reads_the_peak_of_each_signal_over_the_episode():
    tr = RuleTracker(RULE, ["vllm", "--max-num-seqs", "2"])
    for t, (x, w) in enumerate([(12, 3), (12, 14), (12, 9), (12, 1)]):
        tr.step(float(t), {"x": x, "running": 2, "waiting": w})
    assert tr.active.knob["suggested"] == "16"  # 2 running + 14 waiting at the peak


def test_overrides_change_threshold_duration_severity_and_disable():
    rules = apply_overrides(RULES, {"kv-saturated": {"threshold": 95, "for": "2m", "severity": "critical"},
                                    "prefix-hit-low": {"enabled": False},
                                    "launch-bound": {"thresholds": {"kernel_active_pct": 3}}})
    by = {r.id: r for r in rules}
    assert by["kv-saturated"].primary.threshold == 95 and by["kv-saturated"].for_s == 120
    assert by["kv-saturated"].severity == "critical" and not by["prefix-hit-low"].enabled
    assert [c.threshold for c in by["launch-bound"].conds if c.signal == "kernel_active_pct"] == [3, 3]
    assert [r.id for r in rules] == [r.id for r in RULES]


@pytest.mark.parametrize("table, words", [
    ({"nope": {}}, "no such rule"),
    ({"kv-saturated": {"treshold": 1}}, "unknown key 'treshold'"),
    ({"kv-saturated": {"threshold": "high"}}, "expected a number"),
    ({"kv-saturated": {"for": "soon"}}, "duration"),
    ({"kv-saturated": {"severity": "bad"}}, "is not one of"),
    ({"kv-saturated": {"thresholds": {"waiting": 1}}}, "reads no signal 'waiting'"),
    ({"kv-saturated": {"enabled": "no"}}, "true or false"),
])
def test_bad_overrides_are_one_clear_line(table, words):
    with pytest.raises(UserError, match=words):
        apply_overrides(RULES, table)


def test_durations():
    assert parse_duration("90s", "x") == 90 and parse_duration("5m", "x") == 300
    assert parse_duration(2, "x") == 2 and parse_duration("1h", "x") == 3600
    with pytest.raises(UserError):
        parse_duration(-1, "x")


def test_catalog_is_consistent():
    ids = [r.id for r in RULES]
    assert len(ids) == len(set(ids))
    for r in RULES:
        assert all(s in SIGNALS for s in (*r.signals, *r.context)), r.id
        assert r.source in ("vllmstat", "llm-d", "iejtui") and r.why and r.message
        assert r.for_s > 0, r.id  # every rule has a duration
    # every peer rule the issue lists is there
    assert {"preemptions", "length-cut", "errors", "queue-backlog", "gpu-hot", "gpu-power-cap",
            "ttft-extreme", "ttft-high", "preemptions-high", "kv-saturated", "queue-buildup",
            "prefix-hit-low", "errors-elevated", "errors-high", "gpu-underused"} <= set(ids)


def test_trends_queue_grows_while_itl_holds():
    ts = [float(t) for t in range(60)]
    sig = {"waiting": (ts, [0.5 * t for t in ts]), "itl_p50_s": (ts, [0.02] * 60)}
    d = derived_signals(sig)
    assert d["waiting_slope_per_s"][1][-1] == pytest.approx(0.5)
    assert d["itl_change_pct"][1][-1] == pytest.approx(0.0)
    (f,) = evaluate([BY_ID["queue-grows-capacity"]], {**sig, **d})
    assert f.knob["flag"] == "--max-num-seqs"
    assert evaluate([BY_ID["tpot-grows-context"]], {**sig, **d}) == []
    # and the other way round: TPOT grows, queue flat
    sig2 = {"waiting": (ts, [3.0] * 60), "itl_p50_s": (ts, [0.02 * (1 + t / 20) for t in ts]),
            "running": (ts, [8.0] * 60)}
    d2 = derived_signals(sig2)
    assert [f.rule for f in evaluate([BY_ID["tpot-grows-context"], BY_ID["queue-grows-capacity"]],
                                     {**sig2, **d2})] == ["tpot-grows-context"]
    assert trend_series(([0.0, 1.0], [0.0, 1.0])) == ([], [])
    assert change_series(([0.0, 30.0], [1.0, 2.0]))[1] == [100.0]


def test_tpot_growing_with_the_batch_is_not_a_context_problem():
    """ITL rises when the running batch grows (the demo's 1 → 4 → 8 steps): not a finding."""
    ts = [float(t) for t in range(60)]
    sig = {"waiting": (ts, [0.0] * 60), "itl_p50_s": (ts, [0.01 * (1 + t / 20) for t in ts]),
           "running": (ts, [1.0 + t // 10 for t in ts])}
    assert evaluate([BY_ID["tpot-grows-context"]], {**sig, **derived_signals(sig)}) == []


def test_one_finding_per_family_and_episode():
    from iejtui.advisor.advise import shadow
    from iejtui.advisor.model import Finding
    fam = {r.id: r.family for r in RULES}
    a = Finding("length-cut", "warning", "resolved", start=0.0, fired_at=1.0, end=10.0)
    b = Finding("length-cut-most", "critical", "resolved", start=2.0, fired_at=3.0, end=9.0)
    c = Finding("length-cut", "warning", "resolved", start=20.0, fired_at=21.0, end=30.0)  # a later episode
    d = Finding("ttft-high", "warning", "resolved", start=0.0, fired_at=1.0, end=10.0)  # another family
    kept = shadow([a, b, c, d], fam)
    assert sorted((f.rule, f.start) for f in kept) == [("length-cut", 20.0), ("length-cut-most", 2.0), ("ttft-high", 0.0)]


def test_rule_texts_survive_the_secret_masks():
    """Messages and whys pass through the masking of exports: none may look like a secret."""
    from iejtui.redact import redact_text
    for r in RULES:
        for text in (r.why, r.title, r.message):
            assert redact_text(text) == text, (r.id, text)
