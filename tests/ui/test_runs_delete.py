"""Deleting runs from the Runs screen (`D` or the Delete key): the store's refusals shown as they are, a
confirmation naming what goes, and the real service deleting (started on demand, as the
dashboard's other writes do) — on a private copy of the seeded journal."""
from __future__ import annotations

import sys
from pathlib import Path

from conftest import settle

from iejtui.store import Reader, Writer
from iejtui.ui.modals import ConfirmModal
from iejtui.ui.screens.runs import RunsScreen

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from helpers import stop_service  # noqa: E402


def notes(app) -> list[str]:
    return [n.message for n in app._notifications]


def _cursor_to(screen, run_id: int) -> None:
    table = screen.query_one("#runs")
    table.move_cursor(row=table.get_row_index(str(run_id)))


async def test_delete_refuses_then_asks_then_deletes(app_factory, journal):
    app = app_factory()
    before = {r["id"] for r in Reader(journal.db).runs()}
    assert {4, 5} <= before
    w = Writer(journal.db)  # the seeded bench keeps a summary only: give it requests to lose
    for i in range(3):
        w.add_request(5, {"idx": i, "t_sent": 1_779_999_000.0 + i, "ok": 1, "ttft": 0.1, "e2el": 0.5})
    w.flush()
    w.close()
    n_requests = len(Reader(journal.db).requests(5))
    assert n_requests == 3
    try:
        async with app.run_test(size=(100, 30)) as pilot:
            await pilot.press("r")
            screen = app.screen
            assert isinstance(screen, RunsScreen)
            await settle(pilot, lambda: screen.query_one("#runs").row_count == len(before))
            # the serving engine r4: refused with the store's own words, nothing asked
            _cursor_to(screen, 4)
            await pilot.press("D")
            await settle(pilot, lambda: any("run 4 (engine llama8b)" in m for m in notes(app)))
            assert not isinstance(app.screen, ConfirmModal)
            # the ended bench r5: asked, with what goes
            _cursor_to(screen, 5)
            await pilot.press("D")
            await settle(pilot, lambda: isinstance(app.screen, ConfirmModal))
            question = app.screen.question
            assert question.startswith("Delete 1 run(s): r5 sharegpt-c16?") and f"{n_requests:,} requests" in question
            await pilot.press("n")  # no: nothing happens
            await settle(pilot)
            assert {r["id"] for r in Reader(journal.db).runs()} == before
            await pilot.press("D")
            await settle(pilot, lambda: isinstance(app.screen, ConfirmModal))
            await pilot.press("y")
            await settle(pilot, lambda: any(m.startswith("deleted r5:") for m in notes(app)), timeout=60)
            await settle(pilot, lambda: "5" not in [k.value for k in screen.query_one("#runs").rows])
        after = {r["id"] for r in Reader(journal.db).runs()}
        assert 5 not in after and before - {5} <= after
        assert Reader(journal.db).requests(5) == []
    finally:
        stop_service(journal.root)
