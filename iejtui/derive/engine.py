"""Canonical engine figures over a time window, from stored raw series.

``engine_figures(get, t0, t1)`` reads through a ``SeriesGetter`` (the store's
read function, see ``series``) using an ``EngineMetricMap`` (vLLM by default)
and returns ``EngineFigures``. Every field is ``None`` when the engine does not
report the metric (or the window holds too few samples to compute it), never a
made-up zero. Data-parallel engines (label ``engine``) and several served
models are aggregated: counters and gauges summed, histograms merged
bucket-wise before the quantile, KV usage weighted by each engine's capacity.
Pass ``labels_filter`` (e.g. ``{"model_name": "m"}`` or ``{"engine": "0"}``)
to narrow it.

Per-engine rules come from the map: KV capacity from an info gauge's labels or
a plain ``kv_capacity_tokens`` gauge; prefix hits paired with the queries of
the same alias position (same unit); counters the engine creates on first
increment read as zero before they appear (``zero_when_absent``) and start
from zero at the scrape before their first sample (``lazy``); ``mean_pairs`` give a
latency mean (no percentiles) from a seconds counter and a count counter.

Units: token rates tok/s; preemptions per second; percentages 0–100; KV in
tokens; latencies in seconds; counts in requests.
"""

from __future__ import annotations

import math
from bisect import bisect_left, bisect_right
from collections.abc import Mapping
from dataclasses import dataclass, field

from iejtui.derive import counters, gauges
from iejtui.derive.histograms import merge, quantile, snapshot_mean
from iejtui.derive.metric_map import HISTOGRAM_KEYS, VLLM, EngineMetricMap
from iejtui.derive.series import (
    Series,
    SeriesGetter,
    first_present,
    get_series,
    histogram_columns,
    labels_match,
)

__all__ = ["EngineFigures", "LatencySummary", "engine_figures", "kv_capacity_tokens", "latency_summary",
           "pad_lazy", "scrape_times"]


@dataclass(frozen=True)
class LatencySummary:
    """Windowed latency figures in seconds; ``count`` = observations in the
    window (0 with the quantiles ``None`` when nothing was recorded)."""

    p50: float | None
    p90: float | None
    p99: float | None
    mean: float | None
    count: float


@dataclass(frozen=True)
class EngineFigures:
    """Canonical engine figures for the window ``[t0, t1]`` (Unix seconds)."""

    t0: float
    t1: float
    prompt_tok_s: float | None = None  # all prompt tokens, cached included
    prompt_computed_tok_s: float | None = None  # source="local_compute" only
    generation_tok_s: float | None = None
    kv_usage_pct: float | None = None  # latest reading, 0–100
    kv_usage_pct_peak: float | None = None  # highest reading in the window, 0–100
    kv_tokens_used: float | None = None  # latest usage × capacity (tokens)
    kv_capacity_tokens: float | None = None  # from cache_config_info (tokens)
    prefix_cache_hit_pct: float | None = None  # Δhits / Δqueries × 100
    preemptions_per_s: float | None = None
    running: float | None = None  # latest reading (requests)
    waiting: float | None = None  # latest reading (requests)
    ttft: LatencySummary | None = None
    itl: LatencySummary | None = None
    tpot: LatencySummary | None = None
    e2e: LatencySummary | None = None
    queue: LatencySummary | None = None
    prefill: LatencySummary | None = None
    decode: LatencySummary | None = None
    request_success: dict[str, float] | None = None  # finished by reason; {}: no data in window
    resolved: dict[str, str] = field(default_factory=dict)  # key → metric name used


def _sum_present(values: list[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return math.fsum(present) if present else None


def _counter_rate(found: list[Series], t0: float, t1: float) -> float | None:
    return _sum_present([counters.rate(ts, vs, t0, t1) for _, ts, vs in found])


def _counter_increase(found: list[Series], t0: float, t1: float) -> float | None:
    return _sum_present([counters.increase(ts, vs, t0, t1) for _, ts, vs in found])


def _gauge_last(found: list[Series], t0: float, t1: float) -> float | None:
    return _sum_present([gauges.last_value(ts, vs, t0, t1) for _, ts, vs in found])


def _parse_positive(raw: str | None) -> float | None:
    try:
        value = float(raw) if raw is not None else math.nan
    except ValueError:
        return None
    return value if math.isfinite(value) and value > 0 else None


def kv_capacity_tokens(labels: Mapping[str, str], mmap: EngineMetricMap = VLLM) -> float | None:
    """KV capacity in tokens from an info gauge's labels (vLLM ``cache_config_info``):
    the ``kv_cache_size_tokens`` label when present and positive (it is right for
    hybrid models too), else ``num_gpu_blocks × block_size``; ``None`` if unknown."""
    names = mmap.capacity_labels
    tokens = _parse_positive(labels.get(names.get("tokens", "")))
    if tokens is not None:
        return tokens
    blocks = _parse_positive(labels.get(names.get("blocks", "")))
    size = _parse_positive(labels.get(names.get("block_size", "")))
    return blocks * size if blocks is not None and size is not None else None


def _capacities(
    get: SeriesGetter, mmap: EngineMetricMap, flt: Mapping[str, str] | None, t1: float
) -> dict[str | None, float]:
    """Capacity per engine label value (``None`` key: info gauge without one),
    from the label set most recently seen at or before ``t1``."""
    best: dict[str | None, tuple[float, float]] = {}
    for name in mmap.names("cache_config_info"):
        for labels, ts, _ in get_series(get, name, None):
            if not labels_match(labels, flt):
                continue
            seen = [t for t in ts if t <= t1]
            cap = kv_capacity_tokens(labels, mmap)
            if not seen or cap is None:
                continue
            eng = labels.get(mmap.engine_label)
            if eng not in best or seen[-1] >= best[eng][0]:
                best[eng] = (seen[-1], cap)
        if best:
            break
    if not best:  # a plain capacity gauge (SGLang max_total_num_tokens, TRT-LLM, llama.cpp)
        for name in mmap.names("kv_capacity_tokens"):
            for labels, ts, vs in get_series(get, name, None):
                cap = gauges.last_value(ts, vs, -math.inf, t1) if labels_match(labels, flt) else None
                if cap is None or cap <= 0:
                    continue
                eng = labels.get(mmap.engine_label)  # TP ranks report the same pool: keep one
                best[eng] = (0.0, max(cap, best.get(eng, (0.0, 0.0))[1]))
            if best:
                break
    return {eng: cap for eng, (_, cap) in best.items()}


def _kv_figures(
    get: SeriesGetter, mmap: EngineMetricMap, flt: Mapping[str, str] | None, t0: float, t1: float
) -> tuple[str | None, dict[str, float]]:
    """(KV usage metric name used, KV fields of ``EngineFigures``)."""
    out: dict[str, float] = {}
    caps = _capacities(get, mmap, flt, t1)
    if caps:
        out["kv_capacity_tokens"] = math.fsum(caps.values())
    hit = first_present(get, mmap.names("kv_usage"), flt)
    if hit is None:
        return None, out
    scale = mmap.kv_usage_scale
    fracs: list[tuple[float, float | None]] = []  # (latest fraction, capacity)
    peak_rows: list[tuple[dict[float, float], float | None]] = []
    for labels, ts, vs in hit[1]:
        eng = labels.get(mmap.engine_label)
        cap = caps.get(eng, caps.get(None)) if caps else None
        last = gauges.last_value(ts, vs, t0, t1)
        if last is not None:
            fracs.append((last * scale / 100.0, cap))
        rows = {t: v for t, v in zip(ts, vs) if t0 <= t <= t1 and math.isfinite(v)}
        if rows:
            peak_rows.append((rows, cap))
    if not fracs:
        return hit[0], out
    weighted = all(cap is not None for _, cap in fracs)
    out["kv_usage_pct"] = 100.0 * _aggregate([f for f, _ in fracs], [c for _, c in fracs], weighted)
    if weighted:
        out["kv_tokens_used"] = math.fsum(f * c for f, c in fracs if c is not None)
    # Peak of the aggregate, at instants where every engine has a reading.
    common = set.intersection(*(set(rows) for rows, _ in peak_rows)) if peak_rows else set()
    caps_list = [c for _, c in peak_rows]
    w_peak = all(c is not None for c in caps_list)
    peaks = [
        _aggregate([rows[t] * scale / 100.0 for rows, _ in peak_rows], caps_list, w_peak) for t in common
    ]
    if peaks:
        out["kv_usage_pct_peak"] = 100.0 * max(peaks)
    return hit[0], out


def _aggregate(fracs: list[float], caps: list[float | None], weighted: bool) -> float:
    """Usage fraction of several KV pools: capacity-weighted when known, else mean."""
    if weighted:
        total = math.fsum(c for c in caps if c is not None)
        if total > 0:
            return math.fsum(f * c for f, c in zip(fracs, caps) if c is not None) / total
    return math.fsum(fracs) / len(fracs)


def latency_summary(
    get: SeriesGetter,
    names: tuple[str, ...],
    flt: Mapping[str, str] | None,
    t0: float,
    t1: float,
) -> tuple[str, LatencySummary] | None:
    """p50/p90/p99/mean of the first stored histogram of ``names`` over the
    window, engines merged. ``None`` when none of the names is stored. Engines
    with different bucket layouts cannot be merged: all figures ``None`` then."""
    hit = first_present(get, names, flt, histogram=True)
    if hit is None:
        return None
    columns = histogram_columns(get, hit[0], flt, count_series=hit[1])
    parts = [d for d in (hc.window_delta(t0, t1) for hc in columns.values()) if d is not None]
    try:
        d = merge(parts) if parts else None
    except ValueError:  # engines with different bucket layouts
        d = None
    if d is None or not d.count > 0:
        return hit[0], LatencySummary(None, None, None, None, 0.0 if d is None else max(d.count, 0.0))
    return hit[0], LatencySummary(
        quantile(0.5, d.buckets), quantile(0.9, d.buckets), quantile(0.99, d.buckets), snapshot_mean(d), d.count
    )


def scrape_times(get: SeriesGetter, mmap: EngineMetricMap, flt: Mapping[str, str] | None) -> list[float]:
    """When the engine's always-present series were scraped (sorted Unix seconds)."""
    times: set[float] = set()
    for key in ("running", "kv_capacity_tokens", "kv_usage"):
        hit = first_present(get, mmap.names(key), flt)
        for _, ts, _ in hit[1] if hit else ():
            times.update(ts)
    return sorted(times)


def pad_lazy(found: list[Series], presence: list[float]) -> list[Series]:
    """A counter created on its first increment was zero at the scrape before it appeared."""
    out = []
    for labels, ts, vs in found:
        k = bisect_left(presence, ts[0]) - 1 if ts else -1
        out.append((labels, [presence[k], *ts], [0.0, *vs]) if k >= 0 else (labels, ts, vs))
    return out


def _lazy_histograms(get: SeriesGetter, mmap: EngineMetricMap, presence: list[float]) -> SeriesGetter:
    """``get`` with the series of lazily created histograms padded like counters (their
    first exposition already holds the observations made since the scrape before)."""
    lazy = {base + part for key in mmap.lazy if key in HISTOGRAM_KEYS
            for base in mmap.names(key) for part in ("_bucket", "_sum", "_count")}
    if not lazy or not presence:
        return get

    def padded(name: str, labels_filter: Mapping[str, str] | None = None, /) -> list[Series]:
        found = get(name, labels_filter)
        return pad_lazy(found, presence) if name in lazy else found

    return padded


def _prefix_hit_pct(get: SeriesGetter, mmap: EngineMetricMap, flt: Mapping[str, str] | None,
                    presence: list[float], t0: float, t1: float, resolved: dict[str, str]) -> float | None:
    """Δhits / Δqueries × 100, hits and queries taken from the same alias position (the
    same unit: tokens or blocks); hits the engine creates lazily count as zero."""
    hits_names = mmap.names("prefix_cache_hits")
    for i, qname in enumerate(mmap.names("prefix_cache_queries")):
        queries = get_series(get, qname, flt)
        if not queries:
            continue
        hname = hits_names[i] if i < len(hits_names) else None
        hits = get_series(get, hname, flt) if hname else []
        if not hits and not (hname and "prefix_cache_hits" in mmap.zero_when_absent):
            return None
        if "prefix_cache_queries" in mmap.lazy:
            queries = pad_lazy(queries, presence)
        if "prefix_cache_hits" in mmap.lazy:
            hits = pad_lazy(hits, presence)
        dq = _counter_increase(queries, t0, t1)
        dh = _counter_increase(hits, t0, t1) if hits else (0.0 if dq is not None else None)
        resolved["prefix_cache_queries"], resolved["prefix_cache_hits"] = qname, hname or ""
        return 100.0 * dh / dq if dq is not None and dh is not None and dq > 0 else None
    return None


def _mean_pair(get: SeriesGetter, pair: tuple[str, str], flt: Mapping[str, str] | None,
               t0: float, t1: float) -> tuple[str, LatencySummary] | None:
    """Window mean from a (seconds counter, count counter) pair: no percentiles."""
    secs, count = get_series(get, pair[0], flt), get_series(get, pair[1], flt)
    if not secs or not count:
        return None
    ds, dn = _counter_increase(secs, t0, t1), _counter_increase(count, t0, t1)
    if ds is None or dn is None:
        return pair[0], LatencySummary(None, None, None, None, 0.0)
    return pair[0], LatencySummary(None, None, None, ds / dn if dn > 0 else None, dn)


def engine_figures(
    get: SeriesGetter,
    t0: float,
    t1: float,
    mmap: EngineMetricMap = VLLM,
    labels_filter: Mapping[str, str] | None = None,
) -> EngineFigures:
    """Compute ``EngineFigures`` for ``[t0, t1]`` (see module doc for rules and units)."""
    flt = dict(labels_filter) if labels_filter else None
    resolved: dict[str, str] = {}
    values: dict[str, object] = {}

    presence = scrape_times(get, mmap, flt)
    seen = len(presence[bisect_left(presence, t0):bisect_right(presence, t1)]) >= 2

    def find(key: str, extra: Mapping[str, str] | None = None) -> list[Series] | None:
        merged = {**(flt or {}), **(extra or {})} or None
        hit = first_present(get, mmap.names(key), merged)
        if hit is None:
            return None
        resolved[key] = hit[0]
        return pad_lazy(hit[1], presence) if key in mmap.lazy else hit[1]

    def lazy_zero(key: str) -> float | None:
        """Zero for a lazily created counter not created yet while the engine is scraped."""
        return 0.0 if key in mmap.zero_when_absent and mmap.names(key) and seen else None

    for key, fld in (
        ("prompt_tokens", "prompt_tok_s"),
        ("generation_tokens", "generation_tok_s"),
        ("preemptions", "preemptions_per_s"),
    ):
        found = find(key)
        values[fld] = _counter_rate(found, t0, t1) if found is not None else lazy_zero(key)
    found = find("prompt_tokens_by_source", mmap.computed_prompt_filter)
    if found is not None:
        values["prompt_computed_tok_s"] = _counter_rate(found, t0, t1)

    for key in ("running", "waiting"):
        found = find(key)
        if found is not None:
            values[key] = _gauge_last(found, t0, t1)

    pct = _prefix_hit_pct(get, mmap, flt, presence, t0, t1, resolved)
    if pct is not None:
        values["prefix_cache_hit_pct"] = pct

    found = find("request_success")
    if found is None and lazy_zero("request_success") == 0.0:
        values["request_success"] = {}
    elif found is not None:
        by_reason: dict[str, list[float | None]] = {}
        for labels, ts, vs in found:
            reason = labels.get(mmap.reason_label, labels.get("finish_reason", ""))
            by_reason.setdefault(reason, []).append(counters.increase(ts, vs, t0, t1))
        success = {r: _sum_present(incs) for r, incs in by_reason.items()}
        values["request_success"] = {r: v for r, v in sorted(success.items()) if v is not None}

    if mmap.names("kv_usage") or mmap.names("cache_config_info") or mmap.names("kv_capacity_tokens"):
        kv_name, kv = _kv_figures(get, mmap, flt, t0, t1)
        if kv_name is not None:
            resolved["kv_usage"] = kv_name
        values.update(kv)

    hist_get = _lazy_histograms(get, mmap, presence)
    for key in ("ttft", "itl", "tpot", "e2e", "queue", "prefill", "decode"):
        summary = latency_summary(hist_get, mmap.names(key), flt, t0, t1)
        if summary is None and key in mmap.mean_pairs:
            summary = _mean_pair(get, mmap.mean_pairs[key], flt, t0, t1)
        if summary is not None:
            resolved[key] = summary[0]
            values[key] = summary[1]

    return EngineFigures(t0=t0, t1=t1, resolved=resolved, **values)  # type: ignore[arg-type]
