"""Matrix routes: a benchmark grid owned by the service (``iejtui.service.matrices.MatrixRunner``,
``.matrix_job``); the progress dict is ``iejtui.matrix.state.progress_view``."""

from __future__ import annotations

from aiohttp import web

from iejtui.client.requests import MatrixRequest
from iejtui.service.api.common import body, reply, service_of


async def start_matrix(request: web.Request) -> web.Response:
    req = MatrixRequest.from_json(await body(request))
    return reply(await service_of(request).matrix_runner.start(req.to_json()))


async def list_matrices(request: web.Request) -> web.Response:
    return reply(await service_of(request).matrix_runner.status())


async def get_matrix(request: web.Request) -> web.Response:
    return reply((await service_of(request).matrix_runner.status(request.match_info["name"]))[0])


async def cancel_matrix(request: web.Request) -> web.Response:
    return reply(await service_of(request).matrix_runner.cancel(request.match_info["name"]))
