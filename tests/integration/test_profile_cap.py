"""The size cap while profiling: the watcher stops the window mid-run and keeps what was written.

The real CPU vLLM cannot provoke this: its torch profiler buffers in memory and writes the
trace at ``/stop_profile``, so nothing grows on disk during a torch window (see
``iejtui.service.profiling``). What does grow during a window is a profiler that streams
to disk (nsys's report while it collects). So the engine here is a small real aiohttp server
on 127.0.0.1 with vLLM 0.32's two routes (``vllm/entrypoints/serve/profile/api_router.py``:
``POST /start_profile`` with ``{"profile_prefix": ...}``, ``POST /stop_profile``, 200 with an
empty body) whose "profiler" appends to ``<prefix>_rank0.<ns>.pt.trace.json`` while it runs
and finishes the JSON at stop — the file names vLLM's tensorboard handler writes. The
service side (``ProfileWindow``, its watcher, the move and the summary) is the real code on
a real journal.db.
"""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

import pytest
from aiohttp import web

from iejtui.config import Config, ServiceSettings
from iejtui.paths import JournalPaths
from iejtui.profiling import files
from iejtui.service.context import ServiceContext
from iejtui.service.engines import EngineHandle
from iejtui.service.profiling import ProfileWindow
from iejtui.store.vocab import RunKind, RunStatus

pytestmark = pytest.mark.integration


class StreamingProfiler:
    """The two vLLM routes; while started, ~40 KB of complete events every 50 ms."""

    def __init__(self, folder: Path):
        self.folder, self.task, self.path, self.stopped = folder, None, None, 0

    async def start(self, request: web.Request) -> web.Response:
        prefix = (await request.json())["profile_prefix"]
        self.path = self.folder / f"{prefix}_rank0.{time.time_ns()}.pt.trace.json"
        self.task = asyncio.create_task(self._write())
        return web.Response()

    async def _write(self) -> None:
        base = time.time_ns() // 1_000_000_000 * 1_000_000_000
        t0 = (time.time_ns() - base) / 1000
        with open(self.path, "w") as f:
            f.write(json.dumps({"baseTimeNanoseconds": base})[:-1] + ', "traceEvents": [')
            f.write(json.dumps({"ph": "M", "name": "process_name", "pid": 1, "tid": 0, "args": {"name": "w"}}))
            try:
                while True:
                    now = (time.time_ns() - base) / 1000
                    for i in range(200):
                        f.write(", " + json.dumps({"ph": "X", "cat": "cpu_op", "name": "aten::mm", "pid": 1,
                                                   "tid": 1, "ts": now + i, "dur": 0.5}))
                    f.flush()
                    await asyncio.sleep(0.05)
            except asyncio.CancelledError:  # the profiler's span closes the trace, as kineto's does
                end = (time.time_ns() - base) / 1000
                f.write(", " + json.dumps({"ph": "X", "cat": "Trace", "name": "PyTorch Profiler (0)",
                                           "pid": "Spans", "tid": "PyTorch Profiler", "ts": t0,
                                           "dur": end - t0 + 1}) + "]}")

    async def stop(self, request: web.Request) -> web.Response:
        self.stopped += 1
        self.task.cancel()
        await asyncio.gather(self.task, return_exceptions=True)
        return web.Response()


async def test_cap_reached_mid_window_stops_and_keeps(tmp_path):
    paths = JournalPaths(tmp_path / "journal")
    paths.runtime.mkdir(parents=True)
    ctx = ServiceContext(paths, Config(path=None, service=ServiceSettings(profile_max_bytes=300_000,
                                                                          profile_min_free_bytes=0)))
    await ctx.open()
    engine_dir = files.make_private_dir(files.engine_dir(paths.runtime, "tiny"))
    prof = StreamingProfiler(engine_dir)
    app = web.Application()
    app.router.add_post("/start_profile", prof.start)
    app.router.add_post("/stop_profile", prof.stop)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]
    try:
        h = EngineHandle(1, "tiny", "vllm", f"http://127.0.0.1:{port}", owned=True, status=RunStatus.READY)
        h.profiling = "torch"
        run_id = await ctx.db(ctx.writer.create_run, kind=RunKind.PROFILE, name="p", status=RunStatus.RUNNING)
        window = ProfileWindow(ctx, h, run_id, seconds=60)
        # the cap is read from the journal's iejtui.toml when the window opens
        paths.config.write_text("[service]\nprofile_max_bytes = 300000\nprofile_min_free_bytes = 0\n")
        t0 = time.monotonic()
        await window.start()
        while window.stopped_at is None and time.monotonic() - t0 < 30:
            await asyncio.sleep(0.1)
        info = await window.stop("the test's own stop")  # waits for the watcher's stop to finish
        assert prof.stopped == 1 and time.monotonic() - t0 < 20  # stopped by the cap, long before 60 s
        assert info["stop_reason"].startswith("size cap reached")
        assert info["bytes"] >= 300_000 and len(info["files"]) == 1
        kept = files.run_dir(paths.runtime, run_id) / info["files"][0]["name"]
        assert kept.stat().st_size == info["bytes"]  # what was written is kept, complete JSON
        assert info["summary"]["top_ops"][0]["name"] == "aten::mm"
        assert await window.stop("again") == info and prof.stopped == 1  # a later stop changes nothing
    finally:
        await runner.cleanup()
        await ctx.close_clients()
        await ctx.close_writer()


async def test_an_engine_launched_without_profiling_is_refused(tmp_path):
    from iejtui.errors import UserError
    paths = JournalPaths(tmp_path / "journal")
    paths.runtime.mkdir(parents=True)
    ctx = ServiceContext(paths, Config(path=None))
    h = EngineHandle(1, "plain", "vllm", "http://127.0.0.1:9", owned=True, status=RunStatus.READY)
    with pytest.raises(UserError, match="not launched with profiling: set profile = true in \\[engines.plain\\]"):
        ProfileWindow(ctx, h, 5).check_ready()
