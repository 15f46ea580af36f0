"""SVG snapshots of the main screens at 80×24 and 160×48 on the seeded journal, frozen clock.

Review a changed snapshot in the report pytest writes (snapshot_report.html) before
running ``pytest tests/ui/test_snapshots.py --snapshot-update``.
"""
from __future__ import annotations

import pytest
from conftest import settle
from fake_service import FakeService, engine

from iejtui.ui.screens.run_view import RunScreen
from iejtui.ui.widgets.snapshot_view import SnapshotView

SIZES = [(80, 24), (160, 48)]


def _loaded(pilot) -> bool:
    views = pilot.app.screen.query(SnapshotView)
    summary = getattr(pilot.app.screen, "summary_text", None)  # the run view reads it after drawing
    advice = getattr(pilot.app.screen, "advice_read", True)  # and what the advisor saw
    return all(v.snapshot is not None for v in views) and summary != "" and advice


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_dashboard(snap_compare, app_factory, size):
    async def ready(pilot):
        await settle(pilot, lambda: _loaded(pilot))
    assert snap_compare(app_factory(), terminal_size=size, run_before=ready)


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_runs(snap_compare, app_factory, size):
    async def ready(pilot):
        await pilot.press("r")
        await settle(pilot, lambda: "16k tok" in str(pilot.app.screen.query_one("#runs").get_row("3")))
        await pilot.pause(0.2)
    assert snap_compare(app_factory(), terminal_size=size, run_before=ready)


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_run_history(snap_compare, app_factory, size):
    """The stopped engine run r2, zoomed to its last 5 minutes."""
    async def ready(pilot):
        pilot.app.open_run(2)
        await settle(pilot, lambda: isinstance(pilot.app.screen, RunScreen) and _loaded(pilot))
        await pilot.press("1")
        await settle(pilot, lambda: pilot.app.screen.window.span == 300)
    assert snap_compare(app_factory(), terminal_size=size, run_before=ready)


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_engines(snap_compare, app_factory, journal, size):
    with FakeService(journal, [engine("llama8b", 4), engine("crashy", 3, "crashed",
                                                            error_lines=["torch.OutOfMemoryError"])]):
        async def ready(pilot):
            await pilot.press("e")
            await settle(pilot, lambda: pilot.app.screen.query_one("#log").line_count > 0)
        assert snap_compare(app_factory(), terminal_size=size, run_before=ready)


def test_start_engine_modal(snap_compare, app_factory, journal):
    with FakeService(journal, [engine("llama8b", 4)]):
        async def ready(pilot):
            await pilot.press("e")
            await settle(pilot, lambda: pilot.app.screen.query_one("#log").line_count > 0)
            await pilot.press("s")
            await settle(pilot)
        assert snap_compare(app_factory(), terminal_size=(80, 24), run_before=ready)


def test_help(snap_compare, app_factory):
    async def ready(pilot):
        await settle(pilot, lambda: _loaded(pilot))
        await pilot.press("question_mark")
        await settle(pilot)
    assert snap_compare(app_factory(), terminal_size=(160, 48), run_before=ready)


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_benchmarks(snap_compare, app_factory, size):
    """The running benchmark r6 (156/200) selected, the finished r5 below it."""
    async def ready(pilot):
        await pilot.press("b")
        await settle(pilot, lambda: pilot.app.screen.query("#benches") and pilot.app.screen.rows)
        await pilot.pause(0.3)
        await settle(pilot)
    assert snap_compare(app_factory(), terminal_size=size, run_before=ready)
