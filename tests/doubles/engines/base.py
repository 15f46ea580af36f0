"""What every fake engine shares: an aiohttp app over an ``EngineSim``, startup timing,
log lines on stdout, and ways to run it (in-loop, in a thread, or as a process).

``listen_while_loading``: SGLang and llama.cpp accept connections during model load and
answer 503 until ready; vLLM and TRT-LLM only start listening once ready (a probe gets
"connection refused" until then). ``load_s`` is how long the pretend model load takes.
"""

from __future__ import annotations

import asyncio
import sys
import threading
from collections.abc import Callable
from typing import Any, TextIO

from aiohttp import web

from tests.doubles.engines.openai_api import OpenAIRoutes
from tests.doubles.engines.sim import EngineSim, SimRequest, StepStats


class FakeEngine:
    kind = ""
    owned_by = "fake"
    listen_while_loading = False

    def __init__(self, *, host: str = "127.0.0.1", port: int = 0, model: str = "tiny",
                 load_s: float = 0.0, step_s: float = 0.01, total_blocks: int = 1024,
                 block_size: int = 16, max_running: int = 32, log: TextIO | None = None,
                 hold: bool = False) -> None:
        self.host, self.port, self.model, self.load_s = host, port, model, load_s
        self.hold = hold  # stay loading until release() (tests of the loading state)
        self._released = asyncio.Event()
        self.log_stream = log
        self.sim = EngineSim(step_s=step_s, total_blocks=total_blocks, block_size=block_size,
                             max_running=max_running, on_step=self._on_step)
        self.ready = False
        self.healthy = True  # tests flip this to make the engine report itself broken
        self.app = web.Application()
        self.routes = OpenAIRoutes(self.sim, model, self.owned_by, on_submit=self.on_submit)
        self._runner: web.AppRunner | None = None
        self._site: web.TCPSite | None = None
        self._tasks: list[asyncio.Task] = []

    # ---- to override -----------------------------------------------------------------
    def add_routes(self, app: web.Application) -> None:
        """Engine-specific endpoints (health, metrics...)."""

    def startup_lines(self) -> list[str]:
        """Log lines printed while loading (before ready)."""
        return []

    def ready_lines(self) -> list[str]:
        """Log lines printed once ready."""
        return []

    def on_step(self, st: StepStats) -> None:
        """Turn one simulated iteration into this engine's telemetry."""

    def on_submit(self, req: SimRequest, body: dict) -> None:
        """A request arrived (before its first iteration)."""

    async def on_ready(self) -> None:
        """Called once the engine is ready (start background telemetry tasks here)."""

    # ---- plumbing ------------------------------------------------------------------------
    def _on_step(self, st: StepStats) -> None:
        self.on_step(st)

    def log(self, line: str) -> None:
        stream = self.log_stream if self.log_stream is not None else sys.stdout
        stream.write(line + "\n")
        stream.flush()

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    async def _listen(self) -> None:
        self.add_routes(self.app)  # here, once every subclass field exists
        self.routes.add_to(self.app)
        self._runner = web.AppRunner(self.app, access_log=None, handle_signals=False)
        await self._runner.setup()
        self._site = web.TCPSite(self._runner, self.host, self.port, reuse_address=True)
        await self._site.start()
        if not self.port:
            self.port = self._site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]

    async def start(self, wait_ready: bool = True) -> FakeEngine:
        """Start serving; with ``wait_ready`` return once ready (else load in background)."""
        if self.listen_while_loading or self.load_s <= 0:
            await self._listen()
        task = asyncio.get_running_loop().create_task(self._load())
        self._tasks.append(task)
        if wait_ready:
            await task
        return self

    async def _load(self) -> None:
        lines = self.startup_lines()
        for line in lines:
            self.log(line)
            await asyncio.sleep(self.load_s / max(1, len(lines)))
        if self.hold:
            await self._released.wait()
        if self._site is None:
            await self._listen()
        self.sim.start()
        self.ready = True
        await self.on_ready()
        for line in self.ready_lines():
            self.log(line)

    def release(self) -> None:
        """End a ``hold``: the model is loaded."""
        self._released.set()

    async def stop(self) -> None:
        for t in self._tasks:
            t.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self.sim.stop()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> FakeEngine:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    def background(self, coro_fn: Callable[[], Any]) -> None:
        self._tasks.append(asyncio.get_running_loop().create_task(coro_fn()))


class ThreadedFake:
    """Run a fake engine on its own event loop in a daemon thread (for synchronous tests
    that drive the real service through the CLI). ``call(fn)`` runs ``fn()`` on that loop."""

    def __init__(self, factory: Callable[[], FakeEngine], wait_ready: bool = True) -> None:
        self._factory, self._wait_ready = factory, wait_ready
        self.loop = asyncio.new_event_loop()
        self.engine: FakeEngine | None = None
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True, name="fake-engine")

    def __enter__(self) -> FakeEngine:
        self._thread.start()

        async def boot() -> FakeEngine:
            self.engine = self._factory()
            return await self.engine.start(self._wait_ready)

        return asyncio.run_coroutine_threadsafe(boot(), self.loop).result(30)

    def call(self, fn: Callable[[], Any], timeout: float = 10) -> Any:
        async def run() -> Any:
            return fn()
        return asyncio.run_coroutine_threadsafe(run(), self.loop).result(timeout)

    def __exit__(self, *exc: object) -> None:
        if self.engine is not None:
            asyncio.run_coroutine_threadsafe(self.engine.stop(), self.loop).result(30)

        async def drain() -> None:  # handlers still in flight (a client's open request) end here, not at close
            tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
        asyncio.run_coroutine_threadsafe(drain(), self.loop).result(30)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(10)
        self.loop.close()


def serve_forever(engine: FakeEngine, shutdown_s: float = 0.0) -> None:
    """Run ``engine`` until SIGTERM/SIGINT (the ``python -m`` entry points). ``shutdown_s``:
    seconds it keeps serving after the signal, as a real server does while it drains and
    tears its workers down (a GPU engine can take tens of seconds)."""
    import signal

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await engine.start(wait_ready=False)
        await stop.wait()
        engine.log("Shutting down")
        await asyncio.sleep(shutdown_s)
        await engine.stop()

    asyncio.run(main())

