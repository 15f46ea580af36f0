"""Run routes: tags on a run (the day log's ``day-N`` tag among them)."""

from __future__ import annotations

from aiohttp import web

from iejtui.service.api.common import body, reply, service_of
from iejtui.store.tags import parse_tag_request


async def tag_run(request: web.Request) -> web.Response:
    service = service_of(request)
    run_id, add, remove, day = parse_tag_request(request.match_info["run_id"], await body(request))
    return reply(await service.db(service.writer.apply_tags, run_id, add, remove, day))
