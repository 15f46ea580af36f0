"""The control API: aiohttp on a user-only unix socket (no TCP listener).

Decisions: ``guard`` (peer uid, fail closed; errors as one-line JSON) wraps every handler;
the handlers are named functions grouped by resource (``engines``, ``benches``,
``matrices``, ``recordings``, ``runs``, ``status``) and registered from one table,
``routes.ROUTES``, keyed by the same names as the client's (``iejtui.client.routes``).
"""

from __future__ import annotations

import os
import socket
import sqlite3
import struct
from typing import TYPE_CHECKING

from aiohttp import web

from iejtui.client.sockets import peer_uid
from iejtui.errors import UserError
from iejtui.service.api.common import ON_STOP
from iejtui.service.api.routes import API, ROUTES

if TYPE_CHECKING:
    from iejtui.service.core import Service


def _peer_uid(request: web.Request) -> int | None:
    """The connecting process's uid (SO_PEERCRED on the unix socket); None when it cannot be
    read (not a unix socket, or the kernel would not say): the guard then refuses."""
    sock = request.transport.get_extra_info("socket") if request.transport else None
    if sock is None or sock.family != socket.AF_UNIX:
        return None
    try:
        return peer_uid(sock)  # the same SO_PEERCRED read the client checks the server with
    except (OSError, struct.error):
        return None


@web.middleware
async def guard(request: web.Request, handler):
    """Only the journal's owner may talk to its service (fails closed: a peer whose uid cannot
    be read is refused too); errors become one-line JSON."""
    uid = _peer_uid(request)
    if uid != os.getuid():
        who = "could not tell who connects" if uid is None else "this service belongs to another user"
        return web.json_response({"error": f"forbidden: {who}"}, status=403)
    try:
        return await handler(request)
    except UserError as exc:
        return web.json_response({"error": str(exc), "user_error": True}, status=400)
    except web.HTTPException:
        raise
    except sqlite3.Error as exc:  # disk full, read-only, I/O error, damaged: name the cause and its fix
        from iejtui.store.faults import write_error
        service = request.app["service"]
        service.write_error = write_error(exc, service.paths.db)
        return web.json_response({"error": f"cannot write {service.paths.db}: {service.write_error}"}, status=507)
    except Exception as exc:  # report, never crash the service
        return web.json_response({"error": f"internal error: {type(exc).__name__}: {exc}"}, status=500)


def build_app(service: "Service", on_stop) -> web.Application:
    """The app: the guard, the service and its stop callback, every route of ``ROUTES``."""
    app = web.Application(middlewares=[guard], client_max_size=1 << 20)
    app["service"] = service
    app[ON_STOP] = on_stop
    for method, path, handler in ROUTES.values():
        app.router.add_route(method, API + path, handler)
    return app
