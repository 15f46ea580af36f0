"""llama.cpp adapter against the faithful local fake: /metrics (--metrics only, C++ number
formatting, per-scrape gauge windows), KV use from /slots (unified or split pools), the
removed KV gauges of older builds, /health while loading, log facts."""

from __future__ import annotations

import asyncio
import io
import json
import time
from pathlib import Path

import aiohttp
import pytest

from collectors.engines import get_adapter
from collectors.engines.base import KV_CACHE, LOADING, READY, later_phase
from tests.doubles.engines.llamacpp import LlamaCppFake
from tests.doubles.engines.memstore import MemStore
from collectors.engines.llamacpp import slot_samples, unified_from_argv
from collectors.prometheus import Scraper, parse_text
from iejtui.derive.engine import engine_figures
from iejtui.derive.metric_map import LLAMACPP

LC = get_adapter("llamacpp")


def fake(**kw) -> LlamaCppFake:
    kw.setdefault("log", io.StringIO())
    return LlamaCppFake(**kw)


async def post(url: str, n: int = 1, max_tokens: int = 20, prompt: str = "hello world " * 10):
    async with aiohttp.ClientSession() as s:
        async def one():
            body = {"prompt": prompt, "max_tokens": max_tokens, "stream": True}
            async with s.post(url + "/v1/completions", json=body) as r:
                assert r.status == 200
                await r.read()
        await asyncio.gather(*(one() for _ in range(n)))


async def test_metrics_page_format_and_endpoint_gating():
    async with fake(metrics=False) as f, aiohttp.ClientSession() as s:
        async with s.get(f.url + "/metrics") as r:
            assert r.status == 501 and (await r.json())["error"]["type"] == "not_supported_error"
    async with fake() as f, aiohttp.ClientSession() as s:
        f.m["prompt"] = 1234567.0
        async with s.get(f.url + "/metrics") as r:
            text = await r.text()
            assert r.headers["Process-Start-Time-Unix"].isdigit()
    assert "llamacpp:prompt_tokens_total 1.23457e+06" in text  # C++ stream precision: 6 digits
    page = parse_text(text, LC.keep_family)
    names = {s.name for s in page.samples}
    assert len(names) == 15 and not page.broken and all(not s.labels for s in page.samples)
    assert "llamacpp:kv_cache_usage_ratio" not in names  # removed upstream


async def test_collect_adds_slots_and_canonical_figures():
    async with fake() as f, Scraper() as sc:
        store = MemStore()
        store.add((await LC.collect(sc, f.url)).frame)
        task = asyncio.create_task(post(f.url, n=3, max_tokens=30))
        while not task.done():
            res = await LC.collect(sc, f.url)
            store.add(res.frame)
            await asyncio.sleep(0.1)
        await asyncio.sleep(0.2)
        await post(f.url, n=1, max_tokens=30)  # same prompt: cached prefix
        await asyncio.sleep(0.2)
        res = await LC.collect(sc, f.url)
        store.add(res.frame)
        got = {(s.name, s.labels): s.value for s in res.frame.samples}
        assert got[("llamacpp_slots:context_capacity_tokens", ())] == 4096  # unified: one pool
        assert got[("llamacpp_slots:context_size", (("slot", "0"),))] == 4096
        assert got[("llamacpp_slots:slots", ())] == 4
        t1 = time.time()
        figs = engine_figures(store, t1 - 60, t1, LLAMACPP)
        assert figs.generation_tok_s > 0 and figs.prompt_computed_tok_s > 0
        assert figs.kv_usage_pct_peak > 0 and figs.kv_capacity_tokens == 4096
        assert figs.tpot is not None and figs.tpot.count == 120 and figs.tpot.mean > 0
        assert figs.tpot.p50 is None  # no histogram: a mean only
        assert figs.ttft is None and figs.itl is None and figs.e2e is None
        assert figs.preemptions_per_s is None and figs.request_success is None
        assert figs.prefix_cache_hit_pct == pytest.approx(100 * 20 / (4 * 21))
        assert figs.resolved["kv_usage"] == "llamacpp_slots:context_usage"


async def test_split_pool_and_no_slots_and_old_builds():
    async with fake(n_parallel=2, n_ctx=2048, slots=False, version="old") as f, Scraper() as sc:
        res = await LC.collect(sc, f.url)
        assert [e for e in res.events if e.data.get("reason") == "no_slots"]
        assert not [s for s in res.frame.samples if s.name.startswith("llamacpp_slots:")]
        res = await LC.collect(sc, f.url)
        assert not res.events  # said once, not re-asked for five minutes
        names = {s.name for s in res.frame.samples}
        assert "llamacpp:kv_cache_usage_ratio" in names and "llamacpp_derived:prompt_tokens_total" not in names
    slots = [{"id": i, "n_ctx": 1024, "is_processing": i == 0, "n_prompt_tokens": 100 * (i + 1)}
             for i in range(2)]
    got = {s.name: s.value for s in slot_samples(slots, unified=False) if not s.labels}
    assert got["llamacpp_slots:context_capacity_tokens"] == 2048
    assert got["llamacpp_slots:context_usage"] == pytest.approx(300 / 2048)
    got = {s.name: s.value for s in slot_samples(slots, unified=None) if not s.labels}
    assert got["llamacpp_slots:context_capacity_tokens"] == 1024  # attached: modern default


def test_unified_layout_from_argv():
    assert unified_from_argv(["llama-server", "-m", "x.gguf"])
    assert not unified_from_argv(["llama-server", "-np", "2"])
    assert unified_from_argv(["llama-server", "-np", "2", "--kv-unified"])
    assert unified_from_argv(["llama-server", "--parallel", "-1"])
    argv = LC.build_argv(["llama-server", "-m", "x.gguf", "--port", "8123", "-np", "2"])
    assert argv[-1] == "--metrics" and LC.build_argv(argv) == argv
    assert LC.default_url(argv) == "http://127.0.0.1:8123"
    assert LC._unified["http://127.0.0.1:8123"] is False
    assert any("--no-slots" in w for w in LC.launch_warnings(argv + ["--no-slots"], {}))


async def test_health_while_loading_then_ok():
    f = fake(load_s=0.6)
    await f.start(wait_ready=False)
    try:
        async with aiohttp.ClientSession() as s:
            state = await LC.probe_ready(s, f.url)
            assert state.state == "loading" and "Loading model" in state.detail
            async with s.get(f.url + "/metrics") as r:  # every endpoint is 503 while loading
                assert r.status == 503
            while not f.ready:
                await asyncio.sleep(0.05)
            state = await LC.probe_ready(s, f.url)
            assert state.ready and state.version == "b11434-fake"
            async with s.get(f.url + "/health") as r:
                assert await r.json() == {"status": "ok"}
    finally:
        await f.stop()


def test_log_facts_and_phases():
    f = fake()
    facts, phase = {}, None
    for line in f.startup_lines() + f.ready_lines():
        fact = LC.parse_log_line(line)
        if fact is not None:
            facts[fact.kind] = fact
            phase = later_phase(phase, fact.phase)
    assert phase == READY and facts["model"].phase == LOADING
    assert facts["kv_cache_tokens"].value == 4096 and facts["kv_cache_tokens"].phase == KV_CACHE
    assert facts["kv_cache_tokens"].data == {"n_slots": 4, "n_ctx_slot": 4096, "kv_unified": True}
    cells = LC.parse_log_line("0.00.1 I llama_kv_cache: size =    8.00 MiB (  4096 cells,   2 layers, "
                              " 4/4 seqs), K (f16):    4.00 MiB, V (f16):    4.00 MiB")
    assert cells.kind == "kv_cache_tokens" and cells.value == 4096  # at higher verbosity
    assert LC.parse_log_line("build: 6402 (a1b2c3d) with cc (GCC) 12.2.0").value == "b6402-a1b2c3d"
    old = LC.parse_log_line("main: server is listening on http://127.0.0.1:8080 - starting the main loop")
    assert old.phase == READY
    assert LC.parse_log_line("srv  update_slots: all slots are idle").phase == READY
    err = LC.parse_log_line("0.01.234.567 E srv    load_model: failed to load model '/x.gguf'")
    assert err.kind == "error" and "failed to load model" in err.value
    assert LC.parse_log_line("0.00.001.000 W srv  llama_server: security: no API key is set") is None


# ---------------------------------------------------------------- a real build's output

DATA = Path(__file__).resolve().parents[1] / "data"


def test_real_b11434_server_log():
    """Recorded from llama-server build 11434 (CPU, tiny random GGUF, -c 1024 -np 2)."""
    facts, phase = {}, None
    for line in (DATA / "llamacpp-b11434-server.log").read_text().splitlines():
        fact = LC.parse_log_line(line)
        if fact is not None:
            facts[fact.kind] = fact
            phase = later_phase(phase, fact.phase)
    assert phase == READY and facts["model"].value == "/tmp/tiny.gguf"
    assert facts["kv_cache_tokens"].value == 1024 and facts["kv_cache_tokens"].data["n_slots"] == 2
    assert "error" not in facts  # its W lines (CORS, n_past) are not failures


def test_real_b11434_metrics_and_slots():
    page = parse_text((DATA / "llamacpp-b11434-metrics.txt").read_text(), LC.keep_family)
    got = {s.name: s.value for s in page.samples}
    assert not page.broken and len(got) == 15
    assert got["llamacpp:prompt_tokens_total"] == 46 and got["llamacpp:prompt_tokens_cached_total"] == 44
    assert got["llamacpp:tokens_predicted_total"] == 32
    slots = json.loads((DATA / "llamacpp-b11434-slots.json").read_text())
    fake_keys = {"id", "n_ctx", "speculative", "is_processing", "id_task", "n_prompt_tokens",
                 "n_prompt_tokens_processed", "n_prompt_tokens_cache", "params", "next_token"}
    assert fake_keys <= set(slots[1])  # the fake's slot fields are the real ones
    got = {s.name: s.value for s in slot_samples(slots, unified=False) if not s.labels}
    assert got["llamacpp_slots:context_capacity_tokens"] == 1024
    assert got["llamacpp_slots:context_used_tokens"] == 60  # the idle slot keeps its cache
