"""The dashboard's advisor strip: what fires now (from the service's stored findings), most
severe first, one line each; `a` opens the list with each finding's why and knob."""

from __future__ import annotations

from collectors.records import Event
from conftest import settle
from seed import FROZEN_NOW
from iejtui.store.writer import Writer
from iejtui.ui.modals import TextModal
from iejtui.ui.widgets.snapshot_view import SnapshotView
from iejtui.viewmodel.advice import firing_now


def _finding(rule, severity, start, **kw):
    return {"rule": rule, "title": kw.pop("title", rule), "severity": severity, "state": kw.pop("state", "firing"),
            "start": start, "fired_at": start + 15, "end": kw.pop("end", None), "peak": 3.0, "value": 2.0,
            "message": kw.pop("message", f"{rule} observed"), "why": f"why {rule}", "source": "iejtui",
            "knob": kw.pop("knob", None)}


def _write(paths, run_id, kind, finding):
    w = Writer(paths.db)
    w.add_event(run_id, Event(finding["fired_at"], kind, finding["message"], "error", {"finding": finding}))
    w.flush()
    w.close()


def test_firing_now_keeps_the_latest_state_of_live_runs_only():
    f1 = _finding("preemptions", "critical", 100.0)
    f2 = _finding("queue-backlog", "warning", 90.0)
    ev = [{"kind": "advisor.firing", "run_id": 4, "data": {"finding": f1}},
          {"kind": "advisor.firing", "run_id": 4, "data": {"finding": f2}},
          {"kind": "advisor.resolved", "run_id": 4, "data": {"finding": {**f2, "state": "resolved", "end": 130.0}}},
          {"kind": "advisor.firing", "run_id": 9, "data": {"finding": f2}},  # run 9 ended: not now
          {"kind": "engine", "run_id": 4, "data": None}]
    (a,) = firing_now(ev, [4])
    assert (a.rule, a.run_id, a.severity) == ("preemptions", 4, "critical")


async def test_the_strip_shows_what_fires_and_a_opens_why_and_knob(app_factory, journal):
    knob = {"flag": "--max-num-seqs", "current": "256", "suggested": "64", "note": "fewer sequences"}
    _write(journal, 4, "advisor.firing", _finding("queue-backlog", "warning", FROZEN_NOW - 100, title="Requests queueing"))
    _write(journal, 4, "advisor.firing", _finding("preemptions", "critical", FROZEN_NOW - 60, title="Preempting",
                                                   message="2.10 preemptions/s", knob=knob))
    app = app_factory()
    async with app.run_test(size=(80, 24)) as pilot:
        view = app.screen.query_one(SnapshotView)
        await settle(pilot, lambda: view.snapshot is not None)
        strip = view.query_one("#advice")
        assert strip.display
        lines = str(strip.render()).splitlines()
        assert lines[0].startswith("✗ r4 Preempting: 2.10 preemptions/s") and "[--max-num-seqs 256 → 64]" in lines[0]
        assert lines[1].startswith("! r4 Requests queueing")
        assert strip.has_class("critical")
        await pilot.press("a")
        assert isinstance(app.screen, TextModal)
        assert "knob: --max-num-seqs 256 → 64" in app.screen.text and "why preemptions" in app.screen.text
        await settle(pilot)
        from textual.widgets import Static
        body = app.screen.query(Static).first()
        assert body.region.width >= 30 and body.region.height >= 4  # drawn, not a collapsed box
        await pilot.press("escape")


async def test_no_finding_no_strip(app_factory):
    app = app_factory()
    async with app.run_test(size=(80, 24)) as pilot:
        view = app.screen.query_one(SnapshotView)
        await settle(pilot, lambda: view.snapshot is not None)
        assert not view.query_one("#advice").display and view.snapshot.advice == ()


def test_an_engine_row_names_what_fires_on_it():
    from iejtui.ui.screens.engines import engine_cells
    e = {"name": "kv", "status": "ready", "run_id": 4, "owned": True,
         "advisor": [{"rule": "preemptions", "severity": "critical", "title": "Preempting"},
                     {"rule": "queue-backlog", "severity": "warning", "title": "Requests queueing"}]}
    assert str(engine_cells(e)["note"]).startswith("✗ Preempting (+1)")
    assert str(engine_cells({**e, "advisor": []})["note"]) == ""


async def test_the_run_view_says_what_the_advisor_saw(app_factory, journal):
    """A run with stored findings: the run view's section names each with its window and knob
    (read after the history is drawn), and `a` opens the full lines `runs show` prints."""
    from iejtui.store import Reader
    from iejtui.ui.screens.run_view import RunScreen
    knob = {"flag": "--max-num-seqs", "current": "256", "suggested": "64", "note": "fewer sequences"}
    reader = Reader(journal.db)
    run = reader.run(2)
    reader.close()
    t = run["started_at"] + 60
    _write(journal, 2, "advisor.firing", _finding("preemptions", "critical", t, title="Preempting",
                                                   message="2.10 preemptions/s", knob=knob))
    _write(journal, 2, "advisor.resolved", _finding("preemptions", "critical", t, state="resolved", end=t + 40,
                                                     message="2.10 preemptions/s", knob=knob))
    _write(journal, 2, "advisor.firing", _finding("kv-bound", "critical", t + 5, title="KV-bound"))
    app = app_factory()
    async with app.run_test(size=(80, 24)) as pilot:
        app.open_run(2)
        await settle(pilot, lambda: isinstance(app.screen, RunScreen) and app.screen.advice_read)
        box = app.screen.query_one("#run-advice")
        lines = str(box.render()).splitlines()
        assert box.display and lines[0].startswith("What the advisor saw (live) · bottleneck: KV-bound")
        assert lines[1].split()[:2] == ["CRITICAL", "preemptions"] and "--max-num-seqs 256 → 64" in lines[1]
        assert lines[2].split()[:2] == ["CRITICAL", "kv-bound"] and "(until the run ended)" in lines[2]
        await pilot.press("a")
        assert isinstance(app.screen, TextModal)
        assert "knob: --max-num-seqs 256 → 64" in app.screen.text and "why preemptions" in app.screen.text
        await pilot.press("escape")
