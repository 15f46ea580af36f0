"""The Footer, recomposed only when what it shows changes.

Textual's Footer rebuilds all its keys whenever the screen's bindings *may* have changed:
on every mode switch, focus change and screen resume. Each key is a widget whose styles
are recomputed on mount (~4 ms apiece here), so a switch between two screens spent
~100 ms rebuilding footers that show exactly what they showed before. This one compares
what it would show with what it shows and skips the rebuild when they are equal.
"""

from __future__ import annotations

from textual.screen import Screen
from textual.widgets import Footer


def shown_bindings(screen: Screen) -> tuple:
    """What a footer on ``screen`` shows: (key, action, description, enabled) per key."""
    return tuple((b.key, b.action, b.description, b.key_display, enabled)
                 for (_, b, enabled, _tooltip) in screen.active_bindings.values() if b.show)


NARROW = 120  # below this many columns the footer drops its padding (80×24 fits more keys)


class QuietFooter(Footer):
    """``textual.widgets.Footer`` without rebuilds that change nothing; compact when narrow."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._shown: tuple | None = None

    def on_mount(self) -> None:
        super().on_mount()
        self._fit()

    def on_resize(self) -> None:
        if self._fit() and self._shown is not None:
            self.call_after_refresh(self.recompose)

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
