"""Read queries over journal.db for clients (TUI, CLI, exporters): read-only connections.

The central read is "series S of run R between t0 and t1": it decodes only the wanted
columns of the sealed chunks that overlap the window, then the frame's unsealed ticks.
"""

from __future__ import annotations

import json
import math
from bisect import bisect_left, bisect_right
from array import array
from dataclasses import dataclass, field
from pathlib import Path
from collections.abc import Iterable, Mapping
from typing import Any

import sqlite_utils

from iejtui.errors import UserError
from iejtui.store import codec, thinned
from iejtui.store.db import open_reader_connection
from iejtui.store.schema import schema_version
from iejtui.store.thinned import Series
from iejtui.store.vocab import GPU_RECORDING_PREFIX, LIVE, RunKind
from iejtui.store.writer import RUN_JSON_FIELDS


@dataclass(slots=True)
class SeriesData:
    """One stored series within a window: its labels and aligned timestamps and values."""

    name: str
    labels: dict[str, str]
    source: str
    ts: list[float] = field(default_factory=list)
    values: list[float] = field(default_factory=list)


def decode_run(row: dict[str, Any] | None) -> dict[str, Any] | None:
    if row is None:
        return None
    out = dict(row)
    for key in RUN_JSON_FIELDS:
        if isinstance(out.get(key), str):
            try:
                out[key] = json.loads(out[key])
            except ValueError:
                pass
    return out


class Reader:
    def __init__(self, path: Path):
        self.path = path
        self.conn = open_reader_connection(path)
        if schema_version(self.conn) == 0:
            raise UserError(f"{path} is not initialised yet: start the service (`iejtui service start`)")
        self.db = sqlite_utils.Database(self.conn)
        self._labels: dict[int, dict[str, str]] = {}  # series id → labels (series rows never change)

    def close(self) -> None:
        self.conn.close()

    # ---- runs and events ---------------------------------------------------------------
    def runs(self, kind: str | None = None, limit: int | None = None) -> list[dict[str, Any]]:
        where, args = ("kind = ?", [kind]) if kind else (None, [])
        rows = self.db["runs"].rows_where(where, args, order_by="id desc", limit=limit)
        return [decode_run(r) for r in rows]

    def run(self, run_id: int) -> dict[str, Any] | None:
        rows = list(self.db["runs"].rows_where("id = ?", [run_id]))
        return decode_run(rows[0]) if rows else None

    def search_probes(self, search_id: int) -> list[dict[str, Any]]:
        """The bench runs a load search (``kind = search``) made, in the order it made them."""
        return [decode_run(r) for r in self.db["runs"].rows_where("search_id = ?", [search_id], order_by="id")]

    def resolve_run(self, ref: str) -> dict[str, Any]:
        """A run by id (``12`` or ``r12``) or by name (the newest run with that name)."""
        text = ref[1:] if ref[:1] in "rR" and ref[1:].isdigit() else ref
        if text.isdigit():
            run = self.run(int(text))
        else:
            rows = list(self.db["runs"].rows_where("name = ?", [ref], order_by="id desc", limit=1))
            run = decode_run(rows[0]) if rows else None
        if run is None:
            raise UserError(f"no run {ref!r} in {self.path.parent}: see `iejtui runs`")
        return run

    def deletion_preview(self, ids: list[int], with_children: bool = False, force: bool = False) -> dict[str, Any]:
        """What ``runs delete`` would take (the service re-checks when it deletes): the runs,
        those taken along, and the stored ticks, requests and events; UserError when refused."""
        from iejtui.store import deletion
        plan = deletion.plan_deletion(deletion.read_links(self.conn), ids, with_children, force)
        return {"runs": [self.run(i) for i in plan.ids], "taken_along": list(plan.taken_along),
                **deletion.count_rows(self.conn, plan.ids)}

    def gpu_runs_between(self, t0: float, t1: float) -> list[dict[str, Any]]:
        """The service's GPU recordings (``gpu@HOST`` record runs) overlapping ``[t0, t1]``,
        newest first; one still recording (no ``ended_at``) is open-ended."""
        rows = self.db["runs"].rows_where(
            "kind = ? AND substr(name, 1, ?) = ? AND started_at <= ? AND (ended_at IS NULL OR ended_at >= ?)",
            [str(RunKind.RECORD), len(GPU_RECORDING_PREFIX), GPU_RECORDING_PREFIX, t1, t0], order_by="id desc")
        return [decode_run(r) for r in rows]

    def run_window(self, run: dict[str, Any], now: float) -> tuple[float, float] | None:
        """A run's time window: where its samples lie, a live run (no ``ended_at``, status
        in ``LIVE``) extending to ``now``, an ended one ending at ``ended_at`` when recorded.
        None when it has no samples (callers fall back to its lifetime if they want one)."""
        rng = self.time_range(run["id"])
        if rng is None:
            return None
        ended = run.get("ended_at")
        if ended:
            return rng[0], ended
        return rng[0], (max(rng[1], now) if run["status"] in LIVE else rng[1])

    def events(self, run_id: int | None = None, since: float | None = None,
               limit: int = 200, after_id: int | None = None) -> list[dict[str, Any]]:
        clauses, args = [], []
        if run_id is not None:
            clauses.append("run_id = ?")
            args.append(run_id)
        if since is not None:
            clauses.append("ts >= ?")
            args.append(since)
        if after_id is not None:
            clauses.append("id > ?")
            args.append(after_id)
        where = " AND ".join(clauses) or None
        rows = list(self.db["events"].rows_where(where, args, order_by="id desc", limit=limit))
        for r in rows:
            if r.get("data"):
                r["data"] = json.loads(r["data"])
        return rows[::-1]

    def events_of_kinds(self, run_id: int, kinds: Iterable[str], limit: int = 5000) -> list[dict[str, Any]]:
        """A run's events of the given kinds, oldest first (e.g. the advisor's findings)."""
        kinds = list(kinds)
        marks = ", ".join("?" for _ in kinds)
        rows = list(self.db["events"].rows_where(f"run_id = ? AND kind IN ({marks})", [run_id, *kinds],
                                                 order_by="id", limit=limit))
        for r in rows:
            if r.get("data"):
                r["data"] = json.loads(r["data"])
        return rows

    def event_levels(self, run_ids: Iterable[int], kind: str) -> dict[int, dict[str, int]]:
        """How many events of ``kind`` each run has, by level, in one query (e.g. the
        advisor's findings of every row of the Benchmarks screen): ``{run_id: {level: n}}``."""
        ids = [int(r) for r in run_ids]
        if not ids:
            return {}
        marks = ", ".join("?" for _ in ids)
        out: dict[int, dict[str, int]] = {}
        for run_id, level, n in self.conn.execute(
                f"SELECT run_id, level, COUNT(*) FROM events WHERE kind = ? AND run_id IN ({marks}) "
                "GROUP BY run_id, level", [kind, *ids]):
            out.setdefault(run_id, {})[level] = n
        return out

    # ---- samples -----------------------------------------------------------------------
    def data_version(self) -> int:
        """SQLite's ``data_version``: changes whenever another connection commits (unchanged:
        nothing new to read)."""
        return self.conn.execute("PRAGMA data_version").fetchone()[0]

    def series_thinned(self, run_id: int, names: Iterable[str], t0: float, t1: float, points: int,
                       source: str | None = None, how: Mapping[str, str] | None = None) -> list[tuple[str, Series]]:
        """Series ``names`` of ``run_id`` over ``[t0, t1]`` reduced to ~``points`` buckets:
        ``[(name, (labels, ts, values))]``. ``how`` maps a name to its reduction (default
        "last"; "mean", "max", "or" for gauges and bitmasks). ``points=1`` returns just the
        first sample at or after ``t0`` and the last at or before ``t1``. See ``thinned``."""
        return thinned.series_thinned(self.conn, run_id, names, t0, t1, points, source, how)

    def sources(self, run_id: int) -> list[str]:
        return [r[0] for r in self.conn.execute("SELECT source FROM frames WHERE run_id = ? ORDER BY source", (run_id,))]

    def series_names(self, run_id: int, source: str | None = None) -> list[str]:
        sql = "SELECT DISTINCT s.name FROM series s JOIN frames f ON f.id = s.frame_id WHERE f.run_id = ?"
        args: list[Any] = [run_id]
        if source is not None:
            sql += " AND f.source = ?"
            args.append(source)
        return sorted(r[0] for r in self.conn.execute(sql, args))

    def series(self, run_id: int, name: str, labels: dict[str, str] | None = None,
               t0: float | None = None, t1: float | None = None,
               source: str | None = None) -> list[SeriesData]:
        """Every stored series named ``name`` of run ``run_id`` whose labels include ``labels``,
        restricted to ``t0 <= ts <= t1``."""
        return self.series_many(run_id, [name], labels, t0, t1, source)

    def series_many(self, run_id: int, names: list[str], labels: dict[str, str] | None = None,
                    t0: float | None = None, t1: float | None = None,
                    source: str | None = None) -> list[SeriesData]:
        lo = -math.inf if t0 is None else t0
        hi = math.inf if t1 is None else t1
        sql = ("SELECT s.id, s.frame_id, s.name, s.labels, f.source FROM series s JOIN frames f ON f.id = s.frame_id"
               f" WHERE f.run_id = ? AND s.name IN ({','.join('?' * len(names))})")
        args: list[Any] = [run_id, *names]
        if source is not None:
            sql += " AND f.source = ?"
            args.append(source)
        by_frame: dict[int, dict[int, SeriesData]] = {}
        known = self._labels
        for sid, fid, sname, lj, src in self.conn.execute(sql, args):
            lab = known.get(sid)
            if lab is None:
                lab = known[sid] = json.loads(lj)
            lab = dict(lab)  # the caller's own copy
            if labels and any(lab.get(k) != v for k, v in labels.items()):
                continue
            by_frame.setdefault(fid, {})[sid] = SeriesData(sname, lab, src)
        for fid, wanted in by_frame.items():
            self._fill_frame(fid, wanted, lo, hi)
        return [sd for wanted in by_frame.values() for sd in wanted.values()]

    def _fill_frame(self, fid: int, wanted: dict[int, SeriesData], lo: float, hi: float) -> None:
        ids = set(wanted)
        chunks = self.conn.execute(
            "SELECT ts, data FROM chunks WHERE frame_id = ? AND t1 >= ? AND t0 <= ? ORDER BY t0",
            (fid, lo if lo != -math.inf else -1e18, hi if hi != math.inf else 1e18))
        for ts_blob, data in chunks:
            chunk = codec.decode_chunk(ts_blob, data, ids)
            cts = chunk.ts
            i0, i1 = bisect_left(cts, lo), bisect_right(cts, hi)
            for sid, (idx, vals) in chunk.columns.items():
                sd = wanted[sid]
                if len(idx) == len(cts):  # present at every tick: plain slices
                    sd.ts.extend(cts[i0:i1])
                    sd.values.extend(vals[i0:i1])
                else:
                    j0, j1 = bisect_left(idx, i0), bisect_left(idx, i1)
                    sd.ts.extend([cts[k] for k in idx[j0:j1]])
                    sd.values.extend(vals[j0:j1])
        recent = self.conn.execute(
            "SELECT ts, payload FROM recent WHERE frame_id = ? AND ts >= ? AND ts <= ? ORDER BY ts",
            (fid, lo if lo != -math.inf else -1e18, hi if hi != math.inf else 1e18))
        last = {sid: (sd.ts[-1] if sd.ts else -math.inf) for sid, sd in wanted.items()}
        for t, payload in recent:
            tick = codec.decode_tick(payload)
            for sid in ids & tick.keys():
                if t > last[sid]:  # a chunk sealed between our two reads may repeat ticks
                    wanted[sid].ts.append(t)
                    wanted[sid].values.append(tick[sid])

    def latest(self, run_id: int, source: str) -> tuple[float, dict[tuple[str, str], float]] | None:
        """The newest tick of a frame: (ts, {(name, labels_json): value})."""
        row = self.conn.execute(
            "SELECT f.id FROM frames f WHERE f.run_id = ? AND f.source = ?", (run_id, source)).fetchone()
        if not row:
            return None
        fid = row[0]
        names = {sid: (n, lj) for sid, n, lj in self.conn.execute(
            "SELECT id, name, labels FROM series WHERE frame_id = ?", (fid,))}
        tick = self.conn.execute(
            "SELECT ts, payload FROM recent WHERE frame_id = ? ORDER BY ts DESC LIMIT 1", (fid,)).fetchone()
        if tick:
            values = codec.decode_tick(tick[1])
            return tick[0], {names[s]: v for s, v in values.items() if s in names}
        chunk = self.conn.execute(
            "SELECT ts, data FROM chunks WHERE frame_id = ? ORDER BY t0 DESC LIMIT 1", (fid,)).fetchone()
        if not chunk:
            return None
        dec = codec.decode_chunk(chunk[0], chunk[1])
        last_i = len(dec.ts) - 1
        out = {names[s]: vals[-1] for s, (idx, vals) in dec.columns.items() if idx and idx[-1] == last_i and s in names}
        return dec.ts[-1], out

    def sample_counts(self, run_id: int) -> dict[str, int]:
        """Stored ticks per source (sealed + recent)."""
        counts: dict[str, int] = {}
        for src, n in self.conn.execute(
                "SELECT f.source, COALESCE(SUM(c.n), 0) FROM frames f LEFT JOIN chunks c ON c.frame_id = f.id"
                " WHERE f.run_id = ? GROUP BY f.id", (run_id,)):
            counts[src] = n
        for src, n in self.conn.execute(
                "SELECT f.source, COUNT(*) FROM recent r JOIN frames f ON f.id = r.frame_id"
                " WHERE f.run_id = ? GROUP BY f.id", (run_id,)):
            counts[src] = counts.get(src, 0) + n
        return counts

    def time_range(self, run_id: int) -> tuple[float, float] | None:
        """Where the run's samples lie; an engine's process-tree frames (source ``proc``,
        sampled beside the scrapes) do not widen its window."""
        row = self.conn.execute(
            "SELECT MIN(t0), MAX(t1) FROM (SELECT c.t0 AS t0, c.t1 AS t1 FROM chunks c JOIN frames f ON f.id = c.frame_id"
            " WHERE f.run_id = ? AND f.source != 'proc' UNION ALL SELECT r.ts, r.ts FROM recent r"
            " JOIN frames f ON f.id = r.frame_id WHERE f.run_id = ? AND f.source != 'proc')",
            (run_id, run_id)).fetchone()
        if not row or row[0] is None:
            return None
        # journals written before ticks were kept to the ms hold a chunk's t0/t1 unrounded while
        # its timestamps read back rounded: widen to whole ms, or the first tick falls outside
        return math.floor(row[0] * 1000) / 1000.0, math.ceil(row[1] * 1000) / 1000.0

    def requests(self, run_id: int) -> list[dict[str, Any]]:
        rows = list(self.db["requests"].rows_where("run_id = ?", [run_id], order_by="idx"))
        for r in rows:
            blob = r.get("chunk_times")
            if blob:
                a = array("f")
                a.frombytes(blob)
                r["chunk_times"] = a.tolist()
        return rows
