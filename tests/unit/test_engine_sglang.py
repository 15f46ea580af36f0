"""SGLang adapter against the faithful local fake: gauges refreshed every 40 decode steps
(and at prefill, and while idle), lazily created counters, multiprocess exposition,
/health semantics (503 while starting, a 1-token generation after), log facts."""

from __future__ import annotations

import asyncio
import io
import time

import aiohttp
import pytest

from collectors.engines import get_adapter
from collectors.engines.base import KV_CACHE, READY, WARMUP, later_phase
from tests.doubles.engines.memstore import MemStore
from tests.doubles.engines.sglang import SGLangFake
from collectors.engines.sglang import parse_batch_line
from collectors.prometheus import Scraper, parse_text
from iejtui.derive.engine import engine_figures
from iejtui.derive.metric_map import SGLANG

SG = get_adapter("sglang")


def fake(**kw) -> SGLangFake:
    kw.setdefault("log", io.StringIO())
    return SGLangFake(**kw)


def gauge(f: SGLangFake, name: str) -> float | None:
    fam = f.reg.families.get("sglang:" + name)
    return None if fam is None else fam.get(f.sched)


async def post(url: str, max_tokens: int, prompt: str = "hello world " * 10, stream: bool = False):
    async with aiohttp.ClientSession() as s:
        body = {"model": "tiny", "prompt": prompt, "max_tokens": max_tokens, "stream": stream}
        async with s.post(url + "/v1/completions", json=body) as r:
            assert r.status == 200
            await r.read()


async def test_gauges_refresh_only_every_40_decode_steps():
    async with fake(step_s=0.005, idle_refresh_s=3600) as f:
        long = asyncio.create_task(post(f.url, 120))
        short = asyncio.create_task(post(f.url, 10))
        await short
        assert len(f.sim.running) == 1  # the short one finished...
        assert gauge(f, "num_running_reqs") == 2  # ...but the gauge still says 2 (prefill value)
        while f.forward_ct_decode < 41:
            await asyncio.sleep(0.005)
        assert gauge(f, "num_running_reqs") == 1 and gauge(f, "gen_throughput") > 0
        seen = gauge(f, "token_usage")
        while f.forward_ct_decode < 70:
            await asyncio.sleep(0.005)
        assert gauge(f, "token_usage") == seen  # no refresh between steps 40 and 80
        await long
        await asyncio.sleep(0.4)  # idle: the stale running count is republished at once
        assert gauge(f, "num_running_reqs") == 0 and gauge(f, "gen_throughput") == 0


async def test_idle_engine_publishes_scheduler_gauges_after_the_idle_period():
    async with fake(idle_refresh_s=0.5) as f, Scraper() as sc:
        res = await SG.collect(sc, f.url)
        names = {s.name for s in res.frame.samples}
        assert "sglang:max_total_num_tokens" in names and "sglang:num_running_reqs" not in names
        await asyncio.sleep(0.9)
        res = await SG.collect(sc, f.url)
        assert "sglang:num_running_reqs" in {s.name for s in res.frame.samples}


async def test_exposition_is_multiprocess_form_and_parses_cleanly():
    async with fake() as f:
        await post(f.url, 5, stream=True)
        async with aiohttp.ClientSession() as s, s.get(f.url + "/metrics") as r:
            text = await r.text()
    assert "# HELP sglang:prompt_tokens_total Multiprocess metric" in text
    assert "_created" not in text and 'is_streaming="true"' in text
    page = parse_text(text, SG.keep_family)
    assert not page.broken and not page.non_finite
    labels = {dict(s.labels).get("tp_rank") for s in page.samples if s.name == "sglang:token_usage"}
    assert labels == {"0"}


async def test_lazy_counters_read_as_zero_then_count_from_zero():
    async with fake(idle_refresh_s=0.2) as f, Scraper() as sc:
        store = MemStore()

        async def tick(n=1):
            for _ in range(n):
                store.add((await SG.collect(sc, f.url)).frame)
                await asyncio.sleep(0.3)

        await tick(3)
        t1 = time.time()
        figs = engine_figures(store, t1 - 30, t1, SGLANG)
        assert figs.generation_tok_s == 0.0 and figs.preemptions_per_s == 0.0  # not None
        assert figs.request_success == {} and figs.prefix_cache_hit_pct is None  # no query yet
        await post(f.url, 20)  # first request: counters appear with its tokens
        await tick(2)
        await post(f.url, 20)  # same prompt again: block-aligned prefix from the cache
        await tick(2)
        t1 = time.time()
        figs = engine_figures(store, t1 - 30, t1, SGLANG)
        assert figs.request_success == {"": 2.0}
        assert figs.prefix_cache_hit_pct == pytest.approx(100 * 20 / 42)  # 20 of 2 x 21 tokens
        assert figs.ttft.count == 2 and figs.itl.count == 38 and figs.tpot.count == 2
        assert figs.e2e.count == 2 and figs.queue.count == 2
        assert figs.kv_capacity_tokens == 20000 and figs.running == 0
        assert figs.prefill is None and figs.decode is None  # SGLang has no such histograms


async def test_retractions_are_preemptions():
    async with fake(total_blocks=60, step_s=0.005, idle_refresh_s=0.2) as f, Scraper() as sc:
        store = MemStore()
        store.add((await SG.collect(sc, f.url)).frame)
        await asyncio.sleep(0.3)
        store.add((await SG.collect(sc, f.url)).frame)
        await asyncio.gather(*(post(f.url, 30, prompt=f"p{i} " * 5) for i in range(3)))
        await asyncio.sleep(0.4)
        store.add((await SG.collect(sc, f.url)).frame)
        t1 = time.time()
        figs = engine_figures(store, t1 - 30, t1, SGLANG)
        assert figs.preemptions_per_s > 0 and figs.resolved["preemptions"] == "sglang:num_retracted_requests_total"


async def test_health_semantics_and_readiness():
    f = fake(load_s=0.6, health_timeout_s=1.5)
    await f.start(wait_ready=False)
    try:
        async with aiohttp.ClientSession() as s:
            state = await SG.probe_ready(s, f.url)  # listening while loading: 503
            assert state.state == "loading" and state.status == 503
            while not f.ready:
                await asyncio.sleep(0.05)
            t0 = time.monotonic()
            state = await SG.probe_ready(s, f.url)
            assert state.ready and time.monotonic() - t0 >= 1.0  # the 1-token generation poll
            assert state.version == "0.5.23"  # from /server_info
            f.healthy = False
            async with s.get(f.url + "/health") as r:
                assert r.status == 503
    finally:
        await f.stop()


def test_build_argv_and_url():
    assert SG.build_argv(["python", "-m", "sglang.launch_server", "--model-path", "m"])[-1] == "--enable-metrics"
    argv = ["sglang", "serve", "--model-path", "m", "--enable-metrics"]
    assert SG.build_argv(argv) == argv
    assert SG.default_url(["python", "-m", "sglang.launch_server"]) == "http://127.0.0.1:30000"
    assert SG.default_url(["x", "--host", "0.0.0.0", "--port", "31000"]) == "http://127.0.0.1:31000"
    assert any("tp_rank" in w for w in SG.launch_warnings(argv + ["--enable-metrics-for-all-schedulers"], {}))


def test_log_facts_phases_and_ready_marker():
    f = fake()
    facts, phase = {}, None
    for line in f.startup_lines():
        fact = SG.parse_log_line(line)
        if fact is not None:
            facts[fact.kind] = fact
            phase = later_phase(phase, fact.phase)
    assert phase == WARMUP  # uvicorn's "startup complete" comes before the warm-up request
    assert facts["kv_cache_tokens"].value == 20000 and facts["kv_cache_tokens"].phase == KV_CACHE
    assert facts["max_total_num_tokens"].data["max_running_requests"] == 32
    assert facts["model_loaded"].data["model_class"] == "LlamaForCausalLM"
    ready = SG.parse_log_line("[2025-11-26 14:00:09] The server is fired up and ready to roll!")
    assert ready.phase == READY
    stats = SG.parse_log_line("[2025-11-26 14:00:10 TP0] Decode batch, #running-req: 3, #token: 512, "
                              "token usage: 0.03, cuda graph: True, gen throughput (token/s): 123.45, "
                              "#queue-req: 1")
    assert stats.kind == "stats" and stats.value == 123.45
    assert stats.data == {"running": 3, "tokens": 512, "kv_usage": 0.03, "generation_tps": 123.45,
                          "waiting": 1, "batch": 1.0}
    assert parse_batch_line("Prefill batch, #new-seq: 1, #new-token: 12, #cached-token: 4, "
                            "token usage: 0.00, #running-req: 0, #queue-req: 0")["cached_tokens"] == 4
    err = SG.parse_log_line("[2025-11-26 14:00:11 TP0] RuntimeError: CUDA out of memory")
    assert err.kind == "error" and "CUDA out of memory" in err.value
