"""Modal dialogs: start an engine (a profile or an ad-hoc command), start a benchmark, confirm a stop."""

from __future__ import annotations

import shlex

from textual import on
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Select, Static

from iejtui.config import ENGINE_KINDS, EngineProfile

ADHOC = "__adhoc__"


def start_payload(profile: str, name: str, kind: str, command: str, url: str) -> dict:
    """The service's POST /v1/engines body for the dialog's fields (raises ValueError)."""
    name = name.strip()
    if profile != ADHOC:
        return {"name": name or profile, "profile": profile}
    if not name:
        raise ValueError("give the engine a name")
    try:
        argv = shlex.split(command)
    except ValueError as exc:
        raise ValueError(f"command: {exc}") from None
    url = url.strip()
    if not argv and not url:
        raise ValueError("give a command to launch, or a URL to attach to")
    if not argv:
        return {"name": name, "kind": kind, "url": url, "attach": True}
    body = {"name": name, "kind": kind, "argv": argv}
    if url:
        body["url"] = url
    return body


class Dialog(ModalScreen):
    """The one modal base of the TUI. esc cancels (dismisses ``CANCEL``); ctrl+s, enter in a
    field, or the ``#ok``/``#start`` button submit: ``answer()``'s value dismisses the dialog,
    a ``ValueError``'s message is shown in ``#error`` and the dialog stays. Inputs do not
    blink (no redraw twice a second over SSH); ``FOCUS`` (a selector) or the first input
    takes the focus. Dialogs check what was typed (ExportModal also asks whether the path is a
    folder: one stat on submit); the screens do the work."""

    BINDINGS = [Binding("escape", "cancel", "Cancel", tooltip="Close without doing anything"),
                Binding("ctrl+s", "submit", "Submit", tooltip="Check the fields and go")]
    CANCEL: object = None
    FOCUS: str | None = None

    def on_mount(self) -> None:
        boxes = self.query(Input)
        for box in boxes:
            box.cursor_blink = False
        target = self.query_one(self.FOCUS) if self.FOCUS else boxes.first() if boxes else None
        if target is not None:
            target.focus()

    def answer(self):
        """The dialog's result; raise ValueError (shown in #error) to keep the dialog open."""
        raise NotImplementedError

    def show_error(self, text: str) -> None:
        self.query_one("#error", Static).update(text)

    @on(Button.Pressed, "#cancel")
    def action_cancel(self) -> None:
        self.dismiss(self.CANCEL)

    @on(Button.Pressed, "#start")
    @on(Button.Pressed, "#ok")
    @on(Input.Submitted)
    def action_submit(self) -> None:
        try:
            result = self.answer()
        except ValueError as exc:
            self.show_error(str(exc))
            return
        self.dismiss(result)


_FORM_CSS = """
{cls} {{ align: center middle; }}
{cls} > Vertical {{
    width: {width}; max-width: 100%; height: auto; padding: 1 2;
    border: round $accent; background: $surface;
}}
{cls} Label {{ color: $text-muted; margin-top: 1; }}
{cls} #error {{ color: $error; height: auto; }}
{cls} Horizontal {{ height: auto; margin-top: 1; align-horizontal: right; }}
{cls} Button {{ margin-left: 2; }}
"""


class StartEngineModal(Dialog):
    """Pick a profile from iejtui.toml, or type a command line (or a URL to attach to)."""

    DEFAULT_CSS = _FORM_CSS.format(cls="StartEngineModal", width=76) + """
    StartEngineModal .-adhoc-only { display: none; }
    StartEngineModal.-adhoc .-adhoc-only { display: block; }
    """
    FOCUS = "#profile"

    def __init__(self, profiles: dict[str, EngineProfile], error: str | None = None):
        super().__init__()
        self.profiles = profiles
        self.initial_error = error

    def compose(self):
        options = [(f"{n}  ({p.kind}: {' '.join(p.argv)[:48] or p.url})", n) for n, p in self.profiles.items()]
        options.append(("ad-hoc command or URL…", ADHOC))
        with Vertical():
            yield Static("[b]Start an engine[/b]   [$text-muted]ctrl+s starts · esc cancels[/]")
            yield Label("profile (iejtui.toml)")
            yield Select(options, value=options[0][1], allow_blank=False, id="profile")
            yield Label("name")
            yield Input(placeholder="engine name (default: the profile's)", id="name")
            yield Label("kind", classes="-adhoc-only")
            yield Select([(k, k) for k in ENGINE_KINDS], value="vllm", allow_blank=False, id="kind",
                         classes="-adhoc-only")
            yield Label("command (argv; shell quoting)", classes="-adhoc-only")
            yield Input(placeholder="vllm serve /models/x --port 8000", id="command", classes="-adhoc-only")
            yield Label("url (optional; alone: attach to a running engine)", classes="-adhoc-only")
            yield Input(placeholder="http://127.0.0.1:8000", id="url", classes="-adhoc-only")
            yield Static(self.initial_error or "", id="error", markup=False)
            with Horizontal():
                yield Button("Cancel", id="cancel")
                yield Button("Start", id="start", variant="primary")

    def on_mount(self) -> None:
        self._sync()

    @on(Select.Changed, "#profile")
    def _sync(self) -> None:
        adhoc = self.query_one("#profile", Select).value == ADHOC
        self.set_class(adhoc, "-adhoc")

    def answer(self) -> dict:
        q = self.query_one
        return start_payload(str(q("#profile", Select).value), q("#name", Input).value,
                             str(q("#kind", Select).value), q("#command", Input).value, q("#url", Input).value)


class ConfirmModal(Dialog):
    """A yes/no question answered from the keyboard (y / enter / ctrl+s: yes, n / esc: no)."""

    BINDINGS = [Binding("y,enter", "answer(True)", "Yes"), Binding("n", "answer(False)", "No")]
    CANCEL = False
    DEFAULT_CSS = """
    ConfirmModal { align: center middle; }
    ConfirmModal > Vertical {
        width: 60; max-width: 100%; height: auto; padding: 1 2;
        border: round $warning; background: $surface;
    }
    ConfirmModal .hint { color: $text-muted; margin-top: 1; }
    """

    def __init__(self, question: str):
        super().__init__()
        self.question = question

    def compose(self):
        with Vertical():
            yield Static(self.question, markup=False)
            yield Static("y / enter: yes    n / esc: no", classes="hint")

    def answer(self) -> bool:
        return True

    def action_answer(self, yes: bool) -> None:
        self.dismiss(yes)


DEFAULT_BENCH_FLAGS = ("--dataset-name random --num-prompts 64 --max-concurrency 8 "
                       "--random-input-len 128 --random-output-len 64 --ignore-eos --seed 0")


def bench_payload(engine: str, name: str, flags: str) -> dict:
    """The service's POST /v1/benches body for the dialog's fields (raises ValueError with the
    message ``iejtui bench`` would print for the same flags)."""
    from collectors.loadgen.config import BenchUsageError, parse_args
    try:
        argv = shlex.split(flags)
    except ValueError as exc:
        raise ValueError(f"flags: {exc}") from None
    if any(a == "--base-url" or a.startswith("--base-url=") for a in argv):
        raise ValueError("the engine picked above is the target: drop --base-url")
    try:
        parse_args(argv)
    except BenchUsageError as exc:
        raise ValueError(str(exc)) from None
    body = {"engine": engine, "argv": argv}
    if name.strip():
        body["name"] = name.strip()
    return body


def bench_profile(text: str) -> dict:
    """The dialog's profile field as POST /v1/benches keys: blank/off → none, ``all`` → the
    whole measured window, a number → that many seconds of it (ValueError: the message)."""
    t = text.strip().lower()
    if t in ("", "off", "no"):
        return {}
    if t in ("all", "on", "yes"):
        return {"profile": True}
    try:
        seconds = float(t)
    except ValueError:
        raise ValueError(f"profile: {text.strip()!r} is not 'all', a number of seconds or blank") from None
    if not seconds > 0:
        raise ValueError("profile: seconds must be positive")
    return {"profile": True, "profile_seconds": seconds}


class StartBenchModal(Dialog):
    """Benchmark a running engine with `vllm bench serve` flags, checked before anything starts."""

    DEFAULT_CSS = _FORM_CSS.format(cls="StartBenchModal", width=90)
    FOCUS = "#flags"

    def __init__(self, engines: list[str]):
        super().__init__()
        self.engines = engines

    def compose(self):
        with Vertical():
            yield Static("[b]Benchmark an engine[/b]   [$text-muted]ctrl+s starts · esc cancels[/]")
            yield Label("engine (ready)")
            yield Select([(e, e) for e in self.engines], value=self.engines[0], allow_blank=False, id="engine")
            yield Label("flags (as for `vllm bench serve`)")
            yield Input(value=DEFAULT_BENCH_FLAGS, id="flags")
            yield Label("name (optional)")
            yield Input(placeholder="bench-ENGINE", id="name")
            yield Label("profile (optional: 'all' = the measured window, N = N seconds of it)")
            yield Input(placeholder="off", id="profile")
            yield Static("", id="error", markup=False)
            with Horizontal():
                yield Button("Cancel", id="cancel")
                yield Button("Start", id="start", variant="primary")

    def answer(self) -> dict:
        q = self.query_one
        body = bench_payload(str(q("#engine", Select).value), q("#name", Input).value, q("#flags", Input).value)
        return {**body, **bench_profile(q("#profile", Input).value)}


def profile_payload(engine: str, seconds: str) -> dict:
    """The service's POST /v1/profiles body for the dialog's field (ValueError: the message)."""
    try:
        value = float(seconds.strip())
    except ValueError:
        raise ValueError(f"seconds: {seconds.strip()!r} is not a number") from None
    if not 0 < value <= 3600:
        raise ValueError("seconds: between 0 and 3600 (traces grow fast: a few seconds is plenty)")
    return {"engine": engine, "seconds": value}


class ProfileModal(Dialog):
    """Profile a running engine for N seconds (a ``profile`` run, as `iejtui profile`)."""

    DEFAULT_CSS = _FORM_CSS.format(cls="ProfileModal", width=64)

    def __init__(self, engine: str):
        super().__init__()
        self.engine = engine

    def compose(self):
        with Vertical():
            yield Static(f"[b]Profile {self.engine}[/b]   [$text-muted]ctrl+s starts · esc cancels[/]")
            yield Label("seconds (the torch profiler's window over whatever it serves)")
            yield Input(value="5", id="seconds")
            yield Static("", id="error", markup=False)
            with Horizontal():
                yield Button("Cancel", id="cancel")
                yield Button("Start", id="start", variant="primary")

    def answer(self) -> dict:
        return profile_payload(self.engine, self.query_one("#seconds", Input).value)


class TextModal(Dialog):
    """Preformatted text (a plotext chart) over the screen; esc / q / ctrl+s closes it."""

    BINDINGS = [Binding("q", "cancel", "Close")]
    DEFAULT_CSS = """
    TextModal { align: center middle; }
    TextModal > Vertical { width: auto; max-width: 100%; height: auto; padding: 0 1;
                           border: round $accent; background: $surface; }
    TextModal Static { width: auto; }
    TextModal .hint { color: $text-muted; }
    """

    def __init__(self, text: str):
        super().__init__()
        self.text = text

    def compose(self):
        with Vertical():
            yield Static(self.text, markup=False)
            yield Static("esc: close", classes="hint")

    def answer(self) -> None:
        return None
