"""Tags and days in journal.db: the service side (writer) and the client side (best effort).

The runs table has one writer, the service, so the journal asks it to record tags:

    POST /v1/runs/{id}/tags    {"add": ["day-007"], "remove": [], "day": 7}
    → 200 {"id": 12, "tags": [...], "day": 7}
    → 400 {"error": "no run 12", "user_error": true}

Wire it in ``iejtui/service/api.py`` as::

    @routes.post(API + "/runs/{id}/tags")
    async def run_tags(request):
        from iejtui.journal.service_ops import apply_tags, parse_tag_request
        run_id, add, remove, day = parse_tag_request(request.match_info["id"], await body(request))
        return web.json_response(await service.db(apply_tags, service.writer, run_id, add, remove, day))

The journal's own truth is the day folder (``metrics.json`` lists its runs), so a day log
works while journal.db lags (service down, older service without the endpoint);
``push_tags`` is retried every time a day is written, so the database catches up.
"""

from __future__ import annotations

import json
import re
from typing import Any

from iejtui.errors import UserError

_TAG = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$")


def day_tag(day: int) -> str:
    return f"day-{day:03d}"


def parse_tag_request(run_ref: str, data: dict[str, Any]) -> tuple[int, list[str], list[str], int | None]:
    """Validate a tag request body (the API handler's input)."""
    try:
        run_id = int(str(run_ref).lstrip("rR"))
    except ValueError:
        raise UserError(f"invalid run id {run_ref!r}") from None
    add, remove = data.get("add") or [], data.get("remove") or []
    if not isinstance(add, list) or not isinstance(remove, list):
        raise UserError("'add' and 'remove' must be lists of tags")
    for t in add + remove:
        if not isinstance(t, str) or not _TAG.match(t):
            raise UserError(f"invalid tag {t!r}: letters, digits and . _ : - (at most 64)")
    day = data.get("day")
    if day is not None and (not isinstance(day, int) or isinstance(day, bool) or day < 1):
        raise UserError(f"invalid day {day!r}: a positive integer")
    return run_id, add, remove, day


def merge_tags(current: list[str], add: list[str], remove: list[str]) -> list[str]:
    """Tags after a change: order kept, no duplicates (pure)."""
    out = [t for t in current if t not in remove]
    for t in add:
        if t not in out:
            out.append(t)
    return out


def apply_tags(writer, run_id: int, add: list[str], remove: list[str], day: int | None) -> dict[str, Any]:
    """Runs on the service's writer thread: update one run's tags (and day)."""
    rows = list(writer.db["runs"].rows_where("id = ?", [run_id]))
    if not rows:
        raise UserError(f"no run {run_id}")
    raw = rows[0].get("tags") or "[]"
    try:
        current = json.loads(raw) if isinstance(raw, str) else list(raw)
    except ValueError:
        current = []
    tags = merge_tags(current, add, remove)
    fields: dict[str, Any] = {"tags": tags}
    if day is not None:
        fields["day"] = day
    writer.update_run(run_id, **fields)
    return {"id": run_id, "tags": tags, "day": day if day is not None else rows[0].get("day")}


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
