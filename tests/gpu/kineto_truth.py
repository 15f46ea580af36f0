"""Independent reading of a torch-profiler (kineto) chrome trace: GPU busy/idle and top kernels.

Stdlib only and deliberately not the project's summariser (``iejtui.profiling.summary``), so the
fixture test can hold the two against each other. Used by ``tests/gpu/trim_profile_trace.py`` to
write ``tests/data/profile/h100-truth.json`` and by ``tests/unit/test_profile_h100_traces.py``.

Definitions (the ones the truth file states):

- **window**: the profiler's own span, the complete event ``cat == "Trace"`` named
  ``PyTorch Profiler (N)`` that kineto writes from start to stop; where a trace has none, the span
  of all other complete (``ph == "X"``) events.
- **GPU busy**: the union of the intervals ``[ts, ts + dur]`` of GPU activity clipped to the
  window, merged over all devices and streams (overlapping kernels on two streams count once).
  ``kernel`` events only for :func:`busy_us` with the default; ``gpu_memcpy`` / ``gpu_memset``
  can be added (``GPU_CATS``).
- **GPU idle share** = 1 - busy / window. Also recorded over the kernels' own span (first
  kernel start to last kernel end), the "gaps between kernels" reading that leaves out the time
  before the first launch and after the last.
- **top kernels**: ``kernel`` events grouped by exact name, summed ``dur`` (not merged: two
  launches of one kernel overlapping on two streams count twice), share = time / window.
"""

from __future__ import annotations

import gzip
import json
import lzma
from collections import defaultdict
from pathlib import Path
from typing import Any

KERNEL = ("kernel",)
GPU_CATS = ("kernel", "gpu_memcpy", "gpu_memset")


def load(path: str | Path) -> dict[str, Any]:
    """The trace document from plain, ``.gz`` or ``.xz`` JSON."""
    p = str(path)
    opener = gzip.open if p.endswith(".gz") else lzma.open if p.endswith(".xz") else open
    with opener(p, "rt") as f:
        return json.load(f)


def complete_events(doc: dict[str, Any]) -> list[dict[str, Any]]:
    return [e for e in doc["traceEvents"] if e.get("ph") == "X"]


def window(doc: dict[str, Any]) -> tuple[float, float]:
    """(start, end) in the trace's µs: the profiler span, else the span of complete events."""
    xs = complete_events(doc)
    spans = [e for e in xs if e.get("cat") == "Trace" and str(e.get("name", "")).startswith("PyTorch Profiler")]
    if spans:
        return float(spans[0]["ts"]), float(spans[0]["ts"]) + float(spans[0]["dur"])
    others = [e for e in xs if e.get("cat") != "Trace"]
    return min(float(e["ts"]) for e in others), max(float(e["ts"]) + float(e["dur"]) for e in others)


def union_us(intervals: list[tuple[float, float]], lo: float, hi: float) -> float:
    """Length of the union of intervals, each clipped to [lo, hi]."""
    total = 0.0
    cur_s = cur_e = None
    for s, e in sorted((max(s, lo), min(e, hi)) for s, e in intervals):
        if e <= s:
            continue
        if cur_e is None or s > cur_e:
            if cur_e is not None:
                total += cur_e - cur_s
            cur_s, cur_e = s, e
        else:
            cur_e = max(cur_e, e)
    if cur_e is not None:
        total += cur_e - cur_s
    return total


def busy_us(doc: dict[str, Any], cats: tuple[str, ...] = KERNEL) -> float:
    lo, hi = window(doc)
    iv = [(float(e["ts"]), float(e["ts"]) + float(e["dur"])) for e in complete_events(doc) if e.get("cat") in cats]
    return union_us(iv, lo, hi)


def idle_share(doc: dict[str, Any], cats: tuple[str, ...] = KERNEL) -> float:
    lo, hi = window(doc)
    return 1.0 - busy_us(doc, cats) / (hi - lo)


def idle_share_over_kernel_span(doc: dict[str, Any]) -> float:
    ks = kernels(doc)
    lo, hi = min(float(e["ts"]) for e in ks), max(float(e["ts"]) + float(e["dur"]) for e in ks)
    iv = [(float(e["ts"]), float(e["ts"]) + float(e["dur"])) for e in ks]
    return 1.0 - union_us(iv, lo, hi) / (hi - lo)


def kernels(doc: dict[str, Any]) -> list[dict[str, Any]]:
    return [e for e in complete_events(doc) if e.get("cat") == "kernel"]


def top_kernels(doc: dict[str, Any], n: int = 5) -> list[dict[str, Any]]:
    lo, hi = window(doc)
    time: dict[str, float] = defaultdict(float)
    count: dict[str, int] = defaultdict(int)
    for e in kernels(doc):
        time[e["name"]] += float(e["dur"])
        count[e["name"]] += 1
    rows = sorted(time, key=lambda k: -time[k])[:n]
    return [{"name": k, "time_us": round(time[k], 3), "share": time[k] / (hi - lo), "count": count[k]} for k in rows]


def summary(doc: dict[str, Any]) -> dict[str, Any]:
    """Everything the truth file records for one trace."""
    lo, hi = window(doc)
    ks = kernels(doc)
    return {
        "baseTimeNanoseconds": doc.get("baseTimeNanoseconds"),
        "window_ts_us": [lo, hi],
        "window_us": hi - lo,
        "kernel_count": len(ks),
        "kernel_time_sum_us": sum(float(e["dur"]) for e in ks),
        "gpu_busy_us": busy_us(doc),
        "gpu_idle_share": idle_share(doc),
        "gpu_idle_share_incl_memcpy_memset": idle_share(doc, GPU_CATS),
        "gpu_idle_share_over_kernel_span": idle_share_over_kernel_span(doc),
        "top_kernels": top_kernels(doc),
        "event_count": len(doc["traceEvents"]),
    }
