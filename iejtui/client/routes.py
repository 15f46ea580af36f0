"""Every control-API route the client knows: its name (the ``ServiceClient`` method), HTTP
method and path under ``/v1``. The API registers its handlers under the same names
(``iejtui.service.api.routes.ROUTES``); a unit test holds the two tables equal."""

from __future__ import annotations

from typing import NamedTuple


class Route(NamedTuple):
    method: str
    path: str  # a template: {name}, {run_id} filled by the client


ROUTES: dict[str, Route] = {
    "status": Route("GET", "/status"),
    "stop_service": Route("POST", "/service/stop"),
    "engines": Route("GET", "/engines"),
    "engine": Route("GET", "/engines/{name}"),
    "start_engine": Route("POST", "/engines"),  # attach too: {"attach": true}
    "stop_engine": Route("POST", "/engines/{name}/stop"),
    "engine_log": Route("GET", "/engines/{name}/log"),
    "start_bench": Route("POST", "/benches"),
    "benches": Route("GET", "/benches"),
    "bench": Route("GET", "/benches/{run_id}"),
    "cancel_bench": Route("POST", "/benches/{run_id}/cancel"),
    "start_profile": Route("POST", "/profiles"),
    "profile": Route("GET", "/profiles/{run_id}"),
    "tag_run": Route("POST", "/runs/{run_id}/tags"),
    "delete_runs": Route("POST", "/runs/delete"),
    "start_recording": Route("POST", "/recordings"),
    "stop_recording": Route("POST", "/recordings/{run_id}/stop"),
    "import_window": Route("POST", "/imports"),
    "start_matrix": Route("POST", "/matrices"),
    "matrices": Route("GET", "/matrices"),
    "matrix": Route("GET", "/matrices/{name}"),
    "cancel_matrix": Route("POST", "/matrices/{name}/cancel"),
}
