"""The engine supervisor: the table of engines (``EngineHandle`` by name) and everything
that changes their state — launch, attach, readiness probes, stop, the end of a run.

Decisions: a launched engine runs under the ``procs`` wrapper (pidfile, process group,
exit status file); every ``SUPERVISE_S`` the loop reads each engine's log (phases, facts),
notices an exit and records the descendants of an owned engine (a stop must reach setsid
workers). A run ends once, in ``finish``; whoever must react to an engine's end (a bench
against it stops) registers in ``on_finish`` instead of being called from here.

Every token counted: a run's totals are increases between its first and last stored
samples, so the supervisor scrapes an engine when it turns ready and stores that sample
(flushed) BEFORE the status says ``ready`` (what ``--wait`` and ``engine list`` read): a
burst sent right after ready starts from it. It scrapes once more just before stopping
(or detaching) an engine. A launched vLLM's counters are 0 at that first scrape; an
attached engine that already served traffic is counted from there, and its run records
``facts.counting_from`` (its time; ``counting_since``, ``served_before``) and says so
in an event (``iejtui.derive.counting``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import sqlite3
import time
from typing import Any, Awaitable, Callable

import aiohttp

from iejtui.config import ENGINE_KINDS, EngineProfile, load_config, validate_name
from iejtui.derive.counting import describe, served_before
from iejtui.derive.metric_map import metric_map_for
from iejtui.errors import UserError
from iejtui.logs import save_fingerprints
from iejtui.redact import find_secrets, make_fingerprints, redact_argv, redact_env, redact_url
from iejtui.service import procs
from iejtui.service.context import ServiceContext
from iejtui.service.engines import EngineHandle, adapter_for, model_of
from iejtui.service.sampler import scrape_engine
from iejtui.store.vocab import RunKind, RunStatus

log = logging.getLogger("iejtui.service")

SUPERVISE_S = 0.25
TREE_S = 2.0  # how often an owned engine's descendant tree is recorded in its pidfile

# The environment variable each engine kind reads its API key from (instead of --api-key).
SECRET_ENV_FORMS = {"vllm": "VLLM_API_KEY", "llamacpp": "LLAMA_API_KEY"}

#: called as ``hook(handle, status, reason)`` once a run has ended
FinishHook = Callable[[EngineHandle, str, str], Awaitable[None]]


def argv_secret_warning(kind: str) -> str:
    """What `engine start` says when a secret is on the engine's own command line: that
    cannot be hidden (``/proc/PID/cmdline`` is world-readable), only avoided."""
    env_form = SECRET_ENV_FORMS.get(kind)
    how = (f"pass it in the profile's env as {env_form} instead" if env_form
           else "pass it through the profile's env if the engine reads it from there")
    return ("a secret is on the engine's command line: every user of this machine can read it "
            f"in `ps` (iejtui masks it only in what it records and shows); {how}")


class EngineSupervisor:
    def __init__(self, ctx: ServiceContext):
        self.ctx = ctx
        self.engines: dict[str, EngineHandle] = {}
        self.on_finish: list[FinishHook] = []

    def adopt(self, h: EngineHandle) -> None:
        """Put a handle in the table (recovery: re-adopted or re-attached after a restart)."""
        self.engines[h.name] = h

    def running(self) -> list[EngineHandle]:
        return [h for h in self.engines.values() if not h.final]

    # ---- start, attach, stop -----------------------------------------------------------
    def _resolve_profile(self, spec: dict[str, Any]) -> EngineProfile:
        name = validate_name(spec.get("name") or spec.get("profile") or "")
        if spec.get("argv") or spec.get("kind"):
            kind = spec.get("kind") or "vllm"
            if kind not in ENGINE_KINDS:
                raise UserError(f"unknown engine kind {kind!r}: use one of {', '.join(ENGINE_KINDS)}")
            return EngineProfile(name=name, kind=kind, argv=list(spec.get("argv") or []), url=spec.get("url"),
                                 env=dict(spec.get("env") or {}))
        ctx = self.ctx
        ctx.config = load_config(ctx.paths.config)  # pick up edits without a restart
        prof = ctx.config.profile(spec.get("profile") or name)
        return EngineProfile(**{**prof.__dict__, "name": name})

    async def start_engine(self, spec: dict[str, Any]) -> dict[str, Any]:
        ctx = self.ctx
        prof = self._resolve_profile(spec)
        existing = self.engines.get(prof.name)
        if existing and not existing.final:
            raise UserError(f"engine {prof.name!r} is already {existing.status} (run {existing.run_id}); "
                            f"stop it first: iejtui engine stop {prof.name}")
        adapter = adapter_for(prof.kind)
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
        run_id = await ctx.db(
            ctx.writer.create_run, kind=RunKind.ENGINE, name=prof.name, engine_kind=prof.kind, owned=1,
            status=RunStatus.STARTING, phase="launching", argv=shown_argv, env=shown_env,
            cwd=prof.cwd or str(ctx.paths.root), url=url, versions=ctx.versions(),
            model=model_of(argv), gpus=ctx.gpu_uuids())
        log_path = ctx.paths.logs / f"run-{run_id}-{prof.name}.log"
        secrets = argv_secrets + env_secrets + all_env_secrets
        fingerprints = make_fingerprints(secrets)
        save_fingerprints(ctx.paths, run_id, fingerprints)
        h = EngineHandle(run_id, prof.name, prof.kind, url, owned=True, ready_timeout=prof.ready_timeout,
                         stop_timeout=prof.stop_timeout, secrets=secrets, fingerprints=fingerprints)
        h.warnings = adapter.launch_warnings(argv, {**os.environ, **prof.env})
        if argv_secrets:
            h.warnings.append(argv_secret_warning(prof.kind))
        try:
            h.pid = await asyncio.to_thread(procs.launch, run_id, prof.name, argv, env, prof.cwd,
                                            log_path, ctx.paths.pids, secrets)
        except OSError as exc:
            await ctx.db(ctx.writer.update_run, run_id, status=RunStatus.FAILED, ended_at=time.time(),
                         reason=f"cannot launch: {exc}")
            raise UserError(f"cannot launch {argv[0]}: {exc.strerror or exc}") from None
        await ctx.db(ctx.writer.update_run, run_id, pid=h.pid.pid, pgid=h.pid.pgid, log_path=str(log_path))
        self.engines[prof.name] = h
        await ctx.event(run_id, "started", f"{prof.name}: launched (pid {h.pid.pid})", argv=shown_argv)
        for w in h.warnings:
            await ctx.event(run_id, "warning", f"{prof.name}: {w}", "warning")
        return h.public()

    async def attach_engine(self, spec: dict[str, Any]) -> dict[str, Any]:
        ctx = self.ctx
        name = validate_name(spec.get("name") or "")
        url = (spec.get("url") or "").rstrip("/")
        if not url.startswith(("http://", "https://")):
            raise UserError(f"invalid URL {url!r}: give the engine's base URL, e.g. http://127.0.0.1:8000")
        kind = spec.get("kind") or "vllm"
        existing = self.engines.get(name)
        if existing and not existing.final:
            raise UserError(f"engine {name!r} is already {existing.status}; pick another name or stop it first")
        adapter_for(kind)
        # the real URL (userinfo, ?token=) stays in memory to scrape with; journal.db, events
        # and `engine list` get the masked one (so a service restart cannot re-use it)
        shown = redact_url(url)
        run_id = await ctx.db(ctx.writer.create_run, kind=RunKind.ENGINE, name=name, engine_kind=kind, owned=0,
                              status=RunStatus.STARTING, phase="attaching", url=shown, versions=ctx.versions(),
                              gpus=ctx.gpu_uuids())
        h = EngineHandle(run_id, name, kind, url, owned=False, phase="attaching", secrets=find_secrets(url))
        self.engines[name] = h
        await ctx.event(run_id, "attached", f"{name}: watching {shown}")
        return h.public()

    async def stop_engine(self, name: str) -> dict[str, Any]:
        ctx = self.ctx
        h = self.engines.get(name)
        if h is None or h.final:
            known = ", ".join(n for n, e in self.engines.items() if not e.final) or "none running"
            raise UserError(f"no running engine {name!r} (running: {known})")
        h.stopping = True  # the sampler scrapes it no more
        await self._last_scrape(h)
        if not h.owned:
            await self.finish(h, None, "detached (the engine itself was not ours to stop)", status=RunStatus.STOPPED)
            return h.public()
        await ctx.event(h.run_id, "stopping", f"{name}: stopping (SIGTERM, then SIGKILL after {h.stop_timeout:.0f} s)")
        h.stop_reason = await asyncio.to_thread(procs.stop_run, h.pid, h.stop_timeout, ctx.paths.pids)
        for _ in range(40):  # let the supervisor record the exit
            if h.final:
                break
            await asyncio.sleep(0.05)
        if not h.final:
            ex = procs.read_exit(h.pid)
            await self.finish(h, ex.get("code") if ex else None, h.stop_reason)
        return h.public()

    async def stop_all(self) -> None:
        await asyncio.gather(*(self.stop_engine(h.name) for h in self.running()), return_exceptions=True)

    async def finish(self, h: EngineHandle, code: int | None, reason: str, status: str | None = None) -> None:
        """End an engine's run (once): its row, the seal, ``on_finish``, the event, leftovers."""
        if h.final:
            return
        ctx = self.ctx
        if status is None:
            status = RunStatus.STOPPED if h.stopping or code == 0 else RunStatus.CRASHED
        h.status = status
        if status == RunStatus.CRASHED and h.error_lines:
            reason = f"{reason}: {h.error_lines[-1]}"
        ended = time.time()
        with contextlib.suppress(sqlite3.Error):  # its last samples go in before the seal (a
            await ctx.db(ctx.writer.flush)        # write error is the sampler's to report)
        await ctx.db(ctx.writer.update_run, h.run_id, status=status, ended_at=ended, exit_code=code,
                     reason=reason, log_tail=h.log_tail(), facts=h.facts)
        await ctx.db(ctx.writer.seal, True, h.run_id)
        for hook in list(self.on_finish):
            await hook(h, status, reason)
        level = "error" if status == RunStatus.CRASHED else "info"
        await ctx.event(h.run_id, status, f"{h.name}: {status} ({reason})", level, exit_code=code)
        if h.pid:
            if code is None and procs.leader_is_ours(h.pid):
                # the wrapper has not written the exit status yet (a loaded machine): record
                # the crash now, its exit status as soon as the wrapper writes it
                ctx.spawn(f"exit:{h.name}", self._late_exit_code(h, reason))
            else:  # orphans of a crashed engine (its workers, setsid ones too), if ours
                await asyncio.to_thread(procs.kill_leftovers, h.pid)
                (ctx.paths.pids / f"{h.run_id}.json").unlink(missing_ok=True)

    async def _late_exit_code(self, h: EngineHandle, reason: str, wait_s: float = 30.0) -> None:
        ctx = self.ctx
        deadline = time.monotonic() + wait_s
        ex = None
        while time.monotonic() < deadline and (ex := procs.read_exit(h.pid)) is None:
            await asyncio.sleep(0.1)
        if ex is not None and ex.get("code") is not None:
            code = ex["code"]
            what = f"exited with code {code}" if code >= 0 else f"killed by signal {-code}"
            await ctx.db(ctx.writer.update_run, h.run_id, exit_code=code, reason=what)
            await ctx.event(h.run_id, "exit-status", f"{h.name}: {what}", exit_code=code)
        await asyncio.to_thread(procs.kill_leftovers, h.pid)
        (ctx.paths.pids / f"{h.run_id}.json").unlink(missing_ok=True)

    # ---- the loop ----------------------------------------------------------------------
    async def loop(self) -> None:
        while True:
            try:
                await self.once()
            except Exception:  # the loop must survive anything one engine does
                log.exception("supervise")
            await asyncio.sleep(SUPERVISE_S)

    async def once(self) -> None:
        ctx = self.ctx
        procs.reap()
        now = time.time()
        for h in list(self.engines.values()):
            if h.final:
                continue
            events = h.read_log(ctx.config.service.log_max_bytes)
            for ev in events:
                await ctx.db(ctx.writer.add_event, h.run_id, ev)
                await ctx.db(ctx.writer.update_run, h.run_id, phase=h.phase)
            if h.owned:
                ex = procs.read_exit(h.pid)
                gone = ex is None and not procs.alive(h.pid.pid, h.pid.create_time)
                if gone and procs.alive(h.pid.pgid) and now - (h.gone_since or now) < 1.5:
                    h.gone_since = h.gone_since or now  # the wrapper is writing the exit status
                    continue
                if ex is None and not gone and now - h.tree_at >= TREE_S:
                    h.tree_at = now  # its descendants, for a stop that must reach setsid workers
                    procs.record_tree(h.pid, ctx.paths.pids)
                if ex is not None or gone:
                    h.read_log(ctx.config.service.log_max_bytes)
                    code = ex.get("code") if ex else None
                    what = f"exited with code {code}" if code is not None and code >= 0 else (
                        f"killed by signal {-code}" if code is not None else "process disappeared")
                    await self.finish(h, code, what)
                    continue
            if h.status == RunStatus.STARTING and now - h.last_probe >= 0.5:
                h.last_probe = now
                ctx.spawn(f"probe:{h.name}", self.probe(h))

    async def probe(self, h: EngineHandle) -> None:
        """Ask a starting engine whether it is ready; READY is recorded here, a launched
        engine that is not ready in time is stopped."""
        ctx = self.ctx
        state = await h.adapter.probe_ready(ctx.http, h.url)
        if h.final or h.status != RunStatus.STARTING:
            return  # it died or was stopped while we asked
        if state.ready:
            versions = ctx.versions()
            if state.version:
                versions["engine"] = state.version
            fields = {"model": model} if (model := await self._served_model(h)) else {}
            if state.models:  # per-model rows (Triton): the run names the models it serves
                h.facts["models"] = [dict(m) for m in state.models]
                fields.setdefault("model", ", ".join(m["name"] for m in state.models)[:200])
            await self._first_scrape(h)
            if h.final or h.stopping:
                return  # stopped while we scraped
            h.status, h.phase = RunStatus.READY, "ready"
            await ctx.db(ctx.writer.update_run, h.run_id, status=RunStatus.READY, phase="ready", ready_at=time.time(),
                         facts=h.facts, versions=versions, **fields)
            took = time.time() - h.started_at
            await ctx.event(h.run_id, "ready", f"{h.name}: ready after {took:.1f} s", took_s=round(took, 2))
        elif h.owned and time.time() - h.started_at > h.ready_timeout:
            await ctx.event(h.run_id, "timeout", f"{h.name}: not ready after {h.ready_timeout:.0f} s; stopping it", "error")
            h.stop_reason = "not ready in time"
            h.stopping = False
            await asyncio.to_thread(procs.stop_run, h.pid, h.stop_timeout, ctx.paths.pids)
            await self.finish(h, None, f"not ready after {h.ready_timeout:.0f} s", status=RunStatus.FAILED)

    async def _first_scrape(self, h: EngineHandle) -> None:
        """The run's first sample, stored (flushed) before the engine is reported ready; an
        engine that already served traffic then is counted from here, and the run says so."""
        ctx = self.ctx
        if not h.adapter.metrics_path:
            return
        frame = await scrape_engine(ctx, h)
        if frame is None:
            return  # no answer: the sampler's first scrape will be the first sample
        with contextlib.suppress(sqlite3.Error):  # (a write error is the sampler's to report)
            await ctx.db(ctx.writer.flush)
        if h.resumed:
            return  # watched again after a restart: the run's counting began at its first sample
        mmap = metric_map_for(h.kind)
        seen = served_before(((s.name, s.value) for s in frame.samples), mmap) if mmap else {}
        if not seen:
            return
        since = "ready" if h.owned else "attach"
        # ``counting_from`` is the time (the shape ``iejtui.summary`` reads on main)
        h.facts.update(counting_from=frame.ts, counting_since=since, served_before=seen)
        fact = {"ts": frame.ts, "since": since, "served_before": seen}
        await ctx.event(h.run_id, "counting", f"{h.name}: counting {describe(fact)}", **fact)

    async def _last_scrape(self, h: EngineHandle) -> None:
        """One more sample just before an engine is stopped or detached (after any scrape
        still in flight, so samples stay in time order)."""
        if h.status != RunStatus.READY or not h.adapter.metrics_path:
            return
        await self.ctx.settle(f"scrape:{h.name}")
        await scrape_engine(self.ctx, h)

    async def _served_model(self, h: EngineHandle) -> str | None:
        """The model id the engine serves (OpenAI /v1/models), for the run's record."""
        try:
            async with self.ctx.http.get(h.url.rstrip("/") + "/v1/models") as r:
                data = await r.json(content_type=None)
            ids = [m.get("id") for m in data.get("data", []) if isinstance(m, dict)]
            return ", ".join(str(i) for i in ids if i)[:200] or None
        except (aiohttp.ClientError, asyncio.TimeoutError, ValueError, AttributeError):
            return None
