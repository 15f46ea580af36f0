"""The event log: engine started / ready / crashed, scrape errors, GPU trouble, newest last."""

from __future__ import annotations

from textual.containers import VerticalScroll
from textual.content import Content
from textual.widgets import Static

from iejtui.viewmodel.models import EventRow
from iejtui.viewmodel.text import clock

LEVEL = {"info": ("·", "$text-muted", ""), "warning": ("!", "$warning", "$warning"),
         "error": ("✗", "$error", "$error")}


def event_line(e: EventRow) -> Content:
    mark, mark_style, text_style = LEVEL.get(e.level, LEVEL["info"])
    run = f"r{e.run_id}" if e.run_id is not None else "svc"
    return Content.assemble((clock(e.ts), "$text-muted"), " ", (mark, mark_style), " ",
                            (run.ljust(4), "$text-muted"), " ", (e.message, text_style))


class EventLog(VerticalScroll):
    """Scrollable; follows the newest event unless the user scrolled up."""

    DEFAULT_CSS = """
    EventLog {
        height: 1fr;
        min-height: 5;
        border: round $panel-lighten-2;
        border-title-color: $text;
        border-title-style: bold;
        border-subtitle-color: $text-muted;
        padding: 0 1;
    }
    EventLog:focus { border: round $accent; }
    EventLog > Static { width: 1fr; }
    """

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.border_title = "Events"
        self._rows: tuple[EventRow, ...] | None = None
        self._body = Static("", markup=False)

    def compose(self):
        yield self._body

    def on_mount(self) -> None:
        self.anchor()  # stay at the newest event until the user scrolls up

    def show(self, rows: tuple[EventRow, ...]) -> None:
        if rows == self._rows:
            return
        self._rows = rows
        if rows:
            self._body.update(Content("\n").join(event_line(e) for e in rows))
        else:
            self._body.update(Content.styled("no events in this window", "$text-muted italic"))
        self.border_subtitle = f"{len(rows)} shown"
