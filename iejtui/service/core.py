"""The service: owns engines, collectors and the writer of journal.db for one journal.

All SQLite work runs on one writer thread, all NVML work on another; the event loop only
schedules, talks HTTP and supervises processes.

Decisions: ``Service`` only builds and wires its collaborators, starts and stops them in
order and answers ``status``. Each collaborator has a public interface and gets what it
needs passed in — the shared ``ServiceContext`` (``context.py``: writer thread, events,
versions, background tasks, stop flag) and the collaborators it talks to:

- ``EngineSupervisor`` (``supervisor.py``): the engine table; start, attach, probe, stop, finish;
- ``Sampler`` (``sampler.py``): scrapes, GPU ticks, writer flushes;
- ``GpuSampler`` (``gpus.py``): NVML and the host's ``gpu@HOST`` run;
- ``ProcSampler`` (``procstats.py``): launched engines' process trees (CPU, RSS) into their runs;
- ``BenchRunner`` (``bench.py``): benchmark jobs; stops those whose engine ends;
- ``MatrixRunner`` (``matrices.py``, ``matrix_job.py``): grids of engines × benches;
- ``Recordings`` (``recordings.py``) and ``recover`` (``recovery.py``, once at start);
- ``Advising`` (``advising.py``): the advisor's rules over every live run, findings as events.

No collaborator imports this module (``tests/unit/test_import_hygiene.py`` holds the
service free of module loops and of cross-module private access).
"""

from __future__ import annotations

import asyncio
import os
import time
from typing import Any, Callable

from iejtui import __version__
from iejtui.config import Config, advisor_rules, load_config
from iejtui.paths import JournalPaths
from iejtui.service.advising import Advising
from iejtui.service.bench import BenchJob, BenchRunner
from iejtui.service.profiling import ProfileRunner
from iejtui.service.context import ServiceContext
from iejtui.service.engines import EngineHandle
from iejtui.service.gpus import GpuSampler
from iejtui.service.procstats import ProcSampler
from iejtui.service.matrices import MatrixRunner
from iejtui.service.matrix_job import MatrixJob
from iejtui.service.recordings import Recordings
from iejtui.service.recovery import recover
from iejtui.service.sampler import Sampler
from iejtui.service.supervisor import EngineSupervisor
from iejtui.store.writer import Writer


class Service:
    def __init__(self, paths: JournalPaths, config: Config | None = None):
        self.paths = paths
        self.started_at = time.time()
        self.ctx = ServiceContext(paths, config or load_config(paths.config))
        self.supervisor = EngineSupervisor(self.ctx)
        self.gpus = self.ctx.gpus = GpuSampler(self.ctx, self.supervisor.engines)
        self.procs = self.ctx.procs = ProcSampler(self.ctx, self.supervisor.engines)
        self.sampler = Sampler(self.ctx, self.supervisor)
        self.bench_runner = BenchRunner(self.ctx, self.supervisor.engines)
        self.supervisor.on_finish.append(self.bench_runner.engine_ended)
        self.matrix_runner = MatrixRunner(self.ctx, self.supervisor, self.bench_runner)
        self.profile_runner = ProfileRunner(self.ctx, self.supervisor.engines)
        self.supervisor.on_finish.append(self.profile_runner.engine_ended)
        self.recordings = Recordings(self.ctx, self.supervisor)
        self.advising = Advising(paths.db, advisor_rules(self.ctx.config), self._live_run_ids, self._add_events)
        self.sampler.after_flush.append(self._advise_soon)
        self.journal_check: dict[str, Any] = {"state": "pending", "problem": None, "seconds": None}
        self.socket_path = paths.socket  # where it listens (the daemon sets it once bound)

    # ---- the tables and plumbing the API and the metrics endpoint read -------------------
    @property
    def config(self) -> Config:
        return self.ctx.config

    @property
    def writer(self) -> Writer | None:
        return self.ctx.writer

    @property
    def engines(self) -> dict[str, EngineHandle]:
        return self.supervisor.engines

    @property
    def benches(self) -> dict[int, BenchJob]:
        return self.bench_runner.jobs

    @property
    def matrices(self) -> dict[str, MatrixJob]:
        return self.matrix_runner.jobs

    @property
    def write_error(self) -> str | None:
        return self.ctx.write_error

    @write_error.setter
    def write_error(self, text: str | None) -> None:
        self.ctx.write_error = text

    async def db(self, fn: Callable, *args, **kwargs) -> Any:
        """Run a writer call on the writer thread."""
        return await self.ctx.db(fn, *args, **kwargs)

    async def event(self, run_id: int | None, kind: str, message: str, level: str = "info", **data) -> None:
        await self.ctx.event(run_id, kind, message, level, **data)

    def versions(self) -> dict[str, Any]:
        return self.ctx.versions()

    def _advise_soon(self) -> None:
        """After a flush: evaluate the advisor on what was just stored (never two at once)."""
        if self.advising.due(time.time()):
            self.ctx.spawn("advise", self.advising.guarded_tick())

    def _live_run_ids(self) -> list[int]:
        """Runs the advisor follows: ready engines and running benchmarks."""
        from iejtui.store.vocab import RunStatus
        ids = [h.run_id for h in self.supervisor.engines.values() if h.status == RunStatus.READY and not h.final]
        return ids + [j.run_id for j in self.bench_runner.jobs.values() if j.status == RunStatus.RUNNING]

    async def _add_events(self, run_id: int, events: list) -> None:
        for ev in events:
            await self.ctx.db(self.ctx.writer.add_event, run_id, ev)

    # ---- start and stop ----------------------------------------------------------------
    async def start(self) -> None:
        ctx = self.ctx
        await ctx.open()
        mode = ctx.writer.journal_mode
        await ctx.event(None, "service", f"service started (pid {os.getpid()}, journal mode {mode})",
                        pid=os.getpid(), journal_mode=mode)
        if "wal" not in mode:
            await ctx.event(None, "journal", f"journal.db uses a rollback journal: {mode}; "
                            "WAL is unsafe there. Keep the journal on local disk for concurrent readers.", "warning")
        await recover(ctx, self.supervisor, self.matrix_runner)
        await self.gpus.open()
        ctx.add_task(asyncio.create_task(self.supervisor.loop(), name="supervise"))
        ctx.add_task(asyncio.create_task(self.sampler.loop(), name="sample"))
        ctx.loops_started.set()

    async def close_clients(self) -> None:
        """After a failed start: close what ``start`` opened before it failed."""
        await self.ctx.close_clients()

    async def stop(self, stop_engines: bool = True) -> None:
        ctx = self.ctx
        ctx.stopping.set()
        await self.bench_runner.stop()
        await self.profile_runner.stop()
        if stop_engines:
            await self.supervisor.stop_all()
        await ctx.cancel_tasks()
        self.advising.close()
        await self.gpus.close()
        self.procs.close()
        await ctx.event(None, "service", "service stopped")
        await ctx.close_clients()
        await ctx.close_writer()

    # ---- status ------------------------------------------------------------------------
    def status(self) -> dict[str, Any]:
        writer = self.ctx.writer
        return {
            "service": {"pid": os.getpid(), "started_at": self.started_at, "journal": str(self.paths.root),
                        "journal_mode": writer.journal_mode if writer else None,
                        "version": __version__, "socket": str(self.socket_path)},
            "engines": [h.public() for h in self.supervisor.engines.values() if not h.final],
            "write_error": self.ctx.write_error,
            "journal_check": self.journal_check,
            "gpus": self.gpus.status(),
            "advisor": {"firing": self.advising.firing(), "cost_ms": round(1000 * self.advising.cost_s, 2)},
        }
