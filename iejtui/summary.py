"""Headline figures of a run, computed at read time from its stored samples."""

from __future__ import annotations

import time
from dataclasses import asdict
from typing import Any

from iejtui.bench_sections import bench_sections
from iejtui.derive import counters
from iejtui.derive.engine import pad_lazy, scrape_times, engine_figures
from iejtui.derive.metric_map import metric_map_for
from iejtui.derive.series import first_present
from iejtui.derive.gpu import gpu_window_summary
from iejtui.derive.series import labels_match
from iejtui.store import Reader
from iejtui.store.vocab import RunKind

# Reading a window needs the sample just before it (counter and histogram deltas).
_LEAD_S = 5.0


def store_getter(reader: Reader, run_id: int, t0: float | None = None, t1: float | None = None):
    """The ``SeriesGetter`` the derive functions expect, backed by journal.db."""
    lo = None if t0 is None else t0 - _LEAD_S

    def get(name: str, labels_filter=None):
        return [(sd.labels, sd.ts, sd.values) for sd in reader.series(run_id, name, None, lo, t1)
                if labels_match(sd.labels, labels_filter)]

    return get


def run_window(reader: Reader, run: dict) -> tuple[float, float] | None:
    return reader.run_window(run, time.time())


def engine_summary(reader: Reader, run: dict) -> dict[str, Any]:
    """Tokens, throughput, KV peak and latency percentiles over the whole engine run, read
    through the metric map of the run's engine kind (what it lacks stays absent/None)."""
    win = run_window(reader, run)
    mmap = metric_map_for(run.get("engine_kind") or "vllm")
    if win is None or mmap is None:
        return {}
    t0, t1 = win
    get = store_getter(reader, run["id"])
    figs = engine_figures(get, t0, t1, mmap)
    out: dict[str, Any] = {}
    for key, rate in (("generation_tokens", figs.generation_tok_s), ("prompt_tokens", figs.prompt_tok_s)):
        total = _counter_total(get, mmap, key, t0, t1)
        if total is None and rate == 0.0:  # a lazily created counter, not created yet
            total = 0.0
        if total is not None:
            out[key] = total
    if figs.request_success is not None:
        out["requests_finished"] = sum(figs.request_success.values())
        out["requests_by_reason"] = figs.request_success
    out["kv_usage_pct_peak"] = figs.kv_usage_pct_peak
    out["kv_capacity_tokens"] = figs.kv_capacity_tokens
    if figs.kv_usage_pct_peak is not None and figs.kv_capacity_tokens:
        out["kv_tokens_peak"] = figs.kv_usage_pct_peak / 100.0 * figs.kv_capacity_tokens
    out["prefix_cache_hit_pct"] = figs.prefix_cache_hit_pct
    for key in ("ttft", "itl", "tpot", "e2e", "queue"):
        lat = getattr(figs, key)
        if lat is not None:
            out[f"{key}_s"] = asdict(lat)
    out["window"] = [t0, t1]
    return out


def _counter_total(get, mmap, key: str, t0: float, t1: float) -> float | None:
    """Increase over ``[t0, t1]`` of the first stored alias of counter ``key`` (all label sets)."""
    hit = first_present(get, mmap.names(key))
    if hit is None:
        return None
    found = pad_lazy(hit[1], scrape_times(get, mmap, None)) if key in mmap.lazy else hit[1]
    return sum(counters.increase(ts, vs, t0, t1) or 0.0 for _, ts, vs in found)


def run_summary(reader: Reader, run: dict) -> dict[str, Any]:
    """Headline figures of any run: engine figures for engines, GPU figures over its window."""
    out: dict[str, Any] = {}
    if run["kind"] == RunKind.ENGINE:
        out.update(engine_summary(reader, run))
    if run["kind"] == RunKind.BENCH:  # client vs server, verdict, steady state (iejtui.bench_sections)
        out.setdefault("bench", {}).update(bench_sections(reader, run))
    if run["kind"] == RunKind.SEARCH and (run.get("summary") or {}).get("search"):
        out["search"] = run["summary"]["search"]  # stored when the search ended (iejtui.load_search)
    gpu = gpu_window_summary(reader, run)
    if gpu:
        out["gpu"] = gpu
        if gpu.get("energy_j") and out.get("generation_tokens"):
            out["joules_per_token"] = gpu["energy_j"] / out["generation_tokens"]
    return out
