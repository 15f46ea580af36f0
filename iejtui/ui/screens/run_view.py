"""One run over any window of its life, drawn by the dashboard's widgets (replay)."""

from __future__ import annotations

import time

from textual import work
from textual.binding import Binding
from textual.content import Content
from textual.widgets import Header, Static

from iejtui.store.vocab import LIVE
from iejtui.ui.feed import HISTORY_POINTS, Feed, FeedClosed
from iejtui.ui.screens.polled import PolledScreen
from iejtui.ui.widgets.footer import QuietFooter
from iejtui.ui.widgets.snapshot_view import SnapshotView
from iejtui.viewmodel.advice import run_advice_lines, run_advice_short
from iejtui.viewmodel.models import Snapshot
from iejtui.viewmodel.text import clock, span
from iejtui.viewmodel.windows import ZOOMS, Window, seek, zoom


def run_info(run: dict, w: Window) -> Content:
    """One line: run, kind, status, lifetime, the window shown."""
    when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(run["started_at"]))
    end = run.get("ended_at")
    dur = span((end or w.end) - run["started_at"])
    status_style = {"ready": "$success", "crashed": "$error", "failed": "$error",
                    "interrupted": "$warning", "starting": "$warning"}.get(run["status"], "$text-muted")
    where = "whole run" if w.whole else f"{clock(w.t0)} → {clock(w.t1)} ({span(w.span)})"
    parts = [(f"r{run['id']} ", "bold"), (run["name"], "bold $accent"), f"  {run['kind']}",
             (f" {run.get('engine_kind')}" if run.get("engine_kind") else "", "$text-muted"), "  ",
             (run["status"], status_style), ("  since " if end is None else "  ", "$text-muted"),
             f"{when} · {dur}", ("   window ", "$text-muted"), (where, "bold")]
    if run.get("reason"):
        parts += [("   ", ""), (run["reason"], "$text-muted")]
    return Content.assemble(*parts)


class RunScreen(PolledScreen):
    """History of a run: zoom (last 5 min, 1 h, whole run) and seek through its life."""

    AUTO_FOCUS = "SnapshotView"  # arrows and page keys scroll the whole dashboard
    BINDINGS = [
        Binding("escape", "back", "Back", tooltip="Return to the previous screen"),
        Binding("1", "zoom(0)", "5 min", tooltip="Show 5 minutes (ending at the window's end)"),
        Binding("2", "zoom(1)", "1 h", tooltip="Show 1 hour (ending at the window's end)"),
        Binding("3", "zoom(2)", "Whole run", tooltip="Show the run from start to end"),
        Binding("left", "seek(-1)", "Earlier", priority=True, key_display="←",
                tooltip="Move the window back by half its width"),
        Binding("right", "seek(1)", "Later", priority=True, key_display="→",
                tooltip="Move the window forward by half its width"),
        Binding("home", "edge(-1)", "Start", priority=True, tooltip="Jump to the run's start"),
        Binding("end", "edge(1)", "End", priority=True, tooltip="Jump to the run's end (follows a live run)"),
        Binding("a", "advice", "Advice", show=False,
                tooltip="What the advisor saw in this run: each finding with its window, knob and why"),
    ]

    def __init__(self, run_id: int):
        super().__init__()
        self.run_id = run_id
        self.window: Window | None = None
        self.run: dict | None = None
        self._last_error: str | None = None
        self.load_cost_s: float | None = None
        self._checks: list[str] | None = None  # a finished bench run: client vs server, verdict, steady
        self.summary_text = ""  # iejtui.summary.run_summary on one line (summary_text.summary_line)
        self._summary_at: float | None = None
        self.advice: dict | None = None  # run_advice's result: "What the advisor saw"
        self.advice_read = False

    def compose(self):
        yield Header()
        yield Static("", id="run-info")
        yield Static("summary: reading the whole run…", id="run-summary")
        checks = Static("", id="bench-checks")
        checks.display = False
        yield checks
        advice = Static("", id="run-advice")
        advice.display = False
        yield advice
        yield SnapshotView(id="view")
        yield QuietFooter()

    def on_mount(self) -> None:
        self.feed = Feed(self.app.paths, self.app.clock)
        self.sub_title = f"run r{self.run_id}"
        self.load()

    @property
    def following(self) -> bool:
        return bool(self.run and self.run["status"] in LIVE and self.run.get("ended_at") is None
                    and self.window is not None and self.window.at_end)

    def start_read(self) -> None:
        self._read(self.window)

    @work(thread=True, exit_on_error=False, group="history")
    def _read(self, window: Window | None) -> None:
        t = time.perf_counter()
        try:
            if window is None:
                run = self.feed.run(self.run_id)
                if run is None:
                    raise LookupError(f"no run r{self.run_id} in this journal")
                start, end = self.feed.bounds(run)
                window = zoom(start, end, None)
            follow = window.at_end
            snap, window, run = self.feed.history(self.run_id, window, follow)
            if self._checks is None and run["kind"] == "bench" and run.get("ended_at"):
                self._checks = self.feed.bench_checks(run)
            error = None
        except Exception as exc:
            snap, run, error = None, None, f"{type(exc).__name__}: {exc}"
        self.hand_back(self._apply, snap, window, run, error, time.perf_counter() - t)

    def _apply(self, snap: Snapshot | None, window: Window | None, run: dict | None, error: str | None,
               cost: float) -> None:
        self.load_cost_s = cost
        if error and error != self._last_error:  # once per distinct trouble
            self.notify(error, title=f"run r{self.run_id}", severity="error")
        self._last_error = error
        if snap is not None:
            self.run, self.window = run, window
            self.query_one("#run-info", Static).update(run_info(run, window))
            self.query_one(SnapshotView).show(snap)
            if self._checks:
                checks = self.query_one("#bench-checks", Static)
                checks.update(Content("\n".join(self._checks)))
                checks.display = True
            self._summary_due()
            self.sub_title = f"r{run['id']} {run['name']}" + (" · following" if self.following else "")
        # a live run followed: a new plot point only appears once per plot column, refresh at that rate
        self.read_again(max(self.app.refresh_s, self.window.span / HISTORY_POINTS) if self.following else None)

    #: A followed (live) run's summary is read again at most this often: it reads the whole
    #: run (seconds for a 24 h run), so it is read after the history is drawn, in its own thread.
    SUMMARY_EVERY_S = 10.0

    def _summary_due(self) -> None:
        now = time.monotonic()
        if self._summary_at is None or (self.following and now - self._summary_at >= self.SUMMARY_EVERY_S):
            self._summary_at = now
            self._read_summary()
            self._read_advice()

    @work(thread=True, exit_on_error=False, group="summary", exclusive=True)
    def _read_summary(self) -> None:
        try:
            text = self.feed.summary_line(self.run_id)
        except FeedClosed:  # the screen left meanwhile
            return
        except Exception as exc:
            text = f"summary unavailable: {type(exc).__name__}: {exc}"
        self.hand_back(self._show_summary, text)

    def _show_summary(self, text: str) -> None:
        self.summary_text = text
        self.query_one("#run-summary", Static).update(Content(text))

    @work(thread=True, exit_on_error=False, group="advice", exclusive=True)
    def _read_advice(self) -> None:
        """The advisor's findings (stored live, or replayed for a short run), read after the
        history is drawn and with the summary's rhythm (a followed run: every 10 s)."""
        try:
            result = self.feed.advice(self.run_id)
        except FeedClosed:
            return
        except Exception as exc:
            result = {"source": "none", "note": f"unavailable: {type(exc).__name__}: {exc}"}
        self.hand_back(self._show_advice, result)

    def _show_advice(self, result: dict | None) -> None:
        self.advice, self.advice_read = result, True
        box = self.query_one("#run-advice", Static)
        short = run_advice_short(result, 2 if self.app.size.height < 40 else 4)  # 80×24 keeps its plots
        box.update(Content("\n".join(short)))
        box.display = bool(short)

    def action_advice(self) -> None:
        from iejtui.ui.modals import TextModal
        if not self.advice_read:
            self.notify("still reading what the advisor saw", title=f"run r{self.run_id}")
            return
        lines = run_advice_lines(self.advice)
        self.app.push_screen(TextModal("\n".join(lines) if lines
                                       else "No signals recorded for this run: nothing to advise on."))

    # ---- actions ------------------------------------------------------------------------------
    def action_back(self) -> None:
        self.app.pop_screen()

    def action_zoom(self, index: int) -> None:
        if self.window is None:
            return
        w = self.window
        self.window = zoom(w.start, w.end, ZOOMS[index][1], w.t1)
        self.load()

    def action_seek(self, direction: int) -> None:
        if self.window is not None and not self.window.whole:
            self.window = seek(self.window, direction)
            self.load()

    def action_edge(self, direction: int) -> None:
        if self.window is None:
            return
        w = self.window
        anchor = w.start + w.span if direction < 0 else w.end
        self.window = zoom(w.start, w.end, None if w.whole else w.span, anchor)
        self.load()
