"""Panel text, windows arithmetic and the runs table rows (pure view-model functions)."""
from __future__ import annotations

import os
import time

import pytest

from iejtui.derive.engine import EngineFigures, LatencySummary
from iejtui.viewmodel.models import EnginePanel, GpuPanel, RunRow
from iejtui.viewmodel.text import engine_fields, engine_state, gpu_fields, ms, span, tokens
from iejtui.viewmodel.windows import Window, extend, seek, zoom


@pytest.fixture(autouse=True)
def utc():
    old = os.environ.get("TZ")
    os.environ["TZ"] = "UTC"
    time.tzset()
    yield
    if old is None:
        os.environ.pop("TZ")
    else:
        os.environ["TZ"] = old
    time.tzset()


def gpu(**kw):
    base = dict(uuid="GPU-1", index=0, name="NVIDIA H100 80GB HBM3", newest=100.0, stale_since=None)
    base.update(kw)
    return GpuPanel(**base)


def engine(**kw):
    base = dict(run_id=7, name="e", engine_kind="vllm", status="ready", phase="ready", model=None, url="http://x",
                started_at=0.0, ended_at=None, reason=None, newest=100.0, stale_since=None, rate_window_s=10.0,
                latency_window_s=60.0, figures=None, latency=None)
    base.update(kw)
    return EnginePanel(**base)


def test_gpu_fields_levels_and_throttle():
    f = {x.label: x for x in gpu_fields(gpu(kernel_active=100.0, sm_active=31.5, power_w=690.0, power_limit_w=700.0,
                                            temp_c=88.0, throttle=("sw_power_cap",), mem_used=70 * 2**30,
                                            mem_total=80 * 2**30))}
    assert f["kernel-active"].text == "100%" and f["kernel-active"].bar == 1.0
    assert f["SM-active"].text == "32%" and 0.31 < f["SM-active"].bar < 0.32
    assert f["power·temp"].text == "690/700 W · 88°C" and f["power·temp"].level == "bad"
    assert f["throttle"].text == "sw_power_cap" and f["throttle"].level == "warn"
    assert f["tensor·DRAM"].text == "n/a · n/a" and f["tensor·DRAM"].level == "muted"
    hw = {x.label: x for x in gpu_fields(gpu(throttle=("hw_thermal_slowdown",)))}
    assert hw["throttle"].level == "bad"
    none = {x.label: x for x in gpu_fields(gpu(throttle=()))}
    assert none["throttle"].text == "none"


def test_stale_gpu_and_engine_show_since_when_not_numbers():
    (only,) = gpu_fields(gpu(stale_since=3600.0, kernel_active=None))
    assert only.text == "no sample since 01:00:00" and only.level == "bad"
    p = engine(stale_since=7200.0)
    assert engine_state(p) == ("stale since 02:00:00", "bad")
    assert engine_fields(p)[0].text == "no metrics since 02:00:00"


def test_engine_fields_figures_and_lifecycle():
    lat = LatencySummary(0.045, 0.09, 0.37, 0.05, 51.0)
    figs = EngineFigures(t0=0, t1=10, generation_tok_s=1234.5, prompt_tok_s=None, kv_usage_pct=7.5,
                         kv_capacity_tokens=458752, running=3, waiting=2, preemptions_per_s=0.0,
                         ttft=lat, itl=LatencySummary(None, None, None, None, 0.0))
    f = {x.label: x for x in engine_fields(engine(figures=figs, latency=figs))}
    assert f["gen"].text == "1,234 tok/s"  # ≥ 1000: no decimals
    assert f["prompt"].text == "n/a" and f["prompt"].level == "muted"
    assert f["KV"].text == "7.5% of 459k tok" and f["KV"].bar == pytest.approx(0.075)
    assert f["waiting"].level == "warn"
    assert f["TTFT"].text == "p50 45.0 ms  p99 370 ms"
    assert f["ITL"].text == "no requests"
    assert f["e2e"].text == "n/a"
    starting = engine(status="starting", phase="loading weights", figures=None)
    assert engine_state(starting) == ("starting: loading weights", "warn")
    assert engine_fields(starting)[0].text == "loading weights"
    crashed = engine(status="crashed", ended_at=3600.0, reason="exited with code 1", figures=figs, latency=figs)
    assert engine_state(crashed) == ("crashed 01:00:00", "bad")
    assert engine_fields(crashed)[0].label == "ended"


def test_unreported_figures_say_so_and_an_openai_endpoint_has_none():
    from iejtui.derive.metric_map import unreported
    figs = EngineFigures(t0=0, t1=10, generation_tok_s=50.0, kv_usage_pct=3.0)
    trt = {x.label: x for x in engine_fields(engine(figures=figs, latency=figs, engine_kind="trtllm",
                                                    unreported=unreported("trtllm")))}
    assert trt["ITL"].text == trt["preempt"].text == "not reported" and trt["ITL"].level == "muted"
    assert trt["TTFT"].text == "n/a" and trt["gen"].text == "50.0 tok/s"  # reported, no data yet
    oa = engine_fields(engine(figures=figs, latency=figs, engine_kind="openai", unreported=unreported("openai")))
    assert [f.label for f in oa] == ["metrics", "url"] and oa[0].text.startswith("not reported")


def test_units():
    assert [ms(x) for x in (None, 0.0451, 0.37, 2.5, 12.0)] == ["n/a", "45.1 ms", "370 ms", "2.50 s", "12.0 s"]
    assert [span(x) for x in (10, 300, 3600, 5400, 86400 * 3)] == ["10 s", "5 min", "1 h", "1 h 30 min", "3 d"]
    assert [tokens(x) for x in (512, 45_000, 2_500_000)] == ["512", "45k", "2.50M"]


def test_zoom_seek_extend():
    w = zoom(1000.0, 87400.0, None)
    assert (w.t0, w.t1) == (1000.0, 87400.0) and w.whole
    five = zoom(w.start, w.end, 300.0, w.t1)
    assert (five.t0, five.t1) == (87100.0, 87400.0) and five.at_end
    back = seek(five, -1)
    assert (back.t0, back.t1) == (86950.0, 87250.0)
    assert seek(five, +1) == five  # already at the end
    first = zoom(w.start, w.end, 300.0, w.start + 10)  # anchored before the start: full width from start
    assert (first.t0, first.t1) == (1000.0, 1300.0)
    assert seek(first, -1) == first
    grown = extend(five, 87410.0)
    assert (grown.t0, grown.t1) == (87110.0, 87410.0)
    assert extend(back, 87410.0) == Window(1000.0, 87410.0, back.t0, back.t1)
    short = zoom(0.0, 100.0, 3600.0)
    assert short.whole


def test_run_row_filter():
    r = RunRow(id=12, kind="engine", name="llama8b", status="crashed", started_at=0, ended_at=1, duration_s=1,
               headline="", tags=("baseline", "fp8"), engine_kind="vllm", model="meta-llama/Llama-3.1-8B")
    assert r.matches("") and r.matches("r12") and r.matches("CRASHED llama") and r.matches("fp8")
    assert not r.matches("sglang") and not r.matches("r13")
