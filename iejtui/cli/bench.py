"""``iejtui bench``: a benchmark job under the service, `vllm bench serve` flags and JSON."""

from __future__ import annotations

import os
import time

import click

from iejtui import fmt
from iejtui.cli.common import Command, Ctx
from iejtui.errors import ServiceError, UserError

def _absolute_paths(argv: list[str]) -> list[str]:
    """Path flags resolved against the caller's folder, as ``vllm bench serve`` does (the
    service runs in the journal's folder): see ``collectors.loadgen.argv.resolve_path_flags``.
    ``--save-result`` without ``--result-dir`` saves into the caller's folder too."""
    from collectors.loadgen.argv import resolve_path_flags
    out = resolve_path_flags(argv, os.getcwd())
    if not any(a == "--result-dir" or a.startswith("--result-dir=") for a in out) and "--save-result" in out:
        out += ["--result-dir", os.getcwd()]
    return out


def _search_line(obj: Ctx, find_max_load: bool, slo: str | None, tolerance: str | None,
                 probe_seconds: float | None) -> str:
    """What a load search will look for, in one line ("" without --find-max-load)."""
    if not find_max_load:
        if slo or tolerance or probe_seconds:
            raise UserError("--slo, --tolerance and --probe-seconds go with --find-max-load")
        return ""
    from collectors.loadgen.sweep import parse_tolerance
    from iejtui.config import load_config
    from iejtui.load_search import DEFAULT_PROBE_SECONDS, DEFAULT_TOLERANCE
    from iejtui.slos import resolve_slo, slo_text
    s = resolve_slo(load_config(obj.paths.config).raw, slo)
    tol = parse_tolerance(tolerance or DEFAULT_TOLERANCE)
    return (f"highest request rate meeting SLO {s['name']} ({slo_text(s)}, judged per run); "
            f"tolerance: stop when {tol.text()}; each probe ≈ {probe_seconds or DEFAULT_PROBE_SECONDS:g} s")


def _progress_line(job: dict) -> str:
    p = job.get("progress") or {}
    if not p:
        return f"run {job['run_id']}: starting"
    if "probe" in p:
        return (f"run {job['run_id']}: probe {p['probe']} (r{p.get('probe_run')}) at {p['rate']:.3f} req/s: "
                f"{p.get('done', 0)}/{p.get('total', '?')} done, {p.get('failed', 0)} failed, "
                f"TTFT p99 {fmt.num(p.get('ttft_p99_ms'), 1)} ms")
    return (f"run {job['run_id']}: {p.get('done', 0)}/{p.get('total', '?')} done, {p.get('failed', 0)} failed, "
            f"{fmt.num(p.get('output_tokens_per_s'), 0)} tok/s, TTFT p50 {fmt.num(p.get('ttft_p50_ms'), 1)} ms "
            f"p99 {fmt.num(p.get('ttft_p99_ms'), 1)} ms")


def _engine_kind(obj: Ctx, name: str) -> str | None:
    """The kind of the running engine ``name`` (None: no such engine; the service says so)."""
    from iejtui.client import ServiceClient
    return next((e.get("kind") for e in ServiceClient(obj.paths).engines() if e.get("name") == name), None)


@click.command(context_settings={"ignore_unknown_options": True, "allow_extra_args": True}, cls=Command)
@click.option("--engine", help="A running engine of this journal to benchmark.")
@click.option("--name", help="Name of the bench run (default bench-ENGINE).")
@click.option("--detach", is_flag=True, help="Start it and return; it runs on under the service.")
@click.option("--find-max-load", is_flag=True,
              help="Search the highest --request-rate meeting --slo (one bench run per probe).")
@click.option("--slo", "slo", metavar="NAME", help="The SLO of --find-max-load: an MLPerf preset "
              "(mlperf-llama2-70b, mlperf-llama3.1-8b-interactive, ...) or a [[slo]] of iejtui.toml.")
@click.option("--tolerance", metavar="X", help="--find-max-load stops when the bracket [last pass, "
              "first fail] is at most X req/s wide, or X% of its lower end (default 10%).")
@click.option("--probe-seconds", type=click.FloatRange(min=0.1), metavar="S",
              help="--find-max-load: each probe sends rate x S requests (default 30).")
@click.option("--profile", "profile", is_flag=True,
              help="Profile the engine over the measured window (after the warm-up; the engine must be "
                   "launched with profiling: profile = true or `engine start --profile`).")
@click.option("--profile-seconds", type=click.FloatRange(min=0.1), metavar="N",
              help="--profile: stop the profiler after N s (traces grow fast).")
@click.pass_context
def bench(ctx: click.Context, engine: str | None, name: str | None, detach: bool, find_max_load: bool,
          slo: str | None, tolerance: str | None, probe_seconds: float | None, profile: bool,
          profile_seconds: float | None) -> None:
    """Benchmark an engine (--engine NAME or --base-url URL) with `vllm bench serve` flags.

    --backend openai|vllm (completions), openai-chat, or tensorrt-llm (Triton's
    /v2/models/MODEL/generate_stream with TensorRT-LLM's ensemble body; needs --tokenizer).
    A triton engine (--engine NAME) is benched with tensorrt-llm on
    /v2/models/ensemble/generate_stream unless --backend/--endpoint say otherwise.

    Runs in the background under the service; Ctrl-C cancels it (completed requests are kept).
    With --find-max-load --slo NAME it searches the highest request rate whose probes meet the
    SLO (MLPerf's rule: p99 of each limit), each probe a bench run of the search.
    """
    from collectors.loadgen.argv import with_engine_defaults
    from collectors.loadgen.config import BenchUsageError, parse_args
    from iejtui.client import BenchRequest, ServiceClient
    from iejtui.client import ensure_service
    obj: Ctx = ctx.obj
    argv = _absolute_paths(list(ctx.args))
    if not engine and not any(a == "--base-url" or a.startswith("--base-url=") for a in argv):
        raise UserError("say what to benchmark: --engine NAME (started here) or --base-url URL")
    try:
        try:
            parse_args(argv)  # flag errors are reported here, before anything starts
        except BenchUsageError:
            if not engine:
                raise
            # flags that fit only the engine's own defaults (a Triton's --endpoint
            # /v2/models/M/generate_stream without --backend): check them with its kind
            ensure_service(obj.paths)
            parse_args(with_engine_defaults(_engine_kind(obj, engine), argv))
        search = _search_line(obj, find_max_load, slo, tolerance, probe_seconds)
    except BenchUsageError as exc:
        raise UserError(str(exc)) from None
    if profile_seconds is not None and not profile:
        raise UserError("--profile-seconds goes with --profile")
    if profile and not engine:
        raise UserError("--profile needs --engine NAME: an engine iejtui launched with profiling")
    ensure_service(obj.paths)
    req = BenchRequest(engine=engine, argv=argv, name=name, cwd=os.getcwd())
    if profile:
        req.profile, req.profile_seconds = True, profile_seconds
    if find_max_load:
        req.find_max_load, req.slo, req.tolerance, req.probe_seconds = True, slo, tolerance, probe_seconds
    job = ServiceClient(obj.paths).start_bench(req)
    what = "load search run" if find_max_load else "benchmark run"
    click.echo(f"{what} {job['run_id']} started" + (f" against {engine}" if engine else ""))
    if search:
        click.echo(search)
    if detach:
        click.echo(f"follow it with `iejtui runs show {job['run_id']}`")
        return
    last = ""
    try:
        while job["status"] == "running":
            time.sleep(1.0)
            job = ServiceClient(obj.paths).bench(job["run_id"])
            line = _progress_line(job)
            if line != last:
                click.echo(line, err=True)
                last = line
    except KeyboardInterrupt:
        ServiceClient(obj.paths).cancel_bench(job["run_id"])
        while job["status"] == "running":
            time.sleep(0.5)
            job = ServiceClient(obj.paths).bench(job["run_id"])
    if job.get("summary_text"):
        click.echo(job["summary_text"])
    for w in job.get("warnings") or []:
        click.echo(f"warning: {w}", err=True)
    if job.get("result_file"):
        click.echo(f"result: {job['result_file']}")
    if job.get("profile"):
        from iejtui.profiling.render import profile_text
        click.echo(profile_text(job["profile"]))
    if job["status"] == "failed":
        raise ServiceError(f"benchmark failed: {job['reason']}")
    if job["status"] == "interrupted":
        raise ServiceError(f"benchmark interrupted: {job['reason']}")


@click.command(cls=Command)
@click.option("--json", "as_json", is_flag=True)
@click.pass_obj
def slos(obj: Ctx, as_json: bool) -> None:
    """The named SLOs `bench --find-max-load --slo NAME` and matrices take: MLPerf presets
    and the [[slo]] tables of iejtui.toml (a table named like a preset replaces it)."""
    from iejtui.cli.common import emit_json
    from iejtui.config import load_config
    from iejtui.slos import named_slos, slo_text
    found = named_slos(load_config(obj.paths.config).raw)
    if as_json:
        emit_json(list(found.values()))
        return
    click.echo(fmt.table(["NAME", "LIMITS (judged per run)", "SOURCE"],
                         [[s["name"], slo_text(s), s["source"]] for s in found.values()]))


COMMANDS = [bench, slos]
