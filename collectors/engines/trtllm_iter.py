"""TensorRT-LLM iteration records (``GET /metrics``) folded into stored series.

``absorb`` takes one drained batch: records are grouped by ``iter`` (several per iteration
under attention data parallelism, one per ``attentionDpRank``), each iteration becomes a
frame of source ``engine-iter`` at a time stamp rebuilt from ``iterLatencyMS`` (the PyTorch
backend sends ``timestamp: ""``), and the counters iejtui keeps across records grow.
Each iteration frame carries the state after it (running = active minus completed, queued,
KV utilization, summed over ranks) and its batch composition (``trtllm:iter_*``);
``idle_frame`` adds zeros when an empty batch means idle. ``summary_samples`` gives the
``engine`` frame: the counters, KV capacity, reuse and the iteration-latency histogram.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from collectors.records import Event, Frame, Sample

LAT_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56)


@dataclass
class IterState:
    """What iejtui accumulates over one engine's iteration records (one per engine URL)."""
    counters: dict[str, float] = field(default_factory=dict)
    lat_buckets: list[float] = field(default_factory=lambda: [0.0] * (len(LAT_BUCKETS) + 1))
    lat_sum: float = 0.0
    last_iter: int | None = None
    last_ts: float = 0.0
    newest: list[dict] | None = None  # the newest iteration's records (one per DP rank)
    idle: bool = True  # nothing left running or queued after the newest iteration
    task: asyncio.Task | None = None
    since: float = 0.0
    slow_reported: bool = False
    failing: str | None = None
    prom: str = "unknown"  # unknown | yes | no
    prom_checked: float = 0.0
    used: float = field(default_factory=time.monotonic)

    def add(self, name: str, v: float) -> None:
        self.counters[name] = self.counters.get(name, 0.0) + v


def _num(d: Any, *keys: str) -> float:
    for k in keys:
        d = d.get(k) if isinstance(d, Mapping) else None
    return float(d) if isinstance(d, (int, float)) else 0.0


_IFB = (("iter_context_requests", "numContextRequests"), ("iter_generation_requests", "numGenRequests"),
        ("iter_context_tokens", "numCtxTokens"))


def _iter_samples(recs: list[dict]) -> list[Sample]:
    """One iteration (one record per attention-DP rank): the state after it, summed over
    ranks, and its batch composition; per-rank values (label ``attention_dp_rank``) only
    when there are several ranks. Kept small: an engine runs ~100 iterations a second."""
    kv = [r.get("kvCacheStats") or {} for r in recs]
    used, total = sum(_num(k, "usedNumBlocks") for k in kv), sum(_num(k, "maxNumBlocks") for k in kv)
    vals = {"iter": float(recs[0]["iter"]),
            "iter_latency_ms": max(_num(r, "iterLatencyMS") for r in recs),
            "num_requests_running": max(0.0, sum(_num(r, "numActiveRequests") - _num(
                r, "numCompletedRequests") for r in recs)),
            "num_requests_waiting": sum(_num(r, "numQueuedRequests") for r in recs)}
    if total > 0:
        vals["kv_cache_utilization"] = used / total
    for name, key in _IFB:
        vals[name] = sum(_num(r, "inflightBatchingStats", key) for r in recs)
    out = [Sample("trtllm:" + k, v) for k, v in vals.items()]
    if len(recs) > 1:
        for r in recs:
            lab = (("attention_dp_rank", str(r.get("attentionDpRank", ""))),)
            out += [Sample("trtllm:" + name, _num(r, "inflightBatchingStats", key), lab)
                    for name, key in _IFB]
            out.append(Sample("trtllm:iter_kv_used_blocks", _num(r, "kvCacheStats", "usedNumBlocks"), lab))
    return out


def absorb(st: IterState, records: list, t_recv: float, waited: bool) -> tuple[list[Frame], list[Event]]:
    """Fold a drained batch into ``st``; per-iteration frames and events (lost records)."""
    groups: dict[int, list[dict]] = {}
    for r in records:
        if isinstance(r, dict) and isinstance(r.get("iter"), int):
            groups.setdefault(r["iter"], []).append(r)
    events: list[Event] = []
    iters = sorted(groups)
    if iters and st.last_iter is not None:
        gap = iters[0] - st.last_iter - 1
        if gap < 0:
            events.append(Event(t_recv, "engine_restart", f"iteration counter went back from "
                                f"{st.last_iter} to {iters[0]}: the engine restarted", "warning"))
        elif gap > 0:
            st.add("trtllm:missed_iterations_total", gap)
    for a, b in zip(iters, iters[1:]):
        if b - a > 1:
            st.add("trtllm:missed_iterations_total", b - a - 1)
    # time stamps: the newest record ended at the answer (or 2 s before it, when the server
    # answered after waiting 2 s for more); older ones go back by iterLatencyMS
    t = t_recv - (2.0 if waited else 0.0)
    stamps: dict[int, float] = {}
    for it in reversed(iters):
        stamps[it] = t
        t -= max(1e-6, max(_num(r, "iterLatencyMS") for r in groups[it]) / 1e3)
    frames = []
    for it in iters:
        recs = groups[it]
        ts = max(stamps[it], st.last_ts + 1e-6)
        st.last_ts = ts
        frames.append(Frame("engine-iter", ts, _iter_samples(recs)))
        for r in recs:
            ifb = r.get("inflightBatchingStats") or {}
            per = _num(ifb, "avgNumDecodedTokensPerIter")
            steps = _num(ifb, "numGenRequests")
            st.add("trtllm:generation_tokens_total", steps * per if per > 0 else
                   steps + _num(r, "specDecodingStats", "numAcceptedTokens"))
            st.add("trtllm:context_tokens_total", _num(ifb, "numCtxTokens"))
            st.add("trtllm:completed_requests_total", _num(r, "numCompletedRequests"))
            lat = _num(r, "iterLatencyMS") / 1e3
            st.lat_buckets[next((i for i, b in enumerate(LAT_BUCKETS) if lat <= b), -1)] += 1
            st.lat_sum += lat
        st.add("trtllm:iterations_total", 1)
    if iters:
        st.last_iter, st.newest = iters[-1], groups[iters[-1]]
        st.idle = all(_num(r, "numActiveRequests") - _num(r, "numCompletedRequests") <= 0
                      and _num(r, "numQueuedRequests") <= 0 for r in st.newest)
    return frames, events


def idle_frame(st: IterState, ts: float, batch_len: int, queue_ours: bool) -> Frame | None:
    """An ``engine-iter`` frame of zeros when an empty batch means the engine is idle: its
    newest iteration left nothing running or queued (or it never ran one), and no
    server-side collector takes the records (``queue_ours``)."""
    if batch_len or not queue_ours or not (st.idle or st.last_iter is None):
        return None
    st.last_ts = ts = max(ts, st.last_ts + 1e-6)
    zeros = {"num_requests_running": 0.0, "num_requests_waiting": 0.0}
    if st.newest:
        zeros["kv_cache_utilization"] = 0.0
    return Frame("engine-iter", ts, [Sample("trtllm:" + k, v) for k, v in zeros.items()])


def summary_samples(st: IterState, batch_len: int) -> list[Sample]:
    """The engine-frame series: accumulated counters, the newest KV pool figures, the
    iteration-latency histogram (the state itself is in the per-iteration frames)."""
    out = [Sample(k, v) for k, v in sorted(st.counters.items())]
    out.append(Sample("trtllm:iteration_records", float(batch_len)))
    if st.newest:
        kv = [r.get("kvCacheStats") or {} for r in st.newest]
        total, tpb = sum(_num(k, "maxNumBlocks") for k in kv), max(_num(k, "tokensPerBlock") for k in kv)
        reused, missed = sum(_num(k, "reusedBlocks") for k in kv), sum(_num(k, "missedBlocks") for k in kv)
        gauges = {"kv_cache_max_blocks": total, "kv_cache_tokens_per_block": tpb,
                  "gpu_memory_usage_bytes": max(_num(r, "gpuMemUsage") for r in st.newest),
                  "kv_cache_reused_blocks_total": reused, "kv_cache_missed_blocks_total": missed,
                  "kv_cache_lookup_blocks_total": reused + missed}
        if total > 0 and tpb > 0:
            gauges["kv_capacity_tokens"] = total * tpb
        out += [Sample("trtllm:" + k, v) for k, v in gauges.items()]
    acc = 0.0
    for le, n in zip([*LAT_BUCKETS, float("inf")], st.lat_buckets):
        acc += n
        out.append(Sample("trtllm:iteration_latency_seconds_bucket", acc,
                          (("le", "+Inf" if le == float("inf") else repr(le)),)))
    out += [Sample("trtllm:iteration_latency_seconds_count", acc),
            Sample("trtllm:iteration_latency_seconds_sum", st.lat_sum)]
    return out
