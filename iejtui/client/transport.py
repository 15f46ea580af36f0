"""The raw transport to the service: JSON over HTTP on the verified unix socket (aiohttp).

Decisions: only ``iejtui.client`` calls these (``ServiceClient`` names every route); the one
place an answer becomes an exception is ``raise_for_reply`` (``{"error", "user_error": true}``
-> ``UserError``, exit 2 in the CLI; any other ``{"error"}`` -> ``ServiceError``, exit 1), and
a service that does not answer is a ``ServiceError`` naming how to start it.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp.client_exceptions import UnixClientConnectorError

from iejtui.errors import ServiceError, UserError
from iejtui.paths import JournalPaths
from iejtui.client.sockets import check_peer, socket_candidates, verify_socket_file

API = "http://iejtui/v1"


class VerifiedUnixConnector(aiohttp.UnixConnector):
    """aiohttp's unix connector, but the socket it uses is checked first: the file is yours
    and its server runs as you (SO_PEERCRED on this very connection, before a byte is sent:
    no window between a check and the connection the request travels on)."""

    async def _create_connection(self, req, traces, timeout):
        import socket
        path = Path(self.path)
        try:
            verify_socket_file(path)
        except OSError as exc:
            raise UnixClientConnectorError(self.path, req.connection_key, exc) from exc
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            sock.setblocking(False)
            async with asyncio.timeout(timeout.sock_connect):
                await self._loop.sock_connect(sock, self.path)
            check_peer(sock, path)
            _, proto = await self._loop.create_unix_connection(self._factory, sock=sock)
        except OSError as exc:
            sock.close()
            if isinstance(exc, asyncio.TimeoutError) and exc.errno is None:
                raise  # as aiohttp's own connector: the caller reports a timeout
            raise UnixClientConnectorError(self.path, req.connection_key, exc) from exc
        except BaseException:
            sock.close()
            raise
        return proto


def _socket_path(paths: JournalPaths) -> Path:
    """The recorded socket when it exists, else the computed one (connecting verifies it)."""
    found = socket_candidates(paths)
    return next((p for p in found if os.path.lexists(p)), found[-1])


async def call_async(paths: JournalPaths, method: str, path: str, payload: dict | None = None,
                     timeout: float = 120.0) -> Any:
    conn = VerifiedUnixConnector(path=str(_socket_path(paths)))
    try:
        async with aiohttp.ClientSession(connector=conn, timeout=aiohttp.ClientTimeout(total=timeout)) as s:
            async with s.request(method, API + path, json=payload) as r:
                data = await r.json(content_type=None)
    except (aiohttp.ClientConnectionError, FileNotFoundError, ConnectionRefusedError) as exc:
        raise ServiceError(f"the service for {paths.root} is not answering ({exc.__class__.__name__}); "
                           f"start it with `iejtui service start`") from None
    except asyncio.TimeoutError:
        raise ServiceError(f"the service did not answer {method} {path} within {timeout:.0f} s") from None
    return raise_for_reply(data)


def raise_for_reply(data: Any) -> Any:
    """The service's answer, or the error it carries raised as ``UserError``/``ServiceError``."""
    if isinstance(data, dict) and "error" in data:
        if data.get("user_error"):
            raise UserError(data["error"])
        raise ServiceError(data["error"])
    return data


def call(paths: JournalPaths, method: str, path: str, payload: dict | None = None, timeout: float = 120.0) -> Any:
    return asyncio.run(call_async(paths, method, path, payload, timeout))
