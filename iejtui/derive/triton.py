"""Triton Inference Server's own figures over a window, per model, from stored series.

Triton (core ``nv_inference_*``, 2.51 seen live; server ``docs/user_guide/metrics.md``)
counts per model (labels ``model``, ``version``); an ensemble counts each request once in
the ensemble and once in every composing model, so figures are never summed across
models. ``triton_figures(get, t0, t1)`` returns one ``ModelFigures`` per model:

* requests succeeded and failed by ``reason`` (REJECTED, CANCELED, BACKEND, OTHER) over the
  window (``Δnv_inference_request_success``, ``Δnv_inference_request_failure``). Seen on
  2.51: a Python model's *error response* still counts as a success (the execution
  succeeded); only an exception in ``execute`` counts as a BACKEND failure;
* the batch size Triton actually formed: ``Δnv_inference_count / Δnv_inference_exec_count``;
* mean request, queue and compute input / infer / output time per request from the
  cumulative ``_us`` counters: ``Δduration / Δnv_inference_request_success`` (seconds);
* percentiles from the summaries (``--metrics-config summary_latencies=true``:
  ``nv_inference_{request,queue,compute_input,compute_infer,compute_output}_summary_us``
  with label ``quantile``): the latest reading at or before ``t1``. They are Triton's own
  sliding-window quantiles, not the window's, and are never averaged;
* **first response** from ``nv_inference_first_response_histogram_ms`` (Triton 2.52+ with
  ``histogram_latencies=true``, decoupled models only): the window's p50/p90/p99/mean in
  seconds. For a decoupled streaming model it is the time to the first *response* (chunk);
  it is labelled "first response", never TTFT (it equals TTFT only when the model streams
  one token per response);
* pending requests (``nv_inference_pending_request_count``, the latest reading).

``host_figures`` reads ``nv_cpu_*`` (system-wide CPU utilisation 0-1 → %, memory) and
``nv_gpu_*`` (DCGM, per ``gpu_uuid``); ``gpu_crosscheck`` compares Triton's GPU figures
with iejtui's NVML ones (agree / disagree, with the tolerance used). ``hosted_backend``
names what Triton hosts from the families present; ``unreported_now`` gives the canonical
figures a Triton run does not report given what it hosts.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field

from iejtui.derive import counters, gauges
from iejtui.derive.engine import LatencySummary
from iejtui.derive.histograms import merge, quantile, snapshot_mean
from iejtui.derive.metric_map import CANONICAL_FIGURES, EngineMetricMap, reports
from iejtui.derive.series import SeriesGetter, get_series, histogram_columns

__all__ = ["PHASES", "STORED_NAMES", "ModelFigures", "HostFigures", "GpuReading", "Agreement", "triton_figures",
           "host_figures", "gpu_crosscheck", "hosted_backend", "unreported_now", "busiest"]

#: Per-request phases: (key, cumulative µs counter, summary family).
PHASES = (
    ("request", "nv_inference_request_duration_us", "nv_inference_request_summary_us"),
    ("queue", "nv_inference_queue_duration_us", "nv_inference_queue_summary_us"),
    ("compute_input", "nv_inference_compute_input_duration_us", "nv_inference_compute_input_summary_us"),
    ("compute_infer", "nv_inference_compute_infer_duration_us", "nv_inference_compute_infer_summary_us"),
    ("compute_output", "nv_inference_compute_output_duration_us", "nv_inference_compute_output_summary_us"),
)
SUCCESS, FAILURE = "nv_inference_request_success", "nv_inference_request_failure"
INFER_COUNT, EXEC_COUNT = "nv_inference_count", "nv_inference_exec_count"
PENDING = "nv_inference_pending_request_count"
FIRST_RESPONSE = "nv_inference_first_response_histogram_ms"
US = 1e-6
CPU_NAMES = ("nv_cpu_utilization", "nv_cpu_memory_used_bytes", "nv_cpu_memory_total_bytes")
GPU_NAMES = ("nv_gpu_utilization", "nv_gpu_memory_used_bytes", "nv_gpu_memory_total_bytes", "nv_gpu_power_usage",
             "nv_energy_consumption")
#: Every stored name ``triton_figures``, ``host_figures`` and ``hosted_backend`` read.
STORED_NAMES = frozenset({SUCCESS, FAILURE, INFER_COUNT, EXEC_COUNT, PENDING, "nv_trt_llm_request_metrics",
                          *(n for _, n, _ in PHASES), *(f for _, _, f in PHASES),
                          *(FIRST_RESPONSE + p for p in ("_bucket", "_sum", "_count")), *CPU_NAMES, *GPU_NAMES})


@dataclass(frozen=True)
class ModelFigures:
    """One model's Triton figures over ``[t0, t1]``; ``None``: no data (or not exported)."""

    model: str
    success: float | None = None  # requests succeeded in the window
    success_per_s: float | None = None
    failures: dict[str, float] = field(default_factory=dict)  # reason -> requests failed in the window
    executions: float | None = None  # Δexec_count
    batch_size: float | None = None  # Δinference_count / Δexec_count
    mean_s: dict[str, float | None] = field(default_factory=dict)  # phase -> seconds per request
    summary_s: dict[str, dict[float, float]] = field(default_factory=dict)  # phase -> {quantile: seconds}
    first_response: LatencySummary | None = None  # seconds; None: the histogram is not exported
    pending: float | None = None  # latest reading


@dataclass(frozen=True)
class GpuReading:
    """One GPU's readings (any source): utilisation %, memory bytes, power W."""

    util_pct: float | None = None
    mem_used_bytes: float | None = None
    mem_total_bytes: float | None = None
    power_w: float | None = None


@dataclass(frozen=True)
class HostFigures:
    """Triton's host readings (latest at or before ``t1``)."""

    cpu_util_pct: float | None = None  # all cores, 0-100
    cpu_mem_used_bytes: float | None = None
    cpu_mem_total_bytes: float | None = None
    gpus: dict[str, GpuReading] = field(default_factory=dict)  # gpu_uuid -> reading
    energy_j: dict[str, float] = field(default_factory=dict)  # gpu_uuid -> Δnv_energy_consumption


@dataclass(frozen=True)
class Agreement:
    """Triton's and NVML's value of one GPU figure: ``agree`` within ``tolerance``
    (same unit as the values); ``None`` when either side is missing."""

    figure: str
    triton: float | None
    nvml: float | None
    tolerance: float
    agree: bool | None


def _models(get: SeriesGetter, name: str) -> dict[str, list]:
    out: dict[str, list] = {}
    for labels, ts, vs in get_series(get, name, None):
        out.setdefault(labels.get("model", ""), []).append((labels, ts, vs))
    return out


def _increase(series: list, t0: float, t1: float) -> float | None:
    parts = [counters.increase(ts, vs, t0, t1) for _, ts, vs in series]
    present = [p for p in parts if p is not None]
    return math.fsum(present) if present else None


def _rate(series: list, t0: float, t1: float) -> float | None:
    """Per second over the time the samples used cover (not ``t1 - t0``)."""
    parts = [counters.rate(ts, vs, t0, t1) for _, ts, vs in series]
    present = [p for p in parts if p is not None]
    return math.fsum(present) if present else None


def _ratio(num: float | None, den: float | None, scale: float = 1.0) -> float | None:
    return num * scale / den if num is not None and den is not None and den > 0 else None


def _summary(get: SeriesGetter, family: str, model: str, t1: float) -> dict[float, float]:
    out: dict[float, float] = {}
    for labels, ts, vs in get_series(get, family, {"model": model}):
        try:
            q = float(labels.get("quantile", "nan"))
        except ValueError:
            continue
        last = gauges.last_value(ts, vs, -math.inf, t1)
        if math.isfinite(q) and last is not None and math.isfinite(last):
            out[q] = last * US
    return dict(sorted(out.items()))


def _first_response(get: SeriesGetter, model: str, t0: float, t1: float) -> LatencySummary | None:
    """The window's first-response latencies in seconds (the histogram is in ms)."""
    flt = {"model": model}
    if not get_series(get, FIRST_RESPONSE + "_count", flt):
        return None
    cols = histogram_columns(get, FIRST_RESPONSE, flt)
    parts = [d for d in (hc.window_delta(t0, t1) for hc in cols.values()) if d is not None]
    try:
        d = merge(parts) if parts else None
    except ValueError:
        d = None
    if d is None or not d.count > 0:
        return LatencySummary(None, None, None, None, 0.0 if d is None else max(d.count, 0.0))
    ms = 1e-3

    def q(x: float) -> float | None:
        v = quantile(x, d.buckets)
        return v * ms if v is not None and math.isfinite(v) else None
    mean = snapshot_mean(d)
    return LatencySummary(q(0.5), q(0.9), q(0.99), mean * ms if mean is not None else None, d.count)


def triton_figures(get: SeriesGetter, t0: float, t1: float) -> dict[str, ModelFigures]:
    """``ModelFigures`` of every model Triton reports (by ``model`` label) over ``[t0, t1]``."""
    success = _models(get, SUCCESS)
    failure = _models(get, FAILURE)
    infer, execs = _models(get, INFER_COUNT), _models(get, EXEC_COUNT)
    pending = _models(get, PENDING)
    durations = {key: _models(get, name) for key, name, _ in PHASES}
    out: dict[str, ModelFigures] = {}
    for model in sorted(set(success) | set(pending) | set(infer)):
        n_ok = _increase(success.get(model, []), t0, t1)
        fails: dict[str, float] = {}
        for labels, ts, vs in failure.get(model, []):
            inc = counters.increase(ts, vs, t0, t1)
            if inc is not None:
                reason = labels.get("reason", "")
                fails[reason] = fails.get(reason, 0.0) + inc
        n_exec = _increase(execs.get(model, []), t0, t1)
        n_inf = _increase(infer.get(model, []), t0, t1)
        means = {key: _ratio(_increase(durations[key].get(model, []), t0, t1), n_ok, US)
                 for key, _, _ in PHASES if model in durations[key]}
        summaries = {key: s for key, _, fam in PHASES if (s := _summary(get, fam, model, t1))}
        pend = [gauges.last_value(ts, vs, t0, t1) for _, ts, vs in pending.get(model, [])]
        pend_present = [p for p in pend if p is not None]
        out[model] = ModelFigures(
            model=model, success=n_ok, success_per_s=_rate(success.get(model, []), t0, t1),
            failures=dict(sorted(fails.items())), executions=n_exec, batch_size=_ratio(n_inf, n_exec),
            mean_s=means, summary_s=summaries, first_response=_first_response(get, model, t0, t1),
            pending=math.fsum(pend_present) if pend_present else None)
    return out


def busiest(figs: Mapping[str, ModelFigures], preferred: str | None = None) -> ModelFigures | None:
    """The model a one-model panel shows: ``preferred`` (the engine's served model) when
    Triton reports it, else the one with the most successful requests in the window (an
    ensemble ties with its composing models; the first name wins)."""
    if preferred and preferred in figs:
        return figs[preferred]
    if not figs:
        return None
    return max(figs.values(), key=lambda f: (f.success or 0.0, -ord(f.model[:1] or " ")))


def _last(get: SeriesGetter, name: str, t1: float, key: str | None = None) -> dict[str, float]:
    out: dict[str, float] = {}
    for labels, ts, vs in get_series(get, name, None):
        v = gauges.last_value(ts, vs, -math.inf, t1)
        if v is not None and math.isfinite(v):
            out[labels.get(key, "") if key else ""] = v
    return out


def host_figures(get: SeriesGetter, t0: float, t1: float) -> HostFigures:
    """``nv_cpu_*`` and ``nv_gpu_*`` readings (latest at or before ``t1``); the energy
    counter's increase over ``[t0, t1]`` in joules."""
    cpu = _last(get, "nv_cpu_utilization", t1).get("")
    used = _last(get, "nv_cpu_memory_used_bytes", t1).get("")
    total = _last(get, "nv_cpu_memory_total_bytes", t1).get("")
    util = _last(get, "nv_gpu_utilization", t1, "gpu_uuid")
    mused = _last(get, "nv_gpu_memory_used_bytes", t1, "gpu_uuid")
    mtotal = _last(get, "nv_gpu_memory_total_bytes", t1, "gpu_uuid")
    power = _last(get, "nv_gpu_power_usage", t1, "gpu_uuid")
    gpus = {u: GpuReading(util_pct=util[u] * 100.0 if u in util else None, mem_used_bytes=mused.get(u),
                          mem_total_bytes=mtotal.get(u), power_w=power.get(u))
            for u in sorted(set(util) | set(mused) | set(mtotal) | set(power))}
    energy = {}
    for labels, ts, vs in get_series(get, "nv_energy_consumption", None):
        inc = counters.increase(ts, vs, t0, t1)
        if inc is not None:
            energy[labels.get("gpu_uuid", "")] = inc
    return HostFigures(cpu_util_pct=cpu * 100.0 if cpu is not None else None, cpu_mem_used_bytes=used,
                       cpu_mem_total_bytes=total, gpus=gpus, energy_j=energy)


#: Tolerances of ``gpu_crosscheck``. Triton samples through DCGM once per
#: ``--metrics-interval-ms`` (2 s default) and iejtui through NVML at its own instants,
#: so busy-time and power readings differ by sampling alone: utilisation within 10
#: points, power within 10% (at least 15 W); memory used within 1% of the total (DCGM
#: FB used counts the driver's reservation, NVML's v2 used excludes it: a few hundred MB).
UTIL_TOL_PCT, POWER_TOL_FRAC, POWER_TOL_MIN_W, MEM_TOL_FRAC = 10.0, 0.10, 15.0, 0.01


def gpu_crosscheck(triton: GpuReading, nvml: GpuReading) -> list[Agreement]:
    """Triton's (DCGM) readings of one GPU against iejtui's NVML readings of the same GPU,
    figure by figure: utilisation (%), memory used (bytes), power (W)."""
    def one(figure: str, a: float | None, b: float | None, tol: float) -> Agreement:
        ok = None if a is None or b is None else abs(a - b) <= tol
        return Agreement(figure, a, b, tol, ok)
    total = nvml.mem_total_bytes or triton.mem_total_bytes
    ref_power = max(x for x in (nvml.power_w, triton.power_w, 0.0) if x is not None)
    return [
        one("utilization", triton.util_pct, nvml.util_pct, UTIL_TOL_PCT),
        one("memory used", triton.mem_used_bytes, nvml.mem_used_bytes,
            MEM_TOL_FRAC * total if total else math.inf),
        one("power", triton.power_w, nvml.power_w, max(POWER_TOL_FRAC * ref_power, POWER_TOL_MIN_W)),
    ]


def hosted_backend(get: SeriesGetter) -> str | None:
    """What the Triton server hosts, from the families it exports: ``tensorrt-llm``
    (``nv_trt_llm_*``), ``vllm`` (re-exported ``vllm:*``), ``python`` (only core
    ``nv_inference_*``); None before the first scrape."""
    if get_series(get, "nv_trt_llm_request_metrics", None) or get_series(get, "triton:kv_capacity_tokens", None):
        return "tensorrt-llm"
    if get_series(get, "vllm:num_requests_running", None) or get_series(get, "vllm:generation_tokens_total", None):
        return "vllm"
    if get_series(get, SUCCESS, None) or get_series(get, PENDING, None):
        return "python"
    return None


def _stored(get: SeriesGetter, mmap: EngineMetricMap, figure: str) -> bool:
    keys = {"kv_capacity": ("kv_capacity_tokens", "cache_config_info"),
            "prefix_cache_hit": ("prefix_cache_hits",),
            "prompt_tokens": ("prompt_tokens", "prompt_tokens_by_source")}.get(figure, (figure,))
    for key in keys:
        for name in mmap.names(key):
            probe = name + "_count" if figure in ("ttft", "itl", "tpot", "e2e", "queue") else name
            if get_series(get, probe, None):
                return True
    return False


def unreported_now(get: SeriesGetter, mmap: EngineMetricMap) -> frozenset[str] | None:
    """The canonical figures a ``hosted`` engine does not report, judged from what is
    stored: None before the first scrape (nothing known yet); else every figure the map
    cannot serve plus those none of whose names has a stored series (a plain Python
    model in Triton: no tokens, no KV, no latency histograms)."""
    if hosted_backend(get) is None:
        return None
    return frozenset(f for f in CANONICAL_FIGURES if not reports(mmap, f) or not _stored(get, mmap, f))
