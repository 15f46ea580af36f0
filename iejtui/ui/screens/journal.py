"""The journal's day logs: list, read LOG.md, new day from runs, tag, refresh, export."""

from __future__ import annotations

from textual.screen import Screen
from textual.widgets import Footer, Header, Static


class JournalScreen(Screen):
    """Day logs of the journal (work in progress)."""

    def compose(self):
        yield Header()
        yield Static("day logs: coming", id="journal-info")
        yield Footer()
