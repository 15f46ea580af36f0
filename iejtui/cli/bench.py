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
    service runs in the journal's folder): see ``collectors.loadgen.config.resolve_path_flags``.
    ``--save-result`` without ``--result-dir`` saves into the caller's folder too."""
    from collectors.loadgen.config import resolve_path_flags
    out = resolve_path_flags(argv, os.getcwd())
    if not any(a == "--result-dir" or a.startswith("--result-dir=") for a in out) and "--save-result" in out:
        out += ["--result-dir", os.getcwd()]
    return out


def _progress_line(job: dict) -> str:
    p = job.get("progress") or {}
    if not p:
        return f"run {job['run_id']}: starting"
    return (f"run {job['run_id']}: {p.get('done', 0)}/{p.get('total', '?')} done, {p.get('failed', 0)} failed, "
            f"{fmt.num(p.get('output_tokens_per_s'), 0)} tok/s, TTFT p50 {fmt.num(p.get('ttft_p50_ms'), 1)} ms "
            f"p99 {fmt.num(p.get('ttft_p99_ms'), 1)} ms")


@click.command(context_settings={"ignore_unknown_options": True, "allow_extra_args": True}, cls=Command)
@click.option("--engine", help="A running engine of this journal to benchmark.")
@click.option("--name", help="Name of the bench run (default bench-ENGINE).")
@click.option("--detach", is_flag=True, help="Start it and return; it runs on under the service.")
@click.pass_context
def bench(ctx: click.Context, engine: str | None, name: str | None, detach: bool) -> None:
    """Benchmark an engine (--engine NAME or --base-url URL) with `vllm bench serve` flags.

    Runs in the background under the service; Ctrl-C cancels it (completed requests are kept).
    """
    from collectors.loadgen.config import BenchUsageError, parse_args
    from iejtui.client import BenchRequest, ServiceClient
    from iejtui.client import ensure_service
    obj: Ctx = ctx.obj
    argv = _absolute_paths(list(ctx.args))
    if not engine and not any(a == "--base-url" or a.startswith("--base-url=") for a in argv):
        raise UserError("say what to benchmark: --engine NAME (started here) or --base-url URL")
    try:
        parse_args(argv)  # flag errors are reported here, before anything starts
    except BenchUsageError as exc:
        raise UserError(str(exc)) from None
    ensure_service(obj.paths)
    job = ServiceClient(obj.paths).start_bench(BenchRequest(engine=engine, argv=argv, name=name, cwd=os.getcwd()))
    click.echo(f"benchmark run {job['run_id']} started" + (f" against {engine}" if engine else ""))
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
    if job["status"] == "failed":
        raise ServiceError(f"benchmark failed: {job['reason']}")
    if job["status"] == "interrupted":
        raise ServiceError(f"benchmark interrupted: {job['reason']}")


COMMANDS = [bench]
