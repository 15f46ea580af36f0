"""``iejtui bench --find-max-load``: the highest request rate meeting a named SLO, as a search run.

Decisions:
- The search is a run of kind ``search`` owned by the service (it outlives the terminal,
  as a benchmark does); each probe is an ordinary bench job (``BenchRunner.start``), so it has its
  requests, progress, live series and JSON like any benchmark, and its run row carries
  ``search_id`` = the search run (``parent_id`` stays the engine it targeted).
- The rates come from the sweep's bracket (``collectors.loadgen.sweep.next_rate``, the same
  walk ``--sweep-slo-search`` makes): double from ``--request-rate`` (1 req/s if not given)
  while probes pass, halve while they fail, then bisect until the stated tolerance holds.
  Each probe is open loop at its rate (Poisson unless ``--burstiness``), sized by
  duration: ``ceil(rate × probe_seconds)`` requests, at least ``MIN_PROBE_REQUESTS``.
- A probe is judged the MLPerf way (``judge_p99``); the SLO is a named one
  (``iejtui.slos.named_slos``: MLPerf presets and iejtui.toml's ``[[slo]]``).
- It lives in the search's own module, beside the bench runner: the search starts probes
  with ``BenchRunner.start``, keeps its job with ``BenchRunner.remember`` (so ``/benches``
  lists and cancels it) and cancels probes through the job objects.
"""

from __future__ import annotations

import asyncio
import math
import time
from typing import Any

from collectors.loadgen.argv import resolve_path_flags, with_engine_defaults
from collectors.loadgen.config import BenchUsageError, parse_args
from collectors.loadgen.sweep import JUDGE_FLAGS, bracket, judge_p99, next_rate, parse_tolerance
from iejtui.config import load_config
from iejtui.errors import UserError
from iejtui.load_search import (DEFAULT_PROBE_SECONDS, DEFAULT_TOLERANCE, headline, probe_row, search_summary,
                                search_text)
from iejtui.redact import redact_argv, redact_url
from iejtui.service.bench import BenchJob, BenchRunner
from iejtui.slos import resolve_slo
from iejtui.store.vocab import RunKind, RunStatus

MIN_PROBE_REQUESTS = 8
MAX_PROBES = 16


def probe_requests(rate: float, probe_seconds: float) -> int:
    return max(MIN_PROBE_REQUESTS, math.ceil(rate * probe_seconds))


async def start_search(runner: BenchRunner, spec: dict[str, Any]) -> BenchJob:
    """Validate, create the search run and start probing in the background."""
    ctx = runner.ctx
    slo = resolve_slo(load_config(ctx.paths.config).raw, spec.get("slo"))
    try:
        tol = parse_tolerance(spec.get("tolerance") or DEFAULT_TOLERANCE)
    except BenchUsageError as exc:
        raise UserError(str(exc)) from None
    probe_s = float(spec.get("probe_seconds") or DEFAULT_PROBE_SECONDS)
    argv = resolve_path_flags([str(a) for a in spec.get("argv") or []], spec.get("cwd"))
    engine_name = spec.get("engine")
    parent, url_argv = None, argv
    if engine_name:
        h = runner.engines.get(engine_name)
        if h is None or h.status != RunStatus.READY:
            state = "not running" if h is None or h.final else h.status
            raise UserError(f"engine {engine_name!r} is {state}: start it first (`iejtui engine start {engine_name} --wait`)")
        argv = with_engine_defaults(h.kind, argv)  # a Triton: --backend tensorrt-llm
        url_argv, parent = ["--base-url", h.url, *argv], h.run_id
    try:
        cfg = parse_args(url_argv)
    except BenchUsageError as exc:
        raise UserError(str(exc)) from None
    if cfg.sweep_concurrency or cfg.sweep_rate or cfg.sweep_slo_search:
        raise UserError("--find-max-load is a search of its own: drop --sweep-*")
    start = cfg.request_rate if math.isfinite(cfg.request_rate) else 1.0
    name = spec.get("name") or f"search-{engine_name or 'url'}"
    shown, _ = redact_argv(argv)  # stored with the search's own flags: the command that repeats it
    shown = [*shown, "--find-max-load", "--slo", slo["name"], "--tolerance", str(spec.get("tolerance") or DEFAULT_TOLERANCE),
             "--probe-seconds", f"{probe_s:g}"]
    facts = {"slo": slo, "tolerance": tol.text(), "probe_seconds": probe_s, "start_rate": start}
    run_id = await ctx.db(ctx.writer.create_run, kind=RunKind.SEARCH, name=name, status=RunStatus.RUNNING,
                              argv=shown, url=redact_url(cfg.base_url), parent_id=parent, engine_kind=None,
                              versions=ctx.versions(), cwd=spec.get("cwd"), facts=facts)
    job = runner.remember(BenchJob(run_id, name, argv, engine_name))
    await ctx.event(run_id, "started", f"{name}: load search for SLO {slo['name']} started, "
                                    f"tolerance: {tol.text()}")
    job.task = asyncio.create_task(_search(runner, job, spec, slo, tol, probe_s, start))
    return job


async def _probe(runner: BenchRunner, job: BenchJob, spec: dict[str, Any], i: int, rate: float, n: int) -> BenchJob:
    argv = [*job.argv, "--request-rate", f"{rate:.6g}", "--num-prompts", str(n), *JUDGE_FLAGS]
    ctx = runner.ctx
    child = await runner.start({"engine": job.engine, "argv": argv, "name": f"{job.name}.p{i}",
                                "cwd": spec.get("cwd")})
    await ctx.db(ctx.writer.update_run, child.run_id, search_id=job.run_id,
                 facts={"search": job.run_id, "probe": i, "request_rate": rate})
    while child.status == RunStatus.RUNNING:
        if job.cancel.is_set() and not child.cancel.is_set():
            child.reason = job.reason or "the load search was cancelled"
            child.cancel.set()
        job.progress = {**child.progress, "probe": i, "rate": rate, "probe_run": child.run_id}
        await asyncio.sleep(0.2)
    if child.task is not None:
        await asyncio.gather(child.task, return_exceptions=True)
    return child


async def _search(runner: BenchRunner, job: BenchJob, spec: dict[str, Any], slo: dict[str, Any], tol,
                  probe_s: float, start: float) -> None:
    probes: list[tuple[float, bool]] = []
    rows: list[dict[str, Any]] = []
    status, reason, stopped = RunStatus.STOPPED, None, ""
    try:
        while True:
            rate = next_rate(probes, start, tol)
            if rate is None:
                break
            if len(probes) >= MAX_PROBES:
                stopped = f"{MAX_PROBES} probes made before the tolerance held"
                break
            if job.cancel.is_set():
                break
            n = probe_requests(rate, probe_s)
            child = await _probe(runner, job, spec, len(probes) + 1, rate, n)
            if child.status != RunStatus.STOPPED:
                rows.append(probe_row(child.run_id, rate, n, child.result, None, f"probe {child.status}: {child.reason}"))
                if not job.cancel.is_set():
                    status, reason = RunStatus.FAILED, f"probe r{child.run_id} {child.status}: {child.reason}"
                break
            passed, why = judge_p99(child.result or {}, slo)
            probes.append((rate, passed))
            rows.append(probe_row(child.run_id, rate, n, child.result, passed, why))
            await runner.ctx.db(runner.ctx.writer.update_run, child.run_id,
                             facts={"search": job.run_id, "probe": len(probes), "request_rate": rate,
                                    "slo": slo["name"], "slo_met": passed, "slo_why": why})
        if job.cancel.is_set():
            status, reason = RunStatus.INTERRUPTED, job.reason or "cancelled"
        if status == RunStatus.STOPPED and not stopped and bracket(probes)[0] is None:
            stopped = f"even {min(r for r, _ in probes):.4g} req/s misses the SLO" if probes else ""
    except asyncio.CancelledError:
        status, reason = RunStatus.INTERRUPTED, "the service stopped during the load search"
    except Exception as exc:  # noqa: BLE001 - a job's failure must not take the service down
        status, reason = RunStatus.FAILED, f"{type(exc).__name__}: {exc}"
    good, bad = bracket(probes)
    converged = good is not None and bad is not None and tol.met(good, bad)
    summary = {"search": search_summary(slo, tol.text(), probe_s, rows, good, bad, converged,
                                        stopped or (reason or ""))}
    job.result, job.summary_text = summary, search_text(summary["search"])
    job.status, job.reason = status, reason
    await runner.ctx.db(runner.ctx.writer.update_run, job.run_id, status=status, ended_at=time.time(),
                     reason=reason, summary=summary)
    await runner.ctx.event(job.run_id, status, f"{job.name}: load search {status}: {headline(summary['search'])}"
                        + (f" ({reason})" if reason else ""), "info" if status == RunStatus.STOPPED else "warning")
