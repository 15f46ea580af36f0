"""``ServiceClient``: one method per control-API route, for the CLI, the TUI and the journal.

Decisions:
- One class serves both worlds: ``ServiceClient(paths)`` answers each call (``asyncio.run``
  under the hood: the CLI, worker threads), ``ServiceClient(paths, use_async=True)`` returns
  the same calls as coroutines (the TUI's async workers). Each method is written once.
- Bodies are the typed requests of ``iejtui.client.requests`` (the API parses them back);
  answers are the service's JSON (dicts and lists, as ``--json`` prints them), typed with the
  ``TypedDict``s of ``iejtui.client.responses``; with ``use_async=True`` each method returns
  an awaitable of the type it names.
- aiohttp is imported on the first call, not on import (it costs ~0.2 s of start-up: the
  dashboard's first frame and ``iejtui runs`` do not pay it).
- Path parameters go in as given (as the string routes did: names are checked by the
  service, a bad one is its 404 or 400).
- Errors: see ``iejtui.client.transport.raise_for_reply`` (the one mapping).
"""

from __future__ import annotations

from typing import Any

from iejtui.client.requests import (BenchRequest, DeleteRequest, EngineRequest, ImportRequest, MatrixRequest,
                                    ProfileRequest, RecordingRequest, StopRequest, TagRequest)
from iejtui.client.responses import (BenchInfo, DeletedRuns, EngineInfo, EngineLog, ImportInfo, MatrixProgress,
                                     ProfileInfo, RecordingInfo, StatusReply, Stopping, TagsInfo)
from iejtui.client.routes import ROUTES
from iejtui.paths import JournalPaths

DEFAULT_TIMEOUT = 120.0


class ServiceClient:
    def __init__(self, paths: JournalPaths, timeout: float = DEFAULT_TIMEOUT, use_async: bool = False):
        self.paths = paths
        self.timeout = timeout
        self.use_async = use_async

    def _do(self, route: str, body: Any = None, query: str = "", timeout: float | None = None, **params):
        method, template = ROUTES[route]
        path = template.format(**params) + query
        payload = body.to_json() if hasattr(body, "to_json") else body
        from iejtui.client import transport
        t = self.timeout if timeout is None else timeout
        if self.use_async:
            return transport.call_async(self.paths, method, path, payload, t)
        return transport.call(self.paths, method, path, payload, t)

    # ---- status / service ----
    def status(self, timeout: float | None = None) -> StatusReply:
        return self._do("status", timeout=timeout)

    def stop_service(self, keep_engines: bool = False) -> Stopping:
        return self._do("stop_service", StopRequest(keep_engines=keep_engines))

    # ---- engines ----
    def engines(self, timeout: float | None = None) -> list[EngineInfo]:
        return self._do("engines", timeout=timeout)

    def engine(self, name: str, timeout: float | None = None) -> EngineInfo:
        return self._do("engine", name=name, timeout=timeout)

    def start_engine(self, request: EngineRequest | dict[str, Any]) -> EngineInfo:
        return self._do("start_engine", request)

    def attach_engine(self, name: str, url: str, kind: str | None = None) -> EngineInfo:
        return self._do("start_engine", EngineRequest(name=name, url=url, kind=kind, attach=True))

    def stop_engine(self, name: str) -> EngineInfo:
        return self._do("stop_engine", name=name)

    def engine_log(self, name: str, lines: int, timeout: float | None = None) -> EngineLog:
        return self._do("engine_log", name=name, query=f"?lines={int(lines)}", timeout=timeout)

    # ---- benches ----
    def start_bench(self, request: BenchRequest | dict[str, Any], timeout: float | None = None) -> BenchInfo:
        return self._do("start_bench", request, timeout=timeout)

    def benches(self) -> list[BenchInfo]:
        return self._do("benches")

    def bench(self, run_id: int) -> BenchInfo:
        return self._do("bench", run_id=run_id)

    def cancel_bench(self, run_id: int, timeout: float | None = None) -> BenchInfo:
        return self._do("cancel_bench", run_id=run_id, timeout=timeout)

    # ---- runs, recordings, imports ----
    def tag_run(self, run_id: int, request: TagRequest, timeout: float | None = None) -> TagsInfo:
        return self._do("tag_run", request, run_id=run_id, timeout=timeout)

    def delete_runs(self, request: DeleteRequest, timeout: float | None = None) -> DeletedRuns:
        return self._do("delete_runs", request, timeout=timeout)

    # ---- profiles ----
    def start_profile(self, request: ProfileRequest) -> ProfileInfo:
        return self._do("start_profile", request)

    def profile(self, run_id: int) -> ProfileInfo:
        return self._do("profile", run_id=run_id)

    def start_recording(self, request: RecordingRequest) -> RecordingInfo:
        return self._do("start_recording", request)

    def stop_recording(self, run_id: int) -> RecordingInfo:
        return self._do("stop_recording", run_id=run_id)

    def import_window(self, request: ImportRequest, timeout: float | None = None) -> ImportInfo:
        return self._do("import_window", request, timeout=timeout)

    # ---- matrices ----
    def start_matrix(self, request: MatrixRequest) -> MatrixProgress:
        return self._do("start_matrix", request)

    def matrices(self) -> list[MatrixProgress]:
        return self._do("matrices")

    def matrix(self, name: str) -> MatrixProgress:
        return self._do("matrix", name=name)

    def cancel_matrix(self, name: str) -> MatrixProgress:
        return self._do("cancel_matrix", name=name)
