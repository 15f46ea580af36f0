"""The sampler: every ``scrape_interval`` it scrapes each ready engine, ticks the GPUs and
flushes the writer's batch to journal.db.

Decisions: each scrape runs in the background under its own key (``ServiceContext.spawn``):
a slow or hung engine never delays the others, and never overlaps itself. A tick that
falls behind (suspend, overload) skips the missed ticks, never bursts. A write that fails
(disk full, I/O error) is kept as ``write_error`` and retried on the next tick.
``scrape_engine`` is the one scrape of an engine, also called by the supervisor.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import time
from typing import TYPE_CHECKING, Callable

from collectors.records import Frame
from iejtui.service.context import ServiceContext
from iejtui.service.engines import EngineHandle
from iejtui.store.vocab import RunStatus

if TYPE_CHECKING:
    from iejtui.service.supervisor import EngineSupervisor

log = logging.getLogger("iejtui.service")


async def scrape_engine(ctx: ServiceContext, h: EngineHandle) -> Frame | None:
    """Scrape one engine and queue what it answered for the writer (frames, then events);
    the engine's main frame, None when it did not answer."""
    res = await h.adapter.collect(ctx.scraper, h.url)
    if res.frame is not None:
        await ctx.db(ctx.writer.add_frames, h.run_id, [res.frame, *res.frames])
        h.latest_frames.update((f.source, f) for f in (res.frame, *res.frames))
        h.last_scrape_ok = res.frame.ts
        h.scrape_error = None
    else:
        h.scrape_error = res.events[0].message if res.events else (res.error or h.scrape_error)
    for ev in res.events:  # the scraper reports each condition once, when it appears
        await ctx.db(ctx.writer.add_event, h.run_id, ev)
    return res.frame


class Sampler:
    def __init__(self, ctx: ServiceContext, supervisor: "EngineSupervisor"):
        self.ctx = ctx
        self.supervisor = supervisor
        #: called after each flush (the advisor reads what was just stored)
        self.after_flush: list[Callable[[], None]] = []

    async def loop(self) -> None:
        interval = self.ctx.config.service.scrape_interval
        next_t = time.monotonic()
        while True:
            next_t += interval
            try:
                await self.once()
            except Exception:
                log.exception("sample")
            delay = next_t - time.monotonic()
            if delay < 0:  # fell behind (suspend, overload): skip missed ticks, never burst
                next_t = time.monotonic()
                delay = 0
            await asyncio.sleep(delay)

    async def _scrape(self, h: EngineHandle) -> None:
        """One scrape; with ``after_flush`` hooks (the advisor), its frame is flushed at once
        and the hooks run, so a finding is said within a scrape of its tick, not a tick later."""
        frame = await scrape_engine(self.ctx, h)
        if frame is None or not self.after_flush:
            return
        try:
            await self.ctx.db(self.ctx.writer.flush)
        except sqlite3.Error:
            return  # the tick's own flush reports it
        for hook in self.after_flush:
            hook()

    async def once(self) -> None:
        ctx = self.ctx
        now = time.time()
        for h in self.supervisor.engines.values():
            if h.status == RunStatus.READY and not h.stopping and h.adapter.metrics_path:
                ctx.spawn(f"scrape:{h.name}", self._scrape(h))
            elif not h.owned and h.status == RunStatus.STARTING and now - h.last_probe >= 1:
                h.last_probe = now  # attached engines: come back to life
                ctx.spawn(f"probe:{h.name}", self.supervisor.probe(h))
        ctx.spawn("gpu", ctx.gpus.tick())
        if ctx.procs is not None:
            ctx.spawn("procs", ctx.procs.tick())
        try:
            wrote = await ctx.db(ctx.writer.flush)
            if ctx.write_error and wrote:
                log.warning("journal writes work again")
                ctx.write_error = None
            for hook in self.after_flush:
                hook()
        except sqlite3.Error as exc:  # disk full, I/O error: keep running, say so, retry next tick
            from iejtui.store.faults import write_error
            text = write_error(exc, ctx.paths.db)
            if ctx.write_error != text:
                log.error("cannot write journal.db: %s", text)
            ctx.write_error = text
