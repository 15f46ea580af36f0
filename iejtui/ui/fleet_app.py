"""``iejtui fleet --prometheus URL``: the fleet screen on its own (no local service needed
until a window is imported into the journal)."""

from __future__ import annotations

from textual.app import App

from iejtui.paths import JournalPaths
from iejtui.ui.screens.fleet import FleetScreen


class FleetApp(App):
    TITLE = "iejtui fleet"
    CSS_PATH = "app.tcss"
    BINDINGS = [("q", "quit", "Quit")]

    def __init__(self, url: str, window_s: float = 60.0, timeout_s: float = 5.0, paths: JournalPaths | None = None,
                 refresh_s: float = 1.0):
        super().__init__()
        self.prometheus_url = url
        self.paths = paths
        self.refresh_s = refresh_s
        self._screen_args = (url, window_s, timeout_s)

    def on_mount(self) -> None:
        url, window_s, timeout_s = self._screen_args
        self.push_screen(FleetScreen(url, window_s, timeout_s))


def run_fleet_app(url: str, window_s: float = 60.0, timeout_s: float = 5.0, paths: JournalPaths | None = None) -> None:
    FleetApp(url, window_s, timeout_s, paths).run()
