"""What every command module of the CLI shares: the context object (the journal's paths),
``--journal`` on every command, JSON output, and ``Group``, the one place an error becomes
one line on stderr and an exit code (2: bad input or an unreadable/damaged journal,
1: something failed, 130: interrupted), never a traceback.

Imports none of the command modules (``iejtui.cli.root`` gathers them): no import loops.
"""

from __future__ import annotations

import errno
import json
import sqlite3
from pathlib import Path

import click

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
            # ctx.obj, not find_object(Ctx): the root's object, whichever class made it
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
