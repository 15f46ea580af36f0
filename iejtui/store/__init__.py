"""journal.db: schema and migrations, the service's writer, clients' read queries, and
the runs table's vocabulary (``RunStatus``, ``RunKind``). Nothing outside this package
runs SQL or touches a connection.

``Reader``, ``Writer`` and ``SeriesData`` are resolved on first use (PEP 562): importing
``iejtui.store.vocab`` (the UI does, at start-up) must not load sqlite-utils, which the TUI
imports later on a worker thread without numpy and pandas (``iejtui.ui.feed``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from iejtui.store.vocab import RunKind, RunStatus

if TYPE_CHECKING:
    from iejtui.store.queries import Reader, SeriesData
    from iejtui.store.writer import Writer

__all__ = ["Reader", "RunKind", "RunStatus", "SeriesData", "Writer"]


def __getattr__(name: str):
    if name in ("Reader", "SeriesData"):
        from iejtui.store import queries
        return getattr(queries, name)
    if name == "Writer":
        from iejtui.store.writer import Writer
        return Writer
    raise AttributeError(f"module 'iejtui.store' has no attribute {name!r}")
