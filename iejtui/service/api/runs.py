"""Run routes: tags on a run (the day log's ``day-N`` tag among them)."""

from __future__ import annotations

from aiohttp import web

from iejtui.service.api.common import body, reply, service_of


async def tag_run(request: web.Request) -> web.Response:
    from iejtui.journal.service_ops import apply_tags, parse_tag_request
    service = service_of(request)
    run_id, add, remove, day = parse_tag_request(request.match_info["run_id"], await body(request))
    return reply(await service.db(apply_tags, service.writer, run_id, add, remove, day))
