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
