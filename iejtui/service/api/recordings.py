"""Recording and import routes: a window of samples recorded live, or read from Prometheus."""

from __future__ import annotations

from aiohttp import web

from iejtui.client.requests import ImportRequest, RecordingRequest
from iejtui.service.api.common import body, reply, run_id_of, service_of


async def start_recording(request: web.Request) -> web.Response:
    req = RecordingRequest.from_json(await body(request))
    return reply(await service_of(request).recordings.start(req.to_json()))


async def stop_recording(request: web.Request) -> web.Response:
    return reply(await service_of(request).recordings.stop(run_id_of(request)))


async def import_window(request: web.Request) -> web.Response:
    from iejtui.service.imports import import_window as run_import
    req = ImportRequest.from_json(await body(request))
    return reply(await run_import(service_of(request), req.to_json()))
