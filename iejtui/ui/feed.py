"""A screen's read path to journal.db: its own read-only connection and snapshot cache.

Calls run on a worker thread (never the UI thread); one feed serves one screen and is
never used by two threads at once (the screen re-arms its timer only after a refresh
completed, so refreshes cannot overlap). A screen that leaves closes its feed from the UI
thread, possibly while its last read still runs on a worker: closing a SQLite connection
under a running statement crashes the process, so the connection is then closed by that
read when it ends, and later reads raise ``FeedClosed``.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING

from iejtui.config import load_config
from iejtui.errors import UserError
from iejtui.paths import JournalPaths
from iejtui.viewmodel.models import RunRow, Snapshot
from iejtui.viewmodel.windows import Window, extend, run_bounds

if TYPE_CHECKING:
    from iejtui.store import Reader

# The store (sqlite-utils, which loads numpy) and the snapshot machinery are imported by
# the first read, on a worker thread, after the first frame: they cost ~0.3 s of start-up.

_HIDDEN_WHILE_IMPORTING = ("numpy", "pandas")


def _import_store():
    """The store's Reader, imported without the numpy and pandas that sqlite-utils loads
    when they are installed (~0.3 s): it only uses them to type columns when writing
    numpy/pandas values, and the TUI never writes. Both stay importable afterwards."""
    import importlib
    import sys
    if "sqlite_utils.db" not in sys.modules:
        hidden = [m for m in _HIDDEN_WHILE_IMPORTING if m not in sys.modules]
        for m in hidden:
            sys.modules[m] = None  # type: ignore[assignment]  # "import m" raises ImportError
        try:
            importlib.import_module("sqlite_utils.db")
        finally:
            for m in hidden:
                sys.modules.pop(m, None)
    from iejtui.store import Reader
    return Reader


LIVE_POINTS = 400  # live plots: no downsampling up to this many samples per line
HISTORY_POINTS = 240


def scrape_interval(paths: JournalPaths) -> float:
    try:
        return load_config(paths.config).service.scrape_interval
    except UserError:
        return 1.0


def with_reader(paths: JournalPaths, use: Callable[[Reader], object]):
    """``use(reader)`` over a fresh read-only connection to journal.db, closed after: for a
    worker's one-off read outside a screen's feed (the Journal's writes, a run's row for a
    restart). Raises ``UserError`` when journal.db cannot be opened. Call it on a worker."""
    Reader = _import_store()
    reader = Reader(paths.db)
    try:
        return use(reader)
    finally:
        reader.close()


class FeedClosed(Exception):
    """The screen that owned this feed has left; its read is moot."""


def reading(method):
    """A Feed method that uses the connection: counted, so that ``close`` waits for it."""
    @functools.wraps(method)
    def inner(self, *args, **kwargs):
        with self._lock:
            if self._closed:
                raise FeedClosed("the screen has left")
            self._active += 1
        try:
            return method(self, *args, **kwargs)
        finally:
            with self._lock:
                self._active -= 1
                last = self._closed and self._active == 0
            if last:
                self._release()
    return inner


class Feed:
    def __init__(self, paths: JournalPaths, clock: Callable[[], float]):
        self._lock = threading.Lock()
        self._active = 0
        self._closed = False
        self.paths = paths
        self.clock = clock
        self.cache = None
        self.interval_s = scrape_interval(paths)
        self._reader: Reader | None = None
        self.error: str | None = None
        self._bench_findings: dict[int, dict[str, int]] = {}  # finished bench runs' advisor findings

    def reader(self) -> Reader | None:
        """The read-only connection, opened on first use (None while journal.db is missing)."""
        if self._reader is None:
            Reader = _import_store()
            from iejtui.viewmodel.cache import SnapshotCache
            if self.cache is None:
                self.cache = SnapshotCache()
            try:
                self._reader = Reader(self.paths.db)
                self.error = None
            except UserError as exc:
                self.error = str(exc)
        return self._reader

    @reading
    def live(self, window_s: float) -> Snapshot | None:
        reader = self.reader()
        if reader is None:
            return None
        from iejtui.viewmodel.snapshot import dashboard_snapshot
        return dashboard_snapshot(reader, self.clock(), window_s, cache=self.cache, max_points=LIVE_POINTS,
                                  interval_s=self.interval_s)

    @reading
    def run(self, run_id: int) -> dict | None:
        reader = self.reader()
        return None if reader is None else reader.run(run_id)

    @reading
    def bounds(self, run: dict) -> tuple[float, float]:
        return run_bounds(self.reader(), run, self.clock())

    @reading
    def history(self, run_id: int, window: Window, follow: bool) -> tuple[Snapshot, Window, dict]:
        """The run over ``window``; a window at the end of a live run follows its growth."""
        from iejtui.viewmodel.snapshot import run_history
        reader = self.reader()
        run = reader.run(run_id)
        if run is None:  # deleted (`iejtui runs delete`) while shown
            raise LookupError(f"run r{run_id} is no longer in this journal (deleted)")
        start, end = run_bounds(reader, run, self.clock())
        window = extend(window, end) if follow else window
        cache = self.cache if follow and window.span <= 3600 else None
        snap = run_history(reader, run_id, window.t0, window.t1, HISTORY_POINTS if cache is None else LIVE_POINTS,
                           cache=cache, interval_s=self.interval_s)
        return snap, window, run

    @reading
    def summary_line(self, run_id: int) -> str:
        """The run's one summary (``iejtui.summary.run_summary``) on one line."""
        from iejtui.summary import run_summary
        from iejtui.summary_text import summary_line
        reader = self.reader()
        run = reader.run(run_id)
        return summary_line(run_summary(reader, run)) if run else ""

    @reading
    def advice(self, run_id: int) -> dict | None:
        """The run view's "What the advisor saw": ``iejtui.advisor.stored.run_advice`` (the
        findings stored live, or a replay of a short run), what ``runs show`` prints."""
        from iejtui.advisor.stored import run_advice
        reader = self.reader()
        run = reader.run(run_id) if reader is not None else None
        return run_advice(reader, run) if run else None

    @reading
    def runs(self, headlines: dict[int, str]) -> list[RunRow]:
        from iejtui.viewmodel.runs import run_rows
        reader = self.reader()
        return [] if reader is None else run_rows(reader, self.clock(), headlines)

    @reading
    def benches(self) -> list:
        """The Benchmark screen's rows (``iejtui.viewmodel.bench.BenchRow``), newest first."""
        from iejtui.viewmodel.bench import bench_rows
        reader = self.reader()
        return [] if reader is None else bench_rows(reader, known_findings=self._bench_findings)

    @reading
    def bench_checks(self, run: dict) -> list[str]:
        """A finished bench run's client vs server / verdict / steady lines."""
        from iejtui.viewmodel.bench import check_lines
        reader = self.reader()
        return [] if reader is None else check_lines(reader, run)

    @reading
    def headline(self, run_id: int) -> str:
        from iejtui.viewmodel.runs import run_headline
        reader = self.reader()
        run = reader.run(run_id) if reader else None
        return run_headline(reader, run, self.clock()) if run else ""

    def close(self) -> None:
        """Close the connection now, or when the read still running ends."""
        with self._lock:
            self._closed = True
            idle = self._active == 0
        if idle:
            self._release()

    def _release(self) -> None:
        reader, self._reader = self._reader, None
        if reader is not None:
            reader.close()
