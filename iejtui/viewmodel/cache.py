"""Incremental reads for the live edge: remember what was read, fetch only what is new.

A ``SeriesBuffer`` holds the series of one run (optionally one source) over a window. On
each refresh it asks the store only for samples newer than the newest it holds (with a
small overlap, de-duplicated per series), drops what slid out of the window, and serves
the derive functions through the ``SeriesGetter`` contract. A window that moves back in
time (seek, zoom out) is read in full once. Names are loaded lazily: the first request
for a name the buffer does not hold reads that name over the buffered span.

Not thread-safe: one buffer belongs to one refresh loop (the TUI's worker thread).
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Callable, Iterable, Mapping

from iejtui.derive.series import Series, labels_match
from iejtui.store import Reader

TRIM_SLACK_S = 30.0  # trim the front only when this much slid out (amortises the slicing)


class _Col:
    __slots__ = ("labels", "ts", "values")

    def __init__(self, labels: dict[str, str]):
        self.labels = labels
        self.ts: list[float] = []
        self.values: list[float] = []


class SeriesBuffer:
    """Series of one run over a sliding window, extended incrementally (see module doc)."""

    def __init__(self, run_id: int, names: Iterable[str] = (), source: str | None = None):
        self.run_id = run_id
        self.source = source
        self.names: set[str] = set(names)
        self.cols: dict[tuple[str, tuple], _Col] = {}
        self.by_name: dict[str, list[_Col]] = {}
        self.lo: float | None = None  # earliest time the buffer covers
        self.hi: float | None = None  # latest time read up to
        self.newest: float | None = None  # newest sample timestamp held
        self.reads = 0  # store reads made (for tests and perf figures)
        self._reader: Reader | None = None

    # ---- reading ------------------------------------------------------------------------
    def ensure(self, reader: Reader, t0: float, t1: float, new_data: bool = True) -> None:
        """Make the buffer cover ``[t0, t1]``, reading as little as possible.

        ``new_data=False`` says the store has not changed since the last call (the caller
        checked ``PRAGMA data_version``): a window that only slid forward needs no read.
        """
        self._reader = reader
        ahead = self.newest if self.newest is not None else self.hi
        if self.lo is None or t0 < self.lo or self.hi is None or (ahead is not None and t0 > ahead):
            self._reset()
            self._read(reader, sorted(self.names), t0, t1)
            self.lo, self.hi = t0, t1
            return
        if t1 > self.hi and new_data:
            # frames of one service tick commit together, and a source's ticks arrive in
            # order: everything after the newest sample held is new
            since = (self.newest + 1e-6) if self.newest is not None else self.hi
            self._read(reader, sorted(self.names), max(since, t0), t1)
            self.hi = t1
        if t0 - self.lo > TRIM_SLACK_S:
            self._trim(t0)

    def _reset(self) -> None:
        self.cols.clear()
        self.by_name.clear()
        self.newest = None

    def _read(self, reader: Reader, names: list[str], t0: float, t1: float) -> None:
        if not names:
            return
        self.reads += 1
        for sd in reader.series_many(self.run_id, names, None, t0, t1, self.source):
            key = (sd.name, tuple(sorted(sd.labels.items())))
            col = self.cols.get(key)
            if col is None:
                col = self.cols[key] = _Col(sd.labels)
                self.by_name.setdefault(sd.name, []).append(col)
            if not sd.ts:
                continue
            if col.ts and sd.ts[0] <= col.ts[-1]:
                start = bisect_left(sd.ts, col.ts[-1] + 1e-9)
                col.ts.extend(sd.ts[start:])
                col.values.extend(sd.values[start:])
            else:
                col.ts.extend(sd.ts)
                col.values.extend(sd.values)
            if col.ts and (self.newest is None or col.ts[-1] > self.newest):
                self.newest = col.ts[-1]

    def _trim(self, t0: float) -> None:
        for col in self.cols.values():
            cut = bisect_left(col.ts, t0)
            if cut:
                del col.ts[:cut]
                del col.values[:cut]
        self.lo = t0

    def _load_name(self, name: str) -> None:
        self.names.add(name)
        if self._reader is not None and self.lo is not None and self.hi is not None:
            self._read(self._reader, [name], self.lo, self.hi)

    # ---- serving ------------------------------------------------------------------------
    def get(self, name: str, labels_filter: Mapping[str, str] | None = None) -> list[Series]:
        """The ``SeriesGetter`` contract of ``iejtui.derive.series`` over the buffer."""
        if name not in self.names:
            self._load_name(name)
        return [(c.labels, c.ts, c.values) for c in self.by_name.get(name, ())
                if c.ts and labels_match(c.labels, labels_filter)]

    def newest_at(self, t1: float, prefix: str | None = None) -> float | None:
        """Newest sample time at or before ``t1`` (of series whose name starts with ``prefix``)."""
        if prefix is None and self.newest is not None and self.newest <= t1:
            return self.newest
        best = None
        for (n, _), c in self.cols.items():
            if prefix is not None and not n.startswith(prefix) or not c.ts:
                continue
            i = bisect_left(c.ts, t1 + 1e-9) - 1
            if i >= 0 and (best is None or c.ts[i] > best):
                best = c.ts[i]
        return best


class SnapshotCache:
    """What one screen keeps between refreshes: series buffers by (run, source), the events
    read so far, and the store's ``data_version`` (unchanged: nothing new to read)."""

    def __init__(self) -> None:
        self.buffers: dict[tuple[int, str | None], SeriesBuffer] = {}
        self.events: list[dict] = []
        self.last_event_id: int | None = None
        self.gpu_note: str | None = None
        self.advice_key: tuple | None = None  # (last event id, live run ids) the strip was built for
        self.advice: tuple = ()
        self.lines: dict[tuple, list] = {}
        self.dirty = True
        self._version: int | None = None

    def check(self, reader: Reader) -> bool:
        """Whether anything was committed since the previous check (sets ``dirty``)."""
        version = reader.data_version()
        self.dirty = version != self._version
        self._version = version
        return self.dirty

    def buffer(self, run_id: int, names: Iterable[str], source: str | None = None) -> SeriesBuffer:
        key = (run_id, source)
        buf = self.buffers.get(key)
        if buf is None:
            buf = self.buffers[key] = SeriesBuffer(run_id, names, source)
        else:
            for name in set(names) - buf.names:
                buf._load_name(name)
        return buf

    def keep_only(self, keys: Iterable[tuple[int, str | None]]) -> None:
        """Forget buffers (and derived lines) of runs that left the screen."""
        wanted = set(keys)
        for key in list(self.buffers):
            if key not in wanted:
                del self.buffers[key]
        runs = {k[0] for k in wanted}
        for key in list(self.lines):
            if key[0] not in runs:
                del self.lines[key]

    def line(self, key: tuple, points: Callable[[float, float], tuple[list[float], list[float]]],
             t0: float, t1: float, newest: float | None = None) -> tuple[list[float], list[float]]:
        """A derived line over ``[t0, t1]``, computing only points newer than those kept.

        ``points(t_from, t1)`` must return the points in ``(t_from, t1]``; a point depends
        only on samples at or before it, so kept points never change. ``newest`` is the
        newest sample the getter holds: the line is final up to there even when it has no
        point (an idle engine has no TTFT), so the next call starts from it.
        """
        entry = self.lines.get(key)
        if entry is None or t0 < entry[0]:
            ts, vs = points(t0, t1)
            entry = self.lines[key] = [t0, list(ts), list(vs), newest if newest is not None else t0]
        elif self.dirty:
            ts, vs = entry[1], entry[2]
            since = max(ts[-1] if ts else t0, entry[3])
            new_ts, new_vs = points(since, t1)
            ts.extend(new_ts)
            vs.extend(new_vs)
            if newest is not None:
                entry[3] = max(entry[3], newest)
        ts, vs = entry[1], entry[2]
        cut = bisect_left(ts, t0)
        if cut > 64:
            del ts[:cut], vs[:cut]
            entry[0] = t0
            cut = 0
        return ts[cut:], vs[cut:]

    @property
    def reads(self) -> int:
        return sum(b.reads for b in self.buffers.values())
