"""Compact columnar encoding of sealed sample chunks (pure functions, no SQLite).

A *frame* is a group of series sampled at the same instants (one scrape of one engine,
one tier of one GPU). The writer keeps a frame's newest ticks in a small ``recent``
table and, every few minutes of frame time, seals them into one chunk row:

* the timestamps (integer milliseconds) as delta-of-delta,
* one column per series: values as deltas of integers, where the integers are the values
  themselves when every value in the column is integral, or the values in micro-units
  (``round(v * 1e6)``) otherwise; non-finite or huge values fall back to raw float64,
* columns that never change in the chunk store just their value,
* a presence bitmap only where a series was missing at some ticks.

Deltas are zig-zag mapped, packed at the narrowest byte width that holds them and raw
deflated per column, so one series can be decoded without touching the others. Counters
and histogram buckets that move by small steps cost about a byte per sample, and series
that do not move cost nothing beyond the header.

Resolution: values that are not integral are kept to 1e-6 absolute (sub-microsecond for
latency sums in seconds, 1e-4 % for fractions); integral values are exact. Series the
writer declares coarse (GPU percentages and MiB/s, whose sensors are not that precise)
are kept to 1e-3.
"""

from __future__ import annotations

import math
import struct
import zlib
from array import array
from dataclasses import dataclass
from itertools import accumulate

FORMAT_VERSION = 1
SCALE = 1_000_000
_INT_LIMIT = 2**53
_SCALED_LIMIT = 9.0e12

MODE_CONST = 0
MODE_INT = 1
MODE_SCALED = 2
MODE_RAW = 3
MODE_MILLI = 4  # like MODE_SCALED at 1e-3 resolution, for series declared coarse (GPU %)

_WIDTH_CODES = {1: "b", 2: "h", 4: "i", 8: "q"}
_HEADER = struct.Struct("<BII")  # format version, number of ticks, number of columns
_COLUMN = struct.Struct("<IBBBI")  # series id, mode, width, has_bitmap, payload length


def _deflate(data: bytes) -> bytes:
    c = zlib.compressobj(6, zlib.DEFLATED, -15)
    return c.compress(data) + c.flush()


def _inflate(data: bytes) -> bytes:
    return zlib.decompress(data, -15)


def _pack_ints(ints: list[int]) -> tuple[int, bytes]:
    """Pack signed integers at the narrowest width holding them all."""
    lo = min(ints, default=0)
    hi = max(ints, default=0)
    for width in (1, 2, 4, 8):
        bound = 1 << (8 * width - 1)
        if -bound <= lo and hi < bound:
            return width, array(_WIDTH_CODES[width], ints).tobytes()
    raise OverflowError("integer does not fit in 64 bits")


def _unpack_ints(width: int, data: bytes) -> list[int]:
    a = array(_WIDTH_CODES[width])
    a.frombytes(data)
    return a.tolist()


def _deltas(ints: list[int]) -> list[int]:
    prev = 0
    out = []
    for v in ints:
        out.append(v - prev)
        prev = v
    return out


def _column_mode(values: list[float], coarse: bool = False) -> int:
    if all(v == values[0] for v in values) and not math.isnan(values[0]):
        return MODE_CONST
    if not all(math.isfinite(v) for v in values):
        return MODE_RAW
    if all(v.is_integer() and abs(v) < _INT_LIMIT for v in values):
        return MODE_INT
    if all(abs(v) < _SCALED_LIMIT for v in values):
        return MODE_MILLI if coarse else MODE_SCALED
    return MODE_RAW


def encode_timestamps(ts_ms: list[int]) -> bytes:
    """Delta-of-delta encoding of integer millisecond timestamps."""
    d = _deltas(ts_ms)
    dod = [d[0]] + [d[i] - d[i - 1] for i in range(1, len(d))] if d else []
    width, raw = _pack_ints(dod)
    return bytes([width]) + _deflate(raw)


def decode_timestamps(blob: bytes) -> list[int]:
    dod = _unpack_ints(blob[0], _inflate(blob[1:]))
    return list(accumulate(accumulate(dod)))


def _encode_column(values: list[float], coarse: bool = False) -> tuple[int, int, bytes]:
    mode = _column_mode(values, coarse)
    if mode == MODE_CONST:
        return mode, 0, struct.pack("<d", values[0])
    if mode == MODE_RAW:
        return mode, 8, _deflate(array("d", values).tobytes())
    scale = {MODE_INT: 1, MODE_SCALED: SCALE, MODE_MILLI: 1000}[mode]
    ints = [int(v) for v in values] if mode == MODE_INT else [round(v * scale) for v in values]
    width, raw = _pack_ints(_deltas(ints))
    return mode, width, _deflate(raw)


def _decode_column(mode: int, width: int, payload: bytes, n: int) -> list[float]:
    if mode == MODE_CONST:
        return [struct.unpack("<d", payload)[0]] * n
    if mode == MODE_RAW:
        a = array("d")
        a.frombytes(_inflate(payload))
        return a.tolist()
    ints = accumulate(_unpack_ints(width, _inflate(payload)))
    if mode == MODE_INT:
        return list(map(float, ints))
    scale = SCALE if mode == MODE_SCALED else 1000
    return [v / scale for v in ints]


@dataclass(slots=True)
class Chunk:
    """A decoded chunk: the frame's timestamps and, per series id, (tick indices, values)."""

    ts: list[float]
    columns: dict[int, tuple[list[int], list[float]]]


def encode_chunk(ts: list[float], rows: list[dict[int, float]],
                 coarse: set[int] | frozenset = frozenset()) -> tuple[bytes, bytes]:
    """Encode ticks of one frame. ``rows[i]`` maps series id → value at ``ts[i]``;
    series in ``coarse`` keep fractional values to 1e-3 instead of 1e-6.

    Returns ``(ts_blob, data_blob)``.
    """
    if len(ts) != len(rows) or not ts:
        raise ValueError("encode_chunk needs one row per timestamp and at least one")
    n = len(ts)
    ts_blob = encode_timestamps([round(t * 1000) for t in ts])
    ids = sorted({sid for row in rows for sid in row})
    header = [_HEADER.pack(FORMAT_VERSION, n, len(ids))]
    payloads = []
    for sid in ids:
        present = [sid in row for row in rows]
        values = [row[sid] for row in rows if sid in row]
        has_bitmap = not all(present)
        mode, width, payload = _encode_column(values, sid in coarse)
        if has_bitmap:
            bitmap = bytearray((n + 7) // 8)
            for i, p in enumerate(present):
                if p:
                    bitmap[i >> 3] |= 1 << (i & 7)
            payload = bytes(bitmap) + payload
        header.append(_COLUMN.pack(sid, mode, width, int(has_bitmap), len(payload)))
        payloads.append(payload)
    head = _deflate(b"".join(header))
    return ts_blob, struct.pack("<I", len(head)) + head + b"".join(payloads)


def _read_header(data: bytes) -> tuple[int, list[tuple[int, int, int, int, int, int]]]:
    (hlen,) = struct.unpack_from("<I", data, 0)
    head = _inflate(data[4 : 4 + hlen])
    version, n, ncols = _HEADER.unpack_from(head, 0)
    if version != FORMAT_VERSION:
        raise ValueError(f"chunk format {version} is not supported (this iejtui reads {FORMAT_VERSION})")
    cols = []
    offset = 4 + hlen
    pos = _HEADER.size
    for _ in range(ncols):
        sid, mode, width, has_bitmap, length = _COLUMN.unpack_from(head, pos)
        pos += _COLUMN.size
        cols.append((sid, mode, width, has_bitmap, offset, length))
        offset += length
    return n, cols


def to_ms_precision(t: float) -> float:
    """``t`` (Unix seconds) as a chunk gives it back: whole milliseconds (``decode_chunk``)."""
    return round(t * 1000) / 1000.0


def decode_chunk(ts_blob: bytes, data: bytes, wanted: set[int] | None = None) -> Chunk:
    """Decode a chunk, only the series in ``wanted`` when given."""
    ts = [t / 1000.0 for t in decode_timestamps(ts_blob)]  # ms → s
    n, cols = _read_header(data)
    out: dict[int, tuple[list[int], list[float]]] = {}
    for sid, mode, width, has_bitmap, offset, length in cols:
        if wanted is not None and sid not in wanted:
            continue
        payload = data[offset : offset + length]
        if has_bitmap:
            nb = (n + 7) // 8
            bitmap, payload = payload[:nb], payload[nb:]
            idx = [i for i in range(n) if bitmap[i >> 3] >> (i & 7) & 1]
        else:
            idx = list(range(n))
        out[sid] = (idx, _decode_column(mode, width, payload, len(idx)))
    return Chunk(ts=ts, columns=out)


_TICK = struct.Struct("<Id")


def encode_tick(values: dict[int, float]) -> bytes:
    """One tick of a frame for the ``recent`` table: (series id, float64) pairs, deflated
    at the fastest level (a vLLM scrape: 4.0 KB -> 0.9 KB for ~0.15 ms)."""
    return zlib.compress(b"".join(_TICK.pack(sid, v) for sid, v in values.items()), 1)


def decode_tick(payload: bytes) -> dict[int, float]:
    try:
        raw = zlib.decompress(payload)
    except zlib.error:
        raw = payload  # a tick written before ticks were deflated
    return {sid: v for sid, v in _TICK.iter_unpack(raw)}
