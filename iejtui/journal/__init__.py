"""The journal: day logs from tagged runs, the index, topics, benchmarks, markdown export.

The library API the TUI and the CLI call (``root`` is the journal folder, ``reader`` an
``iejtui.store.Reader`` on its journal.db):

    create_day(root, reader, topic, run_ids, note) -> Path     days/day-NNN-topic/
    tag_runs(root, reader, run_ids, day) -> Path               add runs to a day
    refresh_day(root, reader, day) -> Path                     recompute a day
    export_markdown(root, reader, day=None, run_ids=None) -> str
    write_export(root, reader, output, day=None, run_ids=None) -> int   the same, into a file
    days(root) -> list[DayInfo]
    promote_run(root, reader, run, name, force=False) -> Path  benchmarks/NAME/
    promote_day(root, day, topic, text=None) -> Path           topics/TOPIC/notes.md
    promotion_due(root) -> str | None                          the 5–7 day reminder
"""

from __future__ import annotations

from iejtui.journal.daylog import DayInfo, create_day, days, refresh_day, tag_runs
from iejtui.journal.export import export_markdown, write_export
from iejtui.journal.promote import promote_day, promote_run, promotion_due

__all__ = ["DayInfo", "create_day", "days", "export_markdown", "promote_day", "promote_run", "promotion_due",
           "refresh_day", "tag_runs", "write_export"]
