"""The ``iejtui`` command line: parse, call a library function, print.

``main`` is the root group (the console script ``iejtui.cli:main``, ``python -m iejtui.cli``);
without a command it opens the dashboard. Each command group lives in its own module of
this package and is added here from its ``COMMANDS`` list; they import only
``iejtui.cli.common`` and the library, never each other or this module.
Errors are one line on stderr: exit 2 for bad input, 1 when something failed (``Group``).
"""

from __future__ import annotations

import click

from iejtui.cli import advise, bench, demo, engine, fleet, journal, matrix, profile, runs, service, web
from iejtui.cli.common import Ctx, Group, journal_option
from iejtui.errors import ServiceError, UserError
from iejtui.paths import JournalPaths


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
        from iejtui.client import ensure_service
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


for _module in (service, engine, runs, demo, bench, profile, journal, matrix, fleet, web, advise):
    for _command in _module.COMMANDS:
        main.add_command(_command)
