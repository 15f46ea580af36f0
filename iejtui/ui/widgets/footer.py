"""The Footer, recomposed only when what it shows changes.

Textual's Footer rebuilds all its keys whenever the screen's bindings *may* have changed:
on every mode switch, focus change and screen resume. Each key is a widget whose styles
are recomputed on mount (~4 ms apiece here), so a switch between two screens spent
~100 ms rebuilding footers that show exactly what they showed before. This one compares
what it would show with what it shows and skips the rebuild when they are equal.
"""

from __future__ import annotations

from textual.app import ComposeResult
from textual.screen import Screen
from textual.widgets import Footer
from textual.widgets._footer import FooterKey, FooterLabel, KeyGroup  # textual is pinned (8.2.8)


def shown_bindings(screen: Screen) -> tuple:
    """What a footer on ``screen`` shows: (key, action, description, enabled) per key."""
    return tuple((b.key, b.action, b.description, b.key_display, enabled)
                 for (_, b, enabled, _tooltip) in screen.active_bindings.values() if b.show)


NARROW = 120  # below this many columns the footer drops its padding (80×24 fits more keys)
NAV_ACTION = "switch_mode("  # the screen keys (d r e b j), grouped as one "screens" entry when narrow
LAST_ACTIONS = ("help", "quit")


class QuietFooter(Footer):
    """``textual.widgets.Footer`` without rebuilds that change nothing; compact when narrow."""

    DEFAULT_CSS = """
    QuietFooter.-compact KeyGroup.-screens FooterKey.-grouped { margin: 0 1 0 0; }
    QuietFooter.-compact FooterLabel { margin: 0 1 0 0; }
    """

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._shown: tuple | None = None

    def on_mount(self) -> None:
        super().on_mount()
        self._fit()

    def on_resize(self) -> None:
        if self._fit() and self._shown is not None:
            self.call_after_refresh(self.recompose)

    def compose(self) -> ComposeResult:
        """Wide: Textual's footer. Narrow: the screen's own keys first, then the screen keys
        as one group ("d r e b j screens"; each key's tooltip names its screen), then help
        and quit, so that every screen's keys fit in 80 columns."""
        if not self.compact:
            yield from super().compose()
            return
        if not self._bindings_ready:
            return
        shown: dict[str, tuple] = {}
        for (_, binding, enabled, tooltip) in self.screen.active_bindings.values():
            if binding.show:
                shown.setdefault(binding.action, (binding, enabled, tooltip))
        nav = [v for a, v in shown.items() if a.startswith(NAV_ACTION)]
        last = [v for a, v in shown.items() if a in LAST_ACTIONS]
        own = [v for a, v in shown.items() if not a.startswith(NAV_ACTION) and a not in LAST_ACTIONS]

        def key(binding, enabled, tooltip, description=None, classes=""):
            return FooterKey(binding.key, self.app.get_key_display(binding),
                             binding.description if description is None else description, binding.action,
                             disabled=not enabled, tooltip=tooltip or binding.description,
                             classes=classes).data_bind(compact=Footer.compact)
        for v in own:
            yield key(*v)
        if nav:
            with KeyGroup(classes="-screens"):
                for v in nav:
                    yield key(*v, description="", classes="-grouped")
            yield FooterLabel("screens")
        for v in last:
            yield key(*v)

    def _fit(self) -> bool:
        """Narrow: no padding, and no palette key (ctrl+p still opens it; `?` lists it), so
        that every key of a screen fits in 80 columns. True when that changed."""
        narrow = self.app.size.width < NARROW
        changed = self.compact != narrow
        self.compact = narrow
        self.show_command_palette = not narrow
        return changed

    def bindings_changed(self, screen: Screen) -> None:
        self._bindings_ready = True
        if not screen.app.app_focus:
            return
        if self.is_attached and screen is self.screen:
            shown = shown_bindings(screen)
            if shown == self._shown:
                return
            self._shown = shown
            self.call_after_refresh(self.recompose)
