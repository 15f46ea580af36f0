"""Capture real Triton 2.51 ``/metrics`` text for the fixtures in this folder.

Run from the repository root (the tritonserver of the pytriton wheel unpacked by
``iejtui demo setup`` and numpy<2 for the stub, see ``tests/integration/test_triton_metrics_real.py``):

    .venv/bin/python tests/data/triton/capture.py

It starts ``tritonserver`` on 127.0.0.1 with the ``echo`` model of
``tests/data/triton_models/`` twice (default metrics, then with
``--metrics-config summary_latencies=true --metrics-config histogram_latencies=true``),
scrapes it idle, drives 6 concurrent clients for 4 s (dynamic batching forms batches),
sends 3 requests the model fails (``BACKEND`` failures) and 5 streamed requests to the
decoupled ``echo_stream`` model, and scrapes again:
``triton-2.51-idle.prom``, ``triton-2.51-load.prom``, ``triton-2.51-opt-in-idle.prom``,
``triton-2.51-opt-in-load.prom``.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from pathlib import Path

import aiohttp

HERE = Path(__file__).resolve().parent
REPO = HERE.parent / "triton_models"
OPT_IN = ["--metrics-config", "summary_latencies=true", "--metrics-config", "histogram_latencies=true"]


def server_argv(binary: Path, http: int, grpc: int, metrics: int, extra: list[str]) -> list[str]:
    return [str(binary), f"--model-repository={REPO}",
            f"--backend-directory={binary.parent.parent / 'backends'}",
            "--model-control-mode=explicit", "--load-model=echo", "--load-model=echo_stream",
            "--http-address", "127.0.0.1", "--grpc-address", "127.0.0.1", "--metrics-address", "127.0.0.1",
            "--http-port", str(http), "--grpc-port", str(grpc), "--metrics-port", str(metrics), *extra]


async def infer(session: aiohttp.ClientSession, url: str, first: float) -> int:
    body = {"inputs": [{"name": "INPUT0", "shape": [1, 4], "datatype": "FP32", "data": [first, 1, 2, 3]}]}
    async with session.post(f"{url}/v2/models/echo/infer", json=body) as resp:
        await resp.read()
        return resp.status


async def drive(url: str, seconds: float, clients: int) -> None:
    async with aiohttp.ClientSession() as session:
        async def client() -> None:
            end = time.monotonic() + seconds
            while time.monotonic() < end:
                await infer(session, url, 1.0)
        await asyncio.gather(*(client() for _ in range(clients)))
        for _ in range(3):
            await infer(session, url, -2.0)
        for _ in range(5):  # the decoupled model: 3 responses each, streamed
            async with session.post(f"{url}/v2/models/echo_stream/generate_stream", json={"INPUT0": [3.0, 1.0]}) as resp:
                assert resp.status == 200, await resp.text()
                await resp.read()


async def scrape(url: str) -> str:
    async with aiohttp.ClientSession() as session, session.get(url) as resp:
        return await resp.text()


async def wait_ready(url: str, deadline_s: float = 60.0) -> None:
    end = time.monotonic() + deadline_s
    async with aiohttp.ClientSession() as session:
        while time.monotonic() < end:
            try:
                async with session.get(f"{url}/v2/models/echo/ready") as resp:
                    if resp.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.5)
    raise SystemExit("tritonserver did not get ready")


def capture(binary: Path, env: dict[str, str], extra: list[str], prefix: str) -> None:
    http, grpc, metrics = 18110, 18111, 18112
    proc = subprocess.Popen(server_argv(binary, http, grpc, metrics, extra), env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        url, murl = f"http://127.0.0.1:{http}", f"http://127.0.0.1:{metrics}/metrics"
        asyncio.run(wait_ready(url))
        time.sleep(2.5)  # one CPU-metrics interval (2 s default)
        (HERE / f"{prefix}-idle.prom").write_text(asyncio.run(scrape(murl)))
        asyncio.run(drive(url, 4.0, 6))
        time.sleep(2.5)
        (HERE / f"{prefix}-load.prom").write_text(asyncio.run(scrape(murl)))
    finally:
        proc.terminate()
        proc.wait(30)


def main() -> None:
    from tests.triton_env import stub_env, tritonserver_binary  # noqa: PLC0415

    binary = tritonserver_binary()
    if binary is None:
        sys.exit("no tritonserver (run iejtui demo setup)")
    env = stub_env(dict(os.environ))
    capture(binary, env, [], "triton-2.51")
    capture(binary, env, OPT_IN, "triton-2.51-opt-in")


if __name__ == "__main__":
    main()
