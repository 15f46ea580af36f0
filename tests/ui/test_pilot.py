"""Keyboard flows on every screen (Pilot), on the seeded journal with a frozen clock."""
from __future__ import annotations

import pytest
from conftest import settle
from fake_service import FakeService, engine

from iejtui.ui.modals import ADHOC, ConfirmModal, StartEngineModal, start_payload
from iejtui.ui.screens.dashboard import DashboardScreen
from iejtui.ui.screens.engines import EnginesScreen
from iejtui.ui.screens.help import HelpScreen
from iejtui.ui.screens.run_view import RunScreen
from iejtui.ui.screens.runs import RunsScreen
from iejtui.ui.widgets.panels import EnginePanelView, GpuPanelView
from iejtui.ui.widgets.snapshot_view import SnapshotView


def loaded(app) -> bool:
    return all(v.snapshot is not None for v in app.screen.query(SnapshotView))


async def test_modes_switch_by_key(app_factory):
    app = app_factory()
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot, lambda: loaded(app))
        assert isinstance(app.screen, DashboardScreen)
        await pilot.press("r")
        assert isinstance(app.screen, RunsScreen)
        await pilot.press("e")
        assert isinstance(app.screen, EnginesScreen)
        await pilot.press("d")
        assert isinstance(app.screen, DashboardScreen)
        await pilot.press("q")
    assert app.return_code in (0, None)


async def test_dashboard_shows_engines_gpus_stale_and_window_keys(app_factory):
    app = app_factory()
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot, lambda: loaded(app))
        screen = app.screen
        panels = list(screen.query(EnginePanelView))
        assert [p.run_id for p in panels] == [4]
        assert "ready" in str(panels[0].border_title)
        gpus = {g.uuid[:8]: g for g in screen.query(GpuPanelView)}
        assert "stale since" in str(gpus["GPU-1b2c"].border_subtitle)
        assert "stale" not in str(gpus["GPU-8f0a"].border_subtitle)
        assert screen.sub_title == "live · last 5 min"
        await pilot.press("w")
        await settle(pilot)
        assert screen.window_s == 900 and screen.query_one(SnapshotView).snapshot.window_s == 900
        await pilot.press("p")
        assert screen.paused and screen.sub_title.startswith("paused")
        await pilot.press("p")
        await settle(pilot)
        assert not screen.paused


async def test_engine_panel_opens_its_run(app_factory):
    app = app_factory()
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot, lambda: loaded(app))
        await pilot.press("tab")
        assert isinstance(app.focused, EnginePanelView)
        await pilot.press("enter")
        await settle(pilot, lambda: isinstance(app.screen, RunScreen) and loaded(app))
        assert app.screen.run_id == 4
        await pilot.press("escape")
        assert isinstance(app.screen, DashboardScreen)


async def test_open_a_run_zoom_and_seek(app_factory):
    app = app_factory()
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("r")
        await settle(pilot, lambda: app.screen.query_one("#runs").row_count == 6)
        table = app.screen.query_one("#runs")
        table.move_cursor(row=table.get_row_index("2"))
        await pilot.press("enter")
        await settle(pilot, lambda: isinstance(app.screen, RunScreen) and loaded(app))
        screen = app.screen
        w = screen.window
        assert screen.run_id == 2 and w.whole and w.span == pytest.approx(1800, abs=2)
        await pilot.press("1")
        await settle(pilot, lambda: screen.window.span == 300)
        assert screen.window.at_end
        end = screen.window.t1
        await pilot.press("left")
        await settle(pilot, lambda: screen.window.t1 == end - 150)
        await pilot.press("home")
        await settle(pilot, lambda: screen.window.t0 == screen.window.start)
        await pilot.press("right")
        await settle(pilot, lambda: screen.window.t0 == screen.window.start + 150)
        await pilot.press("end")
        await settle(pilot, lambda: screen.window.at_end)
        snap = screen.query_one(SnapshotView).snapshot
        assert not snap.live and snap.t1 - snap.t0 == 300 and snap.engines[0].rate_window_s == 300
        await pilot.press("2")  # 1 h on a 30-minute run: the whole run
        await settle(pilot, lambda: screen.window.whole)
        await pilot.press("3")
        await settle(pilot, lambda: screen.window.whole)
        assert "window whole run" in str(screen.query_one("#run-info").render())
        await pilot.press("escape")
        assert isinstance(app.screen, RunsScreen)


async def test_runs_filter_and_multi_select(app_factory):
    app = app_factory()
    async with app.run_test(size=(120, 30)) as pilot:
        await pilot.press("r")
        screen = app.screen
        await settle(pilot, lambda: screen.query_one("#runs").row_count == 6)
        await pilot.press("slash")
        await pilot.press(*"engine")
        await settle(pilot)
        table = screen.query_one("#runs")
        assert table.row_count == 3
        await pilot.press("enter")  # leaves the filter for the table
        assert app.focused is table
        await pilot.press("space", "space")
        assert screen.selected_run_ids == [4, 3]
        assert "2 selected" in str(screen.query_one("#runs-info").render())
        await pilot.press("escape")  # clears the filter first
        await settle(pilot)
        assert table.row_count == 6 and screen.selected_run_ids == [4, 3]
        await pilot.press("escape")  # then the selection
        assert screen.selected_run_ids == []
        await pilot.press("a")
        assert screen.selected_run_ids == [6, 5, 4, 3, 2, 1]
        await pilot.press("a")
        assert screen.selected_run_ids == []


async def test_help_and_command_palette_cover_every_binding(app_factory):
    app = app_factory()
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot, lambda: loaded(app))
        for key in ("d", "r", "e"):
            await pilot.press(key)
            await settle(pilot)
            titles = {c.title for c in app.get_system_commands(app.screen)}
            described = {a.binding.description for a in app.screen.active_bindings.values()
                         if a.binding.description and a.binding.show}
            assert described <= titles, described - titles
        await pilot.press("d")
        await pilot.press("question_mark")
        assert isinstance(app.screen, HelpScreen)
        text = str(app.screen.query("Static")[1].render())
        assert "Window" in text and "Pause" in text and "Engines" in text
        await pilot.press("escape")
        assert isinstance(app.screen, DashboardScreen)
        # the palette runs the same actions
        await pilot.press("ctrl+p")
        await pilot.press(*"Window")
        await settle(pilot)
        await pilot.press("enter")
        await settle(pilot)
        assert app.screen.window_s == 900


async def test_engines_start_stop_restart_follow(app_factory, journal):
    with FakeService(journal, [engine("llama8b", 4), engine("crashy", 3, "crashed")]) as svc:
        app = app_factory()
        async with app.run_test(size=(120, 40)) as pilot:
            await pilot.press("e")
            screen = app.screen
            await settle(pilot, lambda: screen.query_one("#engine-table").row_count == 2
                         and screen.query_one("#log").line_count == 12)
            # start a profile (iejtui.toml has [engines.demo]) from the keyboard
            await pilot.press("s")
            await settle(pilot, lambda: isinstance(app.screen, StartEngineModal))
            await pilot.press("ctrl+s")
            await settle(pilot, lambda: ("/engines", {"name": "demo", "profile": "demo"}) in svc.posts)
            await settle(pilot, lambda: screen.query_one("#engine-table").row_count == 3)
            # an ad-hoc command
            await pilot.press("s")
            await settle(pilot, lambda: isinstance(app.screen, StartEngineModal))
            await pilot.press("enter", "down", "enter")  # open the profile list, pick "ad-hoc"
            await settle(pilot)
            assert app.screen.query_one("#profile").value == ADHOC
            app.screen.query_one("#name").focus()
            await pilot.press(*"tiny2")
            app.screen.query_one("#command").focus()
            await pilot.press(*"vllm serve /m --port 9001")
            await pilot.press("enter")
            await settle(pilot, lambda: any(b and b.get("name") == "tiny2" for _, b in svc.posts))
            body = [b for _, b in svc.posts if b and b.get("name") == "tiny2"][0]
            assert body == {"name": "tiny2", "kind": "vllm", "argv": ["vllm", "serve", "/m", "--port", "9001"]}
            # stop the selected engine (first row: llama8b), confirmed from the keyboard
            table = screen.query_one("#engine-table")
            table.move_cursor(row=0)
            await pilot.press("x")
            await settle(pilot, lambda: isinstance(app.screen, ConfirmModal))
            await pilot.press("y")
            await settle(pilot, lambda: ("/engines/llama8b/stop", None) in svc.posts)
            # restart: not a profile, so its recorded command line is reused
            svc.engines["llama8b"]["status"] = "ready"
            await settle(pilot, lambda: screen.selected and screen.selected["status"] == "ready")
            await pilot.press("R")
            await settle(pilot, lambda: sum(1 for p, _ in svc.posts if p == "/engines/llama8b/stop") == 2
                         and any(b and b.get("argv", [None])[0] == "vllm" and b["name"] == "llama8b"
                                 for _, b in svc.posts))
            # follow off / on; enter opens the engine's run
            await pilot.press("f")
            assert not screen.follow
            await pilot.press("f")
            assert screen.follow
            table.move_cursor(row=0)
            await pilot.press("enter")
            await settle(pilot, lambda: isinstance(app.screen, RunScreen))
            assert app.screen.run_id == svc.engines["llama8b"]["run_id"]  # the restarted run


async def test_engines_screen_without_a_service_says_so(app_factory):
    app = app_factory()
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("e")
        await settle(pilot, lambda: app.screen.error is not None)
        assert "not answering" in str(app.screen.query_one("#service-state").render())
        await pilot.press("x")  # nothing selected: a warning, no crash
        await settle(pilot)
        assert isinstance(app.screen, EnginesScreen)


def test_start_payload_rules():
    assert start_payload("demo", "", "vllm", "", "") == {"name": "demo", "profile": "demo"}
    assert start_payload("demo", "demo2", "vllm", "", "") == {"name": "demo2", "profile": "demo"}
    assert start_payload(ADHOC, "a", "sglang", "python -m sglang.launch_server --port 1", "http://h:1") == {
        "name": "a", "kind": "sglang", "argv": ["python", "-m", "sglang.launch_server", "--port", "1"],
        "url": "http://h:1"}
    assert start_payload(ADHOC, "b", "vllm", "", "http://h:2") == {
        "name": "b", "kind": "vllm", "url": "http://h:2", "attach": True}
    for bad in (("", "x"), ("n", "'unclosed"), ("n", "")):
        with pytest.raises(ValueError):
            start_payload(ADHOC, bad[0], "vllm", bad[1], "")


async def test_leaving_a_run_before_its_read_finishes(app_factory, monkeypatch):
    """esc while the history of a live run (which follows its growth) is still being read:
    the late result is dropped and no timer re-arms on the screen that left."""
    import time as _time

    from iejtui.ui import feed

    slow = feed.Feed.history

    def history(self, *args, **kwargs):
        _time.sleep(0.6)
        return slow(self, *args, **kwargs)

    monkeypatch.setattr(feed.Feed, "history", history)
    app = app_factory(refresh_s=0.2)
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot, lambda: loaded(app))
        app.open_run(4)
        await pilot.pause(1.0)  # first read done: it follows, the next read is under way
        await pilot.press("escape")
        await pilot.press("e")
        await settle(pilot, lambda: isinstance(app.screen, EnginesScreen))
        await pilot.pause(1.0)  # the read ends on a screen that is gone
        assert isinstance(app.screen, EnginesScreen) and app.is_running


async def test_fast_screen_switching_while_reads_are_in_flight(app_factory):
    """Keys faster than the screens' reads (a held key, a paste): no crash, no stale screen."""
    app = app_factory(refresh_s=0.2)
    async with app.run_test(size=(80, 24)) as pilot:
        for _ in range(5):
            await pilot.press("r", "d", "e", "b", "d", "r", "enter", "escape", "d", "b", "r")
            await pilot.pause(0.01)
        await settle(pilot, lambda: isinstance(app.screen, RunsScreen) and app.screen.query_one("#runs").row_count)
        await pilot.press("d")
        await settle(pilot, lambda: loaded(app))
        assert isinstance(app.screen, DashboardScreen)
