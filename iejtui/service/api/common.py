"""What every handler needs: the service behind the request, the JSON body, ids from the path."""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiohttp import web

from iejtui.errors import UserError

if TYPE_CHECKING:
    from iejtui.service.core import Service


ON_STOP = web.AppKey("on_stop", object)  # the daemon's stop callback (keep_engines negated)


def service_of(request: web.Request) -> "Service":
    return request.app["service"]


async def body(request: web.Request) -> dict:
    try:
        data = await request.json()
    except ValueError:
        raise UserError("request body must be JSON") from None
    if not isinstance(data, dict):
        raise UserError("request body must be a JSON object")
    return data


def run_id_of(request: web.Request) -> int:
    try:
        return int(request.match_info["run_id"])
    except ValueError:
        raise UserError("run id must be an integer") from None


def reply(data) -> web.Response:
    return web.json_response(data)
