"""A Triton engine panel from Triton's real pages: the canonical rows it has, "not reported"
for the ones its backend cannot give, and Triton's own rows (requests, batch formed, queue
and compute means, first response — never TTFT —, host CPU, GPU check against NVML)."""

from __future__ import annotations

from pathlib import Path

from collectors.prometheus import parse_text
from collectors.records import Frame
from collectors.triton_metrics import canonical_samples
from iejtui.store.vocab import RunStatus
from iejtui.viewmodel.engine import engine_names, engine_panel, panel_map
from iejtui.viewmodel.models import GpuPanel
from iejtui.viewmodel.snapshot import _triton_gpu_check
from iejtui.viewmodel.text import NOT_REPORTED, engine_fields
from tests.doubles.engines.memstore import MemStore

DATA = Path(__file__).resolve().parents[1] / "data" / "triton"
T0 = 1000.0


def store(*names: str) -> MemStore:
    st = MemStore()
    for i, name in enumerate(names):
        samples = parse_text((DATA / name).read_text()).samples
        st.add(Frame("engine", T0 + 10.0 * i, samples + canonical_samples(samples)))
    return st


def run(model: str | None = None) -> dict:
    return {"id": 7, "name": "triton", "engine_kind": "triton", "status": RunStatus.READY, "phase": "ready",
            "model": model, "url": "http://127.0.0.1:8000", "started_at": T0 - 60, "ended_at": None, "reason": None}


def rows(p) -> dict[str, str]:
    return {f.label: f.text for f in engine_fields(p)}


def panel(st: MemStore, model: str | None = None, t1: float = T0 + 10.0):
    return engine_panel(run(model), st, t1, live=True, interval_s=1.0, newest=t1)


def test_plain_python_model_panel_says_not_reported_and_shows_tritons_rows():
    p = panel(store("triton-2.51-idle.prom", "triton-2.51-load.prom"), "echo")
    r = rows(p)
    for label in ("gen", "prompt", "running", "KV", "TTFT", "ITL", "e2e", "queue", "prefix hit", "preempt"):
        assert r[label] == NOT_REPORTED, label
    assert r["waiting"] == "0"
    assert r["triton"] == "python · echo (+1)"
    assert r["requests"].endswith("3 failed (BACKEND 3)")
    assert float(r["batch"]) > 1.5
    q, infer = (float(x) for x in r["q/infer"].removesuffix(" ms").split(" / "))
    assert infer >= 20.0  # the model sleeps 20 ms per execution
    assert r["1st resp"] == NOT_REPORTED  # 2.51 has no first-response histogram
    assert "TTFT" not in r["triton"] and r["TTFT"] == NOT_REPORTED
    assert r["host CPU"].endswith("GiB")
    assert p.triton.gpu_check == ()  # CPU box


def test_first_response_is_its_own_row_never_ttft():
    r = rows(panel(store("triton-2.52-first-response-1.prom", "triton-2.52-first-response-2.prom")))
    # 30 in the window: 20 at 40 ms, 9 at 300 ms, 1 at 2.5 s; interpolated in the 2.52 default buckets
    assert r["1st resp"] == "p50 75.0 ms  p99 4.10 s"
    assert r["requests"] == "3.0 /s ok · 0 failed"  # 30 requests over the 10 s the scrapes cover
    assert r["TTFT"] == NOT_REPORTED


def test_trtllm_backend_panel_fills_kv_and_running_and_checks_gpu_against_nvml():
    st = store("triton-trtllm-backend-1.prom", "triton-trtllm-backend-2.prom")
    p = panel(st, "ensemble")
    r = rows(p)
    assert r["running"] == "16" and r["waiting"] == "5"
    assert r["KV"].startswith("25.0%") and "399k tok" in r["KV"]
    assert r["gen"] == "768.0 tok/s"
    assert r["triton"] == "tensorrt-llm · ensemble (+3)"
    assert r["requests"] == "3.0 /s ok · 0 failed" and r["q/infer"] == "1.2 / 880.0 ms"
    assert r["TTFT"] == NOT_REPORTED
    uuid = next(iter(p.triton.host.gpus))
    agree = GpuPanel(uuid=uuid, index=0, name="H100", newest=T0 + 10, stale_since=None, kernel_active=93.0,
                     mem_used=70.0e9, mem_total=85520809984, power_w=640.0)
    assert rows(_triton_gpu_check(p, [agree]))[f"GPU {uuid[4:12]}"] == "Triton vs NVML: agree"
    off = GpuPanel(uuid=uuid, index=0, name="H100", newest=T0 + 10, stale_since=None, kernel_active=30.0,
                   mem_used=70.0e9, mem_total=85520809984, power_w=640.0)
    assert rows(_triton_gpu_check(p, [off]))[f"GPU {uuid[4:12]}"] == "Triton vs NVML: disagree on utilization"
    other = GpuPanel(uuid="GPU-other", index=1, name="H100", newest=T0 + 10, stale_since=None)
    assert _triton_gpu_check(p, [other]) is p


def test_panel_reads_tritons_families_in_its_one_query():
    names = engine_names(panel_map("triton"))
    assert {"nv_inference_request_success", "nv_inference_queue_duration_us", "nv_cpu_utilization",
            "nv_inference_first_response_histogram_ms_bucket", "triton:kv_capacity_tokens"} <= names
    assert "nv_inference_request_success" not in engine_names(panel_map("vllm"))


def test_before_the_first_scrape_the_static_unreported_rows_hold():
    p = engine_panel(run(), MemStore(), T0, live=True, interval_s=1.0, newest=None)
    assert p.triton is None and p.unreported == {"prefix_cache_hit"}
