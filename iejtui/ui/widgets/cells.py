"""Styled DataTable cells: ``Content`` (theme variables) that DataTable can measure.

DataTable sizes auto-width columns with Rich's measure protocol, which ``Content`` does
not implement; without it every styled column keeps its label's width and truncates.
"""

from __future__ import annotations

from rich.measure import Measurement
from textual.content import Content


class Cell(Content):
    """Measured before Rich casts it (``Content.__rich__`` turns it into unmeasurable segments)."""

    def __rich__(self):
        return _Measured(self, super().__rich__())


class _Measured:
    def __init__(self, content: Content, rendered):
        self.content = content
        self.rendered = rendered

    def __rich_measure__(self, console, options) -> Measurement:
        return Measurement(self.content.cell_length, self.content.cell_length)

    def __rich_console__(self, console, options):
        yield self.rendered


def cell(text: str, style: str = "") -> Cell:
    """A table cell showing ``text`` in ``style`` (theme variables allowed, e.g. "$success")."""
    return Cell.styled(text, style) if style and text else Cell(text)
