"""Shared set-up for perf scripts: a temp journal with the real CPU vLLM engine under load."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import aiohttp

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(1, str(ROOT))  # the test doubles: tests.doubles.*

from helpers import add_profile, cli, cli_json, engine_profile, free_port, stop_service  # noqa: E402


class EngineJournal:
    """A journal in a temp dir with one real engine started through the service."""

    def __init__(self, name: str = "tiny"):
        self.root = Path(tempfile.mkdtemp(prefix="iejtui-perf-")) / "journal"
        self.name = name
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> "EngineJournal":
        assert cli(self.root, "init", str(self.root)).returncode == 0
        add_profile(self.root, engine_profile(self.name, self.port))
        p = cli(self.root, "engine", "start", self.name, "--wait", timeout=900)
        if p.returncode != 0:
            stop_service(self.root)
            raise SystemExit(f"engine did not start: {p.stderr}")
        self.engine = [e for e in cli_json(self.root, "engine", "list") if e["name"] == self.name][0]
        return self

    def __exit__(self, *exc) -> None:
        stop_service(self.root)

    @property
    def db(self) -> Path:
        return self.root / "journal.db"

    def service_pid(self) -> int:
        return int((self.root / ".iejtui" / "service.pid").read_text())


class SteadyLoad:
    """Closed-loop streaming completions at a fixed concurrency in a background thread."""

    def __init__(self, url: str, concurrency: int = 4, max_tokens: int = 64):
        self.url, self.concurrency, self.max_tokens = url, concurrency, max_tokens
        self.stop_flag = threading.Event()
        self.tokens = 0
        self.requests = 0
        self.thread = threading.Thread(target=lambda: asyncio.run(self._main()), daemon=True)

    async def _one(self, s: aiohttp.ClientSession) -> None:
        body = {"model": "tiny", "prompt": "steady load " * 16, "max_tokens": self.max_tokens,
                "stream": True, "ignore_eos": True, "stream_options": {"include_usage": True}}
        async with s.post(self.url + "/v1/completions", json=body) as r:
            async for raw in r.content:
                if raw.startswith(b"data: {") and b'"usage":{' in raw:
                    u = json.loads(raw[6:]).get("usage")
                    if u:
                        self.tokens += u["completion_tokens"]
        self.requests += 1

    async def _main(self) -> None:
        async with aiohttp.ClientSession() as s:
            async def worker():
                while not self.stop_flag.is_set():
                    try:
                        await self._one(s)
                    except aiohttp.ClientError:
                        await asyncio.sleep(0.5)
            await asyncio.gather(*(worker() for _ in range(self.concurrency)))

    def __enter__(self) -> "SteadyLoad":
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop_flag.set()
        self.thread.join(timeout=60)
