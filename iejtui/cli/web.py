"""``iejtui web``: the dashboard in a browser (textual-serve), loopback unless told otherwise."""

from __future__ import annotations

import click

from iejtui.cli.common import Command, Ctx
from iejtui.errors import ServiceError, UserError


@click.command("web", cls=Command)
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to listen on. Anything but loopback needs the one-time URL it prints.")
@click.option("--port", default=8765, show_default=True, type=click.IntRange(0, 65535),
              help="Port to listen on (0: any free port, printed).")
@click.option("--certfile", default=None, metavar="PEM",
              help="Serve over TLS (https) with this certificate (chain), PEM.")
@click.option("--keyfile", default=None, metavar="PEM",
              help="The certificate's private key, PEM, unencrypted (if not in --certfile).")
@click.pass_obj
def web(obj: Ctx, host: str, port: int, certfile: str | None, keyfile: str | None) -> None:
    """The dashboard in a browser: same app, same keys, same journal.

    Each browser tab runs its own dashboard process on this machine; whatever it writes
    (exports, day logs) lands in the journal as from a terminal. Over SSH, forward the
    port: ssh -L 8765:127.0.0.1:8765 BOX, then open http://127.0.0.1:8765/.
    Off loopback, the printed URL opens one browser once (a session cookie follows);
    whoever drives the dashboard can start any command as you.
    """
    paths = obj.paths
    if not paths.db.exists() and not paths.config.exists():
        raise UserError(f"{paths.root} is not a journal yet: run `iejtui init` there (or pass --journal DIR)")
    try:
        from iejtui.ui.web import serve, tls_context
    except ImportError as exc:
        raise ServiceError(f"the browser dashboard is not available in this build ({exc.name} missing); "
                           f"`pip install textual-serve`") from None
    ssl_context = tls_context(certfile, keyfile)
    from iejtui.client import ensure_service
    serve(paths, host, port, echo=click.echo, before_serving=lambda: ensure_service(paths),
          ssl_context=ssl_context)


COMMANDS = [web]
