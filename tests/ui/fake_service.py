"""A stand-in for the service's control API on the journal's unix socket (UI tests only).

It answers the routes the Engines screen uses with canned engines and records every POST,
so screen flows can be checked fast and deterministically; the real service is exercised by
the integration test.
"""
from __future__ import annotations

import asyncio
import threading

from aiohttp import web

from iejtui.paths import JournalPaths

STARTED = 1_779_999_200.0


def engine(name: str, run_id: int, status: str = "ready", **extra) -> dict:
    base = {"name": name, "kind": "vllm", "status": status, "phase": "ready" if status == "ready" else "launching",
            "url": "http://127.0.0.1:8000", "pid": 5120, "pgid": 5120, "run_id": run_id, "owned": True,
            "started_at": STARTED, "facts": {}, "scrape_error": None, "last_scrape_ok": None, "warnings": [],
            "error_lines": []}
    base.update(extra)
    return base


class FakeService:
    def __init__(self, paths: JournalPaths, engines: list[dict]):
        self.paths = paths
        self.engines = {e["name"]: e for e in engines}
        self.posts: list[tuple[str, dict | None]] = []
        self.log = [f"INFO 05-28 20:14:{i:02d} [loggers.py] Engine 000: Avg generation throughput: {90 + i}.0 tokens/s"
                    for i in range(12)]
        self._loop: asyncio.AbstractEventLoop | None = None
        self._runner: web.AppRunner | None = None
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    # ---- routes ----------------------------------------------------------------------------
    async def _list(self, request):
        return web.json_response(list(self.engines.values()))

    async def _log(self, request):
        return web.json_response({"lines": self.log, "path": "/journal/.iejtui/logs/run-4-llama8b.log"})

    async def _start(self, request):
        body = await request.json()
        self.posts.append(("/engines", body))
        name = body["name"]
        if name in self.engines and self.engines[name]["status"] in ("starting", "ready"):
            return web.json_response({"error": f"engine {name!r} is already ready", "user_error": True}, status=400)
        self.engines[name] = engine(name, 100 + len(self.posts), "starting")
        return web.json_response(self.engines[name])

    async def _stop(self, request):
        name = request.match_info["name"]
        self.posts.append((f"/engines/{name}/stop", None))
        self.engines[name] = dict(self.engines[name], status="stopped")
        return web.json_response(self.engines[name])

    # ---- lifecycle ---------------------------------------------------------------------------
    def _run(self) -> None:
        self._loop = asyncio.new_event_loop()
        self._loop.run_until_complete(self._serve())
        self._ready.set()
        self._loop.run_forever()

    async def _serve(self) -> None:
        app = web.Application()
        app.router.add_get("/v1/engines", self._list)
        app.router.add_get("/v1/engines/{name}/log", self._log)
        app.router.add_post("/v1/engines", self._start)
        app.router.add_post("/v1/engines/{name}/stop", self._stop)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        self.paths.socket.parent.mkdir(parents=True, exist_ok=True)
        await web.UnixSite(self._runner, str(self.paths.socket)).start()

    def __enter__(self) -> FakeService:
        self._thread.start()
        self._ready.wait(10)
        return self

    def __exit__(self, *exc) -> None:
        async def stop():
            await self._runner.cleanup()
        asyncio.run_coroutine_threadsafe(stop(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self.paths.socket.unlink(missing_ok=True)
