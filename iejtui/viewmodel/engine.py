"""Engine panels and engine plot lines, from a run's stored series (through a getter).

Live, rates and gauges cover the last ``RATE_WINDOW_S`` and latency percentiles the last
``LATENCY_WINDOW_S`` before the window's end; for a past window both cover the whole
window (what the engine did over it). Figures an engine does not report stay ``None``.
"""

from __future__ import annotations

import dataclasses
import math
import threading
from bisect import bisect_left, bisect_right
from collections.abc import Mapping

from iejtui.derive import counters
from iejtui.derive.engine import engine_figures
from iejtui.derive.engine_extras import engine_extras
from iejtui.derive.histograms import merge_series, quantile, window_delta
from iejtui.derive.metric_map import HISTOGRAM_KEYS, EngineMetricMap, metric_map_for, unreported
from iejtui.derive.series import SeriesGetter, first_present, histogram_series
from iejtui.derive.triton import STORED_NAMES as TRITON_NAMES
from iejtui.derive.triton import busiest, host_figures, hosted_backend, triton_figures, unreported_now
from iejtui.store.vocab import ENGINE_LIVE, RunStatus
from iejtui.viewmodel.models import EnginePanel, TritonView
from iejtui.viewmodel.procs import proc_panel

RATE_WINDOW_S = 10.0
LATENCY_WINDOW_S = 60.0

PANEL_SKIP = ("tpot", "prefill", "decode")  # not shown in panels: neither read nor computed


def metric_map(kind: str | None) -> EngineMetricMap | None:
    """The engine kind's canonical metric map (vLLM, TRT-LLM, SGLang, llama.cpp, OpenAI)."""
    return metric_map_for(kind)


def panel_map(kind: str | None, part: str = "all") -> EngineMetricMap | None:
    """The engine's metric map without the histograms the panel does not show; ``part``
    "rates" keeps only counters and gauges, "latency" only the histograms."""
    mmap = metric_map(kind)
    if mmap is None:
        return None
    keep = {k: v for k, v in mmap.aliases.items() if k not in PANEL_SKIP
            and (part == "all" or (k in HISTOGRAM_KEYS) == (part == "latency"))}
    return dataclasses.replace(mmap, aliases=keep)


def engine_names(mmap: EngineMetricMap) -> frozenset[str]:
    """Every stored name the panel's figures and the plots ask for (read in one query)."""
    out: set[str] = set()
    for key, names in mmap.aliases.items():
        if key in PANEL_SKIP:
            continue
        for name in names:
            if key in HISTOGRAM_KEYS:
                out.update((name + "_bucket", name + "_sum", name + "_count"))
            else:
                out.add(name)
    if mmap.hosted:  # Triton: its own per-model and host families too
        out |= TRITON_NAMES
    return frozenset(out)


def plot_names(mmap: EngineMetricMap) -> frozenset[str]:
    """The stored names the plot lines read (token counters, KV gauge, TTFT histogram)."""
    out = set(mmap.names("generation_tokens")) | set(mmap.names("prompt_tokens")) | set(mmap.names("kv_usage"))
    out |= set(mmap.names("cache_config_info"))
    for name in mmap.names("ttft"):
        out.update((name + "_bucket", name + "_sum", name + "_count"))
    return frozenset(out)


def stale_after(interval_s: float) -> float:
    """A source is stale when its newest sample is older than ~3 intervals (+1 s of flush)."""
    return 3.0 * interval_s + 1.0


def engine_panel(run: Mapping, get: SeriesGetter | None, t1: float, *, live: bool, interval_s: float,
                 newest: float | None, t0: float | None = None, kv_getter: SeriesGetter | None = None,
                 labels_get: SeriesGetter | None = None, proc_get: SeriesGetter | None = None) -> EnginePanel:
    """The panel of engine run ``run`` at ``t1`` (live) or over ``[t0, t1]`` (a past window).

    ``kv_getter`` serves KV series whose peak is the window's (bucket maxima) when ``get``
    holds only the window's end samples; ``labels_get`` serves the same series unsliced
    (only their labels are read: histogram bucket bounds); ``proc_get`` the run's process-tree
    series (source ``proc``: read apart, so they never make a silent /metrics look fresh).
    """
    kind = run.get("engine_kind")
    mmap = panel_map(kind)
    if live or t0 is None:
        rate_w, lat_w = RATE_WINDOW_S, LATENCY_WINDOW_S
    else:
        rate_w = lat_w = max(t1 - t0, interval_s)
    figs = lat = None
    if get is not None and mmap is not None and newest is not None:
        if lat_w == rate_w:
            figs = lat = engine_figures(get, t1 - rate_w, t1, mmap)
        else:
            figs = engine_figures(get, t1 - rate_w, t1, panel_map(kind, "rates"))
            lat = engine_figures(get, t1 - lat_w, t1, panel_map(kind, "latency"))
        if kv_getter is not None:
            kv = engine_figures(kv_getter, t1 - rate_w, t1, mmap)
            figs = dataclasses.replace(figs, kv_usage_pct_peak=kv.kv_usage_pct_peak)
            lat = figs if lat_w == rate_w else lat
    bounds = _bucket_bounds(labels_get or get, lat) if lat is not None else {}
    # acceptance over 10 s of drafts is noise: the spec/LoRA/offload rows use the latency window
    extras = None
    if get is not None and mmap is not None and newest is not None:
        extras = engine_extras(get, t1 - lat_w, t1, mmap)
    procs = proc_panel(proc_get, t1 - rate_w if live or t0 is None else t0, t1, live=live,
                       stale_s=stale_after(interval_s))
    unrep, triton = unreported(kind), None
    if mmap is not None and mmap.hosted and get is not None and newest is not None:
        unrep = unreported_now(get, mmap) or unrep
        models = triton_figures(get, t1 - lat_w, t1)
        triton = TritonView(backend=hosted_backend(get), model=busiest(models, run.get("model")),
                            models=len(models), host=host_figures(get, t1 - rate_w, t1))
    stale = None
    active_at_t1 = run["status"] in ENGINE_LIVE and (run.get("ended_at") is None or run["ended_at"] > t1)
    if active_at_t1 and run["status"] == RunStatus.READY and newest is not None and t1 - newest > stale_after(interval_s):
        stale = newest
    return EnginePanel(
        run_id=run["id"], name=run["name"], engine_kind=run.get("engine_kind"), status=run["status"],
        phase=run.get("phase"), model=run.get("model"), url=run.get("url"), started_at=run["started_at"],
        ended_at=run.get("ended_at"), reason=run.get("reason"), newest=newest, stale_since=stale,
        rate_window_s=rate_w, latency_window_s=lat_w, figures=figs, latency=lat, latency_bounds=bounds,
        unreported=unrep, triton=triton, extras=extras, procs=procs)


LATENCY_SHOWN = ("ttft", "itl", "e2e", "queue")


def _bucket_bounds(get: SeriesGetter, lat) -> dict[str, tuple[float, float]]:
    out = {}
    for key in LATENCY_SHOWN:
        base = lat.resolved.get(key)
        if not base:
            continue
        les = []
        for labels, _, _ in get(base + "_bucket", None):
            try:
                le = float(labels.get("le", "nan"))
            except ValueError:
                continue
            if math.isfinite(le):
                les.append(le)
        if les:
            out[key] = (min(les), max(les))
    return out


# ---- plot lines ------------------------------------------------------------------------
# Each ``*_points`` function returns the points with ``t_from < ts <= t1`` at the data's own
# resolution, reading back only as far as its sliding window needs; so the live edge can
# compute just the newest points (``SnapshotCache.line``) and a past window all at once.
def _sum_by_ts(parts: list[tuple[list[float], list[float]]]) -> tuple[list[float], list[float]]:
    parts = [p for p in parts if p[0]]
    if len(parts) <= 1:
        return parts[0] if parts else ([], [])
    acc: dict[float, float] = {}
    for ts, vs in parts:
        for t, v in zip(ts, vs):
            acc[t] = acc.get(t, 0.0) + v
    keys = sorted(acc)
    return keys, [acc[k] for k in keys]


def _tail(ts: list[float], vs: list[float], t_from: float, t1: float) -> tuple[list[float], list[float]]:
    i, j = bisect_left(ts, t_from), bisect_right(ts, t1)
    return ts[i:j], vs[i:j]


def rate_points(get: SeriesGetter, names: tuple[str, ...], t_from: float, t1: float,
                window_s: float) -> tuple[list[float], list[float]]:
    """Summed per-second rate of a counter (all engines) at each sample in ``(t_from, t1]``."""
    hit = first_present(get, names)
    if hit is None:
        return [], []
    parts = []
    for _, ts, vs in hit[1]:
        sts, svs = _tail(ts, vs, t_from - window_s - 1.0, t1)
        rts, rvs = counters.rate_series(sts, svs, window_s)
        parts.append(_tail(rts, rvs, t_from + 1e-9, t1))
    return _sum_by_ts(parts)


def kv_points(get: SeriesGetter, mmap: EngineMetricMap, t_from: float, t1: float) -> tuple[list[float], list[float]]:
    """KV-cache usage in percent (mean of data-parallel engines) at each sample."""
    hit = first_present(get, mmap.names("kv_usage"))
    if hit is None:
        return [], []
    parts = [_tail(ts, vs, t_from + 1e-9, t1) for _, ts, vs in hit[1]]
    ts, vs = _sum_by_ts(parts)
    k = mmap.kv_usage_scale / max(1, len(parts))
    return ts, [v * k for v in vs]


_memo = threading.local()  # p50 and p99 of one refresh share one histogram assembly


def _merged(get: SeriesGetter, base: str, lo: float, t1: float) -> list:
    key = (id(get), base, lo, t1)
    if getattr(_memo, "key", None) != key:
        def sliced(name: str, flt=None):
            return [(lab, *_tail(ts, vs, lo, t1)) for lab, ts, vs in get(name, flt)]
        _memo.key, _memo.value = key, merge_series(list(histogram_series(sliced, base).values()))
    return _memo.value


def quantile_points(get: SeriesGetter, mmap: EngineMetricMap, key: str, q: float, t_from: float, t1: float,
                    window_s: float, jitter_s: float = 0.25) -> tuple[list[float], list[float]]:
    """Sliding-window quantile (seconds) of histogram ``key``, engines merged, at each scrape
    in ``(t_from, t1]``: the observations between the oldest scrape within ``window_s``
    (+ jitter) and that scrape, as ``quantile_series`` defines it; only the points asked
    for are computed (the live edge asks for one or two)."""
    hit = first_present(get, mmap.names(key), histogram=True)
    if hit is None:
        return [], []
    series = _merged(get, hit[0], t_from - window_s - jitter_s - 1.0, t1)
    out_t: list[float] = []
    out_v: list[float] = []
    start = bisect_right([h.ts for h in series], t_from)
    for h in series[start:]:
        d = window_delta(series, h.ts - window_s - jitter_s, h.ts)
        if d is None or not d.count > 0:
            continue
        v = quantile(q, d.buckets)
        if v is not None and math.isfinite(v):
            out_t.append(h.ts)
            out_v.append(v)
    return out_t, out_v


def line_specs(name: str, kind: str | None, single: bool, interval_s: float, bucket_s: float):
    """The engine's plot lines as ``(plot key, label, line id, points function, scale)``;
    ``points(get, t_from, t1)`` computes the line's points in ``(t_from, t1]``."""
    mmap = metric_map(kind)
    if mmap is None:
        return []
    rate_w = bucket_s + 3.0 * interval_s  # thinned points are ~a bucket apart: reach the previous one
    q_w = max(10.0, bucket_s * 1.01 + 2.0 * interval_s)
    gen, prm = mmap.names("generation_tokens"), mmap.names("prompt_tokens")
    specs = [("tokens", "generation" if single else f"{name} gen", "gen",
              lambda g, a, b: rate_points(g, gen, a, b, rate_w), 1.0)]
    if single:
        specs.append(("tokens", "prompt", "prompt", lambda g, a, b: rate_points(g, prm, a, b, rate_w), 1.0))
    specs.append(("kv", name, "kv", lambda g, a, b: kv_points(g, mmap, a, b), 1.0))
    for q, lab in (((0.5, "p50"), (0.99, "p99")) if single else ((0.99, f"{name} p99"),)):
        specs.append(("ttft", lab, f"ttft{q}",
                      lambda g, a, b, q=q: quantile_points(g, mmap, "ttft", q, a, b, q_w), 1000.0))
    return specs
