"""The one lifecycle of every screen that refreshes itself (Dashboard, Runs, Run view,
Engines, Bench, Fleet, Journal).

- **One read at a time**: ``load()`` starts the screen's read (``start_read``, a worker);
  a ``load()`` while a read runs is remembered and served once that read is drawn (a zoom
  or a new selection is never lost, and reads never overlap, so a ``Feed`` is never used
  by two threads at once).
- **One timer**: the read, drawn, ends with ``read_again(delay)``; the next read starts
  ``delay`` seconds later (``None``: not until something asks), only while the screen is
  shown and ``can_read()``. Hidden screens stop their timer and read again on return.
- **One way back to the UI thread**: a worker hands its result to ``hand_back(draw, ...)``,
  which calls ``draw`` on the UI thread, or drops it when the screen has left meanwhile
  (a read that finished after esc). Thread workers wait for the draw, as
  ``call_from_thread`` does; async workers already run on the UI thread.
- **Sources closed once**: ``self.feed`` (journal.db) is closed on unmount; other sources
  (a Prometheus client) close in ``close_sources``.

Subclasses do not define ``on_screen_resume``/``on_screen_suspend``/``on_unmount`` (Textual
calls every class's handler along the MRO): they start their first read in ``on_mount``.
I/O (store reads, socket calls, file reads) runs only in ``@work`` functions;
``tests/unit/test_ui_lifecycle.py`` checks it.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from textual.screen import Screen
from textual.timer import Timer

from iejtui.ui.feed import Feed


class PolledScreen(Screen):
    """Subclasses create their source on mount (``self.feed``, or their own), call ``load()``,
    implement ``start_read`` (a worker ending in ``hand_back(draw, ...)``, whose ``draw``
    ends with ``read_again(delay)``) and may veto reads with ``can_read``."""

    def __init__(self) -> None:
        super().__init__()
        self.feed: Feed | None = None
        self._timer: Timer | None = None
        self._busy = False
        self._pending = False  # load() asked while a read ran: read again once it is drawn
        self._drawn = False  # a first read was drawn: a return to the screen reads again

    # ---- what a subclass provides ---------------------------------------------------------------
    def can_read(self) -> bool:
        return True

    def start_read(self) -> None:
        raise NotImplementedError

    def returned(self) -> None:
        """The screen is shown again (a ``load()`` follows): e.g. mark the next read full."""

    def close_sources(self) -> None:
        """Close sources other than ``self.feed`` (called once, when the screen goes)."""

    # ---- the lifecycle -------------------------------------------------------------------------
    def load(self) -> None:
        """Read now (or, while a read runs, right after it)."""
        self._stop_timer()
        if not self.can_read():
            return
        if self._busy:
            self._pending = True
            return
        self._busy = True
        self.start_read()

    def read_again(self, delay: float | None) -> None:
        """The read is drawn: the next one in ``delay`` seconds (None: when asked), while
        shown and allowed; at once if a ``load()`` came meanwhile."""
        self._busy = False
        self._drawn = True
        self._stop_timer()
        if self._pending:
            self._pending = False
            self.load()
        elif delay is not None and self.is_current and self.can_read():
            self._timer = self.set_timer(delay, self.load)

    def hand_back(self, draw: Callable[..., object], *args, **kwargs) -> None:
        """From a worker: ``draw(*args, **kwargs)`` on the UI thread, unless the screen has left."""
        if threading.get_ident() == self.app._thread_id:  # an async worker: already on the UI thread
            self._hand_back(draw, args, kwargs)
        else:
            self.app.call_from_thread(self._hand_back, draw, args, kwargs)

    def _hand_back(self, draw: Callable[..., object], args: tuple, kwargs: dict):
        if self.is_attached:
            return draw(*args, **kwargs)
        return None

    def _stop_timer(self) -> None:
        if self._timer is not None:
            self._timer.stop()
            self._timer = None

    def on_screen_resume(self) -> None:
        if self._drawn and self._timer is None and not self._busy:
            self.returned()
            self.load()

    def on_screen_suspend(self) -> None:
        self._stop_timer()

    async def on_unmount(self) -> None:
        self._stop_timer()
        if self.feed is not None:
            self.feed.close()
        result = self.close_sources()
        if result is not None:
            await result
