"""Where a run's counting begins (``iejtui.derive.counting``) and the counter maths over a
first sample that is not zero (an attached engine) or followed by a restart."""

from __future__ import annotations

import time
from pathlib import Path

from collectors.prometheus import parse_text
from iejtui.derive import counters
from iejtui.derive.counting import describe, served_before
from iejtui.derive.metric_map import VLLM

DATA = Path(__file__).resolve().parents[1] / "data"


def _samples(name: str) -> list[tuple[str, float]]:
    page = parse_text((DATA / name).read_text())
    return [(s.name, s.value) for s in page.samples]


def test_a_fresh_vllm_has_served_nothing():
    """vLLM 0.32 creates its counters at 0 at start: counting from the first scrape is exact."""
    assert served_before(_samples("vllm-0.32-metrics-idle.txt"), VLLM) == {}


def test_an_engine_under_load_has_served_its_counters_summed_over_label_sets():
    samples = _samples("vllm-0.32-metrics-load.txt")
    seen = served_before(samples, VLLM)
    gen = sum(v for n, v in samples if n == "vllm:generation_tokens_total")
    req = sum(v for n, v in samples if n == "vllm:request_success_total")
    assert gen > 0 and seen["generation_tokens"] == gen
    assert seen.get("request_success", 0.0) == req
    assert "preemptions" not in seen  # only traffic counters say it served


def test_non_finite_and_unrelated_samples_are_ignored():
    assert served_before([("process_cpu_seconds_total", 12.0), ("vllm:generation_tokens_total", float("nan"))],
                         VLLM) == {}


def test_describe_says_where_and_what_was_left_out():
    ts = time.mktime((2026, 12, 7, 10, 2, 11, 0, 0, -1))
    line = describe({"ts": ts, "since": "attach", "served_before": {"generation_tokens": 1234.0,
                                                                       "request_success": 20.0}})
    assert line == ("from attach at 10:02:11 (the engine had already served 1,234 generated tokens, "
                    "20 finished requests; not counted in this run)")


def test_counting_from_a_non_zero_first_sample_counts_only_what_follows():
    ts = [0.0, 1.0, 2.0, 3.0]
    assert counters.increase(ts, [1000.0, 1000.0, 1032.0, 1064.0], 0.0, 3.0) == 64.0


def test_a_restart_after_a_non_zero_first_sample_counts_the_new_readings():
    """Attached at 500, the engine restarts (its counters from 0): 20 before, 40 after."""
    ts = [0.0, 1.0, 2.0, 3.0]
    assert counters.increase(ts, [500.0, 520.0, 10.0, 40.0], 0.0, 3.0) == 60.0
    assert counters.resets(ts, [500.0, 520.0, 10.0, 40.0], 0.0, 3.0) == 1


# ---- the run's first tick is inside its window (ticks kept to the ms) -----------------------
def _engine_run(tmp_path, seal: bool) -> float | None:
    from collectors.records import Frame, Sample
    from iejtui.store import Reader
    from iejtui.store.writer import Writer
    from iejtui.summary import run_summary
    w = Writer(tmp_path / "journal.db")
    rid = w.create_run(kind="engine", name="e", engine_kind="vllm", status="stopped", started_at=1000.0)
    t = 1796602087.9312718  # sub-ms digits that a chunk's timestamps round down
    for k, v in enumerate((0.0, 761.0, 3072.0)):
        w.add_frames(rid, [Frame("engine", t + k, [Sample("vllm:generation_tokens_total", v)])])
    w.flush()
    if seal:
        w.seal(True, rid)
    w.update_run(rid, ended_at=t + 5)
    r = Reader(tmp_path / "journal.db")  # before the writer closes (which seals everything)
    try:
        return run_summary(r, r.run(rid))["engine"]["tokens"]["generated"]
    finally:
        r.close()
        w.close()


def test_the_first_tick_counts_whether_recent_or_sealed(tmp_path):
    """The burst's tokens counted from the zero stored at readiness, read back from ``recent``
    or from a sealed chunk (main lost the first tick when its ms rounding fell below t0)."""
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    assert _engine_run(tmp_path / "a", seal=False) == 3072.0
    assert _engine_run(tmp_path / "b", seal=True) == 3072.0
