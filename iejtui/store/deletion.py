"""Deleting runs from journal.db: which runs go, what refuses, and the rows they take along.

``iejtui runs delete RUN...`` asks the service (the one writer) to delete; the CLI previews
the same plan from a Reader first. The rules:

* A run still going (``LIVE``: an engine up, a benchmark or recording under way) is refused:
  stop it first. Deleting it would pull rows out from under the code writing them.
* Runs belong to others: a benchmark or profile to its engine run (``parent_id``), a load
  search's probes to the search (``search_id``), a matrix's cells to the matrix run
  (``facts.matrix_run``). Deleting a run that others belong to is refused unless they are
  named too or ``with_children`` takes them along (transitively), so no run is left pointing
  at one that is gone.
* A run written into a day log (``day`` set) is refused unless ``force``: the day folder
  keeps what it wrote, but writing that day again would no longer find the run.

Rows go in one transaction: the run, its events, its benchmark requests, its frames with
their series, sealed chunks and recent ticks. The run's files (engine log, profile traces,
redaction fingerprints) are the service's to remove (``iejtui.runfiles``). A deleted run's
id is never given again (``id_floor``). SQLite reuses the freed pages; the file shrinks only
on ``VACUUM``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Iterable

from iejtui.errors import UserError
from iejtui.store.vocab import LIVE


@dataclass(frozen=True)
class Link:
    """What deletion needs of one run."""

    id: int
    kind: str
    name: str
    status: str
    day: int | None = None
    owners: tuple[int, ...] = ()  # the runs this one belongs to


@dataclass(frozen=True)
class DeletionPlan:
    ids: tuple[int, ...]                                      # every run that goes, ascending
    taken_along: tuple[int, ...] = ()                          # of those, the ones not named
    runs: tuple[Link, ...] = field(default_factory=tuple)      # their links, in ``ids`` order


def _label(link: Link) -> str:
    return f"run {link.id} ({link.kind} {link.name})"


def _ids_text(ids: Iterable[int]) -> str:
    ids = sorted(ids)
    shown = ", ".join(str(i) for i in ids[:8])
    return shown + (f" and {len(ids) - 8} more" if len(ids) > 8 else "")


def plan_deletion(links: Iterable[Link], requested: Iterable[int], with_children: bool = False,
                  force: bool = False) -> DeletionPlan:
    """The runs that go when ``requested`` are deleted, or a UserError saying why not (pure)."""
    by_id = {link.id: link for link in links}
    wanted = list(dict.fromkeys(int(i) for i in requested))
    if not wanted:
        raise UserError("name at least one run to delete: see `iejtui runs`")
    for i in wanted:
        if i not in by_id:
            raise UserError(f"no run {i}: see `iejtui runs`")
    children: dict[int, list[int]] = {}
    for link in by_id.values():
        for owner in link.owners:
            children.setdefault(owner, []).append(link.id)
    chosen, todo = set(wanted), list(wanted)
    while todo:
        rid = todo.pop()
        missing = [c for c in children.get(rid, ()) if c not in chosen]
        if missing and not with_children:
            raise UserError(
                f"{_label(by_id[rid])} has {len(missing)} run(s) that belong to it ({_ids_text(missing)}): "
                f"name them too, or pass --with-children to delete them with it")
        chosen.update(missing)
        todo.extend(missing)
    ids = tuple(sorted(chosen))
    for rid in ids:
        link = by_id[rid]
        if link.status in LIVE:
            raise UserError(f"{_label(link)} is still {link.status}: stop it first "
                            f"(`iejtui engine stop`, `iejtui bench cancel`, `iejtui service stop`), then delete it")
    if not force:
        in_days = [by_id[rid] for rid in ids if by_id[rid].day is not None]
        if in_days:
            link = in_days[0]
            raise UserError(f"{_label(link)} is in day {link.day}'s log: pass --force to delete it anyway "
                            f"(the day folder keeps what it wrote; writing that day again will not find the run)")
    return DeletionPlan(ids=ids, taken_along=tuple(i for i in ids if i not in set(wanted)),
                        runs=tuple(by_id[i] for i in ids))


def _owners(row: dict[str, Any]) -> tuple[int, ...]:
    out = [row.get("parent_id"), row.get("search_id")]
    try:
        facts = json.loads(row["facts"]) if isinstance(row.get("facts"), str) else (row.get("facts") or {})
    except ValueError:
        facts = {}
    if isinstance(facts, dict):
        out.append(facts.get("matrix_run"))
    return tuple(dict.fromkeys(int(o) for o in out if isinstance(o, int) and not isinstance(o, bool)))


def read_links(conn) -> list[Link]:
    """Every run's link (the runs table is small: one row per run)."""
    cur = conn.execute("SELECT id, kind, name, status, day, parent_id, search_id, facts FROM runs")
    cols = [c[0] for c in cur.description]
    out = []
    for values in cur:
        row = dict(zip(cols, values))
        out.append(Link(row["id"], row["kind"], row["name"], row["status"], row["day"], _owners(row)))
    return out


def counts_text(counts: dict[str, Any]) -> str:
    """``count_rows``'s figures as the CLI, the dashboard and the service's event say them."""
    return f"{counts['ticks']:,} ticks, {counts['requests']:,} requests, {counts['events']:,} events"


def _marks(ids: tuple[int, ...]) -> str:
    return ",".join("?" * len(ids))


def count_rows(conn, ids: tuple[int, ...]) -> dict[str, int]:
    """What deleting ``ids`` takes along: stored ticks, benchmark requests, events."""
    m = _marks(ids)
    frames = f"SELECT id FROM frames WHERE run_id IN ({m})"
    ticks = conn.execute(f"SELECT COALESCE(SUM(n), 0) FROM chunks WHERE frame_id IN ({frames})", ids).fetchone()[0]
    ticks += conn.execute(f"SELECT COUNT(*) FROM recent WHERE frame_id IN ({frames})", ids).fetchone()[0]
    return {
        "ticks": int(ticks),
        "requests": conn.execute(f"SELECT COUNT(*) FROM requests WHERE run_id IN ({m})", ids).fetchone()[0],
        "events": conn.execute(f"SELECT COUNT(*) FROM events WHERE run_id IN ({m})", ids).fetchone()[0],
    }


ID_FLOOR_KEY = "run_id_floor"


def id_floor(conn) -> int | None:
    """The highest run id ever deleted (``meta``), None before any deletion. The runs table
    has no AUTOINCREMENT: SQLite would give a deleted top id to the next run, and ``r12`` in
    an old day log or export would name a different run. ``Writer.create_run`` starts above it."""
    row = conn.execute("SELECT value FROM meta WHERE key = ?", (ID_FLOOR_KEY,)).fetchone()
    return int(row[0]) if row and row[0] is not None else None


def delete_rows(conn, ids: tuple[int, ...]) -> list[int]:
    """Delete the runs ``ids`` and everything stored under them (the caller's transaction);
    returns the frame ids that went. Raises the id floor to the highest id deleted."""
    m = _marks(ids)
    floor = max(id_floor(conn) or 0, max(ids))
    conn.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (ID_FLOOR_KEY, str(floor)))
    frame_ids = [r[0] for r in conn.execute(f"SELECT id FROM frames WHERE run_id IN ({m})", ids)]
    if frame_ids:
        fm = _marks(tuple(frame_ids))
        for table in ("recent", "chunks", "series"):
            conn.execute(f"DELETE FROM {table} WHERE frame_id IN ({fm})", frame_ids)
        conn.execute(f"DELETE FROM frames WHERE id IN ({fm})", frame_ids)
    conn.execute(f"DELETE FROM events WHERE run_id IN ({m})", ids)
    conn.execute(f"DELETE FROM requests WHERE run_id IN ({m})", ids)
    conn.execute(f"DELETE FROM runs WHERE id IN ({m})", ids)
    return frame_ids
