"""Benchmark jobs owned by the service: a ``bench`` run per job, its requests in journal.db.

The job runs ``collectors.loadgen`` in the service's event loop (worker processes when
``--num-workers`` asks for them), so it survives the terminal going away. Every finished
request becomes a row of ``requests`` (wall-clock times, per-chunk offsets) linked to the
bench run, whose ``parent_id`` is the engine run it targeted: a benchmark shows on the
engine's timeline. Live progress is kept in memory for the API and sampled once a second
as ``bench.*`` series (source ``bench``) for the dashboard's plots. ``BenchRunner`` holds
the jobs (the API's ``/benches``) and stops a job whose engine ends (its ``on_finish``).
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Mapping

from collectors.loadgen.client import RequestRecord
from collectors.loadgen.argv import resolve_path_flags, with_engine_defaults
from collectors.loadgen.config import BenchUsageError, parse_args
from collectors.records import Frame, Sample
from iejtui.errors import UserError
from iejtui.redact import redact_argv, redact_url
from iejtui.service.context import ServiceContext
from iejtui.service.profiling import ProfileWindow
from iejtui.store.vocab import RunKind, RunStatus

if TYPE_CHECKING:
    from iejtui.service.engines import EngineHandle


@dataclass
class BenchJob:
    run_id: int
    name: str
    argv: list[str]
    engine: str | None
    status: str = RunStatus.RUNNING
    progress: dict[str, Any] = field(default_factory=dict)
    result: dict[str, Any] | None = None
    summary_text: str = ""
    warnings: list[str] = field(default_factory=list)
    reason: str | None = None
    result_file: str | None = None
    started_at: float = field(default_factory=time.time)
    cancel: asyncio.Event = field(default_factory=asyncio.Event)
    task: asyncio.Task | None = None
    profile: ProfileWindow | None = None  # --profile: opened after the warm-up (_Sink.on_request)

    def public(self) -> dict[str, Any]:
        p = {k: v for k, v in self.progress.items() if k != "clock"}
        return {"run_id": self.run_id, "name": self.name, "engine": self.engine, "status": self.status,
                "progress": p, "started_at": self.started_at, "reason": self.reason,
                "warnings": self.warnings, "summary_text": self.summary_text if self.status != RunStatus.RUNNING else "",
                "result_file": self.result_file,
                "profile": self.profile.info() if self.profile and self.profile.started_at else None}


class _Sink:
    """Receives the load generator's callbacks on the service's loop."""

    def __init__(self, ctx: ServiceContext, job: BenchJob):
        self.ctx, self.job = ctx, job
        self.clock: tuple[float, float] | None = None
        self._last_frame = 0.0
        self._pending: list[RequestRecord] = []  # records seen before the clock pair arrived
        self.profile_task: asyncio.Future | None = None

    async def _open_profile(self, prof: ProfileWindow) -> None:
        try:
            await prof.start()
        except UserError as exc:  # checked before the run began; a late refusal is a warning
            prof.error = str(exc)
            self.job.warnings.append(f"profile not taken: {exc}")

    def _wall(self, t: float) -> float:
        return self.clock[0] + (t - self.clock[1]) if self.clock else t

    def on_request(self, rec: RequestRecord) -> None:
        if rec.warmup or rec.send_time <= 0:
            return
        prof = self.job.profile
        if prof is not None and self.profile_task is None:
            # The first measured response: the warm-up requests are done and the engine has
            # served one request of this load end to end, so the window opens on the load,
            # not on the first request's one-off costs (the steady-state rule's warm-up bins
            # are judged afterwards: iejtui.derive.steady; the run shows both windows).
            self.profile_task = asyncio.ensure_future(self._open_profile(prof))
        if self.clock is None:
            self._pending.append(rec)
            return
        row = {"idx": rec.index, "t_scheduled": self._wall(rec.sched_time), "t_sent": self._wall(rec.send_time),
               "ttft": rec.ttft if rec.success else None, "e2el": rec.latency if rec.success else None,
               "prompt_tokens": rec.prompt_len, "output_tokens": rec.output_tokens, "ok": int(rec.success),
               "error": (f"{rec.error_kind}: {rec.error}"[:500] if not rec.success else None),
               "chunk_times": [c - rec.send_time for c in rec.chunk_times]}
        self.ctx.writer_call(self.ctx.writer.add_request, self.job.run_id, row)

    def on_progress(self, done: int, total: int, snapshot: dict[str, Any]) -> None:
        self.clock = snapshot.get("clock", self.clock)
        pending, self._pending = self._pending, []
        for rec in pending:
            self.on_request(rec)
        self.job.progress = dict(snapshot)
        now = time.time()
        if now - self._last_frame >= 1.0 or done == total:
            self._last_frame = now
            samples = [Sample(f"bench.{k}", float(v)) for k, v in snapshot.items()
                       if k != "clock" and isinstance(v, (int, float))]
            self.ctx.writer_call(self.ctx.writer.add_frames, self.job.run_id, [Frame("bench", now, samples)])


KEEP_FINISHED_JOBS = 10
# Per-request lists of the vLLM result JSON: the requests table holds them already, so the
# run's summary keeps the figures only (the --save-result file keeps everything).
PER_REQUEST_KEYS = {"ttfts", "itls", "input_lens", "output_lens", "generated_texts", "errors",
                    "latencies", "queue_times", "start_times", "request_ids"}


def figures_only(result: dict[str, Any] | None) -> dict[str, Any] | None:
    """The result without its per-request lists (pure)."""
    if result is None:
        return None
    if "sweep" in result:
        return {**result, "sweep": [figures_only(r) for r in result["sweep"]]}
    return {k: v for k, v in result.items() if k not in PER_REQUEST_KEYS}


class BenchRunner:
    """The service's benchmark jobs by run id (running ones and the newest finished few)."""

    def __init__(self, ctx: ServiceContext, engines: Mapping[str, "EngineHandle"]):
        self.ctx = ctx
        self.engines = engines  # the supervisor's table: a bench names its target engine
        self.jobs: dict[int, BenchJob] = {}

    async def start(self, spec: dict[str, Any]) -> BenchJob:
        """Validate, create the bench run and start the job in the background."""
        ctx = self.ctx
        argv = resolve_path_flags([str(a) for a in spec.get("argv") or []], spec.get("cwd"))  # the caller's folder
        engine_name = spec.get("engine")
        parent = None
        if engine_name:
            h = self.engines.get(engine_name)
            if h is None or h.status != RunStatus.READY:
                state = "not running" if h is None or h.final else h.status
                raise UserError(f"engine {engine_name!r} is {state}: start it first (`iejtui engine start {engine_name} --wait`)")
            if "--base-url" in argv or any(a.startswith("--base-url=") for a in argv):
                raise UserError("give either --engine or --base-url, not both")
            argv = ["--base-url", h.url, *with_engine_defaults(h.kind, argv)]  # a Triton: tensorrt-llm
            parent = h.run_id
        try:
            cfg = parse_args(argv)
        except BenchUsageError as exc:
            raise UserError(str(exc)) from None
        window = None
        if spec.get("profile"):
            if cfg.sweep_concurrency or cfg.sweep_rate or cfg.sweep_slo_search:
                raise UserError("--profile profiles one bench run: not a sweep")
            window = ProfileWindow(ctx, self.engines[engine_name], 0, seconds=spec.get("profile_seconds"))
            window.check_ready()  # not profiled, or too little free space: refused before starting
        name = spec.get("name") or f"bench-{engine_name or 'url'}"
        shown, _ = redact_argv(argv)
        target = redact_url(cfg.base_url)  # an attached engine's URL may carry userinfo or ?token=
        run_id = await ctx.db(ctx.writer.create_run, kind=RunKind.BENCH, name=name, status=RunStatus.RUNNING,
                              argv=shown, url=target, parent_id=parent, engine_kind=None,
                              versions=ctx.versions(), cwd=spec.get("cwd"))
        job = self.remember(BenchJob(run_id, name, argv, engine_name))
        if window is not None:
            window.run_id = run_id
            job.profile = window
        await ctx.event(run_id, "started", f"{name}: benchmark started against {target}")
        if parent:
            await ctx.event(parent, "bench", f"benchmark run {run_id} ({name}) started against this engine")
        job.task = asyncio.create_task(self._run(job, cfg))
        return job

    def remember(self, job: BenchJob) -> BenchJob:
        """Keep ``job`` for the API (a bench, or a load search: ``bench_search``); finished
        jobs live in journal.db, so only the newest few stay in memory."""
        done = [rid for rid, j in self.jobs.items() if j.status != RunStatus.RUNNING]
        for rid in done[:-KEEP_FINISHED_JOBS]:
            del self.jobs[rid]
        self.jobs[job.run_id] = job
        return job

    async def _run(self, job: BenchJob, cfg) -> None:
        from collectors.loadgen.runner import run_bench
        from collectors.loadgen.sweep import format_curve, run_sweep
        ctx = self.ctx
        sink = _Sink(ctx, job)
        status, reason = RunStatus.STOPPED, None
        try:
            if cfg.sweep_concurrency or cfg.sweep_rate or cfg.sweep_slo_search:
                sweep = await run_sweep(cfg, sink, job.cancel)
                points = sweep.points
                job.result = {"sweep": [p.result for p in points], "curve": format_curve(sweep)}
                job.summary_text = format_curve(sweep)
                job.warnings = [w for p in points for w in p.warnings]
                cancelled = any(p.cancelled for p in points)
            else:
                res = await run_bench(cfg, sink, job.cancel)
                job.result, job.summary_text, job.warnings = res.result, res.summary + res.errors, res.warnings
                job.result_file = res.result_file
                cancelled = res.cancelled
            if cancelled:
                status, reason = RunStatus.INTERRUPTED, job.reason or "cancelled; completed requests kept"
        except BenchUsageError as exc:
            status, reason = RunStatus.FAILED, str(exc)
        except asyncio.CancelledError:
            status, reason = RunStatus.INTERRUPTED, "the service stopped during the benchmark"
        except Exception as exc:  # noqa: BLE001 - a job's failure must not take the service down
            status, reason = RunStatus.FAILED, f"{type(exc).__name__}: {exc}"
        if job.profile is not None:
            if sink.profile_task is not None:
                await asyncio.gather(sink.profile_task, return_exceptions=True)
            info = await job.profile.stop("end of the measured window")
            if info is not None:
                job.result = {**(job.result or {}), "profile": info}
        job.status, job.reason = status, reason
        await ctx.db(ctx.writer.flush)
        job.result = figures_only(job.result)
        await ctx.db(ctx.writer.update_run, job.run_id, status=status, ended_at=time.time(),
                     reason=reason, summary=job.result)
        await ctx.event(job.run_id, status, f"{job.name}: benchmark {status}" + (f" ({reason})" if reason else ""),
                        "info" if status == RunStatus.STOPPED else "warning")
        if isinstance(job.result, dict) and status != RunStatus.FAILED:
            await self._store_verdict(job)

    async def _store_verdict(self, job: BenchJob) -> None:
        """The advisor's validity verdict of the finished bench, computed once from its window
        (on its own read connection, off the event loop) and kept in the run's summary, so the
        Benchmarks screen marks the row without reading the window on every refresh."""
        from iejtui.advisor.stored import bench_verdict, with_verdict
        from iejtui.store import Reader

        def compute() -> dict[str, Any] | None:
            reader = Reader(self.ctx.paths.db)
            try:
                run = reader.run(job.run_id)
                return bench_verdict(reader, run) if run else None
            finally:
                reader.close()
        try:
            verdict = await asyncio.to_thread(compute)
        except Exception:  # noqa: BLE001 - the result is stored already; the verdict is extra
            return
        if verdict is not None and isinstance(job.result, dict):
            job.result = with_verdict(job.result, verdict)
            await self.ctx.db(self.ctx.writer.update_run, job.run_id, summary=job.result)

    async def cancel(self, run_id: int, reason: str = "cancelled by the user") -> BenchJob:
        job = self.jobs.get(run_id)
        if job is None or job.status != RunStatus.RUNNING:
            raise UserError(f"no running benchmark with run id {run_id}")
        job.reason = reason
        job.cancel.set()
        return job

    async def engine_ended(self, h: "EngineHandle", status: str, reason: str) -> None:
        """The supervisor's ``on_finish``: a benchmark against a dead engine stops, results kept."""
        for job in list(self.jobs.values()):
            if job.engine == h.name and job.status == RunStatus.RUNNING:
                await self.cancel(job.run_id, f"engine {h.name} {status} ({reason})")

    async def stop(self) -> None:
        """The service stops: cancel the running jobs and wait for them to record it."""
        for job in list(self.jobs.values()):
            if job.status == RunStatus.RUNNING and job.task:
                job.task.cancel()
        await asyncio.gather(*(j.task for j in self.jobs.values() if j.task), return_exceptions=True)
