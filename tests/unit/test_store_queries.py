"""The store's domain queries: GPU recordings over a window, a run's window, tags applied by
the writer, the writer's reads for the service, and the run vocabulary."""

import json

import pytest

from collectors.records import Frame, Sample
from iejtui.errors import UserError
from iejtui.store import Reader, RunKind, RunStatus, Writer
from iejtui.store.vocab import BENCH_LIVE, ENGINE_LIVE, FINAL, LIVE

T0 = 1_764_000_000.0


@pytest.fixture
def w(tmp_path):
    writer = Writer(tmp_path / "journal.db", seal_span_s=10)
    yield writer
    writer.close()


def test_gpu_runs_between_picks_overlapping_gpu_recordings_newest_first(w):
    old = w.create_run(kind=RunKind.RECORD, name="gpu@a", status=RunStatus.STOPPED, started_at=T0, ended_at=T0 + 100)
    w.create_run(kind=RunKind.RECORD, name="manual", status=RunStatus.STOPPED, started_at=T0, ended_at=T0 + 500)
    w.create_run(kind=RunKind.RECORD, name="GPU@a", status=RunStatus.STOPPED, started_at=T0, ended_at=T0 + 500)
    w.create_run(kind=RunKind.ENGINE, name="gpu@x", status=RunStatus.READY, started_at=T0)
    live = w.create_run(kind=RunKind.RECORD, name="gpu@a", status=RunStatus.READY, started_at=T0 + 200)
    r = Reader(w.path)
    assert [x["id"] for x in r.gpu_runs_between(T0 + 50, T0 + 300)] == [live, old]
    assert [x["id"] for x in r.gpu_runs_between(T0 + 150, T0 + 180)] == []
    assert [x["id"] for x in r.gpu_runs_between(T0 + 1e6, T0 + 2e6)] == [live]  # still recording: open-ended
    assert r.gpu_runs_between(T0, T0)[0]["tags"] == []  # decoded rows
    r.close()


def test_run_window_samples_then_lifetime_rules(w):
    rid = w.create_run(kind=RunKind.ENGINE, name="e", status=RunStatus.READY, started_at=T0 - 5)
    r = Reader(w.path)
    assert r.run_window(r.run(rid), T0 + 100) is None  # no samples
    w.add_frames(rid, [Frame("engine", T0 + i, [Sample("c_total", float(i))]) for i in range(10)])
    w.flush()
    assert r.run_window(r.run(rid), T0 + 100) == (T0, T0 + 100)  # live: up to now
    assert r.run_window(r.run(rid), T0 + 3) == (T0, T0 + 9)  # never before its last sample
    w.update_run(rid, status=RunStatus.STOPPED)
    assert r.run_window(r.run(rid), T0 + 100) == (T0, T0 + 9)  # ended, no end recorded: last sample
    w.update_run(rid, ended_at=T0 + 20)
    assert r.run_window(r.run(rid), T0 + 100) == (T0, T0 + 20)  # ended: its end
    r.close()


def test_writer_applies_tags_and_day(w):
    rid = w.create_run(kind=RunKind.BENCH, name="b", status=RunStatus.RUNNING, tags=["keep", "old"])
    assert w.apply_tags(rid, ["day-003", "keep"], ["old"], 3) == {"id": rid, "tags": ["keep", "day-003"], "day": 3}
    assert w.apply_tags(rid, [], [], None) == {"id": rid, "tags": ["keep", "day-003"], "day": 3}
    with pytest.raises(UserError, match="no run"):
        w.apply_tags(rid + 100, ["x"], [], None)


def test_writer_reads_for_the_service(w):
    a = w.create_run(kind=RunKind.ENGINE, name="e", status=RunStatus.STARTING)
    w.create_run(kind=RunKind.ENGINE, name="f", status=RunStatus.CRASHED)
    b = w.create_run(kind=RunKind.BENCH, name="b", status=RunStatus.RUNNING)
    m1 = w.create_run(kind=RunKind.MATRIX, name="grid", status=RunStatus.STOPPED)
    m2 = w.create_run(kind=RunKind.MATRIX, name="other", status=RunStatus.RUNNING)
    assert [x["id"] for x in w.live_runs()] == [a, b, m2]
    assert [x["id"] for x in w.latest_runs(RunKind.MATRIX)] == [m2]
    assert [x["id"] for x in w.latest_runs(RunKind.MATRIX, "grid")] == [m1]
    assert [x["id"] for x in w.latest_runs(RunKind.MATRIX, None, 50)] == [m2, m1]
    assert w.first_request_error(b) is None
    w.add_request(b, {"idx": 0, "t_sent": T0, "ok": 1})
    w.add_request(b, {"idx": 1, "t_sent": T0, "ok": 0, "error": "HTTP 500"})
    w.flush()
    assert w.first_request_error(b) == "HTTP 500"


def test_vocabulary_is_the_stored_text():
    assert json.dumps({"s": RunStatus.READY, "k": RunKind.ENGINE}) == '{"s": "ready", "k": "engine"}'
    assert f"{RunStatus.CRASHED}" == "crashed" and {"ready": 1}[RunStatus.READY] == 1
    assert "running" in LIVE and "running" not in ENGINE_LIVE and "ready" not in BENCH_LIVE
    assert not set(LIVE) & set(FINAL) and set(LIVE) | set(FINAL) == set(RunStatus)
