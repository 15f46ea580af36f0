"""The service's writer: the only code that writes journal.db.

Frames and events are buffered and written in one transaction per tick (``flush``), so a
crash loses at most one tick. Each frame's newest ticks sit in ``recent`` (one small row
per tick) until a frame has ``seal_span_s`` seconds of them; then they are sealed into one
compressed chunk (``iejtui.store.codec``) and deleted from ``recent`` in the same
transaction. On start, ticks left in ``recent`` by a crash are sealed.
"""

from __future__ import annotations

import json
import sqlite3
import time
from array import array
from pathlib import Path
from typing import Any, Iterable

import sqlite_utils

from collectors.records import Event, Frame
from iejtui.errors import UserError
from iejtui.redact import redact_argv, redact_env, redact_obj, redact_text
from iejtui.store import codec, deletion
from iejtui.store.db import labels_json, open_writer_connection
from iejtui.store.tags import merge_tags
from iejtui.store.vocab import LIVE

SEAL_SPAN_S = 300.0
MAX_PENDING = 20_000  # queued rows kept while journal.db cannot be written (disk full)
# Series stored at 1e-3 resolution instead of 1e-6: GPU activity percentages and rates.
COARSE_PREFIXES = ("gpu.",)

RUN_JSON_FIELDS = {"argv", "env", "versions", "gpus", "facts", "summary", "tags"}


# Outside text a run carries: masked again here, the last door before journal.db, whatever
# the caller did (an attach URL's password, a token in a crash reason or a log tail).
MASKED_RUN_FIELDS = {"url", "reason", "log_tail", "facts", "summary", "model", "cwd"}


def _mask_run_field(k: str, v: Any) -> Any:
    if v is None:
        return v
    if k == "argv" and isinstance(v, list):
        return redact_argv([str(a) for a in v])[0]
    if k == "env" and isinstance(v, dict):
        return redact_env({str(a): str(b) for a, b in v.items()})[0]
    return redact_obj(v) if k in MASKED_RUN_FIELDS else v


def _encode_run_fields(fields: dict[str, Any]) -> dict[str, Any]:
    fields = {k: _mask_run_field(k, v) for k, v in fields.items()}
    return {k: (json.dumps(v) if k in RUN_JSON_FIELDS and v is not None else v) for k, v in fields.items()}


class Writer:
    def __init__(self, path: Path, seal_span_s: float = SEAL_SPAN_S):
        self.path = path
        self.conn, self.journal_mode = open_writer_connection(path)
        self.db = sqlite_utils.Database(self.conn)
        self.seal_span_s = seal_span_s
        self._frames: dict[tuple[int, str], int] = {}
        self._series: dict[tuple[int, str, tuple], int] = {}
        self._coarse: dict[int, bool] = {}
        self._span: dict[int, tuple[float, float]] = {}  # frame → (first, last) tick in recent
        self._pending_ticks: list[tuple[int, float, bytes]] = []
        self._pending_events: list[dict[str, Any]] = []
        self._pending_requests: list[dict[str, Any]] = []
        try:
            self._load_caches()
            self.seal(force=True)
        except sqlite3.DatabaseError as exc:
            # The header opened but a page did not: say so at start, not as a traceback in the log.
            self.conn.close()
            from iejtui.store import faults
            if faults.is_corrupt(exc):
                raise UserError(faults.damaged(path, exc)) from None
            raise UserError(f"cannot open {path} for writing: {faults.write_error(exc, path)}") from None

    # ---- runs (small immediate transactions) -------------------------------------------
    def create_run(self, **fields: Any) -> int:
        fields.setdefault("started_at", time.time())
        fields.setdefault("tags", [])
        with self.conn:
            floor = deletion.id_floor(self.conn)  # ids of deleted runs are never given again
            if floor is not None and "id" not in fields:
                top = self.conn.execute("SELECT MAX(id) FROM runs").fetchone()[0] or 0
                fields["id"] = max(floor, top) + 1
            return self.db["runs"].insert(_encode_run_fields(fields)).last_pk

    def update_run(self, run_id: int, **fields: Any) -> None:
        with self.conn:
            self.db["runs"].update(run_id, _encode_run_fields(fields))

    def run_row(self, run_id: int) -> dict[str, Any]:
        return self.db["runs"].get(run_id)

    # ---- domain reads and updates the service makes through its connection -------------
    def live_runs(self) -> list[dict[str, Any]]:
        """Runs with nothing final recorded (raw rows): what a restarted service re-adopts."""
        marks = ",".join("?" * len(LIVE))
        return list(self.db["runs"].rows_where(f"status IN ({marks})", [str(s) for s in LIVE]))

    def latest_runs(self, kind: str, name: str | None = None, limit: int = 1) -> list[dict[str, Any]]:
        """The newest runs of ``kind`` (named ``name``), newest first (raw rows)."""
        where, args = ("kind = ? AND name = ?", [str(kind), name]) if name else ("kind = ?", [str(kind)])
        return list(self.db["runs"].rows_where(where, args, order_by="id desc", limit=limit))

    def first_request_error(self, run_id: int) -> str | None:
        """The error of a benchmark's first failed request (None: none failed, or no text)."""
        row = self.conn.execute("SELECT error FROM requests WHERE run_id = ? AND ok = 0 LIMIT 1", (run_id,)).fetchone()
        return row[0] if row else None

    def apply_tags(self, run_id: int, add: list[str], remove: list[str], day: int | None) -> dict[str, Any]:
        """Update one run's tags (and day): ``{"id", "tags", "day"}``; UserError for no such run."""
        rows = list(self.db["runs"].rows_where("id = ?", [run_id]))
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
        self.update_run(run_id, **fields)
        return {"id": run_id, "tags": tags, "day": day if day is not None else rows[0].get("day")}

    def delete_runs(self, ids: list[int], with_children: bool = False, force: bool = False) -> dict[str, Any]:
        """Delete runs and everything stored under them in one transaction
        (``iejtui.store.deletion``: the rules and refusals); UserError when refused.
        Returns ``{"deleted": [{"id", "kind", "name"}...], "taken_along": [...], "ticks",
        "requests", "events"}``."""
        plan = deletion.plan_deletion(deletion.read_links(self.conn), ids, with_children, force)
        self.flush()  # what is buffered for them is counted and goes with them
        counts = deletion.count_rows(self.conn, plan.ids)
        with self.conn:
            gone = set(deletion.delete_rows(self.conn, plan.ids))
        self._frames = {k: v for k, v in self._frames.items() if v not in gone}
        for sid in [v for k, v in self._series.items() if k[0] in gone]:
            self._coarse.pop(sid, None)
        self._series = {k: v for k, v in self._series.items() if k[0] not in gone}
        for fid in gone:
            self._span.pop(fid, None)
        return {"deleted": [{"id": r.id, "kind": r.kind, "name": r.name} for r in plan.runs],
                "taken_along": list(plan.taken_along), **counts}

    # ---- buffered samples and events ---------------------------------------------------
    def _frame_id(self, run_id: int, source: str) -> int:
        key = (run_id, source)
        fid = self._frames.get(key)
        if fid is None:
            cur = self.conn.execute("INSERT OR IGNORE INTO frames (run_id, source) VALUES (?, ?)", key)
            fid = cur.lastrowid if cur.rowcount else self.conn.execute(
                "SELECT id FROM frames WHERE run_id = ? AND source = ?", key).fetchone()[0]
            self._frames[key] = fid
        return fid

    def _series_id(self, frame_id: int, name: str, labels: tuple) -> int:
        key = (frame_id, name, labels)
        sid = self._series.get(key)
        if sid is None:
            lj = labels_json(labels)
            cur = self.conn.execute(
                "INSERT OR IGNORE INTO series (frame_id, name, labels) VALUES (?, ?, ?)", (frame_id, name, lj))
            sid = cur.lastrowid if cur.rowcount else self.conn.execute(
                "SELECT id FROM series WHERE frame_id = ? AND name = ? AND labels = ?",
                (frame_id, name, lj)).fetchone()[0]
            self._series[key] = sid
            self._coarse[sid] = name.startswith(COARSE_PREFIXES)
        return sid

    def _coarse_ids(self, ids) -> set[int]:
        missing = [sid for sid in ids if sid not in self._coarse]
        for i in range(0, len(missing), 500):
            part = missing[i:i + 500]
            for sid, name in self.conn.execute(
                    f"SELECT id, name FROM series WHERE id IN ({','.join('?' * len(part))})", part):
                self._coarse[sid] = name.startswith(COARSE_PREFIXES)
        return {sid for sid in ids if self._coarse.get(sid)}

    def add_frames(self, run_id: int, frames: Iterable[Frame]) -> None:
        """Queue frames for the next flush (series ids are assigned now, in the writer's thread)."""
        for frame in frames:
            if not frame.samples:
                continue
            fid = self._frame_id(run_id, frame.source)
            values = {self._series_id(fid, s.name, s.labels): float(s.value) for s in frame.samples}
            # a tick's time is kept to the millisecond everywhere (``recent``, a chunk's t0/t1,
            # its timestamps), so a run's window starts exactly at its first tick as read back
            self._pending_ticks.append((fid, codec.to_ms_precision(frame.ts), codec.encode_tick(values)))

    def add_event(self, run_id: int | None, event: Event) -> None:
        self._pending_events.append({
            "run_id": run_id, "ts": event.ts, "kind": event.kind, "level": event.level,
            "message": redact_text(event.message) if event.message else event.message,
            "data": json.dumps(redact_obj(event.data)) if event.data else None,
        })

    def add_request(self, run_id: int, row: dict[str, Any]) -> None:
        """One benchmark request; ``chunk_times`` may be a list of float offsets."""
        row = dict(row, run_id=run_id)
        if row.get("error"):
            row["error"] = redact_text(str(row["error"]))
        chunks = row.get("chunk_times")
        if isinstance(chunks, list):
            row["chunk_times"] = array("f", chunks).tobytes()
        self._pending_requests.append(row)

    def flush(self) -> int:
        """Write everything queued in one transaction; seal frames that are due."""
        ticks, events, reqs = self._pending_ticks, self._pending_events, self._pending_requests
        self._pending_ticks, self._pending_events, self._pending_requests = [], [], []
        if ticks or events or reqs:
            try:
                self._write(ticks, events, reqs)
            except sqlite3.Error:
                # Disk full or I/O error: keep the batch (bounded) for the next flush.
                self._pending_ticks = (ticks + self._pending_ticks)[-MAX_PENDING:]
                self._pending_events = (events + self._pending_events)[-MAX_PENDING:]
                self._pending_requests = (reqs + self._pending_requests)[-MAX_PENDING:]
                raise
        self.seal()
        return len(ticks) + len(events) + len(reqs)

    def _write(self, ticks, events, reqs) -> None:
        with self.conn:
            if ticks:
                self.conn.executemany(
                    "INSERT OR REPLACE INTO recent (frame_id, ts, payload) VALUES (?, ?, ?)", ticks)
            if events:
                self.db["events"].insert_all(events)
            if reqs:
                self.db["requests"].insert_all(reqs, replace=True)
        for fid, ts, _ in ticks:  # only once committed
            first, last = self._span.get(fid, (ts, ts))
            self._span[fid] = (min(first, ts), max(last, ts))

    # ---- sealing -----------------------------------------------------------------------
    def seal(self, force: bool = False, run_id: int | None = None) -> int:
        """Seal frames whose recent ticks span ``seal_span_s``; every frame (of ``run_id``) when forced."""
        if force:
            sql = "SELECT DISTINCT r.frame_id FROM recent r JOIN frames f ON f.id = r.frame_id"
            args: tuple = ()
            if run_id is not None:
                sql, args = sql + " WHERE f.run_id = ?", (run_id,)
            due = [row[0] for row in self.conn.execute(sql, args)]
        else:
            due = [fid for fid, (first, last) in self._span.items() if last - first >= self.seal_span_s]
        for fid in due:
            self._seal_frame(fid)
        return len(due)

    def _seal_frame(self, fid: int) -> None:
        rows = self.conn.execute(
            "SELECT ts, payload FROM recent WHERE frame_id = ? ORDER BY ts", (fid,)).fetchall()
        if not rows:
            self._span.pop(fid, None)
            return
        ts = [r[0] for r in rows]
        ticks = [codec.decode_tick(r[1]) for r in rows]
        ids = {sid for tick in ticks for sid in tick}
        ts_blob, data = codec.encode_chunk(ts, ticks, self._coarse_ids(ids))
        with self.conn:
            self.conn.execute(
                "INSERT OR REPLACE INTO chunks (frame_id, t0, t1, n, ts, data) VALUES (?, ?, ?, ?, ?, ?)",
                (fid, ts[0], ts[-1], len(ts), ts_blob, data))
            self.conn.execute("DELETE FROM recent WHERE frame_id = ? AND ts <= ?", (fid, ts[-1]))
        self._span.pop(fid, None)

    def _load_caches(self) -> None:
        for fid, rid, source in self.conn.execute("SELECT id, run_id, source FROM frames"):
            self._frames[(rid, source)] = fid

    def close(self) -> None:
        try:
            self.flush()
            self.seal(force=True)
            self.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        except sqlite3.Error:
            pass
        self.conn.close()
