"""Triton's figures from its real exposition pages (tests/data/triton/: 2.51 captured live
by capture.py; the TensorRT-LLM / vLLM backends and the 2.52 first-response histogram built
by make_fixtures.py from the emitting source, cited there).

Every expected figure is worked out from the fixture text by hand in the test, so a wrong
delta, unit (µs, ms) or label choice fails."""

from __future__ import annotations

from pathlib import Path

import pytest

from collectors.prometheus import parse_text
from collectors.records import Frame, Sample
from collectors.triton_metrics import KV_CAPACITY, KV_USAGE, RUNNING, WAITING, canonical_samples, with_canonical
from iejtui.derive.engine import engine_figures
from iejtui.derive.metric_map import TRITON, metric_map_for, unreported
from iejtui.derive.triton import (
    GpuReading,
    busiest,
    gpu_crosscheck,
    host_figures,
    hosted_backend,
    triton_figures,
    unreported_now,
)
from tests.doubles.engines.memstore import MemStore

DATA = Path(__file__).resolve().parents[1] / "data" / "triton"
T0, T1 = 1000.0, 1010.0


def page(name: str) -> list[Sample]:
    parsed = parse_text((DATA / name).read_text())
    assert not parsed.broken
    return parsed.samples


def values(name: str) -> dict[tuple, float]:
    return {(s.name, s.labels): s.value for s in page(name)}


def store(*names: str, derive: bool = True) -> MemStore:
    """The pages as consecutive scrapes at T0, T1, ... (with the Triton collector's derived
    samples, as ``with_canonical`` stores them)."""
    st = MemStore()
    for i, name in enumerate(names):
        samples = page(name)
        st.add(Frame("engine", T0 + 10.0 * i, samples + (canonical_samples(samples) if derive else [])))
    return st


def one(vals: dict, name: str, **labels) -> float:
    hits = [v for (n, lab), v in vals.items() if n == name and all(dict(lab).get(k) == x for k, x in labels.items())]
    assert len(hits) == 1, (name, labels, hits)
    return hits[0]


# ---- Triton core, real 2.51 ------------------------------------------------------------

def test_core_counters_give_batch_size_means_and_failures_by_reason():
    a, b = values("triton-2.51-idle.prom"), values("triton-2.51-load.prom")
    figs = triton_figures(store("triton-2.51-idle.prom", "triton-2.51-load.prom"), T0, T1)
    assert set(figs) == {"echo", "echo_stream"}
    echo = figs["echo"]

    def d(name, **kw):
        return one(b, name, model="echo", **kw) - one(a, name, model="echo", **kw)
    ok = d("nv_inference_request_success")
    assert echo.success == ok > 100  # 4 s of 6 clients
    assert echo.success_per_s == pytest.approx(ok / 10.0)
    assert echo.failures == {"BACKEND": 3.0, "CANCELED": 0.0, "OTHER": 0.0, "REJECTED": 0.0}
    # dynamic batching formed batches: more inferences than executions
    assert echo.batch_size == pytest.approx(d("nv_inference_count") / d("nv_inference_exec_count"))
    assert echo.batch_size > 1.5
    assert echo.mean_s["queue"] == pytest.approx(d("nv_inference_queue_duration_us") / ok * 1e-6)
    assert echo.mean_s["compute_infer"] == pytest.approx(d("nv_inference_compute_infer_duration_us") / ok * 1e-6)
    # the model sleeps 20 ms per execution: infer time per request is at least that
    assert 0.02 <= echo.mean_s["compute_infer"] < 0.2
    assert echo.mean_s["request"] >= echo.mean_s["queue"] + echo.mean_s["compute_infer"]
    assert echo.pending == 0.0
    assert echo.summary_s == {}  # summaries off by default
    assert echo.first_response is None  # no histogram exported: not "0 requests"
    assert figs["echo_stream"].success == 5.0 and figs["echo_stream"].batch_size == 1.0  # decoupled: no batching


def test_summaries_give_trition_own_quantiles_in_seconds():
    b = values("triton-2.51-opt-in-load.prom")
    figs = triton_figures(store("triton-2.51-opt-in-idle.prom", "triton-2.51-opt-in-load.prom"), T0, T1)
    q = figs["echo"].summary_s
    assert set(q) == {"request", "queue", "compute_input", "compute_infer", "compute_output"}
    assert set(q["queue"]) == {0.5, 0.9, 0.95, 0.99, 0.999}
    assert q["queue"][0.99] == pytest.approx(one(b, "nv_inference_queue_summary_us", model="echo", quantile="0.99") * 1e-6)
    assert q["request"][0.5] <= q["request"][0.99]
    # 2.51 accepts histogram_latencies=true but has no first-response histogram (it came in 2.52)
    assert all(f.first_response is None for f in figs.values())


def test_first_response_histogram_is_in_ms_and_windowed():
    figs = triton_figures(store("triton-2.52-first-response-1.prom", "triton-2.52-first-response-2.prom"), T0, T1)
    fr = figs["echo_stream"].first_response
    # window: 30 new observations: 20 at 40 ms, 9 at 300 ms, 1 at 2500 ms (make_fixtures.py)
    assert fr.count == 30
    assert fr.mean == pytest.approx((20 * 40 + 9 * 300 + 2500) / 30 / 1000)
    assert 0.0 < fr.p50 <= 0.1  # in the first bucket (≤ 100 ms)
    assert 0.5 < fr.p99 <= 5.0
    # a single scrape has no window
    one_scrape = triton_figures(store("triton-2.52-first-response-2.prom"), T0, T1)["echo_stream"].first_response
    assert one_scrape.count == 0 and one_scrape.p50 is None


def test_host_cpu_and_gpu_readings():
    h = host_figures(store("triton-2.51-idle.prom", "triton-2.51-load.prom"), T0, T1)
    b = values("triton-2.51-load.prom")
    assert h.cpu_util_pct == pytest.approx(one(b, "nv_cpu_utilization") * 100)
    assert h.cpu_mem_total_bytes == one(b, "nv_cpu_memory_total_bytes")
    assert h.gpus == {} and h.energy_j == {}  # CPU box: no DCGM, no nv_gpu_*
    g = host_figures(store("triton-trtllm-backend-1.prom", "triton-trtllm-backend-2.prom"), T0, T1)
    (uuid, gpu), = g.gpus.items()
    assert uuid.startswith("GPU-")
    assert gpu.util_pct == pytest.approx(97.0) and gpu.power_w == 655.0
    assert g.energy_j[uuid] == pytest.approx(156934.0 - 151234.0)


def test_gpu_crosscheck_agrees_within_tolerance_and_flags_a_mismatch():
    triton = GpuReading(util_pct=97.0, mem_used_bytes=70.2e9, mem_total_bytes=85.5e9, power_w=655.0)
    close = GpuReading(util_pct=91.0, mem_used_bytes=69.8e9, mem_total_bytes=85.5e9, power_w=610.0)
    assert [a.agree for a in gpu_crosscheck(triton, close)] == [True, True, True]
    off = GpuReading(util_pct=40.0, mem_used_bytes=20e9, mem_total_bytes=85.5e9, power_w=300.0)
    res = {a.figure: a for a in gpu_crosscheck(triton, off)}
    assert res["utilization"].agree is False and res["memory used"].agree is False and res["power"].agree is False
    missing = {a.figure: a for a in gpu_crosscheck(triton, GpuReading(util_pct=95.0))}
    assert missing["utilization"].agree is True and missing["power"].agree is None


# ---- Triton hosting TensorRT-LLM -------------------------------------------------------

def test_trtllm_backend_gauges_become_the_canonical_running_waiting_kv_rows():
    b = values("triton-trtllm-backend-2.prom")
    derived = {s.name: s for s in canonical_samples(page("triton-trtllm-backend-2.prom"))}
    assert set(derived) == {RUNNING, WAITING, KV_USAGE, KV_CAPACITY}
    assert dict(derived[RUNNING].labels) == {"model": "tensorrt_llm", "version": "1"}
    st = store("triton-trtllm-backend-1.prom", "triton-trtllm-backend-2.prom")
    f = engine_figures(st, T0, T1, TRITON)
    assert f.running == one(b, "nv_trt_llm_request_metrics", request_type="active") == 16
    assert f.waiting == one(b, "nv_trt_llm_request_metrics", request_type="waiting") == 5
    frac = one(b, "nv_trt_llm_kv_cache_block_metrics", kv_cache_block_type="fraction")
    assert f.kv_usage_pct == pytest.approx(100 * frac)
    assert f.kv_capacity_tokens == 6239 * 64
    assert f.kv_tokens_used == pytest.approx(frac * 6239 * 64)
    # tokens from the length histograms' sums: (12800 - 5120) output tokens in 10 s
    out_sum = one(b, "nv_llm_output_token_len_sum") - one(values("triton-trtllm-backend-1.prom"), "nv_llm_output_token_len_sum")
    assert f.generation_tok_s == pytest.approx(out_sum / 10.0)
    assert f.prompt_tok_s is not None and f.prompt_tok_s > 0
    assert f.ttft is None  # the backend has no TTFT; first response is not TTFT
    assert hosted_backend(st) == "tensorrt-llm"
    assert unreported_now(st, TRITON) == {"ttft", "itl", "tpot", "e2e", "queue", "prefix_cache_hit", "preemptions"}


def test_older_trtllm_backend_without_fraction_uses_used_over_max():
    old = [s for s in page("triton-trtllm-backend-2.prom")
           if dict(s.labels).get("kv_cache_block_type") not in ("fraction", "reused")
           and dict(s.labels).get("request_type") != "waiting"]
    derived = {s.name: s.value for s in canonical_samples(old)}
    assert derived[KV_USAGE] == pytest.approx(1560 / 6239)
    assert WAITING not in derived


def test_with_canonical_appends_to_the_frame_and_leaves_plain_pages_alone():
    from collectors.prometheus import ScrapeResult

    trt = ScrapeResult("u", Frame("engine", 5.0, page("triton-trtllm-backend-1.prom")), [], 0.01)
    out = with_canonical(trt)
    assert out.frame.ts == 5.0 and len(out.frame.samples) == len(trt.frame.samples) + 4
    plain = ScrapeResult("u", Frame("engine", 5.0, page("triton-2.51-load.prom")), [], 0.01)
    assert with_canonical(plain) is plain
    failed = ScrapeResult("u", None, [], 0.01, error="refused")
    assert with_canonical(failed) is failed


def test_ensemble_models_are_kept_apart_and_the_served_model_is_preferred():
    figs = triton_figures(store("triton-trtllm-backend-1.prom", "triton-trtllm-backend-2.prom"), T0, T1)
    assert set(figs) == {"ensemble", "preprocessing", "tensorrt_llm", "postprocessing"}
    assert figs["ensemble"].success == figs["tensorrt_llm"].success == 30
    assert figs["preprocessing"].batch_size == pytest.approx((70 - 40) / (70 // 4 - 40 // 4))
    assert busiest(figs, "ensemble").model == "ensemble"
    assert busiest(figs, "not-there").success == 30
    assert busiest({}, None) is None


# ---- Triton hosting vLLM ---------------------------------------------------------------

def test_vllm_backend_families_read_as_vllms():
    st = store("triton-vllm-backend-1.prom", "triton-vllm-backend-2.prom")
    f = engine_figures(st, T0, T1, TRITON)
    assert f.running == 12 and f.waiting == 2
    assert f.kv_usage_pct == pytest.approx(31.0)  # the V0 gauge vllm:gpu_cache_usage_perc, a 0-1 fraction
    assert f.kv_capacity_tokens is None  # the backend does not re-export cache_config_info
    assert f.generation_tok_s == pytest.approx((20000 - 8000) / 10.0)
    assert f.ttft.count == 50 and 0.02 < f.ttft.p50 <= 0.1  # vLLM's own TTFT histogram
    assert f.itl is not None and f.itl.count == 1000  # time_per_output_token_seconds (V0 name)
    assert hosted_backend(st) == "vllm"
    assert unreported_now(st, TRITON) == {"kv_capacity", "prefix_cache_hit", "tpot"}  # no per-request TPOT


# ---- plain Python model: rows Triton cannot report -------------------------------------

def test_plain_python_model_reports_only_waiting():
    st = store("triton-2.51-idle.prom", "triton-2.51-load.prom")
    f = engine_figures(st, T0, T1, TRITON)
    assert f.waiting == 0.0  # nv_inference_pending_request_count, summed over models
    assert f.running is None and f.kv_usage_pct is None and f.generation_tok_s is None and f.ttft is None
    assert hosted_backend(st) == "python"
    missing = unreported_now(st, TRITON)
    assert "waiting" not in missing
    assert {"generation_tokens", "prompt_tokens", "running", "kv_usage", "kv_capacity", "ttft", "e2e"} <= missing
    assert unreported_now(MemStore(), TRITON) is None  # before the first scrape nothing is known


def test_triton_is_a_known_kind_with_static_unreported_rows():
    assert metric_map_for("Triton") is TRITON
    # statically, a Triton server may host anything but never reports prefix-cache hits
    assert unreported("triton") == {"prefix_cache_hit"}
