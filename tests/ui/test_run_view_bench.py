"""The run view of a finished benchmark shows its client vs server table, client-bound
verdict and steady state; an engine run's view shows none of it."""
from __future__ import annotations

from conftest import settle

from iejtui.ui.screens.run_view import RunScreen


def _loaded(app) -> bool:
    return isinstance(app.screen, RunScreen) and app.screen.run is not None


async def test_finished_bench_run_view_shows_the_checks(app_factory, seeded_root):
    from iejtui.store import Reader
    reader = Reader(seeded_root / "journal.db")
    bench = next(r for r in reader.runs("bench") if r["status"] == "stopped")
    engine = bench["parent_id"]
    reader.close()
    app = app_factory()
    async with app.run_test(size=(160, 48)) as pilot:
        app.open_run(bench["id"])
        await settle(pilot, lambda: _loaded(app))
        checks = app.screen.query_one("#bench-checks")
        assert checks.display
        text = str(checks.render())
        assert "client vs server" in text and "client-bound:" in text and "steady state:" in text
        await pilot.press("escape")
        app.open_run(engine)
        await settle(pilot, lambda: _loaded(app) and app.screen.run["id"] == engine)
        assert not app.screen.query_one("#bench-checks").display
