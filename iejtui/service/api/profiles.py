"""Profile routes: start a ``profile`` run on an engine, list and show them
(``iejtui.service.profiling.ProfileRunner`` runs them)."""

from __future__ import annotations

from aiohttp import web

from iejtui.client.requests import ProfileRequest
from iejtui.errors import UserError
from iejtui.service.api.common import body, reply, run_id_of, service_of


async def start_profile(request: web.Request) -> web.Response:
    req = ProfileRequest.from_json(await body(request))
    return reply((await service_of(request).profile_runner.start(req.to_json())).public())


async def get_profile(request: web.Request) -> web.Response:
    run_id = run_id_of(request)
    job = service_of(request).profile_runner.jobs.get(run_id)
    if job is None:
        raise UserError(f"no profile run with run id {run_id} in this service")
    return reply(job.public())
