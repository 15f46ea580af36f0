"""Where the time went: a kineto (torch profiler) trace reduced to the numbers a person reads.

Pure: a trace in (a path, gzip or plain JSON, or the parsed dict), a plain dict out. The
format is what ``torch.profiler`` writes through ``tensorboard_trace_handler`` (vLLM 0.32's
``--profiler-config`` traces, ``*.pt.trace.json.gz``): ``baseTimeNanoseconds`` (the wall
clock of ts 0, ns) and ``traceEvents``; complete events are ``ph == "X"`` with ``ts``/``dur``
in µs. Only complete events count; metadata (``M``), instants (``i``), flows (``s``/``f``)
do not.

Decisions:

* **Window**: the profiler's own span (the ``cat == "Trace"`` event ``PyTorch Profiler``)
  when present, else first start to last end of the events. Events are clipped to it.
  ``start_unix``/``end_unix`` are wall-clock seconds (base + ts), so a caller can check the
  window lies inside a bench's.
* **CPU side** (every category but the GPU ones below and ``Trace``): operators nest on a
  thread, so an operator's **self** time is its duration minus its direct children's on the
  same (pid, tid) (a ``cuda_runtime`` launch inside ``aten::mm`` is the launch's, not the
  matmul's). ``top_ops`` groups self time by name; a share is of the window's *thread time*
  (window × CPU threads that ran anything), which for one worker thread is the share of the
  window, and the shares of all operators sum to ≤ 1 by construction. ``cpu_us`` is the
  threads' busy time (the sum of all self times).
* **GPU side** (``kernel``, ``gpu_memcpy``, ``gpu_memset``, and ``gpu_user_annotation``
  ignored as it only re-labels kernels): events on the device's streams; kernels do not nest,
  so a kernel's time is its duration. ``top_kernels`` groups ``cat == "kernel"`` by name, share
  of the window's stream time (window × streams). ``gpu_us`` is the union of GPU activity
  (any stream). **GPU idle share**: 1 − busy / span over the span from the first GPU activity
  to the last ("the gaps between kernels"): time before the first launch is the CPU warming
  up, not the GPU starving. None when the trace has no GPU events.
* Several files (the ranks and the front end of one profiled window) merge on the wall
  clock: each file's ``ts`` shifts by its ``baseTimeNanoseconds`` relative to the earliest.
"""

from __future__ import annotations

import gzip
import json
import os
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

__all__ = ["GPU_CATS", "TOP_N", "load_trace", "summarize_events", "summarize_trace",
           "summarize_traces"]

GPU_CATS = frozenset({"kernel", "gpu_memcpy", "gpu_memset"})
_SKIP_CATS = frozenset({"Trace", "gpu_user_annotation", "ac2g", "fwdbwd", "overhead"})
TOP_N = 15


def load_trace(path: str | os.PathLike) -> dict[str, Any]:
    """The trace's JSON (gzip recognised by its magic bytes, not the name)."""
    with open(path, "rb") as f:
        head = f.read(2)
    opener = gzip.open if head == b"\x1f\x8b" else open
    with opener(path, "rt", encoding="utf-8") as f:
        data = json.load(f)
    if isinstance(data, list):  # a bare event array is valid Chrome trace JSON too
        data = {"traceEvents": data}
    if not isinstance(data, dict) or not isinstance(data.get("traceEvents"), list):
        raise ValueError(f"{os.fspath(path)}: not a Chrome/kineto trace (no traceEvents)")
    return data


def _events(traces: Sequence[Mapping[str, Any]]) -> tuple[list[dict[str, Any]], list[tuple[float, float]], int | None]:
    """Complete events of every trace on one clock (µs from the earliest base), the
    profiler spans, and that earliest base (ns)."""
    bases = [int(t.get("baseTimeNanoseconds") or 0) for t in traces]
    base0 = min(bases) if bases else 0
    out: list[dict[str, Any]] = []
    spans: list[tuple[float, float]] = []
    for trace, base in zip(traces, bases):
        shift = (base - base0) / 1000.0
        for e in trace.get("traceEvents") or ():
            if not isinstance(e, dict) or e.get("ph") != "X":
                continue
            try:
                ts, dur = float(e["ts"]) + shift, float(e.get("dur") or 0.0)
            except (KeyError, TypeError, ValueError):
                continue
            if e.get("cat") == "Trace":
                spans.append((ts, ts + dur))
                continue
            out.append({"name": str(e.get("name", "?")), "cat": e.get("cat") or "",
                        "pid": e.get("pid"), "tid": e.get("tid"), "ts": ts, "end": ts + max(dur, 0.0)})
    return out, spans, (base0 if any(bases) else None)


def _union(intervals: Iterable[tuple[float, float]]) -> float:
    total, cur_s, cur_e = 0.0, None, None
    for s, e in sorted(intervals):
        if cur_e is None or s > cur_e:
            if cur_e is not None:
                total += cur_e - cur_s
            cur_s, cur_e = s, e
        else:
            cur_e = max(cur_e, e)
    if cur_e is not None:
        total += cur_e - cur_s
    return total


def _self_times(events: list[dict[str, Any]]) -> dict[tuple, list[tuple[str, float]]]:
    """(pid, tid) -> [(name, self µs)] with children subtracted from their parent."""
    by_thread: dict[tuple, list[dict[str, Any]]] = defaultdict(list)
    for e in events:
        by_thread[(e["pid"], e["tid"])].append(e)
    out: dict[tuple, list[tuple[str, float]]] = {}
    for key, evs in by_thread.items():
        evs.sort(key=lambda e: (e["ts"], -e["end"]))
        selfs: list[tuple[str, float]] = []
        stack: list[list[Any]] = []  # [end, name, dur, children µs]
        def pop() -> None:
            end, name, dur, kids = stack.pop()
            selfs.append((name, max(dur - kids, 0.0)))
        for e in evs:
            while stack and e["ts"] >= stack[-1][0]:
                pop()
            end = e["end"]
            if stack and end > stack[-1][0]:  # overlaps its parent's end: clip (kineto rounding)
                end = stack[-1][0]
            dur = end - e["ts"]
            if stack:
                stack[-1][3] += dur
            stack.append([end, e["name"], dur, 0.0])
        while stack:
            pop()
        out[key] = selfs
    return out


def _rank(totals: Mapping[str, float], denom: float, key: str, n: int) -> list[dict[str, Any]]:
    rows = sorted(totals.items(), key=lambda kv: (-kv[1], kv[0]))[:n]
    return [{"name": name, key: round(t, 3), "share": (t / denom if denom > 0 else 0.0)}
            for name, t in rows]


def summarize_events(traces: Sequence[Mapping[str, Any]], top_n: int = TOP_N) -> dict[str, Any]:
    """The summary of one profiled window made of ``traces`` (parsed kineto JSON dicts)."""
    events, spans, base0 = _events(traces)
    if spans:
        w0, w1 = min(s for s, _ in spans), max(e for _, e in spans)
    elif events:
        w0, w1 = min(e["ts"] for e in events), max(e["end"] for e in events)
    else:
        w0 = w1 = 0.0
    clipped = []
    for e in events:
        if e["cat"] in _SKIP_CATS:
            continue
        s, t = max(e["ts"], w0), min(e["end"], w1)
        if t > s or (t == s and e["end"] == e["ts"] and w0 <= s <= w1):
            clipped.append({**e, "ts": s, "end": t})
    window = w1 - w0
    cpu = [e for e in clipped if e["cat"] not in GPU_CATS]
    gpu = [e for e in clipped if e["cat"] in GPU_CATS]

    selfs = _self_times(cpu)
    threads = sum(1 for v in selfs.values() if any(t > 0 for _, t in v))
    op_totals: dict[str, float] = defaultdict(float)
    cpu_us = 0.0
    for rows in selfs.values():
        for name, t in rows:
            op_totals[name] += t
            cpu_us += t

    streams = {(e["pid"], e["tid"]) for e in gpu}
    kern_totals: dict[str, float] = defaultdict(float)
    for e in gpu:
        if e["cat"] == "kernel":
            kern_totals[e["name"]] += e["end"] - e["ts"]
    gpu_us = _union((e["ts"], e["end"]) for e in gpu)
    gpu_idle = None
    gpu_span = 0.0
    if gpu:
        gpu_span = max(e["end"] for e in gpu) - min(e["ts"] for e in gpu)
        gpu_idle = max(0.0, 1.0 - gpu_us / gpu_span) if gpu_span > 0 else 0.0
    kernel_us = sum(kern_totals.values())
    start_unix = (base0 / 1e9 + w0 / 1e6) if base0 is not None and window > 0 else None
    return {
        "window_us": round(window, 3),
        "start_unix": start_unix,
        "end_unix": (start_unix + window / 1e6) if start_unix is not None else None,
        "cpu_threads": threads,
        "gpu_streams": len(streams),
        "cpu_us": round(cpu_us, 3),
        "gpu_us": round(gpu_us, 3),
        "kernel_us": round(kernel_us, 3),
        "cpu_busy_share": (cpu_us / (window * threads) if window > 0 and threads else 0.0),
        "gpu_busy_share": (gpu_us / window if window > 0 and gpu else None),
        "gpu_idle_share": gpu_idle,
        "gpu_span_us": round(gpu_span, 3),
        "events": len(clipped),
        "kernels": sum(1 for e in gpu if e["cat"] == "kernel"),
        "top_ops": _rank(op_totals, window * max(threads, 1), "self_us", top_n),
        "top_kernels": _rank(kern_totals, window * max(len(streams), 1), "time_us", top_n),
    }


def summarize_traces(paths: Sequence[str | os.PathLike], top_n: int = TOP_N) -> dict[str, Any]:
    """One summary over several trace files of one window (ranks, the front end)."""
    out = summarize_events([load_trace(p) for p in paths], top_n)
    out["files"] = [os.path.basename(os.fspath(p)) for p in paths]
    return out


def summarize_trace(path: str | os.PathLike, top_n: int = TOP_N) -> dict[str, Any]:
    """The summary of one trace file (see the module docstring for every figure)."""
    return summarize_traces([path], top_n)
