"""Query-time downsampling of long windows (a 24 h run at 1 Hz opens in well under 1 s).

``Reader.series_many`` hands back every sample through a Python loop: ~86,400 per series
per day, far too many for a plot ~200 columns wide. ``series_thinned`` (``Reader.series_thinned``)
reads the same sealed chunks and unsealed ticks but keeps, per series, one value per time
bucket of the window (the last sample for counters and histogram buckets, or the bucket's
mean / max / bitwise or for gauges), plus the first sample at or after ``t0`` and the last
at or before ``t1``. So window deltas of counters and histograms stay exact (the ends are
real samples) and quantiles between bucket edges are exact deltas; only resets *inside* a
bucket are lost (an engine run is one process, so its counters do not reset).

It lives in the store because it reads the store's tables with the codec's column layout
(``codec._read_header``, ``_unpack_ints``): nothing outside ``iejtui/store/`` knows either.
"""

from __future__ import annotations

import json
import math
import sqlite3
import struct
from bisect import bisect_left, bisect_right
from collections.abc import Iterable, Mapping
from itertools import accumulate

from iejtui.store import codec

#: One series as the derive functions take it: ``(labels, ts, values)``.
Series = tuple[dict[str, str], list[float], list[float]]

HOWS = ("last", "mean", "max", "or")


def _reduce(how: str, vals: list, scale: float) -> float:
    """Reduce raw column values (integers in ``1/scale`` units, or floats with scale 1)."""
    if how == "mean":
        return math.fsum(vals) / len(vals) / scale
    if how == "max":
        return max(vals) / scale
    if how == "or":
        acc = 0
        for v in vals:
            acc |= int(v / scale)
        return float(acc)
    return vals[-1] / scale


class _Acc:
    """Per-series picked points, fed in time order (chunk by chunk).

    ``pts`` rows are ``[bucket, ts, value, n]``; a bucket continued by the next chunk is
    merged into its row (``value`` holds the running sum for "mean").
    """

    __slots__ = ("labels", "how", "pts")

    def __init__(self, labels: dict[str, str], how: str):
        self.labels = labels
        self.how = how
        self.pts: list[list] = []

    def add(self, k: int, t: float, value: float, n: int) -> None:
        how = self.how
        if self.pts and self.pts[-1][0] == k:
            row = self.pts[-1]
            row[1] = t
            if how == "mean":
                row[2] += value * n
                row[3] += n
            elif how == "last":
                row[2] = value
            elif how == "max":
                row[2] = max(row[2], value)
            else:
                row[2] = float(int(row[2]) | int(value))
            return
        self.pts.append([k, t, value * n if how == "mean" else value, n])

    def series(self) -> tuple[list[float], list[float]]:
        ts = [p[1] for p in self.pts]
        if self.how == "mean":
            return ts, [p[2] / p[3] for p in self.pts]
        return ts, [p[2] for p in self.pts]


def _pick(acc: _Acc, ts: list[float], vals: list, scale: float, edges: list[float], t0: float,
          t1: float) -> None:
    """Add one point per bucket (and the first sample at or after ``t0``) from aligned data."""
    lo = bisect_left(ts, t0)
    hi = bisect_right(ts, t1)
    if lo >= hi:
        return
    if not acc.pts:  # the first sample >= t0, exactly, as a point of its own
        acc.add(-1, ts[lo], vals[lo] / scale, 1)
        lo += 1
    i = lo
    last_edge = len(edges) - 1
    how = acc.how
    while i < hi:
        k = min(bisect_right(edges, ts[i]) - 1, last_edge - 1)
        end = bisect_left(ts, edges[k + 1], i, hi) if k + 1 < last_edge else hi
        end = max(end, i + 1)
        if how == "last":
            acc.add(k, ts[end - 1], vals[end - 1] / scale, 1)
        else:
            acc.add(k, ts[end - 1], _reduce(how, vals[i:end], scale), end - i)
        i = end


_SCALES = {codec.MODE_INT: 1.0, codec.MODE_SCALED: float(codec.SCALE)}
if hasattr(codec, "MODE_MILLI"):
    _SCALES[codec.MODE_MILLI] = 1000.0


def _raw_column(mode: int, width: int, payload: bytes, n: int) -> tuple[list, float]:
    """A column's values as C-built lists, undivided: ``(values, scale)``.

    Integer modes stay integers (summed deltas, ``itertools.accumulate`` in C) so only the
    picked values are ever divided; unknown modes fall back to the codec's own decoder.
    """
    if mode == codec.MODE_CONST:
        return [struct.unpack("<d", payload)[0]] * n, 1.0
    if mode in _SCALES:
        return list(accumulate(codec._unpack_ints(width, codec._inflate(payload)))), _SCALES[mode]
    return codec._decode_column(mode, width, payload, n), 1.0


def _needed(starts: list[float], edges: list[float], all_last: bool) -> list[bool]:
    """Which chunks (by start time, ascending) hold a picked sample. With "last" reductions
    only: the first chunk, the last one, and each chunk where a bucket ends."""
    n = len(starts)
    if not all_last or n <= 2:
        return [True] * n
    need = [False] * n
    need[0] = need[-1] = True
    for e in edges[1:-1]:  # bucket k ends at e: its last sample is in the chunk starting before e
        i = bisect_left(starts, e) - 1
        if 0 <= i < n:
            need[i] = True
    return need


def series_thinned(conn: sqlite3.Connection, run_id: int, names: Iterable[str], t0: float, t1: float,
                   points: int, source: str | None = None,
                   how: Mapping[str, str] | None = None) -> list[tuple[str, Series]]:
    """Series ``names`` of ``run_id`` over ``[t0, t1]`` reduced to ~``points`` buckets.

    Returns ``[(name, (labels, ts, values))]``. ``how`` maps a name to its reduction
    (default "last"; "mean", "max", "or" for gauges and bitmasks). ``points=1`` returns
    just the first sample at or after ``t0`` and the last at or before ``t1``.
    """
    names = sorted(set(names))
    how = dict(how or {})
    if not names:
        return []
    width = (t1 - t0) / max(points, 1)
    edges = [t0 + k * width for k in range(points + 1)]
    sql = ("SELECT s.id, s.frame_id, s.name, s.labels FROM series s JOIN frames f ON f.id = s.frame_id"
           f" WHERE f.run_id = ? AND s.name IN ({','.join('?' * len(names))})")
    args: list = [run_id, *names]
    if source is not None:
        sql += " AND f.source = ?"
        args.append(source)
    frames: dict[int, dict[int, tuple[str, _Acc]]] = {}
    for sid, fid, name, lj in conn.execute(sql, args):
        frames.setdefault(fid, {})[sid] = (name, _Acc(json.loads(lj), how.get(name, "last")))
    snapshot = not conn.in_transaction
    if snapshot:  # one consistent view: no tick moves from `recent` into a chunk mid-read
        conn.execute("BEGIN")
    try:
        _read_frames(conn, frames, edges, t0, t1)
    finally:
        if snapshot:
            conn.execute("COMMIT")
    return [(name, (acc.labels, *acc.series())) for wanted in frames.values() for name, acc in wanted.values()]


def _read_frames(conn, frames: dict[int, dict[int, tuple[str, _Acc]]], edges: list[float], t0: float,
                 t1: float) -> None:
    for fid, wanted in frames.items():
        ids = set(wanted)
        all_last = all(acc.how == "last" for _, acc in wanted.values())
        starts = [r[0] for r in conn.execute(
            "SELECT t0 FROM chunks WHERE frame_id = ? AND t1 >= ? AND t0 <= ? ORDER BY t0", (fid, t0, t1))]
        last_sealed = -1e18
        for start, need in zip(starts, _needed(starts, edges, all_last)):
            if not need:
                continue
            ts_blob, data, c1 = conn.execute(
                "SELECT ts, data, t1 FROM chunks WHERE frame_id = ? AND t0 = ?", (fid, start)).fetchone()
            last_sealed = max(last_sealed, c1)
            ts = [t / 1000.0 for t in codec.decode_timestamps(ts_blob)]
            n, cols = codec._read_header(data)
            for sid, mode, cwidth, has_bitmap, offset, length in cols:
                if sid not in ids:
                    continue
                payload = data[offset:offset + length]
                tcol = ts
                if has_bitmap:
                    nb = (n + 7) // 8
                    bitmap, payload = payload[:nb], payload[nb:]
                    tcol = [ts[i] for i in range(n) if bitmap[i >> 3] >> (i & 7) & 1]
                vals, scale = _raw_column(mode, cwidth, payload, len(tcol))
                _pick(wanted[sid][1], tcol, vals, scale, edges, t0, t1)
        if starts:
            last_sealed = max(last_sealed, conn.execute(
                "SELECT MAX(t1) FROM chunks WHERE frame_id = ?", (fid,)).fetchone()[0] or -1e18)
        rows = conn.execute(
            "SELECT ts, payload FROM recent WHERE frame_id = ? AND ts > ? AND ts >= ? AND ts <= ? ORDER BY ts",
            (fid, last_sealed, t0, t1)).fetchall()
        if rows:
            cols_r: dict[int, tuple[list[float], list[float]]] = {}
            for t, payload in rows:
                for sid, v in codec.decode_tick(payload).items():
                    if sid in ids:
                        c = cols_r.setdefault(sid, ([], []))
                        c[0].append(t)
                        c[1].append(v)
            for sid, (ts_r, vs_r) in cols_r.items():
                _pick(wanted[sid][1], ts_r, vs_r, 1.0, edges, t0, t1)
