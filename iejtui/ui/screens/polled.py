"""A screen that refreshes from its own feed: one read at a time on a worker, the timer
re-armed by the screen when the read is drawn, paused while hidden, the feed closed when
the screen goes."""

from __future__ import annotations

from textual.screen import Screen
from textual.timer import Timer

from iejtui.ui.feed import Feed


class PolledScreen(Screen):
    """Subclasses create ``self.feed`` on mount, implement ``start_read`` (a worker whose
    result, drawn on the UI thread, ends with ``read_again(delay)``) and may veto a read
    with ``can_read``."""

    def __init__(self) -> None:
        super().__init__()
        self.feed: Feed | None = None
        self._timer: Timer | None = None
        self._busy = False

    def can_read(self) -> bool:
        return True

    def start_read(self) -> None:
        raise NotImplementedError

    def load(self) -> None:
        self._stop_timer()
        if self._busy or not self.can_read():
            return
        self._busy = True
        self.start_read()

    def read_again(self, delay: float) -> None:
        """The read is drawn: the next one in ``delay`` seconds, while shown and allowed."""
        self._busy = False
        if self.is_current and self.can_read():
            self._timer = self.set_timer(delay, self.load)

    def _stop_timer(self) -> None:
        if self._timer is not None:
            self._timer.stop()
            self._timer = None

    def on_screen_resume(self) -> None:
        if self.feed is not None and self._timer is None and not self._busy:
            self.load()

    def on_screen_suspend(self) -> None:
        self._stop_timer()

    def on_unmount(self) -> None:
        if self.feed is not None:
            self.feed.close()
