"""The service side of process sampling: each launched engine's process tree, every tick.

Beside the GPU sampler: the engine's CPU use, resident memory and the host's memory go
into the engine's own run (source ``proc``, ``collectors.host_procs``), so the dashboard,
the run history and a replay read them like any engine series. Only engines this service
launched are sampled (it knows their pids: the wrapper leads the process group, the tree
below it is the engine and its workers); an attached engine is someone else's process.
Sampled while ready, like the scrapes (a run's window is where its metrics lie).
Reads run on one worker thread: psutil's /proc reads never block the event loop.
"""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Mapping

from iejtui.store.vocab import RunStatus

if TYPE_CHECKING:
    from iejtui.service.context import ServiceContext
    from iejtui.service.engines import EngineHandle


class ProcSampler:
    def __init__(self, ctx: "ServiceContext", engines: Mapping[str, "EngineHandle"]):
        from collectors.host_procs import ProcTreeCollector
        self.ctx = ctx
        self.engines = engines
        self.collector = ProcTreeCollector()
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="iejtui-procs")
        self._busy = False

    def _roots(self) -> list[tuple[int, int]]:
        out = []
        for h in self.engines.values():
            if h.owned and h.pid is not None and h.status == RunStatus.READY and not h.stopping:
                out.append((h.run_id, h.pid.pgid))
        return out

    def _read(self, roots: list[tuple[int, int]]):
        return [(rid, self.collector.tick(pid)) for rid, pid in roots]

    async def tick(self) -> None:
        if self._busy:
            return
        roots = self._roots()
        if not roots:
            return
        self._busy = True
        try:
            got = await asyncio.get_running_loop().run_in_executor(self._pool, self._read, roots)
        finally:
            self._busy = False
        for run_id, frame in got:
            if frame is not None:
                await self.ctx.db(self.ctx.writer.add_frames, run_id, [frame])

    def close(self) -> None:
        self._pool.shutdown(wait=False)
