"""Benchmark routes: start, list, show, cancel (``iejtui.service.bench.BenchRunner`` runs them)."""

from __future__ import annotations

from aiohttp import web

from iejtui.client.requests import BenchRequest
from iejtui.errors import UserError
from iejtui.service.api.common import body, reply, run_id_of, service_of


def _job(request: web.Request):
    run_id = run_id_of(request)
    job = service_of(request).benches.get(run_id)
    if job is None:
        raise UserError(f"no benchmark with run id {run_id} in this service")
    return job


async def start_bench(request: web.Request) -> web.Response:
    req = BenchRequest.from_json(await body(request))
    runner = service_of(request).bench_runner
    if req.find_max_load:  # a load search: its probes are bench jobs (iejtui.service.bench_search)
        from iejtui.service.bench_search import start_search
        return reply((await start_search(runner, req.to_json())).public())
    return reply((await runner.start(req.to_json())).public())


async def list_benches(request: web.Request) -> web.Response:
    return reply([j.public() for j in service_of(request).benches.values()])


async def get_bench(request: web.Request) -> web.Response:
    return reply(_job(request).public())


async def cancel_bench(request: web.Request) -> web.Response:
    return reply((await service_of(request).bench_runner.cancel(_job(request).run_id)).public())
