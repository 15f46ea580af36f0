"""Issue 16's "burst right after ready", as a user does it: is every token counted?

Starts the tiny CPU vLLM through ``iejtui engine start --wait`` on a scratch journal, sends
N requests × M tokens (``ignore_eos``, C at a time) the moment ``--wait`` returns, waits
``--settle`` seconds, reads the engine's own ``/metrics``, stops the engine and prints what
``runs show --json`` recorded beside the engine's counters (and the ratio).

    PYTHONPATH=$PWD .venv/bin/python tests/perf/burst_after_ready.py [-n 48] [--max-tokens 64]

Run it with ``PYTHONPATH=/path/to/an/older/checkout`` to measure that checkout.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(ROOT / "tests"), str(ROOT)]

import aiohttp  # noqa: E402

from helpers import add_profile, cli, cli_json, engine_profile, free_port, stop_service  # noqa: E402


def engine_counters(url: str) -> dict[str, float]:
    """The engine's own totals (summed over label sets) from its /metrics text."""
    text = urllib.request.urlopen(url + "/metrics", timeout=10).read().decode()
    out: dict[str, float] = {}
    for line in text.splitlines():
        for key, name in (("generation_tokens", "vllm:generation_tokens_total"),
                          ("prompt_tokens", "vllm:prompt_tokens_total"),
                          ("requests_finished", "vllm:request_success_total")):
            if line.startswith(name + "{") or line.startswith(name + " "):
                out[key] = out.get(key, 0.0) + float(line.rsplit(" ", 1)[1])
    return out


async def burst(url: str, n: int, max_tokens: int, concurrency: int) -> int:
    sem = asyncio.Semaphore(concurrency)
    body = {"model": "tiny", "prompt": "the quick brown fox", "max_tokens": max_tokens, "ignore_eos": True}
    async with aiohttp.ClientSession() as s:
        async def one() -> int:
            async with sem, s.post(url + "/v1/completions", json=body) as r:
                return (await r.json())["usage"]["completion_tokens"]
        return sum(await asyncio.gather(*(one() for _ in range(n))))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-n", type=int, default=48)
    ap.add_argument("--max-tokens", type=int, default=64)
    ap.add_argument("--concurrency", type=int, default=8)
    ap.add_argument("--settle", type=float, default=3.0)
    args = ap.parse_args()
    root = Path(tempfile.mkdtemp(prefix="iejtui-burst-")) / "journal"
    assert cli(root, "init", str(root)).returncode == 0
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    add_profile(root, engine_profile("tiny", port))
    try:
        p = cli(root, "engine", "start", "tiny", "--wait", timeout=600)
        assert p.returncode == 0, p.stdout + p.stderr
        t0 = time.time()
        client_tokens = asyncio.run(burst(url, args.n, args.max_tokens, args.concurrency))
        burst_s = time.time() - t0
        time.sleep(args.settle)
        engine = engine_counters(url)
        assert cli(root, "engine", "stop", "tiny").returncode == 0
        run = cli_json(root, "runs", "show", "1")
    finally:
        stop_service(root)
    summary = run.get("summary") or {}
    if "engine" in summary:  # the sectioned summary (schema 2)
        e = summary["engine"]
        summary = {"generation_tokens": e["tokens"]["generated"], "prompt_tokens": e["tokens"]["prompt"],
                   "requests_finished": e["throughput"]["requests_finished"]}
    print(f"burst: {args.n} requests x {args.max_tokens} tokens, {args.concurrency} at a time, "
          f"{burst_s:.1f} s; client received {client_tokens} tokens")
    for key in ("generation_tokens", "requests_finished", "prompt_tokens"):
        rec, eng = summary.get(key), engine.get(key)
        ratio = f"{rec / eng:.3f}" if rec is not None and eng else "—"
        print(f"{key:<18} recorded {rec!s:>8}  engine /metrics {eng!s:>8}  ratio {ratio}")
    print(json.dumps({"recorded": {k: summary.get(k) for k in ("generation_tokens", "requests_finished")},
                      "engine": engine, "facts": run.get("facts")}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
