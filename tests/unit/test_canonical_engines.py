"""One canonical layer for every engine: each fake engine runs the same load, its adapter
collects, and the canonical figures come out of ``engine_figures`` with the engine's
metric map. What an engine lacks is None ("not reported by this engine"), never zero."""

from __future__ import annotations

import asyncio
import io
import time

import aiohttp
import pytest

from collectors.engines import get_adapter, kinds
from tests.doubles.engines.llamacpp import LlamaCppFake
from tests.doubles.engines.memstore import MemStore
from tests.doubles.engines.sglang import SGLangFake
from tests.doubles.engines.trtllm import TrtllmFake
from collectors.prometheus import Scraper
from iejtui.derive.engine import engine_figures
from iejtui.derive.metric_map import OPENAI, VLLM, VLLM_ALIASES, metric_map_for

CANONICAL = ("running", "waiting", "kv_usage_pct", "kv_tokens_used", "kv_capacity_tokens",
             "prompt_tok_s", "prompt_computed_tok_s", "generation_tok_s", "prefix_cache_hit_pct",
             "preemptions_per_s", "ttft", "itl", "tpot", "e2e", "queue")
# what each engine reports (True) or lacks (False) with its default launch recipe
REPORTS = {
    "trtllm": dict(running=True, waiting=True, kv_usage_pct=True, kv_tokens_used=True,
                   kv_capacity_tokens=True, prompt_tok_s=False, prompt_computed_tok_s=True,
                   generation_tok_s=True, prefix_cache_hit_pct=True, preemptions_per_s=False,
                   ttft=False, itl=False, tpot=False, e2e=False, queue=False),
    "trtllm+prometheus": dict(running=True, waiting=True, kv_usage_pct=True, kv_tokens_used=True,
                              kv_capacity_tokens=True, prompt_tok_s=True, prompt_computed_tok_s=True,
                              generation_tok_s=True, prefix_cache_hit_pct=True,
                              preemptions_per_s=False, ttft=True, itl=False, tpot=True, e2e=True,
                              queue=True),
    "sglang": dict(running=True, waiting=True, kv_usage_pct=True, kv_tokens_used=True,
                   kv_capacity_tokens=True, prompt_tok_s=True, prompt_computed_tok_s=False,
                   generation_tok_s=True, prefix_cache_hit_pct=True, preemptions_per_s=True,
                   ttft=True, itl=True, tpot=True, e2e=True, queue=True),
    "llamacpp": dict(running=True, waiting=True, kv_usage_pct=True, kv_tokens_used=True,
                     kv_capacity_tokens=True, prompt_tok_s=True, prompt_computed_tok_s=True,
                     generation_tok_s=True, prefix_cache_hit_pct=True, preemptions_per_s=False,
                     ttft=False, itl=False, tpot=True, e2e=False, queue=False),
}
FAKES = {
    "trtllm": lambda: TrtllmFake(stats_wait_s=0.3, log=io.StringIO()),
    "trtllm+prometheus": lambda: TrtllmFake(stats_wait_s=0.3, return_perf_metrics=True, prom="v3",
                                            tee=True, log=io.StringIO()),
    "sglang": lambda: SGLangFake(idle_refresh_s=0.3, log=io.StringIO()),
    "llamacpp": lambda: LlamaCppFake(log=io.StringIO()),
}


async def _load(url: str) -> None:
    async with aiohttp.ClientSession() as s:
        async def one(i: int) -> None:
            body = {"prompt": "the quick brown fox " * 5, "max_tokens": 30, "stream": i % 2 == 0}
            async with s.post(url + "/v1/completions", json=body) as r:
                assert r.status == 200
                await r.read()
        await asyncio.gather(*(one(i) for i in range(4)))
        await one(0)  # the same prompt again: a prefix-cache hit


@pytest.mark.parametrize("name", list(REPORTS))
async def test_each_engine_fills_the_canonical_rows_it_has(name):
    kind = name.split("+")[0]
    adapter, mmap = get_adapter(kind), metric_map_for(kind)
    async with FAKES[name]() as f, Scraper() as sc:
        store = MemStore()

        async def collect_for(seconds: float) -> None:
            end = time.monotonic() + seconds
            while time.monotonic() < end:
                res = await adapter.collect(sc, f.url)
                store.add(res.frame)
                for fr in res.frames:
                    store.add(fr)
                await asyncio.sleep(0.25)

        await collect_for(0.8)
        load = asyncio.create_task(_load(f.url))
        await collect_for(1.5)
        await load
        await collect_for(1.5)
        t1 = time.time()
        figs = engine_figures(store, t1 - 60, t1, mmap)
    got = {field: getattr(figs, field) is not None for field in CANONICAL}
    assert got == REPORTS[name], {k: getattr(figs, k) for k in CANONICAL}
    assert figs.generation_tok_s > 0 and figs.kv_capacity_tokens > 0
    assert figs.running == 0 and figs.waiting == 0  # idle at the end of the window
    if figs.ttft is not None:
        assert figs.ttft.count == 5 and figs.ttft.p50 is not None


def test_registry_of_maps():
    assert metric_map_for("vllm") is VLLM and VLLM.aliases is VLLM_ALIASES  # unchanged
    assert metric_map_for(" SGLang ").kind == "sglang" and metric_map_for("tgi") is None
    assert metric_map_for("openai") is OPENAI and not OPENAI.aliases
    assert set(kinds()) <= {m for m in ("vllm", "trtllm", "sglang", "llamacpp", "openai", "triton")
                            if metric_map_for(m) is not None}


def test_openai_kind_reports_nothing_not_zeros():
    figs = engine_figures(MemStore(), 0.0, 60.0, OPENAI)
    assert all(getattr(figs, f) is None for f in CANONICAL) and figs.request_success is None
