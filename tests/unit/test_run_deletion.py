"""Deleting runs (``iejtui.store.deletion`` through the real Writer on a real journal.db, and
``iejtui.runfiles``): what goes, what stays, and each refusal."""

import os

import pytest

from collectors.records import Event, Frame, Sample
from iejtui import runfiles
from iejtui.errors import UserError
from iejtui.paths import JournalPaths
from iejtui.store import Reader, RunKind, RunStatus, Writer
from iejtui.store.deletion import Link, plan_deletion

T0 = 1_764_000_000.0


@pytest.fixture
def w(tmp_path):
    writer = Writer(tmp_path / "journal.db", seal_span_s=10)
    yield writer
    writer.close()


def _fill(w: Writer, run_id: int, n: int, source: str = "engine") -> None:
    """n ticks (some sealed into a chunk, the rest recent), two events, three requests."""
    for i in range(n):
        w.add_frames(run_id, [Frame(source, T0 + i, [Sample("vllm:num_requests_running", i), Sample("x", 1.0)])])
    w.add_event(run_id, Event(T0, "note", f"run {run_id}", "info", None))
    w.add_event(run_id, Event(T0 + 1, "note", f"run {run_id} again", "info", None))
    for i in range(3):
        w.add_request(run_id, {"idx": i, "t_sent": T0 + i, "ok": 1, "ttft": 0.1, "e2el": 0.5})
    w.flush()


def _count(w: Writer, sql: str, *args) -> int:
    return w.conn.execute(sql, args).fetchone()[0]


def test_delete_takes_every_row_of_the_run_and_nothing_else(w):
    engine = w.create_run(kind=RunKind.ENGINE, name="e", status=RunStatus.STOPPED, started_at=T0)
    bench = w.create_run(kind=RunKind.BENCH, name="b", status=RunStatus.STOPPED, started_at=T0, parent_id=engine)
    other = w.create_run(kind=RunKind.RECORD, name="keep", status=RunStatus.STOPPED, started_at=T0)
    _fill(w, bench, 25)   # > seal_span_s: a sealed chunk and recent ticks
    _fill(w, other, 25)
    for i in range(3):  # newer ticks, not yet sealed
        w.add_frames(bench, [Frame("engine", T0 + 30 + i, [Sample("x", 1.0)])])
    w.flush()
    assert _count(w, "SELECT COUNT(*) FROM chunks") > 0 and _count(w, "SELECT COUNT(*) FROM recent") > 0
    before = Reader(w.path).sample_counts(other)

    out = w.delete_runs([bench])

    assert [r["id"] for r in out["deleted"]] == [bench] and out["taken_along"] == []
    assert out["ticks"] == 28 and out["requests"] == 3 and out["events"] == 2
    r = Reader(w.path)
    assert r.run(bench) is None and r.run(engine) is not None and r.run(other) is not None
    assert r.sample_counts(bench) == {} and r.requests(bench) == [] and r.events(bench) == []
    assert r.sample_counts(other) == before and len(r.requests(other)) == 3 and len(r.events(other)) == 2
    # no orphans anywhere
    for sql in ("SELECT COUNT(*) FROM frames WHERE run_id NOT IN (SELECT id FROM runs)",
                "SELECT COUNT(*) FROM series WHERE frame_id NOT IN (SELECT id FROM frames)",
                "SELECT COUNT(*) FROM chunks WHERE frame_id NOT IN (SELECT id FROM frames)",
                "SELECT COUNT(*) FROM recent WHERE frame_id NOT IN (SELECT id FROM frames)"):
        assert _count(w, sql) == 0, sql
    # the writer's caches forgot the frames: a later tick for a kept run still lands
    w.add_frames(other, [Frame("engine", T0 + 100, [Sample("x", 2.0)])])
    w.flush()
    assert Reader(w.path).sample_counts(other)["engine"] == before["engine"] + 1


def test_children_refuse_unless_named_or_taken_along(w):
    engine = w.create_run(kind=RunKind.ENGINE, name="e", status=RunStatus.STOPPED, started_at=T0)
    search = w.create_run(kind=RunKind.SEARCH, name="s", status=RunStatus.STOPPED, started_at=T0, parent_id=engine)
    probe = w.create_run(kind=RunKind.BENCH, name="p", status=RunStatus.STOPPED, started_at=T0,
                         parent_id=engine, search_id=search)
    matrix = w.create_run(kind=RunKind.MATRIX, name="m", status=RunStatus.STOPPED, started_at=T0)
    cell = w.create_run(kind=RunKind.BENCH, name="c", status=RunStatus.STOPPED, started_at=T0,
                        facts={"matrix_run": matrix})
    with pytest.raises(UserError, match=rf"run {engine} \(engine e\) has 2 run\(s\) that belong to it \({search}, {probe}\)"):
        w.delete_runs([engine])
    with pytest.raises(UserError, match="--with-children"):
        w.delete_runs([matrix])
    assert len(Reader(w.path).runs()) == 5  # a refusal deletes nothing
    out = w.delete_runs([search, probe])  # all named: no flag needed
    assert [r["id"] for r in out["deleted"]] == [search, probe]
    out = w.delete_runs([matrix], with_children=True)
    assert [r["id"] for r in out["deleted"]] == [matrix, cell] and out["taken_along"] == [cell]
    assert [r["id"] for r in Reader(w.path).runs()] == [engine]


def test_live_runs_and_day_runs_are_refused(w):
    engine = w.create_run(kind=RunKind.ENGINE, name="e", status=RunStatus.READY, started_at=T0)
    bench = w.create_run(kind=RunKind.BENCH, name="b", status=RunStatus.STOPPED, started_at=T0, parent_id=engine)
    with pytest.raises(UserError, match=rf"run {engine} \(engine e\) is still ready: stop it first"):
        w.delete_runs([engine], with_children=True)
    day = w.create_run(kind=RunKind.BENCH, name="d", status=RunStatus.STOPPED, started_at=T0)
    w.apply_tags(day, ["day-3"], [], 3)
    with pytest.raises(UserError, match=r"is in day 3's log: pass --force"):
        w.delete_runs([day])
    with pytest.raises(UserError, match=r"no run 999"):
        w.delete_runs([bench, 999])
    assert len(Reader(w.path).runs()) == 3
    assert [r["id"] for r in w.delete_runs([day], force=True)["deleted"]] == [day]
    assert [r["id"] for r in w.delete_runs([bench])["deleted"]] == [bench]  # a child alone may go


def test_plan_follows_ownership_transitively():
    links = [Link(1, "engine", "e", "stopped"), Link(2, "search", "s", "stopped", owners=(1,)),
             Link(3, "bench", "p", "stopped", owners=(1, 2)), Link(4, "bench", "x", "stopped")]
    plan = plan_deletion(links, [2, 1], with_children=True)
    assert plan.ids == (1, 2, 3) and plan.taken_along == (3,)
    with pytest.raises(UserError, match="name at least one run"):
        plan_deletion(links, [])


def test_runfiles_are_found_by_id_and_links_are_not_followed(tmp_path):
    paths = JournalPaths(tmp_path / "j")
    logs, prof = paths.logs, paths.runtime / "profiles"
    for d in (logs, paths.runtime / "redact", prof / "run-7" / "sub", prof / "engine-tiny"):
        d.mkdir(parents=True)
    (logs / "run-7-tiny.log").write_text("x" * 10)
    (logs / "run-70-tiny.log").write_text("other run")
    (paths.runtime / "redact" / "7.json").write_text("{}")
    (prof / "run-7" / "a.pt.trace.json.gz").write_bytes(b"y" * 100)
    (prof / "run-7" / "sub" / "b").write_bytes(b"z" * 5)
    (prof / "engine-tiny" / "iejtui-run7_rank0.1.pt.trace.json.gz").write_bytes(b"w" * 3)
    (prof / "engine-tiny" / "iejtui-run70_rank0.1.pt.trace.json.gz").write_bytes(b"w" * 3)
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "keep").write_text("not ours")
    os.symlink(outside, prof / "run-7" / "link")
    got = runfiles.owned_paths(paths, 7)
    assert [p.name for p in got] == ["run-7-tiny.log", "7.json", "run-7", "iejtui-run7_rank0.1.pt.trace.json.gz"]
    n, freed = runfiles.remove(paths, 7)
    assert n == 4 and freed == 10 + 2 + 100 + 5 + 3
    assert runfiles.owned_paths(paths, 7) == []
    assert (outside / "keep").read_text() == "not ours"  # the link went, not its target
    assert (logs / "run-70-tiny.log").exists() and (prof / "engine-tiny" / "iejtui-run70_rank0.1.pt.trace.json.gz").exists()


def test_a_deleted_runs_id_is_never_given_again(w):
    """r12 in an old day log or export must not come to name another run."""
    a = w.create_run(kind=RunKind.RECORD, name="a", status=RunStatus.STOPPED, started_at=T0)
    b = w.create_run(kind=RunKind.RECORD, name="b", status=RunStatus.STOPPED, started_at=T0)
    w.delete_runs([b])
    c = w.create_run(kind=RunKind.RECORD, name="c", status=RunStatus.STOPPED, started_at=T0)
    assert c > b > a
    w.delete_runs([c, a])
    d = w.create_run(kind=RunKind.RECORD, name="d", status=RunStatus.STOPPED, started_at=T0)
    assert d > c
    w.close()
    again = Writer(w.path)  # the floor is in journal.db, not in the writer
    try:
        again.delete_runs([d])
        assert again.create_run(kind=RunKind.RECORD, name="e", status=RunStatus.STOPPED, started_at=T0) > d
    finally:
        again.close()
