"""GPU and engine panels: a grid of labelled figures that reflows with the panel's width."""

from __future__ import annotations

import math

from textual.binding import Binding
from textual.content import Content
from textual.geometry import Region, Size
from textual.markup import escape
from textual.message import Message
from textual.widget import Widget

from iejtui.viewmodel import text as vt
from iejtui.viewmodel.models import EnginePanel, Field, GpuPanel

LEVEL_STYLE = {"": "", "muted": "$text-muted", "good": "$success", "warn": "$warning", "bad": "$error"}
BAR_MAX = 12
_EIGHTHS = " ▏▎▍▌▋▊▉█"


def bar(frac: float, width: int) -> str:
    """A horizontal gauge of ``width`` cells in eighth-blocks."""
    units = round(max(0.0, min(1.0, frac)) * width * 8)
    full, part = divmod(units, 8)
    return ("█" * full + (_EIGHTHS[part] if part else "")).ljust(width, "·")[:width]


class FieldGrid(Widget):
    """Figures laid out in as many aligned columns as the width allows."""

    DEFAULT_CSS = """
    FieldGrid {
        height: auto;
        border: round $panel-lighten-2;
        border-title-color: $text;
        border-subtitle-color: $text-muted;
        padding: 0 1;
    }
    FieldGrid:focus { border: round $accent; }
    """

    def __init__(self, *, id: str | None = None, classes: str | None = None):
        super().__init__(id=id, classes=classes)
        self.fields: list[Field] = []
        self._titles: tuple[str, str] | None = None
        self._built: tuple[int, list[Field], list[Content]] | None = None  # (width, fields, rows)

    def set_titles(self, title: str, subtitle: str) -> None:
        """Set the border texts only when they change (each assignment repaints the border)."""
        if (title, subtitle) != self._titles:
            self._titles = (title, subtitle)
            self.border_title = title
            self.border_subtitle = subtitle

    def set_fields(self, fields: list[Field]) -> None:
        """Repaint only the rows that changed: at 1 Hz most figures move, but the border
        and the steady rows need not be drawn again (Textual re-renders a dirty widget line
        by line, borders included; with row repaints here and in ``TimePlot`` the
        compositor's CPU per refresh halves: tests/ui/test_repaint.py, tui_overhead.py)."""
        if fields == self.fields:
            return
        width = self.content_size.width or 80
        before = self._lines(width)
        self.fields = fields
        after = self._lines(width)
        if len(before) != len(after) or not self.is_mounted or not self.size:
            self.refresh(layout=len(before) != len(after))
            return
        # Content compares text only: a figure that changes colour alone is a change too
        changed = [y for y, (a, b) in enumerate(zip(before, after)) if (a.plain, a.spans) != (b.plain, b.spans)]
        if changed:
            self.refresh(*(Region(0, y, width, 1) for y in changed))

    def _layout(self, width: int) -> tuple[int, int, int, int]:
        """(columns, label width, value width, bar width) for ``width`` cells: as many
        columns as fit without gauges, then gauges in the room left (up to ``BAR_MAX``)."""
        if not self.fields:
            return 1, 0, 0, 0
        lw = max(len(f.label) for f in self.fields)
        vw = max(len(f.text) for f in self.fields)
        cell = lw + 1 + vw
        cols = max(1, (width + 3) // (cell + 3))
        bw = 0
        if any(f.bar is not None for f in self.fields):
            room = (width + 3) // cols - 3 - cell - 1
            bw = max(0, min(BAR_MAX, room))
            if bw < 3:
                bw = 0
        return cols, lw, vw, bw

    def _rows(self, width: int) -> int:
        cols = self._layout(width)[0]
        return max(1, math.ceil(len(self.fields) / cols))

    def get_content_height(self, container: Size, viewport: Size, width: int) -> int:
        return self._rows(width)

    def render(self) -> Content:
        lines = self._lines(self.content_size.width or 80)
        return Content("\n").join(lines) if lines else Content("")

    def _lines(self, width: int) -> list[Content]:
        """The rows for ``width``, built once per change of fields or width."""
        b = self._built
        if b is None or b[0] != width or b[1] is not self.fields:
            b = self._built = (width, self.fields, self._build_lines(width))
        return b[2]

    def _build_lines(self, width: int) -> list[Content]:
        cols, lw, vw, bw = self._layout(width)
        lines = []
        for start in range(0, len(self.fields), cols):
            parts: list = []
            for i, f in enumerate(self.fields[start:start + cols]):
                if i:
                    parts.append("   ")
                parts.append((f.label.ljust(lw) + " ", "$text-muted"))
                style = LEVEL_STYLE.get(f.level, "")
                parts.append((f.text.ljust(vw) if (cols > 1 or bw) else f.text, style))
                if bw:
                    if f.bar is not None:
                        parts.append(" ")
                        parts.append((bar(f.bar, bw), style or "$accent"))
                    elif cols > 1:
                        parts.append(" " * (bw + 1))
            lines.append(Content.assemble(*parts))
        return lines


class GpuPanelView(FieldGrid):
    """One GPU: kernel-active vs SM-active first, memory, power, clocks, throttle reasons."""

    def __init__(self, uuid: str, **kwargs):
        super().__init__(**kwargs)
        self.uuid = uuid

    def show(self, panel: GpuPanel, live: bool) -> None:
        sub = vt.gpu_subtitle(panel, live)
        self.set_titles(f"[b]{escape(panel.title)}[/]", f"[$error]{sub}[/]" if panel.stale_since is not None else sub)
        self.set_class(panel.stale_since is not None, "-stale")
        self.set_fields(vt.gpu_fields(panel))


class ProcPanelView(FieldGrid):
    """An engine's process tree on a host without GPU panels: CPU, RSS, host memory."""

    def __init__(self, run_id: int, **kwargs):
        super().__init__(**kwargs)
        self.run_id = run_id

    def show(self, panel: EnginePanel, live: bool, note: str | None) -> None:
        self.set_titles(f"[b]{escape(panel.name)}[/] [$text-muted]CPU · host[/]",
                        escape(f"no GPU: {note}" if note else "no GPU"))
        self.set_fields(vt.proc_fields(panel.procs, live))


class EnginePanelView(FieldGrid):
    """One engine run; focus it and press enter to open its run over the same window."""

    can_focus = True
    BINDINGS = [Binding("enter", "open", "Open run", tooltip="Open this engine's run in the history view")]

    class Open(Message):
        def __init__(self, run_id: int):
            super().__init__()
            self.run_id = run_id

    def __init__(self, run_id: int, **kwargs):
        super().__init__(**kwargs)
        self.run_id = run_id

    def show(self, panel: EnginePanel, live: bool) -> None:
        state, level = vt.engine_state(panel)
        style = LEVEL_STYLE.get(level) or "$text"
        kind = f" [$text-muted]{escape(panel.engine_kind)}[/]" if panel.engine_kind else ""
        self.set_titles(f"[b]{escape(panel.name)}[/]{kind} [{style}]{escape(state)}[/]",
                        vt.engine_subtitle(panel, live))
        self.set_class(panel.stale_since is not None, "-stale")
        self.set_fields(vt.engine_fields(panel))

    def action_open(self) -> None:
        self.post_message(self.Open(self.run_id))
