"""The live dashboard: what the GPUs and engines do now, refreshed at the data's rate."""

from __future__ import annotations

import time

from textual import work
from textual.binding import Binding
from textual.widgets import Header

from iejtui.ui.feed import Feed
from iejtui.ui.screens.polled import PolledScreen
from iejtui.ui.widgets.footer import QuietFooter
from iejtui.ui.widgets.snapshot_view import SnapshotView
from iejtui.viewmodel.models import Snapshot
from iejtui.viewmodel.text import span

WINDOWS = (60.0, 300.0, 900.0, 3600.0)


class DashboardScreen(PolledScreen):
    """GPU panels, engine panels, time plots and the event log over the last few minutes."""

    AUTO_FOCUS = "SnapshotView"  # arrows and page keys scroll the whole dashboard
    BINDINGS = [
        Binding("w", "window", "Window", tooltip="Cycle the plotted window: 1 min, 5 min, 15 min, 1 h"),
        Binding("p", "pause", "Pause", tooltip="Freeze the display (recording goes on)"),
        Binding("a", "advice", "Advice", show=False, tooltip="What the advisor says now: each finding's why and knob"),
        Binding("tab", "app.focus_next", "Next panel", show=False),
        Binding("shift+tab", "app.focus_previous", "Previous panel", show=False),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.window_s = WINDOWS[1]
        self.paused = False
        self.refresh_cost_s: list[float] = []
        self._last_error: str | None = None

    def compose(self):
        yield Header()
        yield SnapshotView(id="view")
        yield QuietFooter()

    def on_mount(self) -> None:
        self.feed = Feed(self.app.paths, self.app.clock)
        self._title()
        self.load()  # on a worker: the first frame is painted while it reads

    def _title(self) -> None:
        state = "paused" if self.paused else "live"
        self.sub_title = f"{state} · last {span(self.window_s)}"

    # ---- refresh loop: one read at a time, re-armed when it is done ----------------------------
    def can_read(self) -> bool:
        return not self.paused

    def start_read(self) -> None:
        self._read(self.window_s)

    @work(thread=True, exit_on_error=False, group="dashboard")
    def _read(self, window_s: float) -> None:
        t = time.perf_counter()
        try:
            snap = self.feed.live(window_s)
            error = None
        except Exception as exc:  # the screen must keep going whatever one read does
            from sqlite3 import DatabaseError
            from iejtui.store.faults import read_error  # a damaged journal.db: the file and its recovery
            snap = None
            error = read_error(exc, self.feed.paths.db) if isinstance(exc, DatabaseError) else f"{type(exc).__name__}: {exc}"
        cost = time.perf_counter() - t
        self.hand_back(self._apply, snap, error or self.feed.error, cost)

    def _apply(self, snap: Snapshot | None, error: str | None, cost: float) -> None:
        if not self.is_attached:  # the screen left (a reader finished after esc): nothing to draw
            return
        self.refresh_cost_s = (self.refresh_cost_s + [cost])[-60:]
        if snap is not None:
            self.query_one(SnapshotView).show(snap)
            self._last_error = None
        elif error and error != self._last_error:  # once per distinct trouble, not every second
            self._last_error = error
            self.notify(error, title="journal", severity="warning", timeout=8)
        self.read_again(self.app.refresh_s)

    # ---- actions -----------------------------------------------------------------------------
    def action_window(self) -> None:
        i = WINDOWS.index(self.window_s) if self.window_s in WINDOWS else 0
        self.window_s = WINDOWS[(i + 1) % len(WINDOWS)]
        self._title()
        self.load()

    def action_advice(self) -> None:
        from iejtui.ui.modals import TextModal
        from iejtui.viewmodel.advice import detail_text
        snap = self.query_one(SnapshotView).snapshot
        self.app.push_screen(TextModal(detail_text(snap.advice if snap else ())))

    def action_pause(self) -> None:
        self.paused = not self.paused
        self._title()
        if not self.paused:
            self.load()
        else:
            self._stop_timer()
