"""The Journal screen's dialogs: a new day log from runs, runs to tag into a day, an export path.

They check what was typed (``iejtui.viewmodel.journal``) and show the error inline; nothing
is written until the dialog closes with a valid answer.
"""

from __future__ import annotations

from collections.abc import Collection
from pathlib import Path

from textual.markup import escape
from textual.containers import Horizontal, Vertical
from textual.widgets import Button, Input, Label, Static

from iejtui.ui.modals import Dialog
from iejtui.viewmodel.journal import parse_run_ids, parse_topic

_CSS = """
{cls} {{ align: center middle; }}
{cls} > Vertical {{
    width: 76; max-width: 100%; height: auto; max-height: 100%; padding: 0 1;
    border: round $accent; background: $surface;
}}
{cls} .title {{ margin-bottom: 1; }}
{cls} .field {{ height: 1; margin-top: 1; }}
{cls} .field Label {{ width: 7; color: $text-muted; }}
{cls} .field Input {{ width: 1fr; background: $boost; }}
{cls} .field Input:focus {{ background: $primary 25%; }}
{cls} .hint {{ color: $text-muted; padding-left: 7; }}
{cls} #error {{ color: $error; height: auto; margin-top: 1; }}
{cls} .buttons {{ height: 1; margin-top: 1; align-horizontal: right; }}
{cls} Button {{ margin-left: 2; }}
"""


def _buttons(ok: str):
    with Horizontal(classes="buttons"):
        yield Button("Cancel", id="cancel", compact=True)
        yield Button(ok, id="ok", variant="primary", compact=True)


def _field(label: str, box: Input):
    with Horizontal(classes="field"):
        yield Label(label)
        yield box


class NewDayModal(Dialog):
    """Topic, runs and goal of a new day log (``iejtui day new TOPIC --run RUN --note TEXT``)."""

    DEFAULT_CSS = _CSS.format(cls="NewDayModal")

    def __init__(self, runs: str, known: Collection[int], from_selection: bool):
        super().__init__()
        self.runs = runs
        self.known = known
        self.from_selection = from_selection

    def compose(self):
        hint = ("filled in from the runs selected on the Runs screen" if self.from_selection
                else "run ids; runs selected on the Runs screen (r, space) fill this in")
        with Vertical():
            yield Static("[b]New day log[/b]   [$text-muted]enter creates · esc cancels[/]", classes="title")
            yield from _field("topic", Input(placeholder="e.g. fp8 kv cache (names days/day-NNN-topic)",
                                                  id="topic", compact=True))
            yield from _field("runs", Input(self.runs, placeholder="e.g. 3 5 7", id="runs", compact=True))
            yield Static(hint, classes="hint", markup=False)
            yield from _field("goal", Input(placeholder="optional: what this day is about (## Goal)",
                                                 id="note", compact=True))
            yield Static("", id="error", markup=False)
            yield from _buttons("Create")

    def answer(self) -> dict:
        q = self.query_one
        topic = parse_topic(q("#topic", Input).value)
        runs = parse_run_ids(q("#runs", Input).value, self.known)
        note = q("#note", Input).value.strip() or None
        return {"topic": topic, "runs": runs, "note": note}


class TagRunsModal(Dialog):
    """Runs to add to day N (``iejtui tag RUN ... --day N``)."""

    DEFAULT_CSS = _CSS.format(cls="TagRunsModal")

    def __init__(self, day: str, topic: str, runs: str, known: Collection[int], from_selection: bool):
        super().__init__()
        self.day, self.topic, self.runs = day, topic, runs
        self.known = known
        self.from_selection = from_selection

    def compose(self):
        hint = ("filled in from the runs selected on the Runs screen" if self.from_selection
                else "ids separated by spaces, e.g. 3 5 7")
        with Vertical():
            yield Static(f"[b]Tag runs into day {self.day}[/b] [$text-muted]({escape(self.topic)}) · enter tags · "
                         "esc cancels[/]", classes="title")
            yield from _field("runs", Input(self.runs, placeholder="e.g. 3 5 7", id="runs", compact=True))
            yield Static(hint, classes="hint", markup=False)
            yield Static("", id="error", markup=False)
            yield from _buttons("Tag")

    def answer(self) -> list[int]:
        return parse_run_ids(self.query_one("#runs", Input).value, self.known, required=True)


class ExportModal(Dialog):
    """Where to write day N as markdown (``iejtui export --day N -o FILE``)."""

    DEFAULT_CSS = _CSS.format(cls="ExportModal")

    def __init__(self, day: str, root: Path, default: str):
        super().__init__()
        self.day, self.root, self.default = day, root, default

    def compose(self):
        with Vertical():
            yield Static(f"[b]Export day {self.day} to markdown[/b]   [$text-muted]enter writes · esc cancels[/]",
                         classes="title")
            yield from _field("file", Input(self.default, id="path", compact=True))
            yield Static("relative paths are inside the journal folder; chart links are relative to the file",
                         classes="hint", markup=False)
            yield Static("", id="error", markup=False)
            yield from _buttons("Export")

    def answer(self) -> str:
        text = self.query_one("#path", Input).value.strip()
        if not text:
            raise ValueError("give a file to write, e.g. exports/day.md")
        p = Path(text).expanduser()
        p = p if p.is_absolute() else self.root / p
        if p.is_dir():
            raise ValueError(f"{text} is a folder: give a file name, e.g. {text.rstrip('/')}/day.md")
        return text
