"""The Journal screen (j): day logs listed and read, new day / tag / refresh / export / folder
from the keyboard, checked on disk. Day logs are seeded through the real journal functions
(``create_day``) on the seeded journal, dated by the frozen clock; tags reach journal.db
through the real service. Snapshots at 80×24 and 160×48.
"""
from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

import pytest
from conftest import settle
from helpers import cli, stop_service
from seed import FROZEN_NOW

from iejtui.journal import create_day
from iejtui.journal import daylog, metrics
from iejtui.journal.init import init_journal
from iejtui.paths import JournalPaths
from iejtui.store import Reader
from iejtui.ui.app import make_app
from iejtui.ui.journal_modals import ExportModal, NewDayModal, TagRunsModal
from iejtui.ui.screens.journal import JournalScreen
from iejtui.ui.screens.runs import RunsScreen

SIZES = [(80, 24), (160, 48)]
DAY1, DAY2 = "day-001-baseline", "day-002-fp8-kv-cache"


class _FrozenTime:
    """``time`` for the journal writers: dates and stamps from the frozen clock."""

    def __getattr__(self, name):
        return getattr(time, name)

    def time(self) -> float:
        return FROZEN_NOW

    def strftime(self, fmt: str, t=None) -> str:
        return time.strftime(fmt, time.gmtime(FROZEN_NOW) if t is None else t)


@pytest.fixture(scope="session")
def days_root(seeded_root, tmp_path_factory) -> Path:
    """The seeded journal plus two day logs made by ``create_day`` (as ``iejtui day new`` does)."""
    root = tmp_path_factory.mktemp("days") / "journal"
    shutil.copytree(seeded_root, root)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(daylog, "time", _FrozenTime())
        mp.setattr(metrics, "time", _FrozenTime())
        reader = Reader(root / "journal.db")
        create_day(root, reader, "baseline", [2, 5], "where the 8B model stands on one H100")
        create_day(root, reader, "fp8 kv cache", [3], None)
        reader.close()
    return root


@pytest.fixture
def paths(days_root, tmp_path) -> JournalPaths:
    root = tmp_path / "j"
    shutil.copytree(days_root, root)
    return JournalPaths(root)


def app_for(paths: JournalPaths):
    return make_app(paths, clock=lambda: FROZEN_NOW, refresh_s=3600.0)


def md_source(app) -> str:
    return app.screen.query_one("#day-md").source


def notes(app, severity: str | None = None) -> list[str]:
    return [n.message for n in app._notifications if severity is None or n.severity == severity]


def day_dirs(root: Path) -> list[str]:
    return sorted(p.name for p in (root / "days").iterdir())


async def open_journal(pilot, rows: int):
    await pilot.press("j")
    await settle(pilot, lambda: isinstance(pilot.app.screen, JournalScreen)
                 and pilot.app.screen.query_one("#days").row_count == rows
                 and "# Day" in md_source(pilot.app))


async def test_j_lists_the_day_logs_and_renders_the_selected_log(paths):
    app = app_for(paths)
    async with app.run_test(size=(100, 30)) as pilot:
        await open_journal(pilot, 2)
        screen = app.screen
        table = screen.query_one("#days")
        assert [str(table.get_row_at(i)[0]) for i in range(2)] == ["002", "001"]  # newest first
        first = [str(c) for c in table.get_row_at(0)]
        assert first[1:4] == ["2026-05-28", "fp8 kv cache", "1"]
        assert "tok/s peak" in first[4]
        assert md_source(app).startswith("# Day 002: fp8 kv cache")
        assert screen.query_one("#day-log").border_subtitle == f"days/{DAY2}/LOG.md"
        assert "2 day logs" in str(screen.query_one("#days-info").render())
        await pilot.press("down")
        await settle(pilot, lambda: md_source(app).startswith("# Day 001: baseline"))
        assert "where the 8B model stands on one H100" in md_source(app)
        assert screen.query_one("#day-log").border_title == "day 001 · baseline"
        await pilot.press("enter")  # read the log: focus moves to it
        assert app.focused is screen.query_one("#day-log")
        await pilot.press("escape")
        assert app.focused is screen.query_one("#days")


async def test_new_day_from_the_runs_screen_selection(paths):
    root = paths.root
    app = app_for(paths)
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.press("r")
        await settle(pilot, lambda: isinstance(app.screen, RunsScreen) and app.screen.query_one("#runs").row_count >= 5)
        runs = app.screen.query_one("#runs")
        for rid in ("3", "2"):
            runs.move_cursor(row=runs.get_row_index(rid))
            await pilot.press("space")
        assert app.run_selection == (3, 2)
        await open_journal(pilot, 2)
        await pilot.press("n")
        await settle(pilot, lambda: isinstance(app.screen, NewDayModal))
        assert app.screen.query_one("#runs").value == "3 2"
        await pilot.press(*"KV sizing", "tab", "tab", *"find the knee")
        await pilot.press("ctrl+s")
        await settle(pilot, lambda: isinstance(app.screen, JournalScreen) and app.screen.busy is None
                     and app.screen.query_one("#days").row_count == 3)
        day = root / "days" / "day-003-kv-sizing"
        assert (day / "LOG.md").read_text().startswith("# Day 003: KV sizing")
        assert "find the knee" in (day / "LOG.md").read_text()
        doc = json.loads((day / "metrics.json").read_text())
        assert [e["id"] for e in doc["runs"]] == [3, 2] and doc["topic"] == "KV sizing"
        assert "| [003](days/day-003-kv-sizing/LOG.md) |" in (root / "JOURNAL_INDEX.md").read_text()
        assert (day / "TODO.md").exists() and (day / "code").is_dir()
        # the new day is selected and shown, and the notification says where it went
        assert str(app.screen.query_one("#days").get_row_at(0)[0]) == "003"
        await settle(pilot, lambda: md_source(app).startswith("# Day 003: KV sizing"))
        assert any("created days/day-003-kv-sizing/LOG.md (2 run(s))" in m for m in notes(app, "information"))
        assert app.screen.selected.number == 3


async def test_bad_input_in_the_dialog_shows_an_inline_error_and_writes_nothing(paths):
    root = paths.root
    index_before = (root / "JOURNAL_INDEX.md").read_text()
    app = app_for(paths)
    async with app.run_test(size=(80, 24)) as pilot:
        await open_journal(pilot, 2)
        await pilot.press("n")
        await settle(pilot, lambda: isinstance(app.screen, NewDayModal))
        modal = app.screen
        error = modal.query_one("#error")

        async def submit(topic: str, runs: str) -> str:
            modal.query_one("#topic").value = topic
            modal.query_one("#runs").value = runs
            await pilot.press("ctrl+s")
            await settle(pilot)
            assert app.screen is modal  # still open
            return str(error.render())

        assert "no letters or digits" in await submit("!!!", "3")
        assert "give the day a topic" in await submit("", "3")
        assert "'x' is not a run id" in await submit("kv", "3 x 7")
        assert "no run 99 in this journal" in await submit("kv", "3 99")
        modal.query_one("#runs").focus()
        await pilot.press("enter")  # enter in a field submits too: still refused
        assert app.screen is modal
        await pilot.press("escape")
        await settle(pilot, lambda: isinstance(app.screen, JournalScreen))
        assert day_dirs(root) == [DAY1, DAY2]
        assert (root / "JOURNAL_INDEX.md").read_text() == index_before
        assert not notes(app, "error")


async def test_tag_a_run_into_the_selected_day_through_the_real_service(paths):
    root = paths.root
    assert cli(root, "service", "start").returncode == 0
    try:
        app = app_for(paths)
        async with app.run_test(size=(100, 30)) as pilot:
            await open_journal(pilot, 2)
            await pilot.press("down")  # day 001
            await settle(pilot, lambda: app.screen.selected.number == 1)
            await pilot.press("t")
            await settle(pilot, lambda: isinstance(app.screen, TagRunsModal))
            await pilot.press("r", "3", "enter")
            await settle(pilot, lambda: isinstance(app.screen, JournalScreen) and app.screen.busy is None
                         and app.screen.selected.runs == "3", timeout=60)
            assert app.screen.selected.number == 1  # the day stays selected
            doc = json.loads((root / "days" / DAY1 / "metrics.json").read_text())
            assert [e["id"] for e in doc["runs"]] == [2, 5, 3]
            assert "r2, r5, r3" in (root / "JOURNAL_INDEX.md").read_text()
            await settle(pilot, lambda: "**Runs:** r2, r5, r3" in md_source(app))
            assert any(f"tagged r3 into days/{DAY1}" in m for m in notes(app, "information"))
            assert not notes(app, "warning")  # the service took the tags: no "journal.db lags" note
        reader = Reader(root / "journal.db")
        run = reader.run(3)
        reader.close()
        assert "day-001" in run["tags"] and run["day"] == 1
    finally:
        stop_service(root)


async def test_export_refresh_and_folder(paths, tmp_path):
    root = paths.root
    app = app_for(paths)
    async with app.run_test(size=(100, 30)) as pilot:
        await open_journal(pilot, 2)
        await pilot.press("x")
        await settle(pilot, lambda: isinstance(app.screen, ExportModal))
        assert app.screen.query_one("#path").value == f"exports/{DAY2}.md"
        await pilot.press("enter")
        target = root / "exports" / f"{DAY2}.md"
        await settle(pilot, lambda: app.screen.busy is None and target.exists())
        text = target.read_text()
        assert text.startswith("# Day 002: fp8 kv cache") and "## Runs" in text
        assert f"](../days/{DAY2}/run-3-crashy.svg)" in text  # chart links relative to the file
        assert any(m.startswith(f"wrote {target} (") for m in notes(app, "information"))

        # an absolute path elsewhere; the same text the CLI writes
        elsewhere = tmp_path / "out" / "day2.md"
        await pilot.press("x")
        await settle(pilot, lambda: isinstance(app.screen, ExportModal))
        app.screen.query_one("#path").value = str(elsewhere)
        await pilot.press("enter")
        await settle(pilot, lambda: app.screen.busy is None and elsewhere.exists())
        by_cli = tmp_path / "out" / "by-cli.md"
        assert cli(root, "export", "--day", "2", "-o", str(by_cli)).returncode == 0
        strip = lambda s: s.split("<sub>Exported by")[0]  # noqa: E731 (the footer has the minute)
        assert strip(elsewhere.read_text()) == strip(by_cli.read_text())

        # a file that cannot be written: one line in an error notification, no traceback
        await pilot.press("x")
        await settle(pilot, lambda: isinstance(app.screen, ExportModal))
        app.screen.query_one("#path").value = "/dev/null/day.md"
        await pilot.press("enter")
        await settle(pilot, lambda: app.screen.busy is None and notes(app, "error"))
        (error,) = notes(app, "error")
        assert error.startswith("cannot write /dev/null/day.md") and "\n" not in error

        before = (root / "days" / DAY2 / "metrics.json").stat().st_mtime_ns
        await pilot.press("f")
        await settle(pilot, lambda: app.screen.busy is None
                     and any(m == f"refreshed days/{DAY2}" for m in notes(app, "information")))
        assert (root / "days" / DAY2 / "metrics.json").stat().st_mtime_ns > before

        await pilot.press("o")
        assert str(root / "days" / DAY2) in notes(app, "information")


async def test_errors_from_the_journal_are_one_line(paths):
    """A day folder removed behind the screen's back: the library's UserError, one line."""
    root = paths.root
    app = app_for(paths)
    async with app.run_test(size=(100, 30)) as pilot:
        await open_journal(pilot, 2)
        shutil.rmtree(root / "days" / DAY2)
        await pilot.press("f")
        await settle(pilot, lambda: app.screen.busy is None and notes(app, "error"))
        (error,) = notes(app, "error")
        assert error.startswith("no day 2 in ") and "\n" not in error
        await settle(pilot, lambda: app.screen.query_one("#days").row_count == 1)  # the list was read again


async def test_days_written_from_a_shell_and_hand_edits_show_up(paths):
    root = paths.root
    app = app_for(paths)
    async with app.run_test(size=(100, 30)) as pilot:
        await open_journal(pilot, 2)
        log = root / "days" / DAY2 / "LOG.md"
        log.write_text(log.read_text().replace("## Goal\n", "## Goal\n\nHAND EDIT: fp8 halves the KV pool\n", 1))
        app.screen.load()  # what the screen's timer calls every few seconds
        await settle(pilot, lambda: "HAND EDIT: fp8 halves the KV pool" in md_source(app))
        assert cli(root, "day", "new", "from the shell", "--run", "2").returncode == 0
        app.screen.load()
        await settle(pilot, lambda: app.screen.query_one("#days").row_count == 3)
        assert app.screen.selected.number == 2  # the cursor stays on the day being read


async def test_empty_journal_says_how_to_make_a_day(tmp_path):
    root = tmp_path / "empty"
    init_journal(root)
    app = app_for(JournalPaths(root))
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("j")
        await settle(pilot, lambda: isinstance(app.screen, JournalScreen) and app.screen.has_class("-empty"))
        empty = app.screen.query_one("#days-empty")
        assert empty.display and not app.screen.query_one("#days").display
        assert "Press n to make one" in str(empty.render())
        await pilot.press("t")
        assert "no day log yet: press n to make one" in notes(app, "warning")
        await pilot.press("n")
        await settle(pilot, lambda: isinstance(app.screen, NewDayModal))
        app.screen.query_one("#topic").value = "first"
        app.screen.query_one("#runs").value = "1"
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert "no run 1 in this journal (it has no runs yet)" in str(app.screen.query_one("#error").render())


async def test_every_action_is_a_footer_key_and_a_palette_command(paths):
    app = app_for(paths)
    async with app.run_test(size=(160, 48)) as pilot:
        await open_journal(pilot, 2)
        keys = {b.key: b for b in JournalScreen.BINDINGS}
        assert set(keys) == {"n", "t", "f", "x", "o", "escape"}
        shown = {b.key for (_, b, enabled, _) in app.screen.active_bindings.values() if b.show and enabled}
        assert set(keys) - {"escape"} <= shown and "j" in shown
        titles = {c.title: c.help for c in app.get_system_commands(app.screen)}
        for b in keys.values():
            assert titles[b.description] == f"{b.tooltip} (key: {app.get_key_display(b)})"


# ---- snapshots ---------------------------------------------------------------------------------
@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_journal_snapshot(snap_compare, paths, size):
    async def ready(pilot):
        await open_journal(pilot, 2)
        await pilot.press("down")
        await settle(pilot, lambda: md_source(pilot.app).startswith("# Day 001"))
        await pilot.pause(0.3)
    assert snap_compare(app_for(paths), terminal_size=size, run_before=ready)


def test_journal_new_day_modal_snapshot(snap_compare, paths):
    async def ready(pilot):
        await open_journal(pilot, 2)
        await pilot.press("n")
        await settle(pilot, lambda: isinstance(pilot.app.screen, NewDayModal))
        await pilot.press(*"kv", "tab", *"3 x")
        await pilot.press("ctrl+s")
        await settle(pilot)
    assert snap_compare(app_for(paths), terminal_size=(80, 24), run_before=ready)
