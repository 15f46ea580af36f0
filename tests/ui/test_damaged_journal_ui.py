"""The dashboard on a damaged journal.db: a notification naming the file and the recovery, no crash."""
from __future__ import annotations

import sqlite3

from conftest import settle

from iejtui.ui.screens.dashboard import DashboardScreen


def _smash_tables(db, tables):
    conn = sqlite3.connect(db)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    size = conn.execute("PRAGMA page_size").fetchone()[0]
    pages = [conn.execute("SELECT rootpage FROM sqlite_master WHERE name = ?", (t,)).fetchone()[0] for t in tables]
    conn.close()
    with open(db, "r+b") as f:
        for page in pages:
            f.seek((page - 1) * size)
            f.write(b"\xff" * 64)


async def test_dashboard_says_damaged_with_the_recovery(app_factory, journal):
    _smash_tables(journal.db, ["runs", "frames", "series", "chunks", "recent"])
    app = app_factory()
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot, lambda: any(".recover" in n.message for n in app._notifications))
        assert isinstance(app.screen, DashboardScreen)  # still running, still on the dashboard
        msgs = [n.message for n in app._notifications if ".recover" in n.message]
        assert str(journal.db) in msgs[0] and "damaged" in msgs[0] and "\n" not in msgs[0]
        await pilot.press("q")
