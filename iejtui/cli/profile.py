"""``iejtui profile ENGINE --seconds N``: a profiler window on whatever the engine serves now."""

from __future__ import annotations

import time

import click

from iejtui.cli.common import Command, Ctx, emit_json
from iejtui.errors import ServiceError


@click.command("profile", cls=Command)
@click.argument("engine")
@click.option("--seconds", type=click.FloatRange(min=0.1, max=3600), default=5.0, show_default=True,
              help="How long the profiler runs (traces grow fast: a few seconds is plenty).")
@click.option("--name", help="Name of the profile run (default profile-ENGINE).")
@click.option("--detach", is_flag=True, help="Start it and return.")
@click.option("--json", "as_json", is_flag=True)
@click.pass_obj
def profile(obj: Ctx, engine: str, seconds: float, name: str | None, detach: bool, as_json: bool) -> None:
    """Profile ENGINE (launched with profile = true or `engine start --profile`) for N seconds.

    A `profile` run of the journal keeps the trace files (under the runtime folder, not in
    days/) and a summary: top operators by self time, top GPU kernels, CPU/GPU split and the
    GPU's idle share; `iejtui runs show RUN` shows it again.
    """
    from iejtui.client import ProfileRequest, ServiceClient, ensure_service
    ensure_service(obj.paths)
    client = ServiceClient(obj.paths)
    job = client.start_profile(ProfileRequest(engine=engine, seconds=seconds, name=name))
    if not as_json:
        click.echo(f"profile run {job['run_id']} started on {engine} for {seconds:g} s")
    if detach:
        if as_json:
            emit_json(job)
        return
    while job["status"] == "running":
        time.sleep(0.5)
        job = client.profile(job["run_id"])
    if as_json:
        emit_json(job)
    elif job.get("profile"):
        from iejtui.profiling.render import profile_text
        click.echo(profile_text(job["profile"]))
    if job["status"] == "failed":
        raise ServiceError(f"profile failed: {job['reason']}")


COMMANDS = [profile]
