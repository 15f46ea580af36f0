"""The shared real tritonserver 2.51 (the session fixture ``triton_server`` of
tests/conftest.py: ``iejtui demo serve-triton`` launched by the service as a ``triton``
engine, ``--metrics-config summary_latencies=true``) with the ``echo`` and ``echo_stream``
Python models of ``tests/data/triton_models/``: the clients here drive them, and the figures
are read from what *the service* scraped into its journal.db (``TritonAdapter.collect``:
the ``nv_*`` families plus the canonical samples) -- not from a scraper of the test's own --
and checked against what the clients did (every count exact: no other test sends to
``echo``/``echo_stream``, so their per-model counters are this test's; times bounded by what
the models sleep). Under ``CI`` a missing tritonserver fails (the fixture), else it skips.
"""

from __future__ import annotations

import asyncio
import time

import aiohttp
import pytest

from helpers import wait_for
from iejtui.derive.metric_map import TRITON
from iejtui.derive.triton import host_figures, hosted_backend, triton_figures, unreported_now
from iejtui.store import Reader
from iejtui.summary import store_getter
from iejtui.viewmodel.engine import engine_panel
from iejtui.viewmodel.snapshot import build_snapshot
from iejtui.viewmodel.text import NOT_REPORTED, engine_fields

pytestmark = pytest.mark.integration

LOAD_S, CLIENTS, FAILS, STREAMS = 3.0, 6, 3, 5


def _frame_after(reader: Reader, run_id: int, after: float) -> float:
    """The timestamp of the first engine frame the service stored after ``after``."""
    def newer():
        latest = reader.latest(run_id, "engine")
        return latest is not None and latest[0] > after and latest[0]
    return wait_for(newer, 30, 0.1, f"a scrape of the shared Triton after {after:.3f}")


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


def test_triton_figures_match_what_the_clients_did(triton_server):
    url, run_id = triton_server["url"], triton_server["run_id"]
    reader = Reader(triton_server["journal"] / "journal.db")
    try:
        t0 = _frame_after(reader, run_id, time.time())  # counters before the load
        done = asyncio.run(_drive(url))
        # counters of the last streamed request land after its final flag
        t1 = _frame_after(reader, run_id, time.time() + 0.6)
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

        # the engine panel (what the dashboard shows for this engine) over the load's window:
        # requests, queue / compute times, batch size, and an honest first-response row
        run = reader.run(run_id)
        panel = engine_panel(run, get, t1, live=False, interval_s=1.0, newest=t1, t0=t0)
        rows = {f.label: f.text for f in engine_fields(panel)}
        assert rows["gen"] == rows["TTFT"] == rows["KV"] == NOT_REPORTED
        assert rows["triton"] == f"python · echo (+{len(figs) - 1})"  # the busiest model of the window
        assert rows["requests"].endswith(f"{FAILS} failed (BACKEND {FAILS})")
        assert rows["batch"] == f"{echo.batch_size:.2f}" and float(rows["batch"]) > 1.2
        queue_ms, infer_ms = (float(x) for x in rows["q/infer"].removesuffix(" ms").split(" / "))
        assert infer_ms >= 20.0 and queue_ms > 0.0
        assert rows["req p99"].endswith("(Triton's own)")
        assert rows["1st resp"] == NOT_REPORTED  # 2.51 has no first-response histogram
        assert rows["host CPU"].endswith("GiB")
        # the dashboard's own assembly reads Triton's families in its one query per engine
        snap = build_snapshot(reader, [run], None, t0, t1, live=False, interval_s=1.0)
        (shown,) = snap.engines
        assert shown.triton is not None and shown.triton.model.success == done["ok"]
        assert shown.triton.model.failures["BACKEND"] == FAILS
    finally:
        reader.close()
