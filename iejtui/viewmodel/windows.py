"""Zoom and seek arithmetic of the history view (pure, no I/O)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from iejtui.store import vocab

if TYPE_CHECKING:
    from iejtui.store import Reader

#: zoom presets: (key label, span in seconds; None = the whole run)
ZOOMS: tuple[tuple[str, float | None], ...] = (("5 min", 300.0), ("1 h", 3600.0), ("whole run", None))


@dataclass(frozen=True, slots=True)
class Window:
    """A view window ``[t0, t1]`` inside a run's bounds ``[start, end]``."""

    start: float
    end: float
    t0: float
    t1: float

    @property
    def span(self) -> float:
        return self.t1 - self.t0

    @property
    def at_end(self) -> bool:
        return self.t1 >= self.end - 1e-6

    @property
    def whole(self) -> bool:
        return self.t0 <= self.start + 1e-6 and self.at_end


def run_bounds(reader: Reader, run: Mapping, now: float) -> tuple[float, float]:
    """Where a run's data lies: its samples' time range, or its lifetime when it has none;
    a run still going extends to ``now``."""
    win = reader.run_window(run, now)
    if win is not None:
        start, end = min(win[0], run["started_at"]), win[1]
    else:  # no samples: the run's lifetime
        start = run["started_at"]
        end = now if run["status"] in vocab.LIVE and run.get("ended_at") is None else (run.get("ended_at") or start)
    return start, max(end, start + 1.0)


def zoom(start: float, end: float, span: float | None, anchor: float | None = None) -> Window:
    """A window of ``span`` seconds ending at ``anchor`` (default: the end), kept inside the
    bounds and full-width when the run is long enough; ``None`` = the whole run."""
    if span is None or span >= end - start:
        return Window(start, end, start, end)
    t1 = min(end, anchor if anchor is not None else end)
    t0 = t1 - span
    if t0 < start:
        t0, t1 = start, start + span
    return Window(start, end, t0, t1)


def seek(w: Window, direction: int, fraction: float = 0.5) -> Window:
    """Move the window by ``fraction`` of its span (``direction`` -1 back, +1 forward)."""
    step = w.span * fraction * (1 if direction > 0 else -1)
    t0, t1 = w.t0 + step, w.t1 + step
    if t0 < w.start:
        t0, t1 = w.start, w.start + w.span
    if t1 > w.end:
        t0, t1 = w.end - w.span, w.end
    return Window(w.start, w.end, max(t0, w.start), t1)


def extend(w: Window, end: float) -> Window:
    """The same window on a run that grew to ``end``: a window at the end follows it."""
    if end <= w.end:
        return w
    if w.at_end:
        return Window(w.start, end, w.t0 + (end - w.t1) if not w.whole else w.t0, end)
    return Window(w.start, end, w.t0, w.t1)
