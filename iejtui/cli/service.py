"""``iejtui init`` and ``iejtui service ...``: create a journal; start, stop or inspect its
background service."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import click

from iejtui import fmt
from iejtui.cli.common import Command, Ctx, Group, emit_json
from iejtui.errors import ServiceError, UserError


# ---- init ------------------------------------------------------------------------------
@click.command(cls=Command)
@click.argument("directory", required=False)
@click.pass_obj
def init(obj: Ctx, directory: str | None) -> None:
    """Create a journal: days/ topics/ benchmarks/ JOURNAL_INDEX.md iejtui.toml."""
    from iejtui.journal.init import init_journal
    root = Path(directory).resolve() if directory else obj.paths.root
    try:
        created = init_journal(root)
    except PermissionError as exc:
        raise UserError(f"cannot write in {root}: permission denied ({exc.filename})") from None
    except OSError as exc:
        raise UserError(f"cannot create the journal in {root}: {exc.strerror}") from None
    if created:
        click.echo(f"journal ready in {root}")
        for p in created:
            click.echo(f"  created {Path(p).relative_to(root) if p.startswith(str(root)) else p}")
    else:
        click.echo(f"{root} is already a journal; nothing changed")


# ---- service ---------------------------------------------------------------------------
@click.group(cls=Group)
def service() -> None:
    """Start, stop or inspect the background service of this journal."""


@service.command("start")
@click.option("--foreground", is_flag=True, help="Run in this terminal instead of detaching.")
@click.option("--metrics-listen", metavar="ADDR:PORT", default=None,
              help="Also serve Prometheus metrics there (PORT alone: loopback). Default: [service] metrics_listen.")
@click.pass_obj
def service_start(obj: Ctx, foreground: bool, metrics_listen: str | None) -> None:
    """Start the service (detached from the terminal)."""
    from iejtui.client import service_running
    from iejtui.client.launch import spawn_service
    from iejtui.service.daemon import run_service
    if metrics_listen is not None:
        from iejtui.service.metrics import parse_listen
        parse_listen(metrics_listen)
    if service_running(obj.paths):
        click.echo(f"service already running for {obj.paths.root}"
                   + (" (its metrics listener is unchanged: stop it first to change it)" if metrics_listen else ""))
        return
    if foreground:
        sys.exit(run_service(obj.paths, metrics_listen))
    pid = spawn_service(obj.paths, metrics_listen=metrics_listen)
    click.echo(f"service started (pid {pid}) for {obj.paths.root}"
               + (f", metrics on http://{_url_host(metrics_listen)}/metrics" if metrics_listen else ""))


def _url_host(listen: str) -> str:
    from iejtui.service.metrics import parse_listen
    host, port = parse_listen(listen)
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


@service.command("stop")
@click.option("--keep-engines", is_flag=True, help="Leave engines running; a later service re-adopts them.")
@click.pass_obj
def service_stop(obj: Ctx, keep_engines: bool) -> None:
    """Stop the service (and the engines it owns, unless --keep-engines)."""
    from iejtui.client import ServiceClient
    from iejtui.client import service_running
    from iejtui.client.lockholder import lock_holder, terminate_stuck
    if not service_running(obj.paths):
        pid = lock_holder(obj.paths)
        if pid is not None:
            terminate_stuck(obj.paths, pid)
            click.echo(f"the service (pid {pid}) held the lock but its socket did not answer: "
                       f"sent it SIGTERM and it stopped (its engines were left running)")
            return
        click.echo(f"no service running for {obj.paths.root}")
        return
    resp = ServiceClient(obj.paths).stop_service(keep_engines)
    deadline = time.monotonic() + 120
    while service_running(obj.paths) and time.monotonic() < deadline:
        time.sleep(0.1)
    if service_running(obj.paths):
        raise ServiceError(f"the service (pid {resp.get('pid')}) is still running after 120 s")
    click.echo("service stopped" + (" (engines left running)" if keep_engines else ""))


@service.command("status")
@click.option("--json", "as_json", is_flag=True)
@click.pass_obj
def service_status(obj: Ctx, as_json: bool) -> None:
    """Is the service running, since when, with which journal mode."""
    from iejtui.client import ServiceClient
    from iejtui.client import service_running
    from iejtui.client.lockholder import lock_holder
    if not service_running(obj.paths):
        pid = lock_holder(obj.paths)
        if pid is not None:
            if as_json:
                emit_json({"running": False, "answering": False, "pid": pid, "journal": str(obj.paths.root)})
                sys.exit(1)
            raise ServiceError(f"a service holds the lock of {obj.paths.root} (pid {pid}) but its socket "
                               f"does not answer: `iejtui service stop` ends it")
        if as_json:
            emit_json({"running": False, "journal": str(obj.paths.root)})
        else:
            click.echo(f"no service running for {obj.paths.root}")
        sys.exit(3)
    st = ServiceClient(obj.paths).status()["service"]
    if as_json:
        emit_json({"running": True, **st})
        return
    click.echo(f"service pid {st['pid']}, up {fmt.duration(time.time() - st['started_at'])}, "
               f"journal {st['journal']} ({st['journal_mode']}), socket {st['socket']}")


COMMANDS = [init, service]
