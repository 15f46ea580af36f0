"""TensorRT-LLM adapter against the faithful local fake: the draining /metrics queue and its
2 s wait, every iteration record stored (keyed by iter), the Prometheus generations and
the JSON/Prometheus conflict, launch recipe (generated YAML), readiness, log facts."""

from __future__ import annotations

import asyncio
import io
import time
from pathlib import Path

import aiohttp
import pytest

from collectors.engines import get_adapter
from collectors.engines.base import KV_CACHE, LAUNCHING, READY
from tests.doubles.engines.memstore import MemStore
from tests.doubles.engines.trtllm import TrtllmFake
from collectors.engines.trtllm import DEFAULT_OPTIONS, yaml_flag
from collectors.engines.trtllm_iter import IterState, absorb, summary_samples
from collectors.prometheus import Scraper
from iejtui.derive.engine import engine_figures
from iejtui.derive.metric_map import TRTLLM

TRT = get_adapter("trtllm")
QUIET = io.StringIO()


def fake(**kw) -> TrtllmFake:
    kw.setdefault("log", QUIET)
    return TrtllmFake(**kw)


async def load(url: str, n: int = 4, max_tokens: int = 40, prompt: str = "hello world " * 10,
               stream: bool = True) -> None:
    async with aiohttp.ClientSession() as s:
        async def one() -> None:
            body = {"model": "tiny", "prompt": prompt, "max_tokens": max_tokens, "stream": stream}
            async with s.post(url + "/v1/completions", json=body) as r:
                assert r.status == 200
                await r.read()
        await asyncio.gather(*(one() for _ in range(n)))


async def collect_until_quiet(adapter, scraper, url, store: MemStore, seconds: float) -> list:
    """Call collect about every 0.3 s for ``seconds``; keep every frame; return the results."""
    out = []
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        res = await adapter.collect(scraper, url)
        store.add(res.frame)
        for f in res.frames:
            store.add(f)
        out.append(res)
        await asyncio.sleep(0.3)
    return out


# ---------------------------------------------------------------- the fake's own endpoint


async def test_metrics_queue_drains_waits_and_is_sticky_empty():
    async with fake(stats_wait_s=0.6) as f:
        async with aiohttp.ClientSession() as s:
            t0 = time.monotonic()
            async with s.get(f.url + "/metrics") as r:  # no request yet: "not available"
                assert await r.json() == [] and time.monotonic() - t0 < 0.3
            await load(f.url, n=2, max_tokens=10)
            t0 = time.monotonic()
            async with s.get(f.url + "/metrics") as r:
                recs = await r.json()
            took = time.monotonic() - t0
            assert len(recs) == f.sim.iteration and [x["iter"] for x in recs] == list(range(1, len(recs) + 1))
            assert took >= 0.6  # waited wait_s after the last record
            rec = recs[-1]
            assert rec["timestamp"] == "" and rec["kvCacheStats"]["tokensPerBlock"] == 32
            assert rec["inflightBatchingStats"]["avgNumDecodedTokensPerIter"] == 0
            t0 = time.monotonic()
            async with s.get(f.url + "/metrics") as r:  # drained; done is sticky: [] at once
                assert await r.json() == [] and time.monotonic() - t0 < 0.3


async def test_queue_keeps_the_newest_max_iterations():
    async with fake(stats_wait_s=0.3, max_iterations=20) as f:
        await load(f.url, n=1, max_tokens=60)
        async with aiohttp.ClientSession() as s, s.get(f.url + "/metrics") as r:
            recs = await r.json()
        assert len(recs) == 20 and recs[-1]["iter"] == f.sim.iteration and f.dropped > 0


# ---------------------------------------------------------------- collection


async def test_every_iteration_record_is_stored_once_keyed_by_iter():
    async with fake(stats_wait_s=0.5) as f, Scraper() as sc:
        store = MemStore()
        task = asyncio.create_task(load(f.url, n=4, max_tokens=40))
        results = await collect_until_quiet(TRT, sc, f.url, store, 3.0)
        await task
        results += await collect_until_quiet(TRT, sc, f.url, store, 1.5)
        (labels, ts, iters), = store("trtllm:iter")
        assert [int(i) for i in iters] == list(range(1, f.sim.iteration + 1))  # none lost, none twice
        assert ts == sorted(ts) and len(set(ts)) == len(ts)
        assert all(r.frames == [] or {fr.source for fr in r.frames} == {"engine-iter"} for r in results)
        (_, _, missed), = store("trtllm:missed_iterations_total") or [({}, [0], [0.0])]
        assert missed[-1] == 0
        (_, _, ctx), = store("trtllm:context_tokens_total")
        assert ctx[-1] == 4 * 21  # 4 prompts of 21 tokens, none cached (they ran together)
        (_, _, gen), = store("trtllm:generation_tokens_total")
        assert gen[-1] == 4 * 39  # decode steps: each request's first token is not counted
        (_, _, batch), = store("trtllm:iter_generation_requests")
        assert max(batch) == 4  # per iteration: the whole batch decoded together
        (_, _, running), = store("trtllm:num_requests_running")
        assert running[-1] == 0  # the newest state: idle after the batch
        (_, _, cap), = store("trtllm:kv_capacity_tokens")
        assert cap[-1] == f.sim.total_blocks * f.sim.block_size


async def test_collect_never_blocks_on_the_two_second_wait():
    async with fake() as f, Scraper() as sc:  # the real 2 s wait
        await load(f.url, n=1, max_tokens=5)
        t0 = time.monotonic()
        res = await TRT.collect(sc, f.url)
        assert time.monotonic() - t0 < 1.0 and res.frame is None and res.error is None
        await asyncio.sleep(2.3)
        res = await TRT.collect(sc, f.url)  # the drain answered meanwhile: picked up now
        assert res.frame is not None and len(res.frames) == f.sim.iteration
        # the newest record ended ~2 s before the answer (the server waited for more)
        assert res.frames[-1].ts < time.time() - 1.5


async def test_gaps_restarts_and_attention_dp_ranks():
    st = IterState()
    recs = [{"iter": i, "iterLatencyMS": 10.0, "numActiveRequests": 2, "numQueuedRequests": 0,
             "numCompletedRequests": 0, "attentionDpRank": r,
             "kvCacheStats": {"usedNumBlocks": 3, "maxNumBlocks": 100, "tokensPerBlock": 32},
             "inflightBatchingStats": {"numGenRequests": 2, "numCtxTokens": 0}}
            for i in (1, 2, 5) for r in (0, 1)]
    frames, events = absorb(st, recs, 1000.0, waited=False)
    assert [f.ts for f in frames] == [pytest.approx(999.98), pytest.approx(999.99), 1000.0]
    assert len(frames[0].samples) == 8 + 2 * 4 and not events  # one frame per iter, both ranks
    state = {s.name: s.value for s in frames[-1].samples if not s.labels}
    assert state["trtllm:num_requests_running"] == 4 and state["trtllm:kv_cache_utilization"] == 0.03
    assert state["trtllm:iter_generation_requests"] == 4 and state["trtllm:iter"] == 5
    assert st.counters["trtllm:missed_iterations_total"] == 2
    assert st.counters["trtllm:generation_tokens_total"] == 12
    got = {s.name: s.value for s in summary_samples(st, len(recs))}
    assert got["trtllm:kv_capacity_tokens"] == 200 * 32 and "trtllm:num_requests_running" not in got
    _, events = absorb(st, [{**recs[0], "iter": 1}], 1001.0, waited=False)
    assert events and events[0].kind == "engine_restart"


async def test_idle_engine_reads_zero_and_empty_lists_are_normal():
    async with fake(stats_wait_s=0.3) as f, Scraper() as sc:
        res = await TRT.collect(sc, f.url)  # never served: [] at once
        got = {s.name: s.value for s in res.frame.samples}
        assert got["trtllm:iteration_records"] == 0
        assert "trtllm:kv_capacity_tokens" not in got  # unknown until a record arrives
        (idle,) = res.frames
        assert {s.name: s.value for s in idle.samples} == {
            "trtllm:num_requests_running": 0.0, "trtllm:num_requests_waiting": 0.0}


async def test_prometheus_v3_with_tee_gives_both_and_canonical_latencies():
    async with fake(return_perf_metrics=True, prom="v3", tee=True, stats_wait_s=0.3) as f, Scraper() as sc:
        store = MemStore()
        task = asyncio.create_task(load(f.url, n=4, max_tokens=30))
        await collect_until_quiet(TRT, sc, f.url, store, 2.5)
        await task
        await collect_until_quiet(TRT, sc, f.url, store, 1.0)
        assert store("trtllm:iter")  # the tee buffer keeps /metrics whole
        assert store("trtllm_num_requests_running") and store("trtllm_time_to_first_token_seconds_count")
        t1 = time.time()
        figs = engine_figures(store, t1 - 30, t1, TRTLLM)
        assert figs.ttft.count == 4 and figs.tpot.count == 4 and figs.e2e.count == 4
        assert figs.itl is None  # TRT-LLM has no ITL histogram: "not reported"
        # state from the iteration records (the wire gauge keeps the finishing request while
        # idle), exact token counters from Prometheus
        assert figs.resolved["running"] == "trtllm:num_requests_running" and figs.running == 0
        assert store("trtllm_num_requests_running")[0][2][-1] > 0  # the stale wire gauge
        assert figs.resolved["generation_tokens"] == "trtllm_generation_tokens_total"
        assert figs.kv_capacity_tokens == f.sim.total_blocks * f.sim.block_size


async def test_prometheus_v2_conflict_drains_json_and_is_not_read_as_idle():
    async with fake(return_perf_metrics=True, prom="v2", stats_wait_s=0.3) as f, Scraper() as sc:
        store = MemStore()
        task = asyncio.create_task(load(f.url, n=2, max_tokens=60))
        await collect_until_quiet(TRT, sc, f.url, store, 1.2)
        await task
        assert not store("trtllm:iter")  # the server's collector took every record
        assert not store("trtllm:num_requests_running")  # no fake idle zeros from []
        assert store("trtllm_kv_cache_utilization")  # v2 families
        t1 = time.time()
        figs = engine_figures(store, t1 - 30, t1, TRTLLM)
        assert figs.running is None and figs.kv_usage_pct is not None


async def test_prometheus_v1_unprefixed_names():
    async with fake(return_perf_metrics=True, prom="v1", stats_wait_s=0.3) as f, Scraper() as sc:
        store = MemStore()
        first = await TRT.collect(sc, f.url)  # idle: running 0, no histogram yet
        for fr in [first.frame, *first.frames]:
            store.add(fr)
        await load(f.url, n=2, max_tokens=20)
        await collect_until_quiet(TRT, sc, f.url, store, 1.5)
        t1 = time.time()
        figs = engine_figures(store, t1 - 30, t1, TRTLLM)
        assert figs.resolved["ttft"] == "time_to_first_token_seconds" and figs.ttft.count == 2
        assert figs.request_success == {"length": 2.0}  # label finish_reason in that release
        assert store("trtllm:iter")  # no collector in v1: JSON records still come


async def test_scrape_failure_and_recovery_events():
    async with Scraper() as sc:
        res = await TRT.collect(sc, "http://127.0.0.1:9")
        assert res.frame is None and res.error and res.events[0].kind == "scrape_failed"
        res = await TRT.collect(sc, "http://127.0.0.1:9")
        assert not [e for e in res.events if e.kind == "scrape_failed"]  # said once


# ---------------------------------------------------------------- launch, readiness, logs


def test_build_argv_writes_iteration_stats_yaml(tmp_path):
    argv = TRT.build_argv(["trtllm-serve", "/m/tiny", "--port", "8001"])
    assert argv[:4] == ["trtllm-serve", "/m/tiny", "--port", "8001"]
    assert argv[4] == "--extra_llm_api_options"
    text = Path(argv[5]).read_text()
    assert text == DEFAULT_OPTIONS and yaml_flag(text, "enable_iter_perf_stats") is True
    assert TRT.build_argv(["trtllm-serve", "m"]) == TRT.build_argv(["trtllm-serve", "m"])  # idempotent
    own = tmp_path / "mine.yaml"
    own.write_text("kv_cache_config:\n  free_gpu_memory_fraction: 0.8\nmax_batch_size: 16\n")
    argv = TRT.build_argv(["trtllm-serve", "m", "--config", str(own)])
    merged = Path(argv[argv.index("--config") + 1]).read_text()
    assert merged.startswith(own.read_text().rstrip()) and yaml_flag(merged, "enable_iter_perf_stats")
    own.write_text("enable_iter_perf_stats: false\n")
    argv = ["trtllm-serve", "m", f"--extra_llm_api_options={own}"]
    assert TRT.build_argv(argv) == argv
    assert any("stay empty" in w for w in TRT.launch_warnings(argv, {}))
    own.write_text("return_perf_metrics: true\n")
    assert any("13405" in w for w in TRT.launch_warnings(argv, {}))


@pytest.mark.parametrize("argv, url", [
    (["trtllm-serve", "m"], "http://127.0.0.1:8000"),
    (["trtllm-serve", "serve", "m", "--host", "0.0.0.0", "--port", "9000"], "http://127.0.0.1:9000"),
])
def test_default_url(argv, url):
    assert TRT.default_url(argv) == url


async def test_readiness_refused_while_loading_then_ready_then_dead():
    f = fake(load_s=0.6)
    await f.start(wait_ready=False)
    try:
        url = f"http://127.0.0.1:{f.port or 1}"
        async with aiohttp.ClientSession() as s:
            state = await TRT.probe_ready(s, "http://127.0.0.1:9")
            assert state.state == "loading" and "refused" in state.detail
            while not f.ready:
                await asyncio.sleep(0.05)
            url = f.url
            state = await TRT.probe_ready(s, url)
            assert state.ready and state.version == "1.2.0"
            f.healthy = False
            state = await TRT.probe_ready(s, url)
            assert state.state == "dead" and "LLM is unavailable" in state.detail
    finally:
        await f.stop()


def test_startup_log_facts_and_phases():
    f = fake()
    facts, phase = {}, None
    from collectors.engines.base import later_phase
    for line in f.startup_lines() + f.ready_lines():
        fact = TRT.parse_log_line(line)
        if fact is not None:
            facts[fact.kind] = fact.value
            phase = later_phase(phase, fact.phase)
    assert facts["version"] == "1.2.0" and facts["kv_blocks"] == 1024
    assert facts["kv_tokens_per_block"] == 32 and facts["kv_cache_tokens"] == 1024 * 32
    assert facts["max_seq_len"] == 2048 and phase == READY
    assert TRT.parse_log_line("[TensorRT-LLM] TensorRT-LLM version: 1.2.0").phase == LAUNCHING
    assert TRT.parse_log_line("[TensorRT-LLM][INFO] Number of tokens per block: 64.").phase == KV_CACHE
    err = TRT.parse_log_line("[11/26/2025-14:00:00] [TRT-LLM] [E] Executor failed: CUDA OOM")
    assert err.kind == "error" and "CUDA OOM" in err.value
    assert TRT.parse_log_line("[TensorRT-LLM][ERROR] Assertion failed: out of memory").kind == "error"
    assert TRT.parse_log_line("[11/26/2025-14:00:00] [TRT-LLM] [I] Loading checkpoint") is None
