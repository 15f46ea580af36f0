"""Canonical engine figures through the SeriesGetter contract (in-memory store)."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from iejtui.derive.engine import EngineFigures, engine_figures, kv_capacity_tokens
from iejtui.derive.metric_map import VLLM, VLLM_ALIASES, EngineMetricMap
from iejtui.derive.series import histogram_series

FIXTURE = Path(__file__).resolve().parents[1] / "data" / "vllm-0.32-metrics-load.txt"
TTFT_LES = ["0.05", "0.1", "0.5", "1.0", "+Inf"]


class MemStore:
    """A tiny in-memory implementation of the store's ``get(name, labels_filter)``."""

    def __init__(self) -> None:
        self.data: dict[str, dict[tuple, tuple[dict, list, list]]] = {}

    def add(self, name: str, labels: dict, ts: float, value: float) -> None:
        key = tuple(sorted(labels.items()))
        _, tss, vss = self.data.setdefault(name, {}).setdefault(key, (dict(labels), [], []))
        tss.append(ts)
        vss.append(value)

    def add_hist(self, base: str, labels: dict, ts: float, counts: list, total: float, les=TTFT_LES) -> None:
        for le, c in zip(les, counts):
            self.add(base + "_bucket", {**labels, "le": le}, ts, c)
        self.add(base + "_sum", labels, ts, total)
        self.add(base + "_count", labels, ts, counts[-1])

    def __call__(self, name, labels_filter=None, /):
        out = []
        for labels, ts, vs in self.data.get(name, {}).values():
            if labels_filter and any(labels.get(k) != v for k, v in labels_filter.items()):
                continue
            out.append((labels, list(ts), list(vs)))
        return out


def vllm_engine(store: MemStore, engine: str = "0", model: str = "m", t_end: int = 60, **cfg) -> None:
    """A V1 vLLM engine scraped at 1 Hz from t=0 to t_end (inclusive)."""
    lab = {"model_name": model, "engine": engine}
    info = {"engine": engine, "block_size": "16", "num_gpu_blocks": "1000", **cfg}
    for t in range(t_end + 1):
        store.add("vllm:prompt_tokens_total", lab, t, 100.0 * t)
        store.add("vllm:prompt_tokens_by_source_total", {**lab, "source": "local_compute"}, t, 60.0 * t)
        store.add("vllm:prompt_tokens_by_source_total", {**lab, "source": "local_cache_hit"}, t, 40.0 * t)
        store.add("vllm:generation_tokens_total", lab, t, 50.0 * t)
        store.add("vllm:prefix_cache_queries_total", lab, t, 100.0 * t)
        store.add("vllm:prefix_cache_hits_total", lab, t, 40.0 * t)
        store.add("vllm:num_preemptions_total", lab, t, float(t // 30))
        store.add("vllm:num_requests_running", lab, t, 3.0)
        store.add("vllm:num_requests_waiting", lab, t, 1.0)
        store.add("vllm:kv_cache_usage_perc", lab, t, 0.5 if t == 30 else 0.25)
        store.add("vllm:cache_config_info", info, t, 1.0)
        # one request per second, TTFT in (0.05, 0.1]; successes: a restart at t=40
        n = t
        store.add_hist("vllm:time_to_first_token_seconds", lab, t, [0, n, n, n, n], 0.08 * n)
        store.add("vllm:request_success_total", {**lab, "finished_reason": "stop"}, t, float(t if t < 40 else t - 40))
        store.add("vllm:request_success_total", {**lab, "finished_reason": "length"}, t, 2.0)


def test_single_engine_figures():
    store = MemStore()
    vllm_engine(store)
    f = engine_figures(store, 0, 60)
    assert f.prompt_tok_s == pytest.approx(100.0)
    assert f.prompt_computed_tok_s == pytest.approx(60.0)
    assert f.generation_tok_s == pytest.approx(50.0)
    assert f.prefix_cache_hit_pct == pytest.approx(40.0)
    assert f.preemptions_per_s == pytest.approx(2 / 60)
    assert (f.running, f.waiting) == (3.0, 1.0)
    assert f.kv_capacity_tokens == 16000
    assert f.kv_usage_pct == pytest.approx(25.0)  # fraction → percent
    assert f.kv_usage_pct_peak == pytest.approx(50.0)
    assert f.kv_tokens_used == pytest.approx(4000.0)
    assert f.ttft.count == 60
    assert f.ttft.p50 == pytest.approx(0.075)  # middle of (0.05, 0.1]
    assert f.ttft.p99 == pytest.approx(0.05 + 0.05 * 0.99)
    assert f.ttft.mean == pytest.approx(0.08)
    # stop: 39 before the restart at t=40, then 0 + 20 after it
    assert f.request_success == {"length": 0.0, "stop": 59.0}
    assert f.resolved["kv_usage"] == "vllm:kv_cache_usage_perc"
    assert f.resolved["ttft"] == "vllm:time_to_first_token_seconds"
    # histograms the engine does not expose stay None, never zero
    assert f.itl is None and f.tpot is None and f.e2e is None


def test_window_narrower_than_data():
    store = MemStore()
    vllm_engine(store)
    f = engine_figures(store, 10.5, 20.2)  # samples 11..20
    assert f.generation_tok_s == pytest.approx(50.0)
    assert f.ttft.count == 9
    assert f.kv_usage_pct_peak == pytest.approx(25.0)
    empty = engine_figures(store, 100, 200)
    assert empty.generation_tok_s is None and empty.running is None and empty.kv_usage_pct is None
    assert empty.ttft.count == 0 and empty.ttft.p50 is None  # reported, but no data in window
    assert empty.kv_capacity_tokens == 16000  # config known from earlier scrapes


def test_nothing_reported_is_none_not_zero():
    f = engine_figures(MemStore(), 0, 60)
    for name, value in vars(f).items():
        if name not in ("t0", "t1", "resolved"):
            assert value is None, name
    assert f.resolved == {}


def test_data_parallel_engines_are_aggregated():
    store = MemStore()
    vllm_engine(store, engine="0")
    vllm_engine(store, engine="1", num_gpu_blocks="3000")  # bigger pool
    # engine 1 serves slower requests: TTFT in (0.5, 1.0]
    for key in list(store.data["vllm:time_to_first_token_seconds_bucket"]):
        labels, ts, vs = store.data["vllm:time_to_first_token_seconds_bucket"][key]
        if labels["engine"] == "1" and labels["le"] in ("0.1", "0.5"):
            vs[:] = [0.0] * len(vs)
    f = engine_figures(store, 0, 60)
    assert f.generation_tok_s == pytest.approx(100.0)
    assert f.running == 6.0
    assert f.kv_capacity_tokens == 16000 + 48000
    assert f.kv_usage_pct == pytest.approx(25.0)
    assert f.kv_tokens_used == pytest.approx(0.25 * 64000)
    assert f.ttft.count == 120
    # merged before the quantile: half the requests fast, half slow
    assert f.ttft.p50 == pytest.approx(0.1)
    assert 0.5 < f.ttft.p90 <= 1.0
    one = engine_figures(store, 0, 60, labels_filter={"engine": "1"})
    assert one.kv_capacity_tokens == 48000 and one.ttft.p50 == pytest.approx(0.75)


def test_kv_weighted_by_capacity_when_engines_differ():
    store = MemStore()
    for eng, frac, blocks in (("0", 0.1, "1000"), ("1", 0.9, "3000")):
        info = {"engine": eng, "block_size": "16", "num_gpu_blocks": blocks}
        for t in range(3):
            store.add("vllm:kv_cache_usage_perc", {"engine": eng, "model_name": "m"}, t, frac)
            store.add("vllm:cache_config_info", info, t, 1.0)
    f = engine_figures(store, 0, 2)
    assert f.kv_usage_pct == pytest.approx(100 * (0.1 * 16000 + 0.9 * 48000) / 64000)
    assert f.kv_usage_pct_peak == pytest.approx(f.kv_usage_pct)


def test_v0_aliases_are_resolved():
    store = MemStore()
    lab = {"model_name": "m"}
    for t in range(11):
        store.add("vllm:gpu_cache_usage_perc", lab, t, 0.5)
        store.add("vllm:gpu_prefix_cache_queries_total", lab, t, 10.0 * t)
        store.add("vllm:gpu_prefix_cache_hits_total", lab, t, 5.0 * t)
        store.add_hist("vllm:time_per_output_token_seconds", lab, t, [t, t, t, t, t], 0.01 * t)
    f = engine_figures(store, 0, 10)
    assert f.kv_usage_pct == pytest.approx(50.0)
    assert f.kv_capacity_tokens is None and f.kv_tokens_used is None  # no cache_config_info
    assert f.prefix_cache_hit_pct == pytest.approx(50.0)
    assert f.itl.p50 == pytest.approx(0.025)
    assert f.resolved["itl"] == "vllm:time_per_output_token_seconds"
    assert f.resolved["prefix_cache_hits"] == "vllm:gpu_prefix_cache_hits_total"


def test_prefix_hit_rate_none_without_queries():
    store = MemStore()
    for t in range(3):
        store.add("vllm:prefix_cache_queries_total", {}, t, 7.0)
        store.add("vllm:prefix_cache_hits_total", {}, t, 0.0)
    assert engine_figures(store, 0, 2).prefix_cache_hit_pct is None


def test_capacity_label_rules():
    assert kv_capacity_tokens({"num_gpu_blocks": "6947", "block_size": "64"}) == 444608
    # kv_cache_size_tokens wins (hybrid models: blocks × size understates it)
    assert kv_capacity_tokens({"num_gpu_blocks": "320", "block_size": "8", "kv_cache_size_tokens": "463459"}) == 463459
    assert kv_capacity_tokens({"num_gpu_blocks": "None", "block_size": "16"}) is None
    assert kv_capacity_tokens({"kv_cache_size_tokens": "None", "num_gpu_blocks": "10", "block_size": "16"}) == 160
    assert kv_capacity_tokens({}) is None


def test_model_filter_still_finds_cache_config_info():
    store = MemStore()
    vllm_engine(store, model="a")
    f = engine_figures(store, 0, 60, labels_filter={"model_name": "a"})
    assert f.kv_capacity_tokens == 16000 and f.generation_tok_s == pytest.approx(50.0)
    g = engine_figures(store, 0, 60, labels_filter={"model_name": "b"})
    assert g.generation_tok_s is None


def test_store_keeping_counters_by_family_name():
    store = MemStore()
    for t in range(5):
        store.add("vllm:generation_tokens", {}, t, 7.0 * t)
    assert engine_figures(store, 0, 4).generation_tok_s == pytest.approx(7.0)


def test_other_engine_map():
    aliases = {"kv_usage": ("x:kv_percent",), "running": ("x:running",)}
    mmap = EngineMetricMap(kind="x", aliases=aliases, kv_usage_scale=1.0)
    store = MemStore()
    for t in range(3):
        store.add("x:kv_percent", {}, t, 42.0)
        store.add("x:running", {}, t, 2.0)
    f = engine_figures(store, 0, 2, mmap)
    assert f.kv_usage_pct == pytest.approx(42.0) and f.running == 2.0
    assert f.generation_tok_s is None and f.ttft is None
    assert VLLM.names("kv_usage") == VLLM_ALIASES["kv_usage"]


def test_histogram_series_skips_incomplete_scrapes():
    store = MemStore()
    lab = {"engine": "0"}
    store.add_hist("h", lab, 0, [1, 2, 3, 4, 5], 1.0)
    store.add_hist("h", lab, 1, [2, 3, 4, 5, 6], 2.0)
    store.add("h_count", lab, 2, 9.0)  # buckets missing at t=2
    (series,) = histogram_series(store, "h").values()
    assert [h.ts for h in series] == [0, 1]
    assert series[1].les[-1] == math.inf and series[1].counts == (2, 3, 4, 5, 6)


# ---- the real vLLM /metrics dump (produced by another helper) -------------------


def _fixture_store(text: str) -> MemStore:
    """Two scrapes: all counters at zero at t=0 (engine start), the dump at t=100."""
    parser = pytest.importorskip("prometheus_client.parser")
    store = MemStore()
    for family in parser.text_string_to_metric_families(text):
        for s in family.samples:
            if s.name.endswith("_created"):
                continue
            cumulative = family.type in ("counter", "histogram")
            store.add(s.name, dict(s.labels), 0.0, 0.0 if cumulative else s.value)
            store.add(s.name, dict(s.labels), 100.0, s.value)
    return store


@pytest.mark.skipif(not FIXTURE.exists(), reason=f"{FIXTURE.name} not recorded yet")
def test_real_vllm_metrics_dump_gives_sane_figures():
    f: EngineFigures = engine_figures(_fixture_store(FIXTURE.read_text()), 0, 100)
    assert f.kv_capacity_tokens is not None and f.kv_capacity_tokens > 0
    assert f.kv_usage_pct is not None and 0 <= f.kv_usage_pct <= 100
    assert f.kv_tokens_used is not None and 0 <= f.kv_tokens_used <= f.kv_capacity_tokens
    assert f.running is not None and f.running >= 0
    assert f.waiting is not None and f.waiting >= 0
    assert f.generation_tok_s is not None and f.generation_tok_s > 0
    assert f.prompt_tok_s is not None and f.prompt_tok_s > 0
    if f.prompt_computed_tok_s is not None:
        assert f.prompt_computed_tok_s <= f.prompt_tok_s + 1e-9
    if f.prefix_cache_hit_pct is not None:
        assert 0 <= f.prefix_cache_hit_pct <= 100
    assert f.request_success is not None and sum(f.request_success.values()) > 0
    for name in ("ttft", "itl", "tpot", "e2e"):
        s = getattr(f, name)
        assert s is not None and s.count > 0, name
        assert 0 <= s.p50 <= s.p90 <= s.p99, name
        assert s.mean is not None and s.mean > 0, name
    assert f.resolved["kv_usage"] == "vllm:kv_cache_usage_perc"
