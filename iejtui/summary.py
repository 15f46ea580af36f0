"""Headline figures of a run, computed at read time from its stored samples: the one summary.

``run_summary(reader, run)`` is the project's single definition of a run's figures;
``iejtui runs show`` (text and ``--json``), metrics.json (``journal.metrics.run_metrics``
puts these sections into each run's entry), the markdown exports and the TUI print what
it returns, never a selection of their own.

Schema (``SUMMARY_SCHEMA_VERSION`` 2, the same as metrics.json's ``schema_version`` 2): a
dict of sections, present by run kind. Anything not measured is ``None``, never a
made-up zero. Units are in the key names: ``_s`` seconds, ``_pct`` 0–100, ``_tok_s``
tokens per second, ``_w`` watts, ``_j`` joules, ``_bytes`` bytes.

* ``engine`` (engine runs): the engine's own counters, gauges and histograms over the
  run's window, read through the metric map of its engine kind:
  ``window`` [t0, t1]; ``counting_from`` (an attached engine whose counters were already
  non-zero is counted from attach time: that time, else ``None``); ``tokens``
  {generated, prompt}; ``throughput`` {generation_tok_s_peak (sliding 5 s),
  generation_tok_s_mean (tokens / window), generation_tok_s_mean_busy (mean of the 5 s
  rates above zero), prompt_tok_s_mean_busy, requests_finished, requests_per_s};
  ``requests_by_reason``; ``concurrency`` {running_peak, running_mean, waiting_peak,
  waiting_mean} (the batch actually reached, mean over the stored readings);
  ``preemptions`` (increase of ``vllm:num_preemptions_total`` or its kind's alias);
  ``latency_s`` {ttft, itl, tpot, e2e, queue: {p50, p90, p99, mean, count}} from the
  stored histograms; ``kv`` {peak_pct, capacity_tokens, peak_tokens};
  ``prefix_cache_hit_pct``; ``not_reported`` (canonical figures this kind cannot report).
* ``bench`` (benchmark runs): the client's figures from the stored requests, computed by
  the load generator's own functions (``collectors.loadgen.metrics.stored_request_figures``):
  ``window``, ``duration_s`` and ``duration_from`` ("bench": the duration the benchmark
  measured and divided by, else "requests": first send to last completion),
  ``requests`` {total, ok, failed}, ``errors`` {kind: count}, ``tokens``,
  ``throughput`` {output_tok_s, total_tok_s, requests_per_s, goodput_req_s,
  output_tok_s_peak, concurrency_peak}, ``latency_s`` {ttft, tpot, itl, e2e}.
  Reserved inside ``bench`` for the server-side comparison block: ``server``,
  ``verdict`` and ``steady`` (client vs server figures, the client-bound verdict, the
  steady-state window) — added by their own ``derive/`` function, one call below.
* ``search`` (``bench --find-max-load`` runs): the search's bracket and probes as it stored
  them when it ended (``iejtui.load_search``).
* ``gpu`` (every run): ``iejtui.derive.gpu_window.gpu_block`` over the run's window —
  count, uuids, names, {peak, mean} of SM/tensor/kernel/DRAM activity, memory and power,
  ``energy_j`` and ``joules_per_token`` (energy over the run's generated tokens). A
  ``record`` run has only this section: its GPU figures and energy.
"""

from __future__ import annotations

import statistics
import time
from dataclasses import asdict
from typing import Any

from iejtui.bench_sections import bench_sections
from iejtui.derive import counters, gauges
from iejtui.derive.engine import pad_lazy, scrape_times, engine_figures
from iejtui.derive.engine_extras import engine_extras
from iejtui.derive.gpu import gpu_window_summary
from iejtui.derive.gpu_window import aggregate_ticks, gpu_block, token_rate
from iejtui.derive.metric_map import metric_map_for, unreported
from iejtui.derive.series import first_present, labels_match
from iejtui.store import Reader
from iejtui.store.vocab import RunKind
from iejtui.values import finite as _finite

SUMMARY_SCHEMA_VERSION = 2
LATENCY_KEYS = ("ttft", "itl", "tpot", "e2e", "queue")
NO_LATENCY = {"p50": None, "p90": None, "p99": None, "mean": None, "count": None}
#: Keys inside ``bench`` kept for the client-vs-server block (not used by this module).
BENCH_RESERVED = ("server", "verdict", "steady")

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


def _latency(d: dict | None) -> dict[str, float | None]:
    if not d:
        return dict(NO_LATENCY)
    return {k: _finite(d.get(k)) for k in NO_LATENCY}


def _busy_mean(values: list[float]) -> float | None:
    busy = [v for v in values if v > 0]
    return statistics.fmean(busy) if busy else (0.0 if values else None)


def _gauge_peak_mean(get, names: tuple[str, ...], t0: float, t1: float) -> tuple[float | None, float | None]:
    """Peak and mean over ``[t0, t1]`` of a gauge summed over its label sets per scrape."""
    hit = first_present(get, names)
    if hit is None:
        return None, None
    ts, vs = aggregate_ticks([(list(ts), list(vs)) for _, ts, vs in hit[1]], "sum")
    return gauges.window_max(ts, vs, t0, t1), gauges.window_mean(ts, vs, t0, t1)


def _counter_total(get, mmap, key: str, t0: float, t1: float) -> float | None:
    """Increase over ``[t0, t1]`` of the first stored alias of counter ``key`` (all label sets)."""
    hit = first_present(get, mmap.names(key))
    if hit is None:
        return None
    found = pad_lazy(hit[1], scrape_times(get, mmap, None)) if key in mmap.lazy else hit[1]
    return sum(counters.increase(ts, vs, t0, t1) or 0.0 for _, ts, vs in found)


def _token_counter(mmap, key: str) -> str | None:
    names = mmap.names(key) or (mmap.names("prompt_tokens_by_source") if key == "prompt_tokens" else ())
    return names[0] if names else None


def _nulls(d: Any) -> Any:
    """``d`` with every number replaced by ``None`` (the shape of a section, nothing measured)."""
    if isinstance(d, dict):
        return {k: _nulls(v) for k, v in d.items()}
    return d if isinstance(d, (list, str)) else None


def engine_section(reader: Reader, run: dict) -> dict[str, Any]:
    """The ``engine`` section (see the module doc); every figure ``None`` when the run has no
    stored window (never scraped) or its engine kind no metric map."""
    win = run_window(reader, run)
    kind = run.get("engine_kind") or "vllm"
    mmap = metric_map_for(kind)
    facts = run.get("facts") if isinstance(run.get("facts"), dict) else {}
    if win is None or mmap is None:
        empty = _nulls(_ENGINE_SHAPE)
        empty["not_reported"] = sorted(unreported(kind))
        empty["counting_from"] = _finite(facts.get("counting_from"))
        return empty
    t0, t1 = win
    get = store_getter(reader, run["id"])
    figs = engine_figures(get, t0, t1, mmap)
    tokens: dict[str, float | None] = {}
    for key, rate in (("generated", figs.generation_tok_s), ("prompt", figs.prompt_tok_s)):
        total = _counter_total(get, mmap, "generation_tokens" if key == "generated" else "prompt_tokens", t0, t1)
        if total is None and rate == 0.0:  # a lazily created counter, not created yet
            total = 0.0
        tokens[key] = _finite(total)
    rates: dict[str, float | None] = {}
    for key in ("generation_tokens", "prompt_tokens"):
        name = _token_counter(mmap, key)
        _, vs = token_rate(reader, run["id"], name, t0, t1) if name else ([], [])
        rates[key + "_peak"] = max(vs) if vs else None
        rates[key + "_busy"] = _busy_mean(vs)
    dur = t1 - t0
    finished = float(sum(figs.request_success.values())) if figs.request_success is not None else None
    run_peak, run_mean = _gauge_peak_mean(get, mmap.names("running"), t0, t1)
    wait_peak, wait_mean = _gauge_peak_mean(get, mmap.names("waiting"), t0, t1)
    kv_pct = _finite(figs.kv_usage_pct_peak)
    kv_cap = _finite(figs.kv_capacity_tokens) or _finite(facts.get("kv_cache_tokens"))
    section = {
        "window": [t0, t1],
        "counting_from": _finite(facts.get("counting_from")),
        "tokens": tokens,
        "throughput": {
            "generation_tok_s_peak": rates["generation_tokens_peak"],
            "generation_tok_s_mean": tokens["generated"] / dur if dur > 0 and tokens["generated"] is not None
            else None,
            "generation_tok_s_mean_busy": rates["generation_tokens_busy"],
            "prompt_tok_s_mean_busy": rates["prompt_tokens_busy"],
            "requests_finished": finished,
            "requests_per_s": finished / dur if finished is not None and dur > 0 else None,
        },
        "requests_by_reason": figs.request_success,
        "concurrency": {"running_peak": run_peak, "running_mean": run_mean,
                        "waiting_peak": wait_peak, "waiting_mean": wait_mean},
        "preemptions": _finite(_counter_total(get, mmap, "preemptions", t0, t1)),
        "latency_s": {k: _latency(asdict(getattr(figs, k)) if getattr(figs, k) is not None else None)
                      for k in LATENCY_KEYS},
        "kv": {"peak_pct": kv_pct, "capacity_tokens": kv_cap,
               "peak_tokens": kv_pct / 100.0 * kv_cap if kv_pct is not None and kv_cap else None},
        "prefix_cache_hit_pct": _finite(figs.prefix_cache_hit_pct),
        "not_reported": sorted(unreported(kind)),
    }
    section.update(extras_section(get, t0, t1, mmap))
    return section


def extras_section(get, t0: float, t1: float, mmap) -> dict[str, Any]:
    """``spec_decode`` {drafts, draft_tokens, accepted_tokens, acceptance_pct,
    mean_accepted_len, per_position_pct}, ``lora`` {running, waiting, max_lora, at} and
    ``kv_offload`` {load_bytes_s, store_bytes_s, load_speed_bytes_s, store_speed_bytes_s}:
    each key present only when the engine exported that family
    (``iejtui.derive.engine_extras``)."""
    ex = engine_extras(get, t0, t1, mmap)
    out: dict[str, Any] = {}
    for key, part in (("spec_decode", ex.spec), ("lora", ex.lora), ("kv_offload", ex.kv_offload)):
        if part is not None:
            d = asdict(part)
            out[key] = {k: list(v) if isinstance(v, tuple) else v for k, v in d.items()}
    return out


_LAT0 = dict(NO_LATENCY)
_ENGINE_SHAPE: dict[str, Any] = {
    "window": None, "counting_from": None, "tokens": {"generated": 0, "prompt": 0},
    "throughput": dict.fromkeys(("generation_tok_s_peak", "generation_tok_s_mean", "generation_tok_s_mean_busy",
                                 "prompt_tok_s_mean_busy", "requests_finished", "requests_per_s"), 0),
    "requests_by_reason": None,
    "concurrency": dict.fromkeys(("running_peak", "running_mean", "waiting_peak", "waiting_mean"), 0),
    "preemptions": None, "latency_s": {k: _LAT0 for k in LATENCY_KEYS},
    "kv": dict.fromkeys(("peak_pct", "capacity_tokens", "peak_tokens"), 0), "prefix_cache_hit_pct": None,
    "not_reported": [],
}


def bench_section(reader: Reader, run: dict) -> dict[str, Any]:
    """The ``bench`` section: the load generator's figures over the stored requests."""
    from collectors.loadgen.metrics import stored_request_figures
    result = run.get("summary") if isinstance(run.get("summary"), dict) else {}
    return stored_request_figures(reader.requests(run["id"]), _finite(result.get("duration")),
                                  _finite(result.get("request_goodput")))


def run_summary(reader: Reader, run: dict) -> dict[str, Any]:
    """The figures of any run, in the sections of the module doc."""
    out: dict[str, Any] = {}
    generated = None
    if run["kind"] == RunKind.ENGINE:
        out["engine"] = engine_section(reader, run)
        generated = out["engine"]["tokens"]["generated"]
    elif run["kind"] == RunKind.BENCH:
        out["bench"] = bench_section(reader, run)
        out["bench"].update(bench_sections(reader, run))  # client vs server, verdict, steady (BENCH_RESERVED)
        generated = (out["bench"].get("tokens") or {}).get("generated")
    if run["kind"] == RunKind.SEARCH and (run.get("summary") or {}).get("search"):
        out["search"] = run["summary"]["search"]  # stored when the search ended (iejtui.load_search)
    out["gpu"] = gpu_block(gpu_window_summary(reader, run), generated)
    return out


def figures_of(summary: dict[str, Any]) -> dict[str, Any]:
    """The run's own section (``engine`` or ``bench``), else ``{}``; a metrics.json entry of
    schema 1 kept its figures at the top level: those are returned as they are."""
    for key in ("engine", "bench"):
        if isinstance(summary.get(key), dict):
            return summary[key]
    return summary if "tokens" in summary or "latency_s" in summary else {}
