"""The service: owns engines, collectors and the writer of journal.db for one journal.

All SQLite work runs on one writer thread, all NVML work on another; the event loop only
schedules, talks HTTP and supervises processes.
"""

from __future__ import annotations

import asyncio
import logging
import os
import platform
import socket
import sqlite3
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable

import aiohttp

from collectors.prometheus import Scraper
from collectors.records import Event
from iejtui import __version__
from iejtui.config import Config, EngineProfile, load_config, validate_name
from iejtui.errors import UserError
from iejtui.paths import JournalPaths
from iejtui.logs import save_fingerprints
from iejtui.redact import make_fingerprints, redact_argv, redact_env
from iejtui.service import procs
from iejtui.service.engines import EngineHandle, model_of
from iejtui.service.gpus import GpuSampler
from iejtui.store.vocab import RunKind, RunStatus
from iejtui.store.writer import Writer

log = logging.getLogger("iejtui.service")

SUPERVISE_S = 0.25
TREE_S = 2.0  # how often an owned engine's descendant tree is recorded in its pidfile

# The environment variable each engine kind reads its API key from (instead of --api-key).
SECRET_ENV_FORMS = {"vllm": "VLLM_API_KEY", "llamacpp": "LLAMA_API_KEY"}


def argv_secret_warning(kind: str) -> str:
    """What `engine start` says when a secret is on the engine's own command line: that
    cannot be hidden (``/proc/PID/cmdline`` is world-readable), only avoided."""
    env_form = SECRET_ENV_FORMS.get(kind)
    how = (f"pass it in the profile's env as {env_form} instead" if env_form
           else "pass it through the profile's env if the engine reads it from there")
    return ("a secret is on the engine's command line: every user of this machine can read it "
            f"in `ps` (iejtui masks it only in what it records and shows); {how}")


class Service:
    def __init__(self, paths: JournalPaths, config: Config | None = None):
        self.paths = paths
        self.config = config or load_config(paths.config)
        self.started_at = time.time()
        self.engines: dict[str, EngineHandle] = {}
        self._db_pool = ThreadPoolExecutor(1, thread_name_prefix="iejtui-writer")
        self.writer: Writer | None = None
        self.scraper: Scraper | None = None
        self.gpus = GpuSampler(self)
        self._http: aiohttp.ClientSession | None = None
        self._tasks: list[asyncio.Task] = []
        self._stopping = asyncio.Event()
        self._inflight: dict[str, asyncio.Task] = {}  # background scrapes and probes by key
        self.write_error: str | None = None
        self.journal_check: dict[str, Any] = {"state": "pending", "problem": None, "seconds": None}
        self.benches: dict[int, Any] = {}  # run id -> BenchJob
        self.matrices: dict[str, Any] = {}  # matrix name -> MatrixJob (iejtui.service.matrix_job)

    # ---- plumbing ----------------------------------------------------------------------
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

    async def start(self) -> None:
        self.writer = await self.db(Writer, self.paths.db)
        self.scraper = Scraper()
        self._http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=2, connect=1))
        await self.event(None, "service", f"service started (pid {os.getpid()}, journal mode {self.writer.journal_mode})",
                         pid=os.getpid(), journal_mode=self.writer.journal_mode)
        if "wal" not in self.writer.journal_mode:
            await self.event(None, "journal", f"journal.db uses a rollback journal: {self.writer.journal_mode}; "
                             "WAL is unsafe there. Keep the journal on local disk for concurrent readers.", "warning")
        await self._recover()
        await self.gpus.open()
        self._tasks = [asyncio.create_task(self._supervise_loop(), name="supervise"),
                       asyncio.create_task(self._sample_loop(), name="sample")]

    async def stop(self, stop_engines: bool = True) -> None:
        self._stopping.set()
        for job in list(self.benches.values()):
            if job.status == RunStatus.RUNNING and job.task:
                job.task.cancel()
        await asyncio.gather(*(j.task for j in self.benches.values() if j.task), return_exceptions=True)
        if stop_engines:
            await asyncio.gather(*(self.stop_engine(h.name) for h in list(self.engines.values()) if not h.final),
                                 return_exceptions=True)
        pending = self._tasks + list(self._inflight.values())
        for t in pending:
            t.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
        await self.gpus.close()
        await self.event(None, "service", "service stopped")
        if self.scraper:
            await self.scraper.aclose()
        if self._http:
            await self._http.close()
        await self.db(self.writer.close)
        self._db_pool.shutdown(wait=True)

    async def _recover(self) -> None:
        from iejtui.service.recovery import recover
        await recover(self)

    # ---- engines -----------------------------------------------------------------------
    def _resolve_profile(self, spec: dict[str, Any]) -> EngineProfile:
        name = validate_name(spec.get("name") or spec.get("profile") or "")
        if spec.get("argv") or spec.get("kind"):
            kind = spec.get("kind") or "vllm"
            from iejtui.config import ENGINE_KINDS
            if kind not in ENGINE_KINDS:
                raise UserError(f"unknown engine kind {kind!r}: use one of {', '.join(ENGINE_KINDS)}")
            return EngineProfile(name=name, kind=kind, argv=list(spec.get("argv") or []), url=spec.get("url"),
                                 env=dict(spec.get("env") or {}))
        self.config = load_config(self.paths.config)  # pick up edits without a restart
        prof = self.config.profile(spec.get("profile") or name)
        return EngineProfile(**{**prof.__dict__, "name": name})

    async def start_engine(self, spec: dict[str, Any]) -> dict[str, Any]:
        prof = self._resolve_profile(spec)
        existing = self.engines.get(prof.name)
        if existing and not existing.final:
            raise UserError(f"engine {prof.name!r} is already {existing.status} (run {existing.run_id}); "
                            f"stop it first: iejtui engine stop {prof.name}")
        adapter = _adapter(prof.kind)
        if not prof.argv:
            raise UserError(f"profile {prof.name!r} has no argv to launch; use `iejtui engine attach` for a running engine")
        argv = adapter.build_argv(prof.argv)
        url = prof.url or adapter.default_url(argv)
        shown_argv, argv_secrets = redact_argv(argv)  # as the user wrote it (`iejtui ...` stays)
        argv = procs.resolve_self(argv)
        procs.check_command(argv, prof.cwd)
        procs.check_port_free(url)
        env = adapter.build_env({**os.environ, **prof.env})
        shown_env, env_secrets = redact_env(prof.env)
        _, all_env_secrets = redact_env(dict(os.environ))
        run_id = await self.db(
            self.writer.create_run, kind=RunKind.ENGINE, name=prof.name, engine_kind=prof.kind, owned=1,
            status=RunStatus.STARTING, phase="launching", argv=shown_argv, env=shown_env,
            cwd=prof.cwd or str(self.paths.root), url=url, versions=self._versions(),
            model=model_of(argv), gpus=self.gpus.uuids())
        log_path = self.paths.logs / f"run-{run_id}-{prof.name}.log"
        secrets = argv_secrets + env_secrets + all_env_secrets
        fingerprints = make_fingerprints(secrets)
        save_fingerprints(self.paths, run_id, fingerprints)
        h = EngineHandle(run_id, prof.name, prof.kind, url, owned=True, ready_timeout=prof.ready_timeout,
                         stop_timeout=prof.stop_timeout, secrets=secrets, fingerprints=fingerprints)
        h.warnings = adapter.launch_warnings(argv, {**os.environ, **prof.env})
        if argv_secrets:
            h.warnings.append(argv_secret_warning(prof.kind))
        try:
            h.pid = await asyncio.to_thread(procs.launch, run_id, prof.name, argv, env, prof.cwd,
                                            log_path, self.paths.pids, secrets)
        except OSError as exc:
            await self.db(self.writer.update_run, run_id, status=RunStatus.FAILED, ended_at=time.time(),
                          reason=f"cannot launch: {exc}")
            raise UserError(f"cannot launch {argv[0]}: {exc.strerror or exc}") from None
        await self.db(self.writer.update_run, run_id, pid=h.pid.pid, pgid=h.pid.pgid, log_path=str(log_path))
        self.engines[prof.name] = h
        await self.event(run_id, "started", f"{prof.name}: launched (pid {h.pid.pid})", argv=shown_argv)
        for w in h.warnings:
            await self.event(run_id, "warning", f"{prof.name}: {w}", "warning")
        return h.public()

    async def attach_engine(self, spec: dict[str, Any]) -> dict[str, Any]:
        name = validate_name(spec.get("name") or "")
        url = (spec.get("url") or "").rstrip("/")
        if not url.startswith(("http://", "https://")):
            raise UserError(f"invalid URL {url!r}: give the engine's base URL, e.g. http://127.0.0.1:8000")
        kind = spec.get("kind") or "vllm"
        existing = self.engines.get(name)
        if existing and not existing.final:
            raise UserError(f"engine {name!r} is already {existing.status}; pick another name or stop it first")
        _adapter(kind)
        # the real URL (userinfo, ?token=) stays in memory to scrape with; journal.db, events
        # and `engine list` get the masked one (so a service restart cannot re-use it)
        from iejtui.redact import find_secrets, redact_url
        shown = redact_url(url)
        run_id = await self.db(self.writer.create_run, kind=RunKind.ENGINE, name=name, engine_kind=kind, owned=0,
                               status=RunStatus.STARTING, phase="attaching", url=shown, versions=self._versions(),
                               gpus=self.gpus.uuids())
        h = EngineHandle(run_id, name, kind, url, owned=False, phase="attaching", secrets=find_secrets(url))
        self.engines[name] = h
        await self.event(run_id, "attached", f"{name}: watching {shown}")
        return h.public()

    async def stop_engine(self, name: str) -> dict[str, Any]:
        h = self.engines.get(name)
        if h is None or h.final:
            known = ", ".join(n for n, e in self.engines.items() if not e.final) or "none running"
            raise UserError(f"no running engine {name!r} (running: {known})")
        h.stopping = True
        if not h.owned:
            await self._finish(h, None, "detached (the engine itself was not ours to stop)", status=RunStatus.STOPPED)
            return h.public()
        await self.event(h.run_id, "stopping", f"{name}: stopping (SIGTERM, then SIGKILL after {h.stop_timeout:.0f} s)")
        h.stop_reason = await asyncio.to_thread(procs.stop_run, h.pid, h.stop_timeout, self.paths.pids)
        for _ in range(40):  # let the supervisor record the exit
            if h.final:
                break
            await asyncio.sleep(0.05)
        if not h.final:
            ex = procs.read_exit(h.pid)
            await self._finish(h, ex.get("code") if ex else None, h.stop_reason)
        return h.public()

    async def _finish(self, h: EngineHandle, code: int | None, reason: str, status: str | None = None) -> None:
        if h.final:
            return
        if status is None:
            status = RunStatus.STOPPED if h.stopping or code == 0 else RunStatus.CRASHED
        h.status = status
        if status == RunStatus.CRASHED and h.error_lines:
            reason = f"{reason}: {h.error_lines[-1]}"
        ended = time.time()
        await self.db(self.writer.update_run, h.run_id, status=status, ended_at=ended, exit_code=code,
                      reason=reason, log_tail=h.log_tail(), facts=h.facts)
        await self.db(self.writer.seal, True, h.run_id)
        from iejtui.service.bench import cancel_bench
        for job in list(self.benches.values()):  # a benchmark against a dead engine stops, results kept
            if job.engine == h.name and job.status == RunStatus.RUNNING:
                await cancel_bench(self, job.run_id, f"engine {h.name} {status} ({reason})")
        level = "error" if status == RunStatus.CRASHED else "info"
        await self.event(h.run_id, status, f"{h.name}: {status} ({reason})", level, exit_code=code)
        if h.pid:
            if code is None and procs.leader_is_ours(h.pid):
                # the wrapper has not written the exit status yet (a loaded machine): record
                # the crash now, its exit status as soon as the wrapper writes it
                self._spawn(f"exit:{h.name}", self._late_exit_code(h, reason))
            else:  # orphans of a crashed engine (its workers, setsid ones too), if ours
                await asyncio.to_thread(procs.kill_leftovers, h.pid)
                (self.paths.pids / f"{h.run_id}.json").unlink(missing_ok=True)

    async def _late_exit_code(self, h: EngineHandle, reason: str, wait_s: float = 30.0) -> None:
        deadline = time.monotonic() + wait_s
        ex = None
        while time.monotonic() < deadline and (ex := procs.read_exit(h.pid)) is None:
            await asyncio.sleep(0.1)
        if ex is not None and ex.get("code") is not None:
            code = ex["code"]
            what = f"exited with code {code}" if code >= 0 else f"killed by signal {-code}"
            await self.db(self.writer.update_run, h.run_id, exit_code=code, reason=what)
            await self.event(h.run_id, "exit-status", f"{h.name}: {what}", exit_code=code)
        await asyncio.to_thread(procs.kill_leftovers, h.pid)
        (self.paths.pids / f"{h.run_id}.json").unlink(missing_ok=True)

    # ---- loops -------------------------------------------------------------------------
    async def _supervise_loop(self) -> None:
        while True:
            try:
                await self._supervise_once()
            except Exception:  # the loop must survive anything one engine does
                log.exception("supervise")
            await asyncio.sleep(SUPERVISE_S)

    async def _supervise_once(self) -> None:
        procs.reap()
        now = time.time()
        for h in list(self.engines.values()):
            if h.final:
                continue
            events = h.read_log(self.config.service.log_max_bytes)
            for ev in events:
                await self.db(self.writer.add_event, h.run_id, ev)
                await self.db(self.writer.update_run, h.run_id, phase=h.phase)
            if h.owned:
                ex = procs.read_exit(h.pid)
                gone = ex is None and not procs.alive(h.pid.pid, h.pid.create_time)
                if gone and procs.alive(h.pid.pgid) and now - (h.gone_since or now) < 1.5:
                    h.gone_since = h.gone_since or now  # the wrapper is writing the exit status
                    continue
                if ex is None and not gone and now - h.tree_at >= TREE_S:
                    h.tree_at = now  # its descendants, for a stop that must reach setsid workers
                    procs.record_tree(h.pid, self.paths.pids)
                if ex is not None or gone:
                    h.read_log(self.config.service.log_max_bytes)
                    code = ex.get("code") if ex else None
                    what = f"exited with code {code}" if code is not None and code >= 0 else (
                        f"killed by signal {-code}" if code is not None else "process disappeared")
                    await self._finish(h, code, what)
                    continue
            if h.status == RunStatus.STARTING and now - h.last_probe >= 0.5:
                h.last_probe = now
                self._spawn(f"probe:{h.name}", self._probe(h))

    async def _probe(self, h: EngineHandle) -> None:
        state = await h.adapter.probe_ready(self._http, h.url)
        if h.final or h.status != RunStatus.STARTING:
            return  # it died or was stopped while we asked
        if state.ready:
            h.status, h.phase = RunStatus.READY, "ready"
            versions = self._versions()
            if state.version:
                versions["engine"] = state.version
            fields = {"model": model} if (model := await self._served_model(h)) else {}
            await self.db(self.writer.update_run, h.run_id, status=RunStatus.READY, phase="ready", ready_at=time.time(),
                          facts=h.facts, versions=versions, **fields)
            took = time.time() - h.started_at
            await self.event(h.run_id, "ready", f"{h.name}: ready after {took:.1f} s", took_s=round(took, 2))
        elif h.owned and time.time() - h.started_at > h.ready_timeout:
            await self.event(h.run_id, "timeout", f"{h.name}: not ready after {h.ready_timeout:.0f} s; stopping it", "error")
            h.stop_reason = "not ready in time"
            h.stopping = False
            await asyncio.to_thread(procs.stop_run, h.pid, h.stop_timeout, self.paths.pids)
            await self._finish(h, None, f"not ready after {h.ready_timeout:.0f} s", status=RunStatus.FAILED)

    async def _served_model(self, h: EngineHandle) -> str | None:
        """The model id the engine serves (OpenAI /v1/models), for the run's record."""
        try:
            async with self._http.get(h.url.rstrip("/") + "/v1/models") as r:
                data = await r.json(content_type=None)
            ids = [m.get("id") for m in data.get("data", []) if isinstance(m, dict)]
            return ", ".join(str(i) for i in ids if i)[:200] or None
        except (aiohttp.ClientError, asyncio.TimeoutError, ValueError, AttributeError):
            return None

    async def _sample_loop(self) -> None:
        interval = self.config.service.scrape_interval
        next_t = time.monotonic()
        while True:
            next_t += interval
            try:
                await self._sample_once()
            except Exception:
                log.exception("sample")
            delay = next_t - time.monotonic()
            if delay < 0:  # fell behind (suspend, overload): skip missed ticks, never burst
                next_t = time.monotonic()
                delay = 0
            await asyncio.sleep(delay)

    def _spawn(self, key: str, coro) -> None:
        """Run ``coro`` in the background unless the previous one for ``key`` still runs:
        a slow or hung target never delays the others, and never overlaps itself."""
        if key in self._inflight:
            coro.close()
            return
        task = asyncio.create_task(coro, name=key)
        self._inflight[key] = task
        task.add_done_callback(lambda t: self._inflight.pop(key, None))

    async def _sample_once(self) -> None:
        now = time.time()
        for h in self.engines.values():
            if h.status == RunStatus.READY and not h.stopping and h.adapter.metrics_path:
                self._spawn(f"scrape:{h.name}", self._scrape(h))
            elif not h.owned and h.status == RunStatus.STARTING and now - h.last_probe >= 1:
                h.last_probe = now  # attached engines: come back to life
                self._spawn(f"probe:{h.name}", self._probe(h))
        self._spawn("gpu", self.gpus.tick())
        try:
            wrote = await self.db(self.writer.flush)
            if self.write_error and wrote:
                log.warning("journal writes work again")
                self.write_error = None
        except sqlite3.Error as exc:  # disk full, I/O error: keep running, say so, retry next tick
            from iejtui.store.faults import write_error
            text = write_error(exc, self.paths.db)
            if self.write_error != text:
                log.error("cannot write journal.db: %s", text)
            self.write_error = text

    async def _scrape(self, h: EngineHandle) -> None:
        res = await h.adapter.collect(self.scraper, h.url)
        if res.frame is not None:
            await self.db(self.writer.add_frames, h.run_id, [res.frame, *res.frames])
            h.latest_frames.update((f.source, f) for f in (res.frame, *res.frames))
            h.last_scrape_ok = res.frame.ts
            h.scrape_error = None
        else:
            h.scrape_error = res.events[0].message if res.events else (res.error or h.scrape_error)
        for ev in res.events:  # the scraper reports each condition once, when it appears
            await self.db(self.writer.add_event, h.run_id, ev)

    # ---- status ------------------------------------------------------------------------
    def _versions(self) -> dict[str, Any]:
        v = {"iejtui": __version__, "python": platform.python_version(), "host": socket.gethostname()}
        v.update(self.gpus.versions())
        return v

    def status(self) -> dict[str, Any]:
        return {
            "service": {"pid": os.getpid(), "started_at": self.started_at, "journal": str(self.paths.root),
                        "journal_mode": self.writer.journal_mode if self.writer else None,
                        "version": __version__, "socket": str(getattr(self, "socket_path", self.paths.socket))},
            "engines": [h.public() for h in self.engines.values() if not h.final],
            "write_error": self.write_error,
            "journal_check": self.journal_check,
            "gpus": self.gpus.status(),
        }


def _adapter(kind: str):
    from collectors.engines import UnknownEngineKind, get_adapter
    try:
        return get_adapter(kind)
    except UnknownEngineKind as exc:
        raise UserError(str(exc)) from None
