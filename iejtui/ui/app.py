"""The Textual app: top-level screens as modes, global keys, the command palette.

``run_app(paths)`` is what the CLI calls; ``make_app(paths, clock=...)`` is the factory the
tests use (a frozen clock makes snapshots deterministic). Quitting stops nothing: engines,
benchmarks and recording live in the service.

A new top-level screen (Benchmark, Journal) plugs in with one ``NAV`` entry: a mode name,
its key, its title and a factory.
"""

from __future__ import annotations

import os
import termios
import time
from collections.abc import Callable, Iterable
from functools import partial

from textual.app import App, SystemCommand
from textual.binding import Binding
from textual.screen import Screen

from iejtui.paths import JournalPaths
from iejtui.ui.screens.dashboard import DashboardScreen
from iejtui.ui.widgets.panels import EnginePanelView


def _runs() -> Screen:
    from iejtui.ui.screens.runs import RunsScreen  # imported on first use: a faster first frame
    return RunsScreen()


def _engines() -> Screen:
    from iejtui.ui.screens.engines import EnginesScreen
    return EnginesScreen()


def _bench() -> Screen:
    from iejtui.ui.screens.bench import BenchScreen
    return BenchScreen()


def _fleet() -> Screen:
    from iejtui.ui.screens.fleet import FleetScreen  # Prometheus URL: app.prometheus_url or IEJTUI_PROMETHEUS
    return FleetScreen()


def _journal() -> Screen:
    from iejtui.ui.screens.journal import JournalScreen
    return JournalScreen()


#: top-level screens: (mode, key, title, factory)
NAV: tuple[tuple[str, str, str, Callable[[], Screen]], ...] = (
    ("dashboard", "d", "Dashboard", DashboardScreen),
    ("runs", "r", "Runs", _runs),
    ("engines", "e", "Engines", _engines),
    ("bench", "b", "Bench", _bench),
    ("fleet", "F", "Fleet", _fleet),
    ("journal", "j", "Journal", _journal),
)


class IejtuiApp(App):
    """iejtui: GPUs, engines and runs of one journal."""

    TITLE = "iejtui"
    CSS_PATH = "app.tcss"
    MODES = {mode: factory for mode, _, _, factory in NAV}
    DEFAULT_MODE = "dashboard"
    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (120, "-wide")]
    VERTICAL_BREAKPOINTS = [(0, "-short"), (40, "-tall")]
    BINDINGS = [
        *(Binding(key, f"switch_mode('{mode}')", title, tooltip=f"Show the {title} screen", show=mode != "fleet")
          for mode, key, title, _ in NAV),
        Binding("question_mark", "help", "Help", key_display="?", tooltip="Keys and what the figures mean"),
        Binding("q", "quit", "Quit", tooltip="Leave the TUI; engines and recording keep running"),
    ]

    run_selection: tuple[int, ...] = ()
    """The runs selected on the Runs screen, newest first (what the Journal's dialogs start with)."""

    def __init__(self, paths: JournalPaths, clock: Callable[[], float] = time.time, refresh_s: float = 1.0):
        super().__init__()
        self.paths = paths
        self.clock = clock
        self.refresh_s = refresh_s
        self.sub_title = str(paths.root)

    def now(self) -> float:
        return self.clock()

    # ---- the terminal going away ------------------------------------------------------------
    def on_mount(self) -> None:
        self._tty = _terminal_fd()  # decided once: isatty() itself turns False on a hang-up
        if self._tty is not None:
            self.set_interval(TERMINAL_CHECK_S, self._check_terminal, name="terminal-check")

    def _check_terminal(self) -> None:
        """Quit when the terminal is gone. An SSH drop normally sends SIGHUP, but a TUI that
        lost its terminal without one (nohup, a closed pty, a dead tmux pane) would spin on
        end-of-file in Textual's input thread at a full core, forever."""
        if not terminal_alive(self._tty):
            self.exit(return_code=1)

    # ---- actions ------------------------------------------------------------------------------
    def action_help(self) -> None:
        from iejtui.ui.screens.help import HelpScreen
        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen(self.screen))

    def open_run(self, run_id: int) -> None:
        """Show run ``run_id`` in the history view (over the current mode's screen)."""
        from iejtui.ui.screens.run_view import RunScreen
        self.push_screen(RunScreen(run_id))

    def on_engine_panel_view_open(self, message: EnginePanelView.Open) -> None:
        self.open_run(message.run_id)

    # ---- command palette: every binding of the screen and the app ------------------------------
    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        yield from super().get_system_commands(screen)
        seen: set[str] = set()
        for key, active in screen.active_bindings.items():
            b = active.binding
            if not b.description or b.action in seen or b.action == "command_palette":
                continue
            seen.add(b.action)
            shown = b.key_display or self.get_key_display(b)
            yield SystemCommand(f"{b.description}", f"{b.tooltip or b.description} (key: {shown})",
                                partial(self.run_action, b.action, active.node))


TERMINAL_CHECK_S = 2.0


def _terminal_fd() -> int | None:
    """The terminal the app draws on (stdin when it is a tty), or None (tests, the web)."""
    try:
        return 0 if os.isatty(0) else None
    except (OSError, ValueError):
        return None


def terminal_alive(fd: int | None) -> bool:
    """False once the terminal behind ``fd`` has hung up (its pty master closed: EIO)."""
    if fd is None:
        return True
    try:
        termios.tcgetattr(fd)
    except termios.error:
        return False
    except OSError:
        return False
    return True


def make_app(paths: JournalPaths, clock: Callable[[], float] = time.time, refresh_s: float = 1.0) -> IejtuiApp:
    return IejtuiApp(paths, clock=clock, refresh_s=refresh_s)


def run_app(paths: JournalPaths) -> None:
    """Open the dashboard on ``paths`` (the CLI has started the service already)."""
    make_app(paths).run()
