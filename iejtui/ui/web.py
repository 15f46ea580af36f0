"""The dashboard in a browser: textual-serve, guarded, one dashboard process per tab.

``serve(paths, host, port)`` runs an aiohttp server (textual-serve's ``Server``) whose page
opens a websocket; each websocket spawns ``python -m iejtui.cli.web_session --journal ROOT``
(the ``iejtui`` dashboard command: the same app, the same keys, the same journal) with
Textual's web driver, in the folder ``iejtui web`` was started from. Whatever the dashboard
writes (exports, day logs) is written by that process on this machine, as from a terminal:
whoever drives it can start any command as this user.

Who may connect:
- on a loopback address (the default) every request must come from this user (a loopback port
  is open to every user of a shared box: the client socket's owner is looked up exactly, see
  ``peer``; when nobody can say who it is, the request is refused), name a loopback host (a
  web page cannot reach the server through DNS rebinding), and the websocket must come from
  the page itself (its ``Origin`` is the server's own address: another site's page cannot
  drive the dashboard);
- on any other address everything is served under a random path prefix, and only to a
  browser session (see ``web_access``): the printed URL carries a one-time token that the
  first page load exchanges for a session cookie (``HttpOnly``, ``SameSite=Strict``,
  ``Path=/<prefix>/``, ``Secure`` with TLS). Every other request is answered 401, naming
  neither the prefix nor the token. Neither is logged (no access log; refusals log the path
  with the prefix masked and without its query) nor written to a file.

``--certfile/--keyfile`` serve it over TLS (https, wss). The page's websocket and asset URLs
are built from the address the browser used (its ``Host``), so the page works through an SSH
port forward on any local port.
"""

from __future__ import annotations

import asyncio
import errno
import ipaddress
import logging
import os
import shlex
import signal
import socket
import ssl
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import aiohttp_jinja2
import jinja2
from aiohttp import WSCloseCode, web
from textual_serve.app_service import AppService
from textual_serve.server import Server, to_int

from iejtui.errors import UserError
from iejtui.paths import JournalPaths
from iejtui.ui.peer import peer_uid
from iejtui.ui.web_access import COOKIE, Access

log = logging.getLogger("iejtui.web")

TEMPLATE = "web_index.html"
LOOPBACK_NAMES = ("localhost", "localhost.localdomain", "ip6-localhost")
SIGN_IN = "open the URL that `iejtui web` printed"


def is_loopback_name(host: str) -> bool:
    """True when ``host`` is a loopback IP or localhost, as written (never resolved: a name that
    resolves to 127.0.0.1 is how DNS rebinding reaches a loopback server)."""
    host = host.strip("[]").lower()
    if host in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def is_loopback(host: str) -> bool:
    """True when the bind address ``host`` only ever means this machine (names are resolved)."""
    if is_loopback_name(host):
        return True
    try:
        infos = socket.getaddrinfo(host, None)
    except OSError:
        return False
    return bool(infos) and all(ipaddress.ip_address(i[4][0].split("%")[0]).is_loopback for i in infos)


def _host_part(netloc: str) -> str:
    """'127.0.0.1:8765' -> '127.0.0.1', '[::1]:8765' -> '::1' (the Host header's name part)."""
    if netloc.startswith("["):
        return netloc[1:].split("]")[0]
    return netloc.rsplit(":", 1)[0] if netloc.count(":") == 1 else netloc


def dashboard_command(paths: JournalPaths) -> str:
    """The shell command textual-serve runs for each browser tab: this interpreter, this journal
    (``exec``: the dashboard is the server's own child, see ``web_session``)."""
    return "exec " + shlex.join([sys.executable, "-m", "iejtui.cli.web_session", "--journal", str(paths.root)])


class DashboardServer(Server):
    """textual-serve's server with iejtui's page, access rules and clean shutdown."""

    def __init__(self, paths: JournalPaths, host: str, port: int, ssl_context: ssl.SSLContext | None = None,
                 echo: Callable[[str], None] = print):
        super().__init__(dashboard_command(paths), host=host, port=port, title=f"iejtui · {paths.root}",
                         templates_path=Path(__file__).parent)
        self.paths = paths
        self.loopback = is_loopback(host)
        self.ssl_context = ssl_context
        self.echo = echo
        self.access = None if self.loopback else Access()
        self.prefix = "" if self.access is None else self.access.prefix
        self.sessions: dict[web.WebSocketResponse, AppService] = {}
        self.peer_uid = peer_uid  # (peer, local) -> uid or None: who owns the client's socket

    def url(self, host: str, port: int) -> str:
        """The URL to open (with the current one-time token off loopback)."""
        scheme = "https" if self.ssl_context else "http"
        url = f"{scheme}://{_display_host(host)}:{port}{self.prefix}/"
        return url if self.access is None else f"{url}?token={self.access.token}"

    # ---- the aiohttp app ------------------------------------------------------------------------
    async def _make_app(self) -> web.Application:
        """textual-serve's routes (page, websocket, downloads, assets), all under the prefix."""
        app = web.Application(middlewares=[self._guard])
        aiohttp_jinja2.setup(app, loader=jinja2.FileSystemLoader(self.templates_path))
        p = self.prefix
        app.add_routes([
            web.get(f"{p}/", self.handle_index, name="index"),
            web.get(f"{p}/ws", self.handle_websocket, name="websocket"),
            web.get(f"{p}/download/{{key}}", self.handle_download, name="download"),
            web.static(f"{p}/static", self.statics_path, name="static"),
        ])
        app.on_shutdown.append(self.on_shutdown)
        return app

    async def on_shutdown(self, app: web.Application) -> None:
        """Revoke every browser session and close them: each dashboard process gets its quit."""
        if self.access is not None:
            self.access.revoke_all()
        for ws in list(self.sessions):
            await ws.close(code=WSCloseCode.GOING_AWAY, message=b"iejtui web stopped")

    # ---- access -----------------------------------------------------------------------------------
    @web.middleware
    async def _guard(self, request: web.Request, handler) -> web.StreamResponse:
        if self.loopback:  # no token: only this user's browser, through a loopback name
            if not is_loopback_name(_host_part(request.host)):
                return self._refuse(request, 403, f"this server answers on loopback names only, not {request.host!r}")
            uid = self._peer_uid(request)
            if uid is None:  # fail closed
                return self._refuse(request, 403, f"cannot tell which user this connection comes from; "
                                                  f"this dashboard serves uid {os.getuid()} only")
            if uid != os.getuid():
                return self._refuse(request, 403, f"this dashboard belongs to uid {os.getuid()}, not uid {uid}: "
                                                  f"start your own `iejtui web` (or use --host and its token)")
        elif not self.access.inside(request.path):
            return self._refuse(request, 401, SIGN_IN)
        if request.path == f"{self.prefix}/ws":
            origin = request.headers.get("Origin")
            if origin is not None and urlsplit(origin).netloc.lower() != request.host.lower():
                return self._refuse(request, 403, "the websocket must come from the dashboard's own page")
        if self.access is None or self.access.valid(request.cookies.get(COOKIE, "")):
            return await handler(request)
        given = request.query.get("token")
        if given is not None and request.method == "GET" and request.path == f"{self.prefix}/":
            session_id = self.access.redeem(given)
            if session_id is None:
                return self._refuse(request, 401, "this URL's token was used already (each opens one browser) "
                                                  "or is wrong: open the newest URL `iejtui web` printed")
            # the first page load: the page sets the cookie its websocket and assets carry (served
            # here, not redirected: a SameSite=Strict cookie would not follow a redirect the user
            # reached from another site's link); the page drops the token from the address bar
            resp = await handler(request)
            resp.set_cookie(COOKIE, session_id, httponly=True, samesite="Strict", path=f"{self.prefix}/",
                            secure=self.ssl_context is not None)
            self.echo(f"iejtui web: a browser signed in from {request.remote} ({len(self.access)} session(s)); "
                      f"the next browser opens {self.url(self.host, self.port)}")
            return resp
        return self._refuse(request, 401, SIGN_IN)

    def _peer_uid(self, request: web.Request) -> int | None:
        transport = request.transport
        if transport is None:
            return None
        peer, local = transport.get_extra_info("peername"), transport.get_extra_info("sockname")
        if not peer or not local:
            return None
        return self.peer_uid(peer, local)

    def _refuse(self, request: web.Request, status: int, why: str) -> web.Response:
        path = request.path
        if self.prefix and path.startswith(self.prefix):
            path = "/…" + path[len(self.prefix):]
        log.warning("refused %s %s from %s: %s", request.method, path, request.remote, why)
        return web.Response(status=status, text=f"iejtui web: {why}\n")

    # ---- the page ---------------------------------------------------------------------------------
    async def handle_index(self, request: web.Request) -> web.StreamResponse:
        """The page, its URLs built from the address the browser used (port forwards work)."""
        ws_scheme = "wss" if request.scheme == "https" else "ws"
        context: dict[str, Any] = {
            "font_size": max(8, min(40, to_int(request.query.get("fontsize", "16"), 16))),
            "app_websocket_url": f"{ws_scheme}://{request.host}{request.app.router['websocket'].url_for()}",
            "config": {"static": {"url": f"{request.scheme}://{request.host}{self.prefix}/static/"}},
            "application": {"name": self.title},
        }
        resp = aiohttp_jinja2.render_template(TEMPLATE, request, context)
        resp.headers["Cache-Control"] = "no-store"
        resp.headers["Referrer-Policy"] = "no-referrer"
        return resp

    # ---- one dashboard process per websocket --------------------------------------------------------
    async def handle_websocket(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(heartbeat=15)
        width = to_int(request.query.get("width", "80"), 80)
        height = to_int(request.query.get("height", "24"), 24)
        await ws.prepare(request)
        service = AppService(self.command, write_bytes=ws.send_bytes, write_str=ws.send_str, close=ws.close,
                             download_manager=self.download_manager, debug=self.debug)
        self.sessions[ws] = service
        try:
            await service.start(width, height)
            pid = service._process.pid if service._process else "?"
            log.info("browser session from %s: dashboard pid %s", request.remote, pid)
            await self._process_messages(ws, service)
        except asyncio.CancelledError:
            await ws.close()
        except Exception:  # noqa: BLE001 - one broken session must not stop the server
            log.exception("browser session from %s failed", request.remote)
        finally:
            self.sessions.pop(ws, None)
            await _stop_app(service)
            log.info("browser session from %s ended", request.remote)
        return ws


async def _stop_app(service: AppService, grace: float = 10.0) -> None:
    """Ask the dashboard process to quit; kill it if it does not within ``grace`` seconds."""
    try:
        await asyncio.wait_for(service.stop(), grace)
    except (asyncio.TimeoutError, ConnectionError, RuntimeError):
        pass
    proc = service._process
    if proc is not None and proc.returncode is None:
        proc.kill()
        await proc.wait()


def _display_host(host: str) -> str:
    if host in ("", "0.0.0.0", "::"):
        host = socket.gethostname()
    return f"[{host}]" if ":" in host else host


def tls_context(certfile: str | None, keyfile: str | None) -> ssl.SSLContext | None:
    """The server's TLS context from a PEM certificate (chain) and its key (``keyfile`` may be
    left out when ``certfile`` holds both); None without ``certfile``. Raises UserError, one
    line, for a missing, unreadable, encrypted or mismatched file (never prompts)."""
    if certfile is None:
        if keyfile is not None:
            raise UserError("--keyfile needs --certfile (the certificate it belongs to)")
        return None
    for flag, name in (("--certfile", certfile), ("--keyfile", keyfile)):
        if name is not None and not os.access(name, os.R_OK):
            why = "no such file" if not os.path.exists(name) else "not readable"
            raise UserError(f"cannot read {flag} {name}: {why}")
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    try:
        ctx.load_cert_chain(certfile, keyfile, password=lambda: b"")  # an encrypted key fails, never asks
    except (ssl.SSLError, OSError) as exc:
        what = f"{certfile} and {keyfile}" if keyfile else certfile
        reason = getattr(exc, "reason", None) or exc.strerror or str(exc)
        raise UserError(f"cannot use {what} for TLS: not a PEM certificate and its unencrypted private key "
                        f"({reason})") from None
    return ctx


def serve(paths: JournalPaths, host: str = "127.0.0.1", port: int = 8765,
          echo: Callable[[str], None] = print, before_serving: Callable[[], None] | None = None,
          ssl_context: ssl.SSLContext | None = None) -> None:
    """Serve the dashboard until SIGINT/SIGTERM. Raises UserError when it cannot listen.

    ``before_serving`` runs once the port is bound (the CLI starts the journal's service there),
    then the URL to open is echoed once: with a one-time token when the address is not loopback.
    """
    _setup_logging()
    asyncio.run(_serve(DashboardServer(paths, host, port, ssl_context, echo), echo, before_serving))


async def _serve(server: DashboardServer, echo, before_serving) -> None:
    app = await server._make_app()
    runner = web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=15)
    await runner.setup()
    site = web.TCPSite(runner, server.host, server.port, ssl_context=server.ssl_context)
    try:
        await site.start()
    except OSError as exc:
        await runner.cleanup()
        where = f"{server.host}:{server.port}"
        if exc.errno == errno.EADDRINUSE:
            raise UserError(f"cannot listen on {where}: the port is in use (pick another with --port)") from None
        if exc.errno in (errno.EACCES, errno.EPERM):
            raise UserError(f"cannot listen on {where}: permission denied (ports below 1024 need privileges)") from None
        if isinstance(exc, socket.gaierror) or exc.errno == errno.EADDRNOTAVAIL:
            raise UserError(f"cannot listen on {where}: no such address on this machine") from None
        raise UserError(f"cannot listen on {where}: {exc.strerror or exc}") from None
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        if before_serving is not None:
            await asyncio.to_thread(before_serving)
        port = server.port = runner.addresses[0][1]  # --port 0: the one the system picked
        echo(f"iejtui web: the dashboard of {server.paths.root} on {server.host}:{port}")
        echo(f"  open {server.url(server.host, port)}")
        if server.access is None:
            scheme = "https" if server.ssl_context else "http"
            echo(f"  from your laptop: ssh -L {port}:127.0.0.1:{port} {socket.gethostname()}, "
                 f"then open {scheme}://127.0.0.1:{port}/")
        else:
            echo("  (that URL opens one browser, once; anyone who opens it first can start any command as you)")
        echo("  Ctrl+C stops the web server; the service, engines and recording keep running")
        await stop.wait()
        echo(f"iejtui web: stopping ({len(server.sessions)} browser session(s) open)")
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
        await runner.cleanup()


def _setup_logging() -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("iejtui web: %(message)s"))
    for name in ("iejtui.web", "textual-serve"):
        lg = logging.getLogger(name)
        lg.handlers[:] = [handler]
        lg.setLevel(logging.INFO)
        lg.propagate = False
