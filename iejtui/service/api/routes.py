"""The route table: name -> (HTTP method, path under ``/v1``, handler).

The names are the client's (``iejtui.client.routes.ROUTES``, the ``ServiceClient`` methods);
``tests/unit/test_client_routes.py`` holds the two tables equal.
"""

from __future__ import annotations

from typing import Awaitable, Callable, NamedTuple

from aiohttp import web

from iejtui.service.api import benches, engines, matrices, profiles, recordings, runs, status

API = "/v1"


class Handler(NamedTuple):
    method: str
    path: str
    handler: Callable[[web.Request], Awaitable[web.StreamResponse]]


ROUTES: dict[str, Handler] = {
    "status": Handler("GET", "/status", status.status),
    "stop_service": Handler("POST", "/service/stop", status.stop_service),
    "engines": Handler("GET", "/engines", engines.list_engines),
    "engine": Handler("GET", "/engines/{name}", engines.get_engine),
    "start_engine": Handler("POST", "/engines", engines.start_engine),
    "stop_engine": Handler("POST", "/engines/{name}/stop", engines.stop_engine),
    "engine_log": Handler("GET", "/engines/{name}/log", engines.engine_log),
    "start_bench": Handler("POST", "/benches", benches.start_bench),
    "benches": Handler("GET", "/benches", benches.list_benches),
    "bench": Handler("GET", "/benches/{run_id}", benches.get_bench),
    "cancel_bench": Handler("POST", "/benches/{run_id}/cancel", benches.cancel_bench),
    "start_profile": Handler("POST", "/profiles", profiles.start_profile),
    "profile": Handler("GET", "/profiles/{run_id}", profiles.get_profile),
    "tag_run": Handler("POST", "/runs/{run_id}/tags", runs.tag_run),
    "delete_runs": Handler("POST", "/runs/delete", runs.delete_runs),
    "start_recording": Handler("POST", "/recordings", recordings.start_recording),
    "stop_recording": Handler("POST", "/recordings/{run_id}/stop", recordings.stop_recording),
    "import_window": Handler("POST", "/imports", recordings.import_window),
    "start_matrix": Handler("POST", "/matrices", matrices.start_matrix),
    "matrices": Handler("GET", "/matrices", matrices.list_matrices),
    "matrix": Handler("GET", "/matrices/{name}", matrices.get_matrix),
    "cancel_matrix": Handler("POST", "/matrices/{name}/cancel", matrices.cancel_matrix),
}
