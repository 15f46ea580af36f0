"""Run routes: tags on a run (the day log's ``day-N`` tag among them), deleting runs."""

from __future__ import annotations

import asyncio

from aiohttp import web

from iejtui.client.requests import DeleteRequest
from iejtui.service.api.common import body, reply, service_of
from iejtui.store.tags import parse_tag_request


async def tag_run(request: web.Request) -> web.Response:
    service = service_of(request)
    run_id, add, remove, day = parse_tag_request(request.match_info["run_id"], await body(request))
    return reply(await service.db(service.writer.apply_tags, run_id, add, remove, day))


async def delete_runs(request: web.Request) -> web.Response:
    """Delete runs (``Writer.delete_runs``: refused while live, while others belong to them,
    or while a day log holds them unless forced), then the files each owned
    (``iejtui.runfiles``); one ``runs.deleted`` event (run_id NULL) says what went."""
    from iejtui import runfiles
    from iejtui.store.deletion import counts_text
    service = service_of(request)
    req = DeleteRequest.from_json(await body(request))
    out = await service.db(service.writer.delete_runs, req.ids, bool(req.with_children), bool(req.force))
    paths = service.ctx.paths
    n = freed = 0
    for run in out["deleted"]:
        k, b = await asyncio.to_thread(runfiles.remove, paths, run["id"])
        n, freed = n + k, freed + b
    out.update(files=n, bytes=freed)
    ids = ", ".join(str(r["id"]) for r in out["deleted"])
    await service.event(None, "runs.deleted", f"deleted run(s) {ids}: {counts_text(out)}, {n} files ({freed} bytes)",
                        ids=[r["id"] for r in out["deleted"]])
    return reply(out)
