"""One profiled window on an owned engine: start, watch, stop, keep the files, summarise.

Used by a bench run (``iejtui bench --profile``: the window opens after the warm-up, see
``iejtui.service.bench``) and by a ``profile`` run (``iejtui profile ENGINE --seconds N``:
``ProfileRunner`` below).

Decisions:

* The window is vLLM's ``POST /start_profile {"profile_prefix": "iejtui-run<ID>"}`` …
  ``POST /stop_profile`` (the torch profiler; vLLM 0.32 writes the traces before
  ``/stop_profile`` answers, so the files are complete when it returns). ``profiler = "nsys"``
  engines get ``nsys start``/``nsys stop`` on their session instead.
* **Free space** is checked before starting: under ``profile_min_free_bytes`` (default: the
  cap, ``profile_max_bytes``, 500 MB) on the traces' filesystem → refused (``UserError``,
  one line) and nothing starts.
* **While profiling** a watcher looks every 0.5 s at the bytes the window's files take and at
  the free space: reaching the cap, or free space falling under 64 MiB (a full disk), stops
  the profiler there; the run goes on and keeps what was written, with the reason recorded.
  The torch profiler buffers in memory and writes at stop, so for it the watch mostly
  catches a previous write or another writer filling the disk; ``--profile-seconds`` is what
  bounds a torch trace's size (traces grow with engine steps, roughly linearly in time).
* The window's files move to ``<runtime>/profiles/run-<ID>/`` and the summary
  (``iejtui.profiling.summary``, in a thread) goes into the run's summary under ``profile``.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import aiohttp

from iejtui.config import load_config
from iejtui.errors import UserError
from iejtui.profiling import files
from iejtui.profiling.launch import nsys_window
from iejtui.profiling.nsys import KERN_SUM_REPORT, parse_kern_sum
from iejtui.redact import redact_url
from iejtui.service.context import ServiceContext
from iejtui.store.vocab import RunKind, RunStatus

if TYPE_CHECKING:
    from collections.abc import Mapping

    from iejtui.service.engines import EngineHandle

WATCH_S = 0.5
DISK_FLOOR = 64 * 1024 * 1024  # a disk with less than this free is "full": stop writing
STOP_TIMEOUT_S = 300.0  # writing a large trace takes a while


SUMMARY_MEMORY = 4 << 30  # the summarising child's address space (a trace too big fails alone)
SUMMARY_TIMEOUT_S = 600.0


async def summarize_apart(traces: list[Path]) -> dict[str, Any]:
    """``iejtui.profiling.summary`` over ``traces`` in a child process (memory capped at
    ``SUMMARY_MEMORY``): parsed traces take ~30× their gzip size, which is never the
    service's to hold."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "iejtui.profiling.summary", f"--max-memory={SUMMARY_MEMORY}", *map(str, traces),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    try:
        out, err = await asyncio.wait_for(proc.communicate(), SUMMARY_TIMEOUT_S)
    except asyncio.TimeoutError:
        proc.kill()
        await proc.wait()
        raise
    if proc.returncode != 0:
        raise ValueError((err.decode(errors="replace").strip().splitlines() or [f"exit {proc.returncode}"])[-1])
    return json.loads(out)


@dataclass
class ProfileWindow:
    """One window; ``info()`` is what the run keeps (``summary["profile"]``)."""

    ctx: ServiceContext
    engine: "EngineHandle"
    run_id: int
    seconds: float | None = None
    started_at: float | None = None
    stopped_at: float | None = None
    stop_reason: str | None = None
    error: str | None = None
    kept: list[Path] = field(default_factory=list)
    summary: dict[str, Any] | None = None
    _watch: asyncio.Task | None = None
    _stopping: asyncio.Lock = field(default_factory=asyncio.Lock)

    @property
    def prefix(self) -> str:
        return files.prefix_for(self.run_id)

    @property
    def trace_dir(self) -> Path:
        return files.engine_dir(self.ctx.paths.runtime, self.engine.name)

    def cap(self) -> int:
        return int(self.ctx.config.service.profile_max_bytes)

    def check_ready(self) -> None:
        """Refuse (one line) before anything starts: not profiled, or too little free space."""
        h = self.engine
        if not getattr(h, "profiling", None):
            raise UserError(f"engine {h.name!r} was not launched with profiling: set profile = true in "
                            f"[engines.{h.name}] (or `iejtui engine start {h.name} --profile`) and restart it")
        files.make_private_dir(self.trace_dir)
        self.ctx.config = load_config(self.ctx.paths.config)  # the cap and floor as the file says now
        svc = self.ctx.config.service
        need = svc.profile_min_free_bytes if svc.profile_min_free_bytes is not None else svc.profile_max_bytes
        free = files.free_bytes(self.trace_dir)
        if free < need:
            raise UserError(f"too little free space for a profile: {free / 1e6:.0f} MB free under "
                            f"{self.trace_dir}, {need / 1e6:.0f} MB needed ([service] profile_min_free_bytes)")

    async def _post(self, path: str, body: dict[str, Any] | None = None, timeout: float = 30.0) -> None:
        url = (self.engine.url or "").rstrip("/") + path
        assert self.ctx.http is not None
        async with self.ctx.http.post(url, json=body or {}, timeout=aiohttp.ClientTimeout(total=timeout)) as r:
            if r.status != 200:
                text = (await r.text())[:200]
                raise UserError(f"{self.engine.name} {path}: HTTP {r.status} {text}")

    @property
    def nsys(self) -> bool:
        return getattr(self.engine, "profiling", None) == "nsys"

    async def _nsys(self, argv: list[str], timeout: float = STOP_TIMEOUT_S) -> str:
        """Run one nsys command (untested here: no nsys on the CPU box; README says so)."""
        proc = await asyncio.create_subprocess_exec(*argv, stdout=asyncio.subprocess.PIPE,
                                                    stderr=asyncio.subprocess.PIPE)
        out, err = await asyncio.wait_for(proc.communicate(), timeout)
        if proc.returncode != 0:
            raise UserError(f"{' '.join(argv[:2])}: exit {proc.returncode}: {err.decode(errors='replace')[-200:]}")
        return out.decode(errors="replace")

    async def start(self) -> None:
        self.check_ready()
        try:
            if self.nsys:  # the engine runs under `nsys launch`: a window is nsys start/stop
                start, _ = nsys_window(self.engine.name, self.trace_dir / self.prefix)
                await self._nsys(start, 60.0)
            else:
                await self._post("/start_profile", {"profile_prefix": self.prefix})
        except (aiohttp.ClientError, asyncio.TimeoutError, OSError) as exc:
            raise UserError(f"{self.engine.name} start profiling: {type(exc).__name__}: {exc}") from None
        self.started_at = time.time()
        await self.ctx.event(self.run_id, "profile", f"profiler started on {self.engine.name} "
                             f"(traces {self.prefix}_*)")
        self._watch = asyncio.create_task(self._watcher())

    async def _watcher(self) -> None:
        cap = self.cap()
        while self.stopped_at is None:
            await asyncio.sleep(WATCH_S)
            if self.stopped_at is not None:
                return
            written = files.dir_bytes(files.run_files(self.trace_dir, self.prefix))
            try:
                free = files.free_bytes(self.trace_dir)
            except OSError:
                free = DISK_FLOOR
            if written >= cap:
                await self.stop(f"size cap reached ({written / 1e6:.1f} MB ≥ {cap / 1e6:.1f} MB)")
            elif free < DISK_FLOOR:
                await self.stop(f"disk nearly full ({free / 1e6:.0f} MB free)")
            elif self.seconds and self.started_at and time.time() - self.started_at >= self.seconds:
                await self.stop(f"--profile-seconds {self.seconds:g} reached")

    async def stop(self, reason: str = "end of the window") -> dict[str, Any] | None:
        """Stop once (later calls wait for the first), keep the files, summarise."""
        async with self._stopping:
            if self.started_at is None or self.stopped_at is not None:
                return self.info() if self.started_at else None
            self.stop_reason = reason
            try:
                if self.nsys:
                    await self._nsys(nsys_window(self.engine.name, self.trace_dir / self.prefix)[1])
                else:
                    await self._post("/stop_profile", timeout=STOP_TIMEOUT_S)
            except (aiohttp.ClientError, asyncio.TimeoutError, OSError, UserError) as exc:
                self.error = f"stop profiling: {exc}"
            self.stopped_at = time.time()
            found = files.run_files(self.trace_dir, self.prefix)
            dest = files.run_dir(self.ctx.paths.runtime, self.run_id)
            self.kept = await asyncio.to_thread(files.move_run_files, found, dest)
            traces = files.trace_files(self.kept)
            reps = [p for p in self.kept if p.name.endswith(".nsys-rep")]
            if reps:  # the kernel summary of nsys stats, in the same table
                try:
                    csv = await self._nsys(["nsys", "stats", "--report", KERN_SUM_REPORT, "--format", "csv",
                                            "--output", "-", str(reps[0])])
                    window = (self.stopped_at - self.started_at) * 1e6
                    self.summary = {"window_us": window, "start_unix": self.started_at,
                                    "end_unix": self.stopped_at, "top_ops": [], "gpu_idle_share": None,
                                    "top_kernels": parse_kern_sum(csv, window)[:15]}
                except (OSError, ValueError, UserError, asyncio.TimeoutError) as exc:
                    self.error = f"nsys stats: {exc}"
            if traces:
                try:
                    self.summary = await summarize_apart(traces)
                except (OSError, ValueError, asyncio.TimeoutError) as exc:  # cut short by a full disk, too big
                    self.error = f"summary: {type(exc).__name__}: {exc}"
            total = files.dir_bytes(self.kept)
            await self.ctx.event(self.run_id, "profile",
                                 f"profiler stopped ({reason}): {len(self.kept)} file(s), "
                                 f"{total / 1e6:.1f} MB in {dest}")
            return self.info()

    def info(self) -> dict[str, Any]:
        return {"engine": self.engine.name, "prefix": self.prefix, "profiler": getattr(self.engine, "profiling", None),
                "started_at": self.started_at, "stopped_at": self.stopped_at, "stop_reason": self.stop_reason,
                "error": self.error, "dir": str(files.run_dir(self.ctx.paths.runtime, self.run_id)),
                "files": [{"name": p.name, "bytes": files.dir_bytes([p])} for p in self.kept],
                "bytes": files.dir_bytes(self.kept), "cap_bytes": self.cap(), "summary": self.summary}


@dataclass
class ProfileJob:
    """A ``profile`` run: a window of ``seconds`` on an engine, whatever traffic it serves."""

    run_id: int
    name: str
    engine: str
    seconds: float
    window: ProfileWindow
    status: str = RunStatus.RUNNING
    reason: str | None = None
    task: asyncio.Task | None = None
    gone: str | None = None  # the engine ended during the window

    def public(self) -> dict[str, Any]:
        return {"run_id": self.run_id, "name": self.name, "engine": self.engine, "seconds": self.seconds,
                "status": self.status, "reason": self.reason,
                "profile": self.window.info() if self.window.started_at else None}


class ProfileRunner:
    """``POST /profiles``: profile runs by run id (the running ones and the newest few)."""

    KEEP = 10

    def __init__(self, ctx: ServiceContext, engines: "Mapping[str, EngineHandle]"):
        self.ctx, self.engines = ctx, engines
        self.jobs: dict[int, ProfileJob] = {}

    async def start(self, spec: dict[str, Any]) -> ProfileJob:
        ctx = self.ctx
        name = str(spec.get("engine") or "")
        seconds = float(spec.get("seconds") or 0)
        h = self.engines.get(name)
        if h is None or h.status != RunStatus.READY:
            state = "not running" if h is None or h.final else h.status
            raise UserError(f"engine {name!r} is {state}: start it first (`iejtui engine start {name} --wait`)")
        window = ProfileWindow(ctx, h, 0, seconds=seconds)
        window.check_ready()  # refused before a run exists: one line, nothing recorded
        run_id = await ctx.db(ctx.writer.create_run, kind=RunKind.PROFILE, name=spec.get("name") or f"profile-{name}",
                              status=RunStatus.RUNNING, parent_id=h.run_id, url=redact_url(h.url),
                              versions=ctx.versions(), argv=["--seconds", f"{seconds:g}"])
        window.run_id = run_id
        job = ProfileJob(run_id, spec.get("name") or f"profile-{name}", name, seconds, window)
        for rid in [r for r, j in self.jobs.items() if j.status != RunStatus.RUNNING][:-self.KEEP]:
            del self.jobs[rid]
        self.jobs[run_id] = job
        await ctx.event(h.run_id, "profile", f"profile run {run_id} started on this engine ({seconds:g} s)")
        try:
            await window.start()
        except UserError as exc:
            await self._end(job, RunStatus.FAILED, str(exc))
            raise
        job.task = asyncio.create_task(self._run(job))
        return job

    async def _run(self, job: ProfileJob) -> None:
        status, reason = RunStatus.STOPPED, None
        try:
            deadline = job.window.started_at + job.seconds
            while job.window.stopped_at is None and not job.gone and time.time() < deadline:
                await asyncio.sleep(min(WATCH_S, max(deadline - time.time(), 0.01)))
            await job.window.stop(job.gone or f"{job.seconds:g} s window ended")
            if job.gone:
                status, reason = RunStatus.INTERRUPTED, job.gone
        except asyncio.CancelledError:
            status, reason = RunStatus.INTERRUPTED, "the service stopped during the profile"
            await asyncio.shield(job.window.stop("the service stopped"))
        await self._end(job, status, reason)

    async def _end(self, job: ProfileJob, status: str, reason: str | None) -> None:
        ctx = self.ctx
        job.status, job.reason = status, reason or job.window.error
        info = job.window.info() if job.window.started_at else None
        await ctx.db(ctx.writer.update_run, job.run_id, status=status, ended_at=time.time(), reason=job.reason,
                     summary={"profile": info} if info else None)
        await ctx.event(job.run_id, status, f"{job.name}: profile {status}" + (f" ({job.reason})" if job.reason else ""),
                        "info" if status == RunStatus.STOPPED else "warning")

    async def engine_ended(self, h: "EngineHandle", status: str, reason: str) -> None:
        """The supervisor's ``on_finish``: a window on a dead engine ends (what was written stays)."""
        for job in list(self.jobs.values()):
            if job.engine == h.name and job.status == RunStatus.RUNNING:
                job.gone = f"engine {h.name} {status} ({reason}); what was written is kept"

    async def stop(self) -> None:
        for job in list(self.jobs.values()):
            if job.status == RunStatus.RUNNING and job.task:
                job.task.cancel()
        await asyncio.gather(*(j.task for j in self.jobs.values() if j.task), return_exceptions=True)
