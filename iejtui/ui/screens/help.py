"""``?``: the keys of the screen underneath and of the app, and what the figures mean."""

from __future__ import annotations

from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.content import Content
from textual.screen import ModalScreen, Screen
from textual.widgets import Static

FIGURES = (
    ("kernel-active", "NVML 'utilization': the share of time any kernel ran; one busy SM of 132 reads 100%."),
    ("SM-active", "GPM: the share of SMs busy. Its gap to kernel-active is headroom that 100% hides."),
    ("tensor·DRAM", "GPM: tensor-core and memory-bandwidth activity."),
    ("throttle", "decoded clock-event reasons (sw_power_cap, hw_thermal_slowdown…); none: full clocks."),
    ("n/a", "the engine or GPU does not report this figure (never shown as 0)."),
    ("stale since", "the source stopped answering: the panel says since when, never its last numbers."),
    ("rates · latency", "live: rates and gauges over the last 10 s, percentiles over the last 60 s;"),
    ("", "a run's window: everything over the window shown."),
)


def figures_table() -> Content:
    rows = [Content.styled("Reading the figures", "bold")]
    for term, text in FIGURES:
        style = "$error" if term == "stale since" else "$accent"
        rows.append(Content.assemble((term.rjust(16), style), "  ", text))
    rows.append(Content(""))
    rows.append(Content.styled("Quitting the TUI stops nothing: engines and recording keep running in the service.",
                               "italic"))
    return Content("\n").join(rows)


HIDDEN_PREFIXES = ("scroll_", "page_")  # every scrolling widget's keys: noise here


def keys_table(screen: Screen) -> Content:
    """Every key the screen answers (focused widget, screen, app), one action per row."""
    by_action: dict[str, list] = {}
    for key, active in screen.active_bindings.items():
        b: Binding = active.binding
        if not b.description or b.action.startswith(HIDDEN_PREFIXES):
            continue
        shown = b.key_display or screen.app.get_key_display(b)
        entry = by_action.setdefault(b.action, [[], b])
        if shown not in entry[0]:
            entry[0].append(shown)
    rows = []
    for keys, b in by_action.values():
        rows.append(Content.assemble((" / ".join(keys).rjust(12), "bold $accent"), "  ",
                                     (b.description.ljust(14), "bold"), "  ", (b.tooltip or "", "$text-muted")))
    return Content("\n").join(rows)


class HelpScreen(ModalScreen[None]):
    BINDINGS = [Binding("escape,question_mark,q", "close", "Close", key_display="esc")]
    DEFAULT_CSS = """
    HelpScreen { align: center middle; }
    HelpScreen > VerticalScroll {
        width: 110; max-width: 100%; height: auto; max-height: 100%;
        border: round $accent; background: $surface; padding: 0 1;
    }
    HelpScreen Static { width: 1fr; }
    HelpScreen .section { margin-top: 1; }
    """

    def __init__(self, under: Screen):
        super().__init__()
        self.under = under

    def compose(self):
        with VerticalScroll():
            title = type(self.under).__name__.replace("Screen", "")
            yield Static(f"[b]Keys · {title}[/b]   [$text-muted]ctrl+p: every action by name · esc closes[/]")
            yield Static(keys_table(self.under), classes="section")
            yield Static(figures_table(), classes="section")

    def on_mount(self) -> None:
        self.border_title = "help"

    def action_close(self) -> None:
        self.dismiss(None)
