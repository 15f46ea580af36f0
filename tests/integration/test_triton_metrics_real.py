"""A real tritonserver 2.51 (the pytriton wheel's, unpacked by ``iejtui demo setup``) with the
``echo`` and ``echo_stream`` Python models of ``tests/data/triton_models/``: scraped by
iejtui's scraper, stored in a real journal.db, and its figures checked against what the
clients did (every count exact, times bounded by what the models sleep).

It starts its own server (``--model-control-mode=explicit``: only these two models, not
the tiny-Llama ``ensemble`` in the same folder). Once engineer B's shared Triton fixture
(``tests/conftest.py``) exists, the server here can come from it: take its URLs and load
``echo``/``echo_stream`` through ``POST /v2/repository/models/NAME/load`` (explicit mode),
or add both to its ``--load-model`` list. Without tritonserver (or the stub's numpy<2, see
``tests/triton_env.py``) this test skips; under ``CI`` it fails.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import time
from pathlib import Path

import aiohttp
import pytest

from collectors.prometheus import Scraper
from collectors.triton_metrics import with_canonical
from helpers import free_port
from iejtui.derive.metric_map import TRITON
from iejtui.derive.triton import host_figures, hosted_backend, triton_figures, unreported_now
from iejtui.store import Reader
from iejtui.store.writer import Writer
from iejtui.summary import store_getter
from iejtui.viewmodel.engine import engine_panel
from iejtui.viewmodel.snapshot import build_snapshot
from iejtui.viewmodel.text import NOT_REPORTED, engine_fields
from tests.triton_env import stub_env, stub_numpy_dir, tritonserver_binary

REPO = Path(__file__).resolve().parents[1] / "data" / "triton_models"
LOAD_S, CLIENTS, FAILS, STREAMS = 3.0, 6, 3, 5


def _missing(what: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(f"{what} (CI installs it: iejtui demo setup)")
    pytest.skip(what)


@pytest.fixture(scope="module")
def triton(tmp_path_factory):
    binary = tritonserver_binary()
    if binary is None:
        _missing("no tritonserver in the iejtui cache")
    if stub_numpy_dir() is None:
        _missing("no numpy<2 for the Triton Python stub (tests/triton_env.py)")
    http, grpc, metrics = free_port(), free_port(), free_port()
    log_path = tmp_path_factory.mktemp("triton") / "tritonserver.log"
    argv = [str(binary), f"--model-repository={REPO}", f"--backend-directory={binary.parent.parent / 'backends'}",
            "--model-control-mode=explicit", "--load-model=echo", "--load-model=echo_stream",
            "--http-address=127.0.0.1", "--grpc-address=127.0.0.1", "--metrics-address=127.0.0.1",
            f"--http-port={http}", f"--grpc-port={grpc}", f"--metrics-port={metrics}",
            "--metrics-interval-ms=500", "--metrics-config", "summary_latencies=true"]
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(argv, env=stub_env(dict(os.environ)), stdout=log, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, start_new_session=True)
    url = f"http://127.0.0.1:{http}"
    try:
        deadline = time.monotonic() + 90
        while True:
            if proc.poll() is not None:
                pytest.fail(f"tritonserver exited ({proc.returncode}): {log_path.read_text()[-3000:]}")
            try:
                import urllib.request
                with urllib.request.urlopen(url + "/v2/health/ready", timeout=1) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"tritonserver not ready in 90 s: {log_path.read_text()[-3000:]}")
            time.sleep(0.3)
        yield url, f"http://127.0.0.1:{metrics}/metrics"
    finally:
        proc.terminate()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)


async def _infer(s: aiohttp.ClientSession, url: str, first: float) -> int:
    body = {"inputs": [{"name": "INPUT0", "shape": [1, 4], "datatype": "FP32", "data": [first, 1, 2, 3]}]}
    async with s.post(f"{url}/v2/models/echo/infer", json=body) as r:
        await r.read()
        return r.status


async def _drive(url: str) -> dict[str, int]:
    """6 clients for LOAD_S (Triton batches them), then FAILS failing requests one at a
    time, then STREAMS streamed requests to the decoupled model (3 responses each)."""
    done = {"ok": 0, "failed": 0, "streamed": 0}
    async with aiohttp.ClientSession() as s:
        async def client() -> None:
            end = time.monotonic() + LOAD_S
            while time.monotonic() < end:
                assert await _infer(s, url, 1.0) == 200
                done["ok"] += 1
        await asyncio.gather(*(client() for _ in range(CLIENTS)))
        for _ in range(FAILS):
            assert await _infer(s, url, -2.0) == 500
            done["failed"] += 1
        for _ in range(STREAMS):
            async with s.post(f"{url}/v2/models/echo_stream/generate_stream", json={"INPUT0": [3.0, 1.0]}) as r:
                assert r.status == 200
                assert (await r.text()).count("data:") == 3
            done["streamed"] += 1
    return done


async def test_triton_figures_match_what_the_clients_did(triton, tmp_path):
    url, metrics_url = triton
    w = Writer(tmp_path / "journal.db")
    run_id = w.create_run(kind="engine", name="triton", engine_kind="triton", status="ready",
                          started_at=time.time() - 1, model="echo", url=url)
    async with Scraper() as sc:
        async def scrape() -> float:
            res = with_canonical(await sc.scrape(metrics_url, source="engine"))
            assert res.ok, res.error
            w.add_frames(run_id, [res.frame])
            return res.frame.ts

        async def scrape_while(task: asyncio.Task) -> None:
            while not task.done():
                await asyncio.sleep(0.5)
                await scrape()

        t0 = await scrape()
        load = asyncio.create_task(_drive(url))
        await scrape_while(load)
        done = load.result()
        await asyncio.sleep(0.6)  # counters of the last streamed request land after its final flag
        t1 = await scrape()
    w.flush()
    w.close()

    reader = Reader(tmp_path / "journal.db")
    try:
        get = store_getter(reader, run_id)
        t0, t1 = t0 - 0.01, t1 + 0.01  # the journal keeps timestamps to the millisecond
        figs = triton_figures(get, t0, t1)
        echo, stream = figs["echo"], figs["echo_stream"]
        assert echo.success == done["ok"]  # exact: Triton counted every request the clients saw succeed
        assert echo.failures == {"BACKEND": FAILS, "CANCELED": 0, "OTHER": 0, "REJECTED": 0}
        assert echo.batch_size > 1.2  # dynamic batching formed batches out of 6 clients
        assert echo.executions < done["ok"]
        assert echo.mean_s["compute_infer"] >= 0.02  # the model sleeps 20 ms per execution
        assert 0.0 < echo.mean_s["queue"] < echo.mean_s["request"]
        assert echo.mean_s["request"] >= echo.mean_s["queue"] + echo.mean_s["compute_infer"] * 0.99
        assert set(echo.summary_s["request"]) == {0.5, 0.9, 0.95, 0.99, 0.999}
        assert echo.summary_s["compute_infer"][0.5] >= 0.02
        assert echo.pending == 0 and echo.first_response is None  # 2.51: no first-response histogram
        assert stream.success == done["streamed"] == STREAMS and stream.batch_size == 1.0
        # 30 ms to the first response + 2 gaps of 10 ms: the decoupled request takes >= 50 ms
        assert stream.mean_s["request"] >= 0.05
        host = host_figures(get, t0, t1)
        assert 0.0 <= host.cpu_util_pct <= 100.0 and host.cpu_mem_used_bytes < host.cpu_mem_total_bytes
        assert host.gpus == {}  # this CPU box: no DCGM
        assert hosted_backend(get) == "python"
        missing = unreported_now(get, TRITON)
        assert "waiting" not in missing and {"generation_tokens", "kv_usage", "ttft"} <= missing

        panel = engine_panel(reader.run(run_id), get, t1, live=False, interval_s=0.5, newest=t1, t0=t0)
        rows = {f.label: f.text for f in engine_fields(panel)}
        assert rows["gen"] == rows["TTFT"] == rows["KV"] == NOT_REPORTED
        assert rows["triton"] == "python · echo (+1)"
        assert rows["requests"].endswith(f"{FAILS} failed (BACKEND {FAILS})")
        assert rows["1st resp"] == NOT_REPORTED
        # the dashboard's own assembly reads Triton's families in its one query per engine
        snap = build_snapshot(reader, [reader.run(run_id)], None, t0, t1, live=False, interval_s=0.5)
        (shown,) = snap.engines
        assert shown.triton is not None and shown.triton.model.success == done["ok"]
        assert shown.triton.model.failures["BACKEND"] == FAILS
    finally:
        reader.close()
