"""The typed client and the control API agree: every API route has a ServiceClient method
and every client route an API handler (same name, method and path); the one error mapping;
the request dataclasses round-trip and run the API's checks."""
from __future__ import annotations

import asyncio
import inspect

import pytest

from iejtui.client import (BenchRequest, EngineRequest, ImportRequest, MatrixRequest, RecordingRequest,
                           ServiceClient, StopRequest)
from iejtui.client.routes import ROUTES as CLIENT_ROUTES
from iejtui.client.transport import raise_for_reply
from iejtui.errors import ServiceError, UserError
from iejtui.service.api import build_app
from iejtui.service.api.routes import API, ROUTES as API_ROUTES


def test_every_api_route_has_a_client_route_and_back():
    api = {name: (h.method, h.path) for name, h in API_ROUTES.items()}
    client = {name: (r.method, r.path) for name, r in CLIENT_ROUTES.items()}
    assert api == client


def test_every_client_route_has_a_method_that_uses_it():
    src = inspect.getsource(ServiceClient)
    for name in CLIENT_ROUTES:
        assert f'"{name}"' in src, f"no ServiceClient method sends route {name!r}"
    public = {n for n, f in inspect.getmembers(ServiceClient, inspect.isfunction) if not n.startswith("_")}
    assert set(CLIENT_ROUTES) <= public | {"start_engine"}


def test_build_app_registers_the_table():
    app = build_app(service=None, on_stop=None)
    registered = {(r.method, r.resource.canonical) for r in app.router.routes()}
    assert registered == {(h.method, API + h.path) for h in API_ROUTES.values()}


def test_error_answers_map_to_user_and_service_errors():
    with pytest.raises(UserError, match="bad name"):
        raise_for_reply({"error": "bad name", "user_error": True})
    with pytest.raises(ServiceError, match="disk full"):
        raise_for_reply({"error": "disk full"})
    assert raise_for_reply({"ok": 1}) == {"ok": 1}
    assert raise_for_reply([{"error": "a list is data"}]) == [{"error": "a list is data"}]


def test_a_service_that_is_not_there_is_a_service_error(tmp_path):
    from iejtui.paths import journal_paths
    with pytest.raises(ServiceError, match="not answering"):
        ServiceClient(journal_paths(str(tmp_path)), timeout=2).status()
    with pytest.raises(ServiceError, match="not answering"):
        asyncio.run(ServiceClient(journal_paths(str(tmp_path)), timeout=2, use_async=True).engines())


def test_the_client_sends_the_route_it_names(monkeypatch):
    from iejtui.client import transport
    sent = []
    monkeypatch.setattr(transport, "call", lambda paths, m, p, body, t: sent.append((m, p, body, t)) or {})
    c = ServiceClient(paths=None)
    c.engine_log("e1", 40)
    c.cancel_bench(7)
    c.import_window(ImportRequest(prometheus="http://p", instance="h", start=1.0, end=2.0), timeout=600)
    c.stop_service(keep_engines=True)
    assert sent == [("GET", "/engines/e1/log?lines=40", None, 120.0),
                    ("POST", "/benches/7/cancel", None, 120.0),
                    ("POST", "/imports", {"prometheus": "http://p", "instance": "h", "from": 1.0, "to": 2.0}, 600),
                    ("POST", "/service/stop", {"keep_engines": True}, 120.0)]


@pytest.mark.parametrize("req", [
    EngineRequest(name="e", kind="vllm", argv=["vllm", "serve", "m"], extra={"note": "kept"}),
    BenchRequest(engine="e", argv=["--rate", "1"], name="b", cwd="/tmp"),
    RecordingRequest(name="r", duration=5),
    ImportRequest(prometheus="http://p", instance="h", start=1, end=2),
    MatrixRequest(file="/m.toml", fresh=False, retry_failed=True),
    StopRequest(keep_engines=False),
])
def test_requests_round_trip(req):
    assert type(req).from_json(req.to_json()) == req


def test_parsing_a_request_runs_the_api_checks():
    with pytest.raises(UserError, match="argv must be a list of strings"):
        EngineRequest.from_json({"name": "e", "argv": "vllm serve"})
    with pytest.raises(UserError, match="duration must be a positive number"):
        RecordingRequest.from_json({"duration": -1})
    with pytest.raises(UserError, match="file is required"):
        MatrixRequest.from_json({})
    with pytest.raises(UserError, match="from must be a number"):
        ImportRequest.from_json({"prometheus": "http://p", "instance": "h", "from": "x", "to": 2})
