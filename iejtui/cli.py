"""The ``iejtui`` command line: parse, call a library function, print.

Errors are one line on stderr: exit 2 for bad input, 1 when something failed.
"""

from __future__ import annotations

import errno
import json
import sqlite3
import sys
import time
from pathlib import Path

import click

from iejtui import fmt
from iejtui.errors import ServiceError, UserError
from iejtui.paths import JournalPaths, journal_paths


_WRITE_ERRNOS = {errno.EROFS, errno.EACCES, errno.EPERM, errno.ENOSPC, errno.EDQUOT}


class Ctx:
    def __init__(self, journal: str | None):
        self.paths: JournalPaths = journal_paths(journal)


def journal_option(f):
    return click.option("--journal", "journal", envvar="IEJTUI_JOURNAL", default=None,
                        metavar="DIR", help="Journal folder (default: the current directory).")(f)


def paths_of(journal: str | None) -> JournalPaths:
    return journal_paths(journal)


def emit_json(data) -> None:
    click.echo(json.dumps(data, indent=2, default=str))


def _set_journal(ctx: click.Context, _param, value: str | None) -> None:
    if value is not None:
        obj = ctx.find_object(Ctx)
        if obj is not None:
            obj.paths = journal_paths(value)


def _add_journal_option(cmd: click.Command) -> None:
    if not any(p.name == "journal" for p in cmd.params):
        cmd.params.append(click.Option(["--journal"], metavar="DIR", expose_value=False, callback=_set_journal,
                                       help="Journal folder (default: the current directory)."))


class Command(click.Command):
    """Every command also takes ``--journal DIR`` after its own name."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        _add_journal_option(self)


class Group(click.Group):
    """Turns UserError/ServiceError into one line and an exit code, never a traceback."""

    command_class = Command

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        _add_journal_option(self)

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except UserError as exc:
            click.echo(f"iejtui: {exc}", err=True)
            ctx.exit(2)
        except ServiceError as exc:
            click.echo(f"iejtui: {exc}", err=True)
            ctx.exit(1)
        except sqlite3.DatabaseError as exc:  # a damaged or unreadable journal.db, met mid-read
            from iejtui.store import faults
            # ctx.obj, not find_object(Ctx): under `python -m iejtui.cli` the cli_* modules see
            # another copy of the Ctx class.
            paths = getattr(ctx.find_root().obj, "paths", None)
            db = paths.db if paths is not None else Path("journal.db")
            click.echo(f"iejtui: {faults.read_error(exc, db)}", err=True)
            ctx.exit(2)
        except OSError as exc:
            if exc.filename is None or isinstance(exc, ConnectionError):
                raise
            if isinstance(exc, PermissionError) and _other_owner(exc.filename) is not None:
                click.echo(f"iejtui: {_denied(exc.filename)}", err=True)  # another user's journal
                ctx.exit(2)
            verb = "write" if exc.errno in _WRITE_ERRNOS else "use"
            click.echo(f"iejtui: cannot {verb} {exc.filename}: {exc.strerror or exc}"
                       + (" (the journal is read-only here: record and write day logs in a writable copy)"
                          if exc.errno == errno.EROFS else ""), err=True)
            ctx.exit(2)
        except KeyboardInterrupt:
            click.echo("", err=True)
            ctx.exit(130)


Group.group_class = Group


def _other_owner(path: str) -> int | None:
    """The uid owning ``path`` (or its nearest existing parent) when it is not us, else None."""
    import os
    probe = Path(path)
    while True:
        try:
            uid = os.stat(probe).st_uid
            return uid if uid != os.geteuid() else None
        except OSError:
            if probe == probe.parent:
                return None
            probe = probe.parent


def _denied(path: str) -> str:
    """One line for another user's file we may not read or write (their journal is private)."""
    return f"permission denied: {path} (it belongs to uid {_other_owner(path)}; use a journal of your own)"


@click.group(cls=Group, invoke_without_command=True, context_settings={"help_option_names": ["-h", "--help"]})
@journal_option
@click.version_option(package_name="iejtui")
@click.pass_context
def main(ctx: click.Context, journal: str | None) -> None:
    """iejtui: the inference engineering journal.

    Without a command, opens the dashboard (starting the service if needed).
    """
    import os
    os.umask(0o077)  # journal.db, logs, day-log artefacts that hold argv: private, whatever the caller's umask
    ctx.obj = Ctx(journal)
    if ctx.invoked_subcommand is None:
        from iejtui.service.daemon import ensure_service
        paths = ctx.obj.paths
        if not paths.db.exists() and not paths.config.exists():
            raise UserError(f"{paths.root} is not a journal yet: run `iejtui init` there (or pass --journal DIR)")
        ensure_service(paths)
        _check_journal_readable(paths)
        try:
            from iejtui.ui.app import run_app
        except ImportError:
            raise ServiceError("the dashboard is not available in this build; `iejtui status` shows the same data") from None
        run_app(paths)


def _check_journal_readable(paths: JournalPaths) -> None:
    """Before the dashboard starts: a damaged journal is one line and exit 2, not a Textual crash.

    Reads the newest runs (cheap) and asks the service what its background quick_check found
    so far; the full check is O(size), so it is not waited for here.
    """
    from iejtui.client import ServiceClient
    from iejtui.store import Reader
    if paths.db.exists():
        reader = Reader(paths.db)
        try:
            reader.runs(limit=20)
        finally:
            reader.close()
    damaged = (ServiceClient(paths).status().get("journal_check") or {}).get("problem")
    if damaged:
        raise UserError(damaged)


# ---- init ------------------------------------------------------------------------------
@main.command()
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
@main.group(cls=Group)
def service() -> None:
    """Start, stop or inspect the background service of this journal."""


@service.command("start")
@click.option("--foreground", is_flag=True, help="Run in this terminal instead of detaching.")
@click.option("--metrics-listen", metavar="ADDR:PORT", default=None,
              help="Also serve Prometheus metrics there (PORT alone: loopback). Default: [service] metrics_listen.")
@click.pass_obj
def service_start(obj: Ctx, foreground: bool, metrics_listen: str | None) -> None:
    """Start the service (detached from the terminal)."""
    from iejtui.service.daemon import run_service, service_running, spawn_service
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
    from iejtui.service.daemon import service_running
    from iejtui.service.lockholder import lock_holder, terminate_stuck
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
    from iejtui.service.daemon import service_running
    from iejtui.service.lockholder import lock_holder
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


from iejtui import cli_bench, cli_demo, cli_engine, cli_runs  # noqa: E402  (register their commands)

cli_engine.register(main)
cli_runs.register(main)
cli_demo.register(main)
cli_bench.register(main)
from iejtui import cli_journal  # noqa: E402
cli_journal.register(main)
from iejtui import cli_matrix  # noqa: E402
cli_matrix.register(main)
from iejtui import cli_fleet  # noqa: E402
cli_fleet.register(main)
from iejtui import cli_web  # noqa: E402
cli_web.register(main)

if __name__ == "__main__":
    main()
