"""The Benchmark screen's rows: live progress from the stored bench frame, results of
finished runs from their vLLM-style summary, the workload in short, the start dialog's checks."""

import pytest

from iejtui.store import Reader
from iejtui.store.writer import Writer
from iejtui.ui.modals import bench_payload
from iejtui.viewmodel.bench import bench_row, bench_rows, detail_lines, total_of, workload_text
from collectors.records import Frame, Sample

NOW = 1_780_000_000.0


def test_workload_text_and_total():
    argv = ["--dataset-name", "random", "--num-prompts=64", "--max-concurrency", "8", "--seed", "3",
            "--random-input-len", "128", "--dataset-path", "/x/y/share.json"]
    assert workload_text(argv) == "random n=64 c=8 in=128 share.json"
    assert total_of(argv) == 64 and total_of(["--num-prompts", "12"]) == 12
    assert total_of([]) == 1000  # vllm bench serve's default
    assert workload_text(None) == ""


def test_finished_row_takes_the_result_live_row_the_progress():
    run = {"id": 7, "name": "b", "status": "stopped", "started_at": NOW - 60, "ended_at": NOW, "argv": [],
           "summary": {"num_prompts": 10, "completed": 9, "failed": 1, "output_throughput": 321.0,
                       "median_ttft_ms": 12.5, "p99_ttft_ms": 40.0, "median_tpot_ms": 3.0, "median_itl_ms": 2.9}}
    r = bench_row(run, {}, {"id": 3, "name": "tiny"})
    assert (r.done, r.total, r.failed, r.out_tok_s, r.ttft_p50_ms, r.itl_p50_ms) == (10, 10, 1, 321.0, 12.5, 2.9)
    assert r.target == "r3 tiny" and r.fraction == 1.0 and not r.live
    live = dict(run, status="running", summary=None, argv=["--num-prompts", "50"], url="http://h:1")
    r = bench_row(live, {"ts": NOW, "done": 20.0, "total": 50.0, "failed": 0.0, "output_tokens_per_s": 99.0,
                         "ttft_p50_ms": 11.0, "ttft_p99_ms": 30.0}, None)
    assert (r.done, r.total, r.out_tok_s, r.ttft_p50_ms, r.fraction) == (20, 50, 99.0, 11.0, 0.4)
    assert r.target == "http://h:1" and r.live
    # nothing finished yet: the client reports 0 ms percentiles, the screen shows none
    r = bench_row(live, {"ts": NOW, "done": 0.0, "total": 50.0, "ttft_p50_ms": 0.0}, None)
    assert r.ttft_p50_ms is None and r.done == 0
    r = bench_row(live, {}, None)  # not a single progress tick yet
    assert r.done is None and r.total == 50
    text = dict(detail_lines(r, NOW + 30))
    assert text["requests"] == "—" and text["status"].startswith("running · ")


def test_rows_from_a_journal_read_the_newest_progress(tmp_path):
    w = Writer(tmp_path / "journal.db")
    eng = w.create_run(kind="engine", name="tiny", engine_kind="vllm", status="ready", started_at=NOW - 100)
    b = w.create_run(kind="bench", name="live", status="running", started_at=NOW - 10, parent_id=eng,
                     argv=["--num-prompts", "30"])
    for k in range(5):
        w.add_frames(b, [Frame("bench", NOW - 5 + k, [Sample("bench.done", 3.0 * k), Sample("bench.total", 30.0),
                                                       Sample("bench.output_tokens_per_s", 10.0 * k)])])
    w.flush()
    w.close()
    reader = Reader(tmp_path / "journal.db")
    (row,) = bench_rows(reader)
    reader.close()
    assert (row.done, row.total, row.out_tok_s, row.target, row.progress_at) == (12, 30, 40.0, "r1 tiny", NOW - 1)


def test_start_dialog_checks_flags_like_the_cli():
    assert bench_payload("tiny", "", "--num-prompts 4 --max-concurrency 2") == {
        "engine": "tiny", "argv": ["--num-prompts", "4", "--max-concurrency", "2"]}
    assert bench_payload("tiny", " mine ", "")["name"] == "mine"
    with pytest.raises(ValueError, match="num-prompts"):
        bench_payload("tiny", "", "--num-prompts lots")
    with pytest.raises(ValueError, match="flags"):
        bench_payload("tiny", "", "--dataset-name 'random")
    with pytest.raises(ValueError, match="base-url"):
        bench_payload("tiny", "", "--base-url http://x")


def test_rows_carry_the_advisors_marks_and_finished_runs_are_read_once(tmp_path):
    """A bench run's row shows the validity verdict stored with its result and the advisor's
    findings fired during it (its ``advisor.firing`` events); a finished run's findings are
    read once and kept, a live run's again on each refresh."""
    from collectors.records import Event
    from iejtui.advisor.stored import with_verdict
    from iejtui.viewmodel.bench import validity_text
    w = Writer(tmp_path / "journal.db")
    eng = w.create_run(kind="engine", name="tiny", engine_kind="vllm", status="ready", started_at=NOW - 300)
    bad = with_verdict({"completed": 40, "failed": 0}, {
        "valid": False, "caveats": ["p99 from 40 requests (< 100): the tail is one or two requests"],
        "invalid_reasons": ["client-bound: the load generator, not the engine, set the pace (event loop lag)"]})
    ok = with_verdict({"completed": 40, "failed": 0}, {"valid": True, "invalid_reasons": [],
                                                      "caveats": ["no steady state: warm-up is inside the measured window"]})
    b1 = w.create_run(kind="bench", name="starved", status="stopped", started_at=NOW - 200, ended_at=NOW - 150,
                      parent_id=eng, summary=bad)
    b2 = w.create_run(kind="bench", name="fine", status="stopped", started_at=NOW - 140, ended_at=NOW - 100,
                      parent_id=eng, summary=ok)
    b3 = w.create_run(kind="bench", name="live", status="running", started_at=NOW - 20, parent_id=eng)
    b4 = w.create_run(kind="bench", name="old", status="stopped", started_at=NOW - 400, ended_at=NOW - 350,
                      summary={"completed": 200, "failed": 0})  # recorded before verdicts were stored
    for run, level in ((b1, "error"), (b1, "warning"), (b2, "info"), (b3, "warning")):
        w.add_event(run, Event(NOW - 10, "advisor.firing", "x", level, {"finding": {"rule": "r"}}))
    w.add_event(b2, Event(NOW - 10, "advisor.resolved", "x", "info", {"finding": {"rule": "r"}}))
    w.flush()
    reader = Reader(tmp_path / "journal.db")
    known: dict = {}
    rows = {r.name: r for r in bench_rows(reader, known_findings=known)}
    assert rows["starved"].marks == "⚠✗" and rows["starved"].findings == {"critical": 1, "warning": 1}
    assert rows["fine"].marks == "~" and rows["fine"].findings == {"info": 1}  # info is not a mark
    assert rows["live"].marks == "!" and rows["old"].marks == "" and rows["old"].validity is None
    text = dict(detail_lines(rows["starved"], NOW))
    assert text["validity"].startswith("⚠ INVALID: client-bound") and "(+" not in text["validity"]
    assert text["advisor"].startswith("1 critical, 1 warning finding(s) fired")
    assert validity_text(ok["iejtui"]["validity"]).startswith("valid · caveat: no steady state")
    assert dict(detail_lines(rows["live"], NOW))["advisor"].startswith("1 warning finding(s) fired so far")
    assert set(known) == {b1, b2, b4}  # finished runs only
    # new findings: a live run's show on the next refresh; a finished run's counts are kept as read
    w.add_event(b3, Event(NOW - 5, "advisor.firing", "x", "error", {"finding": {"rule": "q"}}))
    w.add_event(b4, Event(NOW - 5, "advisor.firing", "x", "error", {"finding": {"rule": "q"}}))
    w.flush()
    w.close()
    rows = {r.name: r for r in bench_rows(reader, known_findings=known)}
    assert rows["live"].marks == "✗" and rows["old"].marks == ""
    assert {r.name: r.marks for r in bench_rows(reader)}["old"] == "✗"  # without the cache: read afresh
    reader.close()


def test_the_marked_row_fits_80_columns():
    from iejtui.ui.screens.bench import NARROW, bench_cells
    from rich.cells import cell_len
    run = {"id": 12345, "name": "bench-tiny", "status": "interrupted", "started_at": NOW - 60, "ended_at": NOW,
           "argv": [], "summary": {"num_prompts": 1000, "completed": 999, "failed": 1, "output_throughput": 12345.6,
                                   "median_ttft_ms": 1234.5, "p99_ttft_ms": 12345.6,
                                   "iejtui": {"validity": {"valid": False, "invalid_reasons": ["x"], "caveats": []}}}}
    r = bench_row(run, {}, None, {"critical": 2})
    cells = bench_cells(r)
    width = sum(cell_len(str(cells[k])) for k in NARROW) + 2 * len(NARROW)  # DataTable pads each cell by 1 a side
    assert r.marks == "⚠✗" and "⚠✗" in str(cells["status"]) and width <= 80, width
