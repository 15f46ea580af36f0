"""The advisor, live: after each flush of the sampler (at most every ``EVERY_S``) the service
reads each live run's trailing window,
steps the rules (``iejtui.advisor.live.LiveAdvisor``, the same state machines ``iejtui advise``
replays) and stores each transition in journal.db as an event:

* ``advisor.firing`` when a rule has held for its ``for:`` (level ``error`` for critical,
  ``warning``, ``info``), stamped at the tick it fired, its finding in the event's data;
* ``advisor.resolved`` at the first tick it stopped holding.

Reading runs in a thread (a Reader on its own connection; the writer thread is not touched
until the events are written), so a slow read never stalls the event loop. ``firing()`` is
what ``status`` and the dashboard show.
"""

from __future__ import annotations

import asyncio
import logging
import time
from concurrent.futures import ThreadPoolExecutor
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any

from collectors.records import Event
from iejtui.advisor.live import LiveAdvisor, Transition
from iejtui.advisor.model import Rule

log = logging.getLogger("iejtui.service.advising")

EVERY_S = 0.9  # at most this often; the sampler flushes every scrape_interval (1 s)
TRAILING_S = 90.0  # read this much of each live run: the longest lead-in (rates, trends) + slack
LEVEL = {"critical": "error", "warning": "warning", "info": "info"}


def transition_event(t: Transition) -> Event:
    """The journal event of one transition (pure)."""
    f = t.finding
    data: dict[str, Any] = {"finding": f.as_json(), "detected_at": time.time()}
    if t.gpu:
        data["gpu"] = t.gpu
    if t.kind == "firing":
        knob = f.knob or {}
        hint = f"; try {knob['flag']} {knob['suggested']}" if knob.get("suggested") else (
            f"; knob: {knob['flag']}" if knob.get("flag") else "")
        return Event(f.fired_at or f.start, "advisor.firing", f"{f.title}: {f.message}{hint}", LEVEL[f.severity], data)
    return Event(f.end or time.time(), "advisor.resolved", f"{f.title}: resolved", "info", data)


class Advising:
    def __init__(self, db_path: Path, rules: Sequence[Rule],
                 live_runs: Callable[[], list[int]],
                 add_events: Callable[[int, list[Event]], Awaitable[None]]):
        self.db_path = db_path
        self.live = LiveAdvisor(rules)
        self._live_runs = live_runs
        self._add_events = add_events
        self._last = 0.0
        self._reader = None  # its own connection, used only on its own thread
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="iejtui-advisor")
        self.cost_s = 0.0  # CPU seconds of the last evaluation (status shows it)

    def due(self, now: float) -> bool:
        return now - self._last >= EVERY_S

    def _read(self, run_ids: list[int], now: float) -> list[tuple[int, list[Transition]]]:
        from iejtui.advisor.run_inputs import read_inputs
        from iejtui.store import Reader
        t0 = time.process_time()
        if self._reader is None:
            self._reader = Reader(self.db_path)
        out = []
        for rid in run_ids:
            run = self._reader.run(rid)
            if run is None:
                continue
            inp = read_inputs(self._reader, run, now=now, since=now - TRAILING_S)
            out.append((rid, self.live.update(rid, inp)))
        for rid in self.live.run_ids():
            if rid not in run_ids:  # ended: a still-firing finding's end is the run's (advise shows it)
                self.live.forget(rid)
        self.cost_s = time.process_time() - t0
        return out

    async def guarded_tick(self) -> None:
        """``tick``; a failing evaluation is logged, never fatal to the service."""
        try:
            await self.tick()
        except Exception:  # noqa: BLE001 - the advisor must never take the service down
            log.exception("advisor")

    async def tick(self) -> None:
        """One evaluation of every live run; transitions go to journal.db as events."""
        now = time.time()
        self._last = now
        run_ids = self._live_runs()
        if not run_ids and not self.live.run_ids():
            return
        results = await asyncio.get_running_loop().run_in_executor(self._pool, self._read, run_ids, now)
        for rid, transitions in results:
            if transitions:
                await self._add_events(rid, [transition_event(t) for t in transitions])

    def firing(self) -> list[dict[str, Any]]:
        """Findings firing now, most severe first: ``[{run_id, rule, severity, title,
        message, knob, since}]``."""
        return [{"run_id": rid, "rule": f.rule, "severity": f.severity, "title": f.title,
                 "message": f.message, "knob": f.knob, "since": f.fired_at}
                for rid, f in self.live.firing()]

    def close(self) -> None:
        def _close():
            if self._reader is not None:
                self._reader.close()
                self._reader = None
        self._pool.submit(_close).result(timeout=10)
        self._pool.shutdown(wait=False)
