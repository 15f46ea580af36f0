"""Record tests/data/journal-real-run.db from the REAL CPU vLLM engine (run by hand).

    .venv/bin/iejtui demo setup            # once: engine venv + tiny model
    .venv/bin/python tests/data/journal-make-fixture.py [OUT.db]

Three runs land in a temporary journal, then its journal.db is copied to OUT:
  1 ``demo``     the demo profile under a ramp of concurrent streaming completions
                 (1 → 4 → 8 in flight), then stopped;
  2 ``hostile``  launched with ``--api-key`` and ``HF_TOKEN`` in its env and served as
                 ``<img src=x onerror=alert(1)>``: tests check neither secret leaks and the
                 name is neutralised in markdown;
  3 ``broken``   a launch that crashes (``--max-model-len '<script>…'``): a crashed run
                 with an exit code and a log tail holding ``<script>``.
The secret values are fake and listed in tests/unit/test_journal_fixture_secrets (the tests
grep every output for them).
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import aiohttp

ROOT = Path(__file__).resolve().parents[2]
IEJTUI = str(ROOT / ".venv" / "bin" / "iejtui")
API_KEY = "sk-iejtui-FIXTURE-7f3a9c51"
HF_TOKEN = "hf_iejtuiFIXTUREtoken4242"
HOSTILE_MODEL = "<img src=x onerror=alert(1)>"

PROFILES = f'''
[service]
scrape_interval = 1.0
gpu_interval = 1.0

[engines.demo]
kind = "vllm"
argv = ["iejtui", "demo", "serve", "--port", "18431"]

[engines.hostile]
kind = "vllm"
argv = ["iejtui", "demo", "serve", "--port", "18432", "--", "--api-key", "{API_KEY}",
        "--served-model-name", "{HOSTILE_MODEL}"]
env = {{ HF_TOKEN = "{HF_TOKEN}" }}

[engines.broken]
kind = "vllm"
argv = ["iejtui", "demo", "serve", "--port", "18433", "--", "--max-model-len", "<script>alert(1)</script>"]
'''


def sh(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    print("$ iejtui", " ".join(args), flush=True)
    p = subprocess.run([IEJTUI, *args], text=True, capture_output=True)
    print(p.stdout + p.stderr, flush=True)
    if check and p.returncode != 0:
        raise SystemExit(f"failed: {args}")
    return p


async def one(session: aiohttp.ClientSession, url: str, model: str, headers: dict, i: int) -> int:
    body = {"model": model, "prompt": f"Request {i}: the journal says", "max_tokens": 48 + (i % 5) * 16,
            "temperature": 0.8, "stream": True, "ignore_eos": True}
    n = 0
    async with session.post(url + "/v1/completions", json=body, headers=headers) as r:
        r.raise_for_status()
        async for line in r.content:
            if line.startswith(b"data: ") and not line.startswith(b"data: [DONE]"):
                n += 1
    return n


async def load(url: str, model: str, headers: dict, phases: list[tuple[int, float]]) -> int:
    total = 0
    i = 0
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=120)) as s:
        for conc, secs in phases:
            end = time.monotonic() + secs

            async def worker():
                nonlocal total, i
                while time.monotonic() < end:
                    i += 1
                    total += await one(s, url, model, headers, i)

            await asyncio.gather(*(worker() for _ in range(conc)))
            print(f"  phase conc={conc} done, {total} chunks so far", flush=True)
    return total


def main() -> None:
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "tests" / "data" / "journal-real-run.db"
    tmp = Path(tempfile.mkdtemp(prefix="iejtui-fixture-"))
    j = str(tmp)
    try:
        sh("init", j)
        (tmp / "iejtui.toml").write_text(PROFILES)
        sh("engine", "start", "demo", "--wait", "--journal", j)
        time.sleep(3)
        asyncio.run(load("http://127.0.0.1:18431", "tiny", {}, [(1, 10), (4, 15), (8, 20)]))
        time.sleep(3)
        sh("engine", "stop", "demo", "--journal", j)
        sh("engine", "start", "hostile", "--wait", "--journal", j)
        asyncio.run(load("http://127.0.0.1:18432", HOSTILE_MODEL, {"Authorization": f"Bearer {API_KEY}"},
                         [(2, 10)]))
        time.sleep(2)
        sh("engine", "stop", "hostile", "--journal", j)
        sh("engine", "start", "broken", "--wait", "--journal", j, check=False)
        sh("runs", "--journal", j)
    finally:
        sh("service", "stop", "--journal", j, check=False)
    db = sqlite3.connect(tmp / "journal.db")
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    db.execute("VACUUM")
    db.close()
    shutil.copy(tmp / "journal.db", out)
    leaks = [s for s in (API_KEY, HF_TOKEN) if s.encode() in out.read_bytes()]
    print(json.dumps({"out": str(out), "bytes": out.stat().st_size, "leaks": leaks, "journal": j}))
    for name in ("logs",):
        src = tmp / ".iejtui" / name
        if src.exists():
            print("engine logs kept in", src)


if __name__ == "__main__":
    os.environ.pop("IEJTUI_JOURNAL", None)
    main()
