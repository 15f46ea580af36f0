"""Helpers for tests: the CLI as a subprocess, ports, waiting, engine profiles."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import aiohttp


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cli(journal: Path, *args: str, timeout: float = 180, env: dict | None = None,
        cwd: Path | None = None) -> subprocess.CompletedProcess:
    """Run ``iejtui ARGS --journal JOURNAL`` as a user would (in folder ``cwd``, default
    this process's); returns the completed process."""
    e = {**os.environ, **(env or {})}
    e.pop("IEJTUI_JOURNAL", None)
    return subprocess.run([sys.executable, "-m", "iejtui.cli", "--journal", str(journal), *args],
                          capture_output=True, text=True, timeout=timeout, env=e, cwd=cwd)


def cli_json(journal: Path, *args: str, **kw):
    p = cli(journal, *args, "--json", **kw)
    assert p.returncode == 0, p.stderr
    return json.loads(p.stdout)


def stop_service(journal: Path) -> None:
    """Stop the journal's service and everything it owns; kill it if it does not listen."""
    cli(journal, "service", "stop", timeout=120)
    pidfile = journal / ".iejtui" / "service.pid"
    if pidfile.exists():
        try:
            os.kill(int(pidfile.read_text()), signal.SIGKILL)
        except (ValueError, ProcessLookupError):
            pass
    for rec in (journal / ".iejtui" / "pids").glob("*.json"):
        try:
            os.killpg(json.loads(rec.read_text())["pgid"], signal.SIGKILL)
        except (ProcessLookupError, KeyError, ValueError, PermissionError):
            pass


def kill_service_mid_bench(journal: Path, timeout: float = 600) -> dict:
    """SIGKILL the journal's service while a benchmark of a matrix is running in it.

    Benchmarks of the test grids last a second or two, less than a status poll: the service
    is frozen (SIGSTOP) and the journal read; a benchmark run still ``running`` there is
    the one the kill cuts (the service that starts again sees exactly that journal), else
    the service goes on (SIGCONT) and the next look comes. Returns that run's matrix
    variant and the engine run it targeted."""
    from iejtui.store import Reader
    pid = int((journal / ".iejtui" / "service.pid").read_text())

    def frozen_mid_bench():
        os.kill(pid, signal.SIGSTOP)
        reader = Reader(journal / "journal.db")
        try:
            running = [r for r in reader.runs(kind="bench")
                       if r["status"] == "running" and (r["facts"] or {}).get("variant")]
        finally:
            reader.close()
        if running:
            return {"variant": running[0]["facts"]["variant"], "engine_run": running[0]["parent_id"]}
        os.kill(pid, signal.SIGCONT)
        return None
    cur = wait_for(frozen_mid_bench, timeout, interval=0.3, what="a benchmark of the grid")
    os.kill(pid, signal.SIGKILL)
    return cur


def engine_profile(name: str, port: int, extra: list[str] | None = None, env: dict | None = None) -> str:
    """An iejtui.toml profile that serves the tiny model on ``port`` through `iejtui demo serve`."""
    argv = ["iejtui", "demo", "serve", "--port", str(port), *(extra or [])]
    text = f'\n[engines.{name}]\nkind = "vllm"\nargv = {json.dumps(argv)}\nstop_timeout = 20\n'
    if env:
        text += "env = { " + ", ".join(f'{k} = "{v}"' for k, v in env.items()) + " }\n"
    return text


def add_profile(journal: Path, text: str) -> None:
    with open(journal / "iejtui.toml", "a") as f:
        f.write(text)


def wait_for(predicate, timeout: float, interval: float = 0.1, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


async def _stream(session, url, out, prompt_words=32, max_tokens=96):
    # logprobs tell how many tokens each chunk carries (a busy server coalesces several)
    body = {"model": "tiny", "prompt": "the quick brown fox " * (prompt_words // 4), "max_tokens": max_tokens,
            "stream": True, "ignore_eos": True, "logprobs": 1, "stream_options": {"include_usage": True}}
    t_send = time.time()
    first = None
    async with session.post(url + "/v1/completions", json=body) as r:
        assert r.status == 200, await r.text()
        async for raw in r.content:
            if not raw.startswith(b"data: ") or raw.startswith(b"data: [DONE]"):
                continue
            now = time.time()
            d = json.loads(raw[6:])
            if d.get("choices") and d["choices"][0].get("logprobs"):
                n = len(d["choices"][0]["logprobs"]["tokens"])
                if n:
                    first = first or now
                    out["chunks"].append((now, n))
            if d.get("usage"):
                out["tokens"] += d["usage"]["completion_tokens"]
    out["ttft"].append(first - t_send)


async def _load(url, n, concurrency, seconds=None, **kw):
    out = {"chunks": [], "tokens": 0, "ttft": []}
    sem = asyncio.Semaphore(concurrency)
    async with aiohttp.ClientSession() as s:
        async def one():
            async with sem:
                await _stream(s, url, out, **kw)

        async def worker(deadline):
            while time.time() < deadline:
                await _stream(s, url, out, **kw)
        out["t0"] = time.time()
        if seconds is None:
            await asyncio.gather(*(one() for _ in range(n)))
        else:
            await asyncio.gather(*(worker(out["t0"] + seconds) for _ in range(concurrency)))
        out["t1"] = time.time()
    return out


def load_engine(url: str, n: int | None, concurrency: int, seconds: float | None = None, **kw) -> dict:
    """Send ``n`` streaming completions at ``concurrency`` or, with ``seconds``, keep
    ``concurrency`` streams busy for that long (a load sized by duration holds the same window
    on a fast machine and a slow one); per-chunk token counts and TTFTs."""
    return asyncio.run(_load(url, n, concurrency, seconds, **kw))


class ThreadedApp:
    """A real aiohttp server on 127.0.0.1, run in a thread, for tests that need a target.

    ``build(app)`` adds the routes; ``with ThreadedApp(build) as srv:`` serves on ``srv.port``.
    """

    def __init__(self, build):
        import threading
        self.build, self.port = build, free_port()
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        from aiohttp import web
        asyncio.set_event_loop(self.loop)
        app = web.Application()
        self.build(app)
        self.runner = web.AppRunner(app)
        self.loop.run_until_complete(self.runner.setup())
        self.loop.run_until_complete(web.TCPSite(self.runner, "127.0.0.1", self.port).start())
        self.loop.run_forever()

    def __enter__(self):
        self.thread.start()

        def listening():
            try:
                socket.create_connection(("127.0.0.1", self.port), 0.2).close()
                return True
            except OSError:
                return False

        wait_for(listening, 10, what="the test server")
        return self

    def __exit__(self, *exc):
        try:
            asyncio.run_coroutine_threadsafe(self.runner.cleanup(), self.loop).result(10)
        except Exception:  # noqa: BLE001 - a hung handler must not fail the test's teardown
            pass
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)


class MockServer:
    """The project's mock OpenAI server (``tests.doubles.mockserver``, known timing) as a real
    process on 127.0.0.1: ``with MockServer("--chunks", "4") as url:``."""

    def __init__(self, *args: str):
        self.port = free_port()
        self.args = [str(a) for a in args]
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen | None = None

    def _up(self) -> bool:
        import urllib.request
        try:
            with urllib.request.urlopen(self.url + "/v1/models", timeout=1):
                return True
        except OSError:
            return False

    def __enter__(self) -> str:
        root = Path(__file__).resolve().parents[1]
        self.proc = subprocess.Popen([sys.executable, "-m", "tests.doubles.mockserver", "--port", str(self.port),
                                      *self.args], cwd=root, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            wait_for(self._up, 30, what="the mock server")
        except BaseException:
            self.__exit__()
            raise
        return self.url

    def __exit__(self, *exc) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(10)
