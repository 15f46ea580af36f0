"""What every part of the service shares: the journal's paths and config, the one writer
thread of journal.db, the HTTP session and scraper, the background-task registry, the
stop flag and the versions recorded with each run.

Decisions: the collaborators (``supervisor``, ``sampler``, ``bench``, ``matrices``,
``recordings``, ``recovery``) get this object, not the ``Service``, so none of them imports
``core`` back and none reaches another's private state; what they need from each other is
passed to them by ``Service`` (``core.py``), which builds and wires them. All SQLite work
goes through ``db``/``writer_call`` (one thread, so writes keep their order).
"""

from __future__ import annotations

import asyncio
import logging
import platform
import socket
import time
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any, Callable, Coroutine

import aiohttp

from collectors.prometheus import Scraper
from collectors.records import Event
from iejtui import __version__
from iejtui.config import Config
from iejtui.paths import JournalPaths
from iejtui.store.writer import Writer

if TYPE_CHECKING:
    from iejtui.service.gpus import GpuSampler
    from iejtui.service.procstats import ProcSampler

log = logging.getLogger("iejtui.service")


class ServiceContext:
    def __init__(self, paths: JournalPaths, config: Config):
        self.paths = paths
        self.config = config
        self.writer: Writer | None = None
        self.scraper: Scraper | None = None
        self.http: aiohttp.ClientSession | None = None
        self.gpus: GpuSampler | None = None  # set by the Service (it needs the engine table)
        self.procs: ProcSampler | None = None  # engines' process trees (set by the Service too)
        self.stopping = asyncio.Event()  # the service is shutting down
        self.loops_started = asyncio.Event()  # the supervise and sample loops run
        self.write_error: str | None = None  # why journal.db cannot be written now (None: it can)
        self._db_pool = ThreadPoolExecutor(1, thread_name_prefix="iejtui-writer")
        self._tasks: list[asyncio.Task] = []  # long-lived tasks, cancelled at stop
        self._inflight: dict[str, asyncio.Task] = {}  # background scrapes and probes by key

    # ---- journal.db --------------------------------------------------------------------
    async def open(self) -> None:
        """Open the writer (on its thread), the scraper and the HTTP session."""
        self.writer = await self.db(Writer, self.paths.db)
        self.scraper = Scraper()
        self.http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=2, connect=1))

    async def close_clients(self) -> None:
        """Close the HTTP session and the scraper (also after a failed start)."""
        if self.scraper:
            await self.scraper.aclose()
        if self.http:
            await self.http.close()

    async def close_writer(self) -> None:
        await self.db(self.writer.close)
        self._db_pool.shutdown(wait=True)

    async def db(self, fn: Callable, *args, **kwargs) -> Any:
        """Run a writer call on the writer thread."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._db_pool, lambda: fn(*args, **kwargs))

    def writer_call(self, fn: Callable, *args) -> None:
        """Queue a writer call from the loop without waiting (ordered: one writer thread)."""
        fut = self._db_pool.submit(fn, *args)
        fut.add_done_callback(lambda f: f.exception() and log.error("writer call failed: %s", f.exception()))

    async def event(self, run_id: int | None, kind: str, message: str, level: str = "info", **data) -> None:
        await self.db(self.writer.add_event, run_id, Event(time.time(), kind, message, level, data or None))

    # ---- background work ---------------------------------------------------------------
    def add_task(self, task: asyncio.Task) -> None:
        """A long-lived task the service cancels when it stops."""
        self._tasks.append(task)

    def spawn(self, key: str, coro: Coroutine) -> None:
        """Run ``coro`` in the background unless the previous one for ``key`` still runs:
        a slow or hung target never delays the others, and never overlaps itself."""
        if key in self._inflight:
            coro.close()
            return
        task = asyncio.create_task(coro, name=key)
        self._inflight[key] = task
        task.add_done_callback(lambda t: self._inflight.pop(key, None))

    async def settle(self, key: str) -> None:
        """Wait for the background task under ``key`` (if one runs) to end, whatever its outcome."""
        task = self._inflight.get(key)
        if task is not None:
            await asyncio.gather(task, return_exceptions=True)

    async def cancel_tasks(self) -> None:
        pending = self._tasks + list(self._inflight.values())
        for t in pending:
            t.cancel()
        await asyncio.gather(*pending, return_exceptions=True)

    # ---- what each run records ---------------------------------------------------------
    def versions(self) -> dict[str, Any]:
        """iejtui, Python, host and (when NVML answers) driver/CUDA/GPU, for a run's record."""
        v = {"iejtui": __version__, "python": platform.python_version(), "host": socket.gethostname()}
        if self.gpus is not None:
            v.update(self.gpus.versions())
        return v

    def gpu_uuids(self) -> list[str]:
        return self.gpus.uuids() if self.gpus is not None else []
