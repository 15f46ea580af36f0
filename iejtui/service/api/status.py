"""Service routes: its status, and stopping it (with or without its engines)."""

from __future__ import annotations

import asyncio
import os

from aiohttp import web

from iejtui.client.requests import StopRequest
from iejtui.service.api.common import ON_STOP, body, reply, service_of


async def status(request: web.Request) -> web.Response:
    return reply(service_of(request).status())


async def stop_service(request: web.Request) -> web.Response:
    """Answers first, then stops (``on_stop`` runs on the next loop turn)."""
    req = StopRequest.from_json(await body(request) if request.can_read_body else {})
    asyncio.get_running_loop().call_soon(request.app[ON_STOP], not req.keep_engines)
    return reply({"stopping": True, "pid": os.getpid()})
