"""A time plot: braille lines over ``[t0, t1]``, y axis from 0, legend with latest values."""

from __future__ import annotations

import time

from rich.segment import Segment
from rich.style import Style
from textual.geometry import Region, Size
from textual.strip import Strip
from textual.widget import Widget

from iejtui.fmt import duration
from iejtui.ui.widgets.braille import nice_top, render
from iejtui.viewmodel.models import Plot

#: a live plot is redrawn when the window has slid by this many braille dots
STEP_DOTS = 1
#: theme variables of the series colours, in order (the legend uses the same)
SERIES = ("$accent", "$primary-lighten-2", "$success", "$error")


def _compact(value: float, unit: str) -> str:
    if unit == "%":
        return f"{value:g}%"
    if unit == "ms":
        return f"{value / 1000:g}s" if value >= 1000 else (f"{value:g}ms" if value else "0")
    if value >= 1000:
        return f"{value / 1000:g}k"
    return f"{value:g}"


def _x_label(t: float, live_end: bool, t0: float, t1: float) -> str:
    if live_end:
        return "now"
    fmt = "%H:%M" if t1 - t0 >= 600 else "%H:%M:%S"
    if t1 - t0 >= 2 * 86400:
        fmt = "%m-%d %H:%M"
    return time.strftime(fmt, time.localtime(t))


class TimePlot(Widget):
    """Draws one ``Plot`` view model; re-rasterises only when the plot or the size changes."""

    DEFAULT_CSS = """
    TimePlot {
        height: 10;
        border: round $panel-lighten-2;
        border-title-color: $text;
        border-title-style: bold;
        border-subtitle-color: $text-muted;
        padding: 0 1 0 0;
    }
    TimePlot > .timeplot--axis { color: $text-muted; }
    TimePlot > .timeplot--note { color: $text-muted; text-style: italic; }
    """ + "\n".join(f"TimePlot > .timeplot--s{i} {{ color: {v}; }}" for i, v in enumerate(SERIES))

    COMPONENT_CLASSES = {"timeplot--axis", "timeplot--note", *(f"timeplot--s{i}" for i in range(len(SERIES)))}

    def __init__(self, key: str, *, live_edge: bool = True, id: str | None = None, classes: str | None = None):
        super().__init__(id=id or f"plot-{key}", classes=classes)
        self.key = key
        self.plot: Plot | None = None
        self.live_edge = live_edge
        self._strips: list[Strip] | None = None
        self._drawn_size: Size | None = None
        self._cached_styles: tuple | None = None  # (theme, axis, note, base, series styles)
        self._step: tuple | None = None
        self._titles: tuple[str, str] | None = None

    def show(self, plot: Plot | None, live_edge: bool) -> None:
        """Draw ``plot``; ``live_edge`` labels the window's end "now".

        On the live edge a plot is redrawn only when the window has slid by one braille dot
        (its time span / twice its width): in between, nothing on screen would move, so the
        frame (and the bytes over SSH) are saved. A 5-minute plot 76 cells wide moves every
        2 s; the panels above it still change every second.
        """
        if plot == self.plot and live_edge == self.live_edge:
            return
        if plot is not None and live_edge and self.plot is not None and self.live_edge and not plot.empty:
            width = max(1, 2 * (self.content_size.width - 6) // STEP_DOTS)
            step = (plot.key, plot.t1 - plot.t0, int(plot.t1 * width / max(plot.t1 - plot.t0, 1e-9)),
                    tuple(line.label for line in plot.lines))
            if step == self._step:
                return
            self._step = step
        self.plot, self.live_edge = plot, live_edge
        if plot is not None:
            titles = (plot.title, self._legend(plot))
            if titles != self._titles:  # each assignment repaints the whole widget
                self._titles = titles
                self.border_title, self.border_subtitle = titles
        self._repaint()

    def _repaint(self) -> None:
        """Draw the plot now and repaint only the rows that differ from the last drawing
        (the axis row, blank rows above the lines and the border stay as they are)."""
        size = self.content_size
        old = self._strips if self._drawn_size == size else None
        if old is None or not self.is_mounted or not size:
            self._strips = None
            self.refresh()
            return
        self._strips = self._build(size.width, size.height)
        changed = [y for y, (a, b) in enumerate(zip(old, self._strips)) if a != b]
        if len(old) != len(self._strips):
            self.refresh()
        elif changed:
            self.refresh(*(Region(0, y, size.width, 1) for y in changed))

    def _plot_styles(self) -> tuple:
        """Theme styles, looked up once per theme (Textual clears its own cache often)."""
        theme = self.app.theme
        if self._cached_styles is None or self._cached_styles[0] != theme:
            self._cached_styles = (theme, self.get_component_rich_style("timeplot--axis"),
                            self.get_component_rich_style("timeplot--note"), self.rich_style,
                            [self.get_component_rich_style(f"timeplot--s{i}") for i in range(len(SERIES))])
        return self._cached_styles

    def _legend(self, plot: Plot) -> str:
        """Colour key only: the latest figures are in the panels (a value here would lag the
        panel's by up to one redraw step, and windows differ: confusing)."""
        parts = []
        for i, line in enumerate(plot.lines[: len(SERIES)]):
            label = line.label.replace("[", r"\[")
            parts.append(f"[{SERIES[i]}]━[/] {label}")
        return "  ".join(parts)

    def on_resize(self) -> None:
        self._strips = None
        self._step = None

    def render_line(self, y: int) -> Strip:
        size = self.content_size
        if self._strips is None or self._drawn_size != size:
            self._drawn_size = size
            self._strips = self._build(size.width, size.height)
        return self._strips[y] if y < len(self._strips) else Strip.blank(size.width, self._plot_styles()[3])

    def _build(self, width: int, height: int) -> list[Strip]:
        _, axis, note, base, styles = self._plot_styles()
        plot = self.plot
        if plot is None or height < 2 or width < 8:
            return [Strip.blank(width, base) for _ in range(height)]
        if plot.empty:
            text = (plot.note or "no data in this window")[:width]
            rows = [Strip.blank(width, base) for _ in range(height)]
            rows[(height - 1) // 2] = Strip([Segment(text.center(width), note)], width)
            return rows
        peak = max((v for line in plot.lines for v in line.values), default=0.0)
        top = plot.y_max if plot.y_max is not None and peak <= plot.y_max else nice_top(peak)
        labels = [_compact(top, plot.unit), _compact(top / 2, plot.unit), "0"]
        lw = max(len(s) for s in labels) + 1
        pw, ph = max(1, width - lw), height - 1
        grid = render([(line.ts, line.values) for line in plot.lines[: len(SERIES)]],
                      plot.t0, plot.t1, top, pw, ph)
        y_at = {0: labels[0], ph // 2: labels[1], ph - 1: labels[2]}
        out = []
        for r, row in enumerate(grid):
            segs = [Segment(y_at.get(r, "").rjust(lw - 1) + " ", axis)]
            segs.extend(_runs(row, styles, base))
            out.append(Strip(segs, width))
        left = _x_label(plot.t0, False, plot.t0, plot.t1)
        if self.live_edge:
            left = f"-{duration(plot.t1 - plot.t0, 'axis')}"
        right = _x_label(plot.t1, self.live_edge, plot.t0, plot.t1)
        gap = max(1, pw - len(left) - len(right))
        out.append(Strip([Segment(" " * lw + left + " " * gap + right, axis)], width))
        return out


def _runs(row: list[tuple[str, int]], styles: list[Style], base: Style) -> list[Segment]:
    """Join neighbouring cells of one colour into one segment (fewer bytes over SSH)."""
    segs: list[Segment] = []
    text: list[str] = []
    current = None
    for ch, k in row:
        style = styles[k] if k >= 0 else base
        if style is not current and text:
            segs.append(Segment("".join(text), current))
            text = []
        current = style
        text.append(ch)
    if text:
        segs.append(Segment("".join(text), current))
    return segs
