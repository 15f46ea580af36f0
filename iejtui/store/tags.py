"""Run tags and days: validating a tag request and merging tags (pure); the writer applies
them (``Writer.apply_tags``).

The runs table has one writer, the service, so clients ask it to record tags:

    POST /v1/runs/{id}/tags    {"add": ["day-007"], "remove": [], "day": 7}
    → 200 {"id": 12, "tags": [...], "day": 7}
    → 400 {"error": "no run 12", "user_error": true}

The rules live in the store, beside the table they guard, so neither the API handler nor
the journal (which asks for the change) needs the other.
"""

from __future__ import annotations

import re
from typing import Any

from iejtui.errors import UserError

_TAG = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$")


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
    """The API handler's entry (runs on the service's writer thread): ``writer.apply_tags``."""
    return writer.apply_tags(run_id, add, remove, day)
