"""The canonical signals the advisor's rules read, built from stored series (pure).

A signal is a time series ``(ts, values)`` in a fixed unit, named in ``SIGNALS``. Engine
signals come through the run's ``EngineMetricMap`` (so vLLM, SGLang, TRT-LLM and llama.cpp
runs feed the same rules where they report the figure), GPU signals from the host's GPU
recording over the run's window. A signal an engine or a host does not report is simply
absent, and every rule reading it stays silent (no GPU sampled → no GPU finding).

Rates and shares are taken over a trailing window (``RATE_WINDOW_S``, ``SHARE_WINDOW_S``),
the way a Prometheus rule writes ``rate(x[w])``: per-scrape differences of a 1 Hz counter are
too noisy to hold a threshold for a ``for:`` duration.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from collectors.gpu_names import CLOCK_REASON_BITS
from iejtui.derive import counters
from iejtui.derive.histograms import merge_series, quantile_series
from iejtui.derive.metric_map import EngineMetricMap
from iejtui.derive.series import SeriesGetter, first_present, histogram_series

Signal = tuple[list[float], list[float]]
Signals = dict[str, Signal]

RATE_WINDOW_S = 10.0  # counter rates (preemptions/s, tok/s)
SHARE_WINDOW_S = 30.0  # shares of finished requests (errors, length cuts) and prefix hits
QUANTILE_WINDOW_S = 30.0  # windowed latency percentiles from the engine's histograms

#: name → (unit, what it is). The rules' vocabulary; a rule naming anything else is refused.
SIGNALS: dict[str, tuple[str, str]] = {
    "running": ("requests", "requests in the running batch"),
    "waiting": ("requests", "requests waiting to be scheduled"),
    "kv_usage_pct": ("%", "KV-cache blocks in use"),
    "preemptions_per_s": ("1/s", "preemptions per second"),
    "generation_tok_s": ("tok/s", "generated tokens per second"),
    "finished_per_s": ("1/s", "requests finished per second"),
    "error_share_pct": ("%", "finished requests that ended in error or abort"),
    "length_share_pct": ("%", "finished requests that ended on the length limit"),
    "length_cut_pct": ("%", "finished requests that ended on the length limit before the max_tokens they asked for"),
    "ttft_p99_s": ("s", "p99 time to first token (engine histogram)"),
    "itl_p50_s": ("s", "p50 inter-token latency (engine histogram)"),
    "e2e_p99_s": ("s", "p99 request latency, arrival to last token (engine histogram)"),
    "waiting_slope_per_s": ("1/s", "growth of the waiting queue (least-squares slope over the trend window)"),
    "itl_change_pct": ("%", "change of p50 inter-token latency across the trend window"),
    "running_change_pct": ("%", "change of the running batch across the trend window"),
    "prefix_hit_pct": ("%", "prompt tokens found in the prefix cache"),
    "spec_accept_pct": ("%", "speculative draft tokens accepted by the target model"),
    "arg_gpu_memory_utilization": ("fraction", "--gpu-memory-utilization of the launch (vLLM default 0.9)"),
    "arg_prefix_caching_off": ("0/1", "prefix caching switched off at launch"),
    "arg_enforce_eager": ("0/1", "--enforce-eager at launch (no CUDA graphs)"),
    "kernel_active_pct": ("%", "time a kernel ran (NVML 'GPU utilization')"),
    "sm_active_pct": ("%", "SM-active (GPM): share of SMs busy"),
    "sm_occupancy_pct": ("%", "SM occupancy (GPM): warps resident vs max"),
    "tensor_active_pct": ("%", "tensor-pipe activity (GPM)"),
    "dram_active_pct": ("%", "DRAM bandwidth in use (GPM)"),
    "power_pct_of_limit": ("%", "board power against its enforced limit"),
    "temp_c": ("°C", "GPU temperature"),
    "throttle_power": ("0/1", "clocks held down by a power cap or brake"),
    "throttle_thermal": ("0/1", "clocks held down by a thermal slowdown"),
    "clock_drop_pct": ("%", "SM clock below its maximum"),
    "sm_per_kernel_pct": ("%", "SM-active per kernel-active: how much of the GPU a running kernel fills"),
    "profile_gpu_idle_pct": ("%", "GPU idle between kernels in the run's profiler window (iejtui.profiling)"),
    "profile_cpu_busy_pct": ("%", "CPU threads' busy share in the run's profiler window (iejtui.profiling)"),
}
TREND_WINDOW_S = 30.0

_POWER_BITS = sum(bit for bit, name in CLOCK_REASON_BITS if name in (
    "sw_power_cap", "hw_power_brake_slowdown", "hw_slowdown"))
_THERMAL_BITS = sum(bit for bit, name in CLOCK_REASON_BITS if name in (
    "sw_thermal_slowdown", "hw_thermal_slowdown"))


# ---- engine -----------------------------------------------------------------------------
def _sum_aligned(series: Sequence[Signal]) -> Signal:
    """Sum of several label sets' series at the timestamps they share (one scrape = one ts)."""
    acc: dict[float, float] = {}
    for ts, vs in series:
        for t, v in zip(ts, vs):
            if math.isfinite(v):
                acc[t] = acc.get(t, 0.0) + v
    keys = sorted(acc)
    return keys, [acc[k] for k in keys]


def summed_series(get: SeriesGetter, mmap: EngineMetricMap, key: str,
            label: tuple[str, Sequence[str]] | None = None) -> Signal | None:
    """The summed series of canonical ``key`` (optionally only label ``name`` in ``values``)."""
    hit = first_present(get, mmap.names(key))
    if hit is None:
        return None
    found = [(ts, vs) for labels, ts, vs in hit[1]
             if label is None or labels.get(label[0]) in label[1]]
    return _sum_aligned(found) if found else ([], [])


def _rate(sig: Signal | None, window_s: float = RATE_WINDOW_S) -> Signal | None:
    return None if sig is None else counters.rate_series(sig[0], sig[1], window_s)


def _share(part: Signal | None, whole: Signal | None) -> Signal | None:
    """``100 × rate(part) / rate(whole)`` over ``SHARE_WINDOW_S`` where the whole moved."""
    if part is None or whole is None:
        return None
    pt, pv = counters.rate_series(part[0], part[1], SHARE_WINDOW_S)
    wt, wv = counters.rate_series(whole[0], whole[1], SHARE_WINDOW_S)
    pm = dict(zip(pt, pv))
    ts, vs = [], []
    for t, w in zip(wt, wv):
        if w > 0:
            ts.append(t)
            vs.append(100.0 * pm.get(t, 0.0) / w)
    return ts, vs


def engine_signals(get: SeriesGetter, mmap: EngineMetricMap) -> Signals:
    """Every engine signal the run's stored series can give (pure over ``get``)."""
    out: Signals = {}
    for key, name in (("running", "running"), ("waiting", "waiting")):
        if (s := summed_series(get, mmap, key)) is not None:
            out[name] = s
    if (kv := summed_series(get, mmap, "kv_usage")) is not None:
        out["kv_usage_pct"] = (kv[0], [v * mmap.kv_usage_scale for v in kv[1]])
    if (p := _rate(summed_series(get, mmap, "preemptions"))) is not None:
        out["preemptions_per_s"] = p
    if (g := _rate(summed_series(get, mmap, "generation_tokens"))) is not None:
        out["generation_tok_s"] = g
    finished = summed_series(get, mmap, "request_success")
    if (f := _rate(finished)) is not None:
        out["finished_per_s"] = f
    reason = "finished_reason"
    if (s := _share(summed_series(get, mmap, "request_success", (reason, ("error", "abort"))), finished)) is not None:
        out["error_share_pct"] = s
    if (s := _share(summed_series(get, mmap, "request_success", (reason, ("length",))), finished)) is not None:
        out["length_share_pct"] = s
    for key, q, name in (("ttft", 0.99, "ttft_p99_s"), ("itl", 0.5, "itl_p50_s"), ("e2e", 0.99, "e2e_p99_s")):
        hit = first_present(get, mmap.names(key), histogram=True)
        if hit is None:
            continue
        per_labels = histogram_series(get, hit[0])
        snaps = merge_series(list(per_labels.values())) if len(per_labels) > 1 else next(iter(per_labels.values()), [])
        out[name] = quantile_series(snaps, QUANTILE_WINDOW_S, q)
    queries = summed_series(get, mmap, "prefix_cache_queries")
    hits = summed_series(get, mmap, "prefix_cache_hits")
    if (s := _share(hits, queries)) is not None:
        out["prefix_hit_pct"] = s
    accepted = summed_series(get, mmap, "spec_accepted_tokens")
    if (s := _share(accepted, summed_series(get, mmap, "spec_draft_tokens"))) is not None:
        out["spec_accept_pct"] = s
    return {k: v for k, v in out.items() if v[0]}


# ---- GPU --------------------------------------------------------------------------------
#: stored GPU series name (``collectors.gpu_names``; percent where a share) → signal
GPU_SERIES = {"gpu.util_gpu": "kernel_active_pct", "gpu.sm_active": "sm_active_pct",
              "gpu.sm_occupancy": "sm_occupancy_pct", "gpu.tensor_active": "tensor_active_pct",
              "gpu.dram_active": "dram_active_pct", "gpu.temp_c": "temp_c"}


def gpu_signals(series: Mapping[str, Signal], static: Mapping[str, Any] | None = None) -> Signals:
    """One GPU's signals from its stored series by name (``gpu.util_gpu``, ``gpu.power_mw``,
    ``gpu.clocks_event_reasons``, ``gpu.clock_sm_mhz``...) and its static facts
    (``power_limit_mw``, ``max_clock_sm_mhz``). Rules run per GPU: a power cap on one GPU of
    eight is not averaged away. Pure."""
    out: Signals = {}
    for name, sig in GPU_SERIES.items():
        if name in series:
            out[sig] = (list(series[name][0]), list(series[name][1]))
    limit_mw = (static or {}).get("power_limit_mw")
    if "gpu.power_mw" in series and limit_mw:
        ts, mw = series["gpu.power_mw"]
        out["power_pct_of_limit"] = (list(ts), [100.0 * w / limit_mw for w in mw])
    if "gpu.clocks_event_reasons" in series:
        ts, ms = series["gpu.clocks_event_reasons"]
        out["throttle_power"] = (list(ts), [1.0 if int(m) & _POWER_BITS else 0.0 for m in ms])
        out["throttle_thermal"] = (list(ts), [1.0 if int(m) & _THERMAL_BITS else 0.0 for m in ms])
    max_mhz = (static or {}).get("max_clock_sm_mhz")
    if "gpu.clock_sm_mhz" in series and max_mhz:
        ts, mhz = series["gpu.clock_sm_mhz"]
        out["clock_drop_pct"] = (list(ts), [max(0.0, 100.0 * (1.0 - m / max_mhz)) for m in mhz])
    return {k: v for k, v in out.items() if v[0]}


# ---- derived ----------------------------------------------------------------------------
def value_at(sig: Signal, t: float, stale_s: float = 3.0) -> float | None:
    """The latest finite reading of ``sig`` at or before ``t``, if not older than ``stale_s``
    (the one "reading at a tick" of the advisor: evaluation and derived signals alike)."""
    from bisect import bisect_right
    ts, vs = sig
    i = bisect_right(ts, t) - 1
    if i < 0 or t - ts[i] > stale_s:
        return None
    v = vs[i]
    return v if math.isfinite(v) else None


def _slope(ts: Sequence[float], vs: Sequence[float]) -> float | None:
    n = len(ts)
    if n < 3:
        return None
    mt, mv = math.fsum(ts) / n, math.fsum(vs) / n
    den = math.fsum((t - mt) ** 2 for t in ts)
    return None if den == 0 else math.fsum((t - mt) * (v - mv) for t, v in zip(ts, vs)) / den


def trend_series(sig: Signal, window_s: float = TREND_WINDOW_S) -> Signal:
    """Least-squares slope (unit/s) of ``sig`` over the trailing ``window_s`` at each sample
    whose window is at least half full (O(n × window samples))."""
    from bisect import bisect_left
    ts, vs = sig
    out_t, out_v = [], []
    for j, t in enumerate(ts):
        i = bisect_left(ts, t - window_s)
        if ts[j] - ts[i] < window_s / 2:
            continue
        sl = _slope(ts[i:j + 1], vs[i:j + 1])
        if sl is not None:
            out_t.append(t)
            out_v.append(sl)
    return out_t, out_v


def change_series(sig: Signal, window_s: float = TREND_WINDOW_S) -> Signal:
    """Percent change of ``sig`` against its reading ``window_s`` earlier (within a quarter
    window), where that earlier reading is positive."""
    out_t, out_v = [], []
    for t, v in zip(*sig):
        before = value_at(sig, t - window_s, window_s / 4)
        if before and before > 0:
            out_t.append(t)
            out_v.append(100.0 * (v / before - 1.0))
    return out_t, out_v


def derived_signals(sig: Mapping[str, Signal], stale_s: float = 3.0) -> Signals:
    """Signals computed from other signals: trends, and SM-active per kernel-active."""
    out: Signals = {}
    if "waiting" in sig:
        out["waiting_slope_per_s"] = trend_series(sig["waiting"])
    if "itl_p50_s" in sig:
        out["itl_change_pct"] = change_series(sig["itl_p50_s"])
    if "running" in sig:
        out["running_change_pct"] = change_series(sig["running"])
    if "kernel_active_pct" in sig and "sm_active_pct" in sig:
        ts, vs = [], []
        for t, k in zip(*sig["kernel_active_pct"]):
            sm = value_at(sig["sm_active_pct"], t, stale_s)
            if sm is not None and k > 0:
                ts.append(t)
                vs.append(min(100.0, 100.0 * sm / k))
        out["sm_per_kernel_pct"] = (ts, vs)
    return {k: v for k, v in out.items() if v[0]}


# ---- launch configuration ---------------------------------------------------------------
def config_signals(argv: Sequence[str] | None, engine_kind: str | None, ticks: Sequence[float],
                   on_gpu: bool) -> Signals:
    """What the launch command says, as constant signals over the engine's ticks, so
    configuration rules run through the same ``for:`` machinery (a setting matters once the
    engine has served with it for a while). vLLM only; GPU-only settings only on a GPU (the
    CPU build has neither CUDA graphs nor a GPU memory share)."""
    from iejtui.advisor.knobs import flag_value
    if (engine_kind or "").lower() != "vllm" or not ticks:
        return {}
    ts = list(ticks)
    out: Signals = {}
    pc = flag_value(argv, "--enable-prefix-caching")
    out["arg_prefix_caching_off"] = (ts, [1.0 if pc == "off" else 0.0] * len(ts))
    if on_gpu:
        try:
            gmu = float(flag_value(argv, "--gpu-memory-utilization") or 0.9)
        except ValueError:
            gmu = 0.9
        out["arg_gpu_memory_utilization"] = (ts, [gmu] * len(ts))
        out["arg_enforce_eager"] = (ts, [1.0 if flag_value(argv, "--enforce-eager") == "on" else 0.0] * len(ts))
    return out


# ---- a profiled window (bench --profile) --------------------------------------------------
def profile_signals(summary: Mapping[str, Any] | None, ticks: Sequence[float]) -> Signals:
    """A bench run's profile (``summary["profile"]["summary"]``, iejtui.profiling.summary) as
    constant signals over the ticks inside its window: the trace's GPU idle share between
    kernels (the launch-bound evidence) and its CPU busy share. Absent without a profile, and
    the GPU one without GPU events (a CPU trace says nothing about a GPU)."""
    prof = ((summary or {}).get("profile") or {}).get("summary") or {}
    t0, t1 = prof.get("start_unix"), prof.get("end_unix")
    if t0 is None or t1 is None:
        return {}
    ts = [t for t in ticks if t0 <= t <= t1] or [t for t in ticks if t >= t0][:1]
    if not ts:
        return {}
    out: Signals = {}
    if prof.get("gpu_idle_share") is not None:
        out["profile_gpu_idle_pct"] = (ts, [100.0 * prof["gpu_idle_share"]] * len(ts))
    if prof.get("cpu_busy_share") is not None:
        out["profile_cpu_busy_pct"] = (ts, [100.0 * prof["cpu_busy_share"]] * len(ts))
    return out
