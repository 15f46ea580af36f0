"""Streaming completions against an OpenAI-compatible engine (tests and perf scripts).

``python tests/ui/load.py URL --concurrency 4 --duration 30`` keeps N streams busy.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import time

import aiohttp


async def _one(session: aiohttp.ClientSession, url: str, max_tokens: int, i: int) -> int:
    body = {"model": "tiny", "prompt": f"Request {i}: the license grants", "max_tokens": max_tokens,
            "temperature": 0, "ignore_eos": True, "stream": True}
    n = 0
    async with session.post(url + "/v1/completions", json=body) as r:
        async for raw in r.content:
            line = raw.decode().strip()
            if line.startswith("data:") and line != "data: [DONE]":
                json.loads(line[5:])
                n += 1
    return n


async def load(url: str, concurrency: int = 4, duration: float = 30.0, max_tokens: int = 128) -> int:
    """Keep ``concurrency`` streams busy for ``duration`` seconds; returns chunks received."""
    deadline = time.monotonic() + duration
    total = 0
    counter = 0
    timeout = aiohttp.ClientTimeout(total=None, sock_read=120)

    async def worker(session):
        nonlocal total, counter
        while time.monotonic() < deadline:
            counter += 1
            try:
                total += await _one(session, url, max_tokens, counter)
            except (aiohttp.ClientError, asyncio.TimeoutError):
                await asyncio.sleep(0.5)

    async with aiohttp.ClientSession(timeout=timeout) as session:
        await asyncio.gather(*(worker(session) for _ in range(concurrency)))
    return total


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("url")
    ap.add_argument("--concurrency", type=int, default=4)
    ap.add_argument("--duration", type=float, default=30)
    ap.add_argument("--max-tokens", type=int, default=128)
    a = ap.parse_args()
    print(asyncio.run(load(a.url, a.concurrency, a.duration, a.max_tokens)))
