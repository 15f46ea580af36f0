"""Matrix routes: a benchmark grid owned by the service (``iejtui.service.matrices``,
``.matrix_job``); the progress dict is ``iejtui.matrix.state.progress_view``."""

from __future__ import annotations

from aiohttp import web

from iejtui.client.requests import MatrixRequest
from iejtui.service.api.common import body, reply, service_of


async def start_matrix(request: web.Request) -> web.Response:
    from iejtui.service.matrices import start_matrix as start
    req = MatrixRequest.from_json(await body(request))
    return reply(await start(service_of(request), req.to_json()))


async def list_matrices(request: web.Request) -> web.Response:
    from iejtui.service.matrices import matrix_status
    return reply(await matrix_status(service_of(request)))


async def get_matrix(request: web.Request) -> web.Response:
    from iejtui.service.matrices import matrix_status
    return reply((await matrix_status(service_of(request), request.match_info["name"]))[0])


async def cancel_matrix(request: web.Request) -> web.Response:
    from iejtui.service.matrices import cancel_matrix as cancel
    return reply(await cancel(service_of(request), request.match_info["name"]))
