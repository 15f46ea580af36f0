"""Engine routes: list, show, start or attach, stop, log tail."""

from __future__ import annotations

from aiohttp import web

from iejtui.client import validate
from iejtui.client.requests import EngineRequest
from iejtui.errors import UserError
from iejtui.service.api.common import body, reply, service_of


def _handle(request: web.Request):
    h = service_of(request).engines.get(request.match_info["name"])
    if h is None:
        raise UserError(f"no engine {request.match_info['name']!r} in this service")
    return h


async def list_engines(request: web.Request) -> web.Response:
    service = service_of(request)
    firing: dict[int, list[dict]] = {}
    for f in service.advising.firing():  # most severe first
        firing.setdefault(f["run_id"], []).append(f)
    return reply([{**h.public(), "advisor": [{k: f[k] for k in ("rule", "severity", "title")}
                                              for f in firing.get(h.run_id, [])]}
                  for h in service.engines.values()])


async def get_engine(request: web.Request) -> web.Response:
    return reply(_handle(request).public())


async def start_engine(request: web.Request) -> web.Response:
    """Checked before a profile is resolved or a run row created; ``attach`` adopts a URL."""
    req = EngineRequest.from_json(await body(request))
    service = service_of(request)
    if req.attach:
        return reply(await service.supervisor.attach_engine(req.to_json()))
    return reply(await service.supervisor.start_engine(req.to_json()))


async def stop_engine(request: web.Request) -> web.Response:
    return reply(await service_of(request).supervisor.stop_engine(request.match_info["name"]))


async def engine_log(request: web.Request) -> web.Response:
    h = _handle(request)
    n = validate.log_lines(request.query)
    return reply({"lines": list(h.log_lines)[-n:] if n else [], "path": h.pid.log_path if h.pid else None})
