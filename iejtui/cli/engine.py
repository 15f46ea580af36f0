"""``iejtui engine ...``: start, attach, stop, list and read the logs of engines."""

from __future__ import annotations

import sys
import time

import click

from iejtui import fmt
from iejtui.cli.common import Ctx, Group, emit_json
from iejtui.cli.waiting import describe_ready, wait_ready
from iejtui.config import ENGINE_KINDS
from iejtui.errors import UserError
from iejtui.store.vocab import ENGINE_LIVE


@click.group(cls=Group)
def engine() -> None:
    """Launch, attach, stop and inspect inference engines."""

@engine.command("start", context_settings={"ignore_unknown_options": True})
@click.argument("name")
@click.option("--kind", type=click.Choice(ENGINE_KINDS), help="Engine kind for an ad-hoc command line.")
@click.option("--url", help="Engine base URL (default: derived from --host/--port in the command).")
@click.option("--wait", is_flag=True, help="Return once ready (0) or when it dies first (1, with its errors).")
@click.option("--profile", "profiling", is_flag=True,
              help="Launch ready to profile (vLLM: --profiler-config; like profile = true in the profile).")
@click.argument("command", nargs=-1, type=click.UNPROCESSED)
@click.pass_obj
def engine_start(obj: Ctx, name: str, kind: str | None, url: str | None, wait: bool, profiling: bool,
                 command: tuple) -> None:
    """Start profile NAME from iejtui.toml, or an ad-hoc command: NAME --kind K -- CMD ARGS..."""
    from iejtui.client import EngineRequest, ServiceClient
    from iejtui.client import ensure_service
    command = list(command)
    if command and command[0] == "--":
        command = command[1:]
    if command and not kind:
        raise UserError("an ad-hoc command needs --kind (one of " + ", ".join(ENGINE_KINDS) + ")")
    spec = {"name": name}
    if command:
        spec.update(kind=kind, argv=command, url=url)
    else:
        from iejtui.config import load_config
        load_config(obj.paths.config).profile(name)  # report a bad file or name before starting anything
        spec["profile"] = name
    if profiling:
        spec["profiling"] = True
    ensure_service(obj.paths)
    e = ServiceClient(obj.paths).start_engine(EngineRequest(**spec))
    click.echo(f"engine {name} starting (run {e['run_id']}, pid {e['pid']}), log: iejtui engine logs {name}")
    for w in e.get("warnings") or []:
        click.echo(f"warning: {w}", err=True)
    if wait:
        e = wait_ready(obj.paths, name)
        click.echo(describe_ready(e))

@engine.command("attach")
@click.argument("name")
@click.argument("url")
@click.option("--kind", type=click.Choice(ENGINE_KINDS), default="vllm", show_default=True)
@click.pass_obj
def engine_attach(obj: Ctx, name: str, url: str, kind: str) -> None:
    """Monitor an engine someone else started (iejtui will not stop it)."""
    from iejtui.client import ServiceClient
    from iejtui.client import ensure_service
    ensure_service(obj.paths)
    e = ServiceClient(obj.paths).attach_engine(name, url, kind)
    click.echo(f"watching {name} at {e['url']} (run {e['run_id']})")

@engine.command("stop")
@click.argument("name")
@click.pass_obj
def engine_stop(obj: Ctx, name: str) -> None:
    """Stop an engine: SIGTERM to its process group, SIGKILL after the grace period."""
    from iejtui.client import ServiceClient
    from iejtui.client import service_running
    if not service_running(obj.paths):
        raise UserError(f"no service running for {obj.paths.root}, so no engine {name!r} to stop")
    e = ServiceClient(obj.paths).stop_engine(name)
    click.echo(f"engine {name} {e['status']} (run {e['run_id']})")

@engine.command("list")
@click.option("--json", "as_json", is_flag=True)
@click.option("--all", "show_all", is_flag=True, help="Include engines that ended during this service's life.")
@click.pass_obj
def engine_list(obj: Ctx, as_json: bool, show_all: bool) -> None:
    """Engines of this journal's service: name, kind, status, url, pid, run."""
    from iejtui.client import ServiceClient
    from iejtui.client import service_running
    engines = ServiceClient(obj.paths).engines() if service_running(obj.paths) else []
    if not show_all:
        engines = [e for e in engines if e["status"] in ENGINE_LIVE]
    if as_json:
        emit_json(engines)
        return
    if not engines:
        click.echo("no engines running" + ("" if service_running(obj.paths) else " (service not running)"))
        return
    click.echo(fmt.table(["NAME", "KIND", "STATUS", "URL", "PID", "RUN", "UP"],
                         [[e["name"], e["kind"], e["status"] if e["status"] != "starting" else f"starting: {e['phase']}",
                           e["url"], e["pid"], e["run_id"], fmt.duration(time.time() - e["started_at"])]
                          for e in engines], right={4, 5}))

@engine.command("logs")
@click.argument("name")
@click.option("-n", "--lines", type=int, default=50, show_default=True,
              help="How many of the last lines to show (0 or more).")
@click.option("-f", "--follow", is_flag=True)
@click.pass_obj
def engine_logs(obj: Ctx, name: str, lines: int, follow: bool) -> None:
    """Show an engine's log (secrets masked); --follow to keep reading."""
    from iejtui.store import Reader
    from iejtui.logs import follow_log, read_tail
    if lines < 0:  # checked here, not by click.IntRange: one line, not a usage block
        raise UserError(f"-n/--lines must be 0 or more, not {lines}")
    run = Reader(obj.paths.db).resolve_run(name)
    if not run.get("log_path"):
        raise UserError(f"run {run['id']} ({run['name']}) has no log file (attached engines have none)")
    for ln in read_tail(obj.paths, run, lines):
        click.echo(ln)
    if follow:
        for ln in follow_log(obj.paths, run):
            click.echo(ln)
            sys.stdout.flush()


COMMANDS = [engine]
