"""Tags and days in journal.db, the journal's side: ask the service to record a day's tags
(best effort).

The rules (``parse_tag_request``, ``merge_tags``) and the update (``Writer.apply_tags``)
live in the store, ``iejtui/store/tags.py``.

The journal's own truth is the day folder (``metrics.json`` lists its runs), so a day log
works while journal.db lags (service down, older service without the endpoint);
``push_tags`` is retried every time a day is written, so the database catches up.
"""

from __future__ import annotations

__all__ = ["day_tag", "needs_push", "push_tags"]


def day_tag(day: int) -> str:
    return f"day-{day:03d}"


def needs_push(run: dict | None, day: int) -> bool:
    """Does journal.db still lag behind the day folder for this run?"""
    return run is not None and (run.get("day") != day or day_tag(day) not in (run.get("tags") or []))


def push_tags(paths, runs: list[dict], day: int) -> str | None:
    """Ask a running service to record ``day`` on ``runs``; returns a note when it could not
    (never raises: the day folder already holds the truth)."""
    todo = [r for r in runs if needs_push(r, day)]
    if not todo:
        return None
    try:
        from iejtui.client import service_running
        if not service_running(paths):
            return "service not running: journal.db tags will be set the next time this day is written"
        from iejtui.client import ServiceClient, TagRequest
        for r in todo:
            ServiceClient(paths).tag_run(r["id"], TagRequest(add=[day_tag(day)], day=day), timeout=10)
    except Exception as exc:  # an older service without the endpoint answers 404 (not JSON)
        return f"journal.db tags not updated ({type(exc).__name__}); the day folder is up to date"
    return None
