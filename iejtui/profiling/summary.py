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
import re
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


_Ev = tuple  # (ts µs, end µs, name, cat, pid, tid): one complete event, compact


def _compact(e: Any, names: dict[str, str]) -> tuple[str, _Ev] | None:
    """("span", (ts, end)) for the profiler's own span, ("ev", event) for a complete event."""
    if not isinstance(e, dict) or e.get("ph") != "X":
        return None
    try:
        ts, dur = float(e["ts"]), float(e.get("dur") or 0.0)
    except (KeyError, TypeError, ValueError):
        return None
    cat = e.get("cat") or ""
    if cat == "Trace":
        return "span", (ts, ts + dur)
    name = str(e.get("name", "?"))
    name = names.setdefault(name, name)  # one string per distinct name: 10⁶ events stay small
    return "ev", (ts, ts + max(dur, 0.0), name, cat, e.get("pid"), e.get("tid"))


def _part(base: int, raw: Iterable[Any]) -> tuple[int, list[_Ev], list[tuple[float, float]]]:
    names: dict[str, str] = {}
    events: list[_Ev] = []
    spans: list[tuple[float, float]] = []
    for e in raw:
        c = _compact(e, names)
        if c is None:
            continue
        (spans if c[0] == "span" else events).append(c[1])
    return base, events, spans


_BASE_RE = re.compile(r'"baseTimeNanoseconds"\s*:\s*(\d+)')
_CHUNK = 1 << 20


def _stream(path: str | os.PathLike) -> tuple[int, list[_Ev], list[tuple[float, float]]] | None:
    """The events of a kineto file read one object at a time (the file's JSON is never whole
    in memory: a 10 MB gzip trace is ~100 MB of text and ~800 MB as parsed objects). None
    when the layout is not kineto's (``{... "traceEvents": [ {...}, ... ] ...}``)."""
    with open(path, "rb") as f:
        gz = f.read(2) == b"\x1f\x8b"
    dec = json.JSONDecoder()
    with (gzip.open if gz else open)(path, "rt", encoding="utf-8") as f:
        buf = ""
        while (i := buf.find('"traceEvents"')) < 0:
            more = f.read(_CHUNK)
            if not more or len(buf) > 8 * _CHUNK:
                return None
            buf += more
        head, buf = buf[:i], buf[i + len('"traceEvents"'):]
        while (j := buf.find("[")) < 0:
            more = f.read(_CHUNK)
            if not more:
                return None
            buf += more
        if buf[:j].strip() != ":":
            return None
        buf, pos = buf[j + 1:], 0

        def objects():
            nonlocal buf, pos
            while True:
                while True:  # skip blanks and commas, refilling as needed
                    while pos < len(buf) and buf[pos] in " \t\r\n,":
                        pos += 1
                    if pos < len(buf):
                        break
                    more = f.read(_CHUNK)
                    if not more:
                        raise ValueError("trace ends inside traceEvents")
                    buf, pos = more, 0
                if buf[pos] == "]":
                    buf = buf[pos + 1:]
                    return
                while True:
                    try:
                        obj, end = dec.raw_decode(buf, pos)
                        break
                    except json.JSONDecodeError:
                        more = f.read(_CHUNK)
                        if not more:
                            raise ValueError("trace ends inside an event") from None
                        buf, pos = buf[pos:] + more, 0
                pos = end
                if pos > _CHUNK:
                    buf, pos = buf[pos:], 0
                yield obj

        base, events, spans = _part(0, objects())
        tail = buf + f.read()
    m = _BASE_RE.search(head) or _BASE_RE.search(tail)
    return (int(m.group(1)) if m else 0), events, spans


def _parts_of(traces: Sequence[Mapping[str, Any]]) -> list[tuple[int, list[_Ev], list[tuple[float, float]]]]:
    return [_part(int(t.get("baseTimeNanoseconds") or 0), t.get("traceEvents") or ()) for t in traces]


def _merge(parts) -> tuple[list[_Ev], list[tuple[float, float]], int | None]:
    """Every part on one clock (µs from the earliest base)."""
    bases = [p[0] for p in parts]
    base0 = min(bases) if bases else 0
    events: list[_Ev] = []
    spans: list[tuple[float, float]] = []
    for base, evs, sps in parts:
        shift = (base - base0) / 1000.0
        if shift:
            evs = [(a + shift, b + shift, *rest) for a, b, *rest in evs]
            sps = [(a + shift, b + shift) for a, b in sps]
        events += evs
        spans += sps
    return events, spans, (base0 if any(bases) else None)


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


def _self_times(events: list[_Ev]) -> dict[tuple, list[tuple[str, float]]]:
    """(pid, tid) -> [(name, self µs)] with children subtracted from their parent."""
    by_thread: dict[tuple, list[_Ev]] = defaultdict(list)
    for e in events:
        by_thread[(e[4], e[5])].append(e)
    out: dict[tuple, list[tuple[str, float]]] = {}
    for key, evs in by_thread.items():
        evs.sort(key=lambda e: (e[0], -e[1]))
        selfs: list[tuple[str, float]] = []
        stack: list[list[Any]] = []  # [end, name, dur, children µs]
        for ts, end, name, *_ in evs:
            while stack and ts >= stack[-1][0]:
                top = stack.pop()
                selfs.append((top[1], max(top[2] - top[3], 0.0)))
            if stack and end > stack[-1][0]:  # overlaps its parent's end: clip (kineto rounding)
                end = stack[-1][0]
            dur = end - ts
            if stack:
                stack[-1][3] += dur
            stack.append([end, name, dur, 0.0])
        while stack:
            top = stack.pop()
            selfs.append((top[1], max(top[2] - top[3], 0.0)))
        out[key] = selfs
    return out


def _rank(totals: Mapping[str, float], denom: float, key: str, n: int) -> list[dict[str, Any]]:
    rows = sorted(totals.items(), key=lambda kv: (-kv[1], kv[0]))[:n]
    return [{"name": name, key: round(t, 3), "share": (t / denom if denom > 0 else 0.0)}
            for name, t in rows]


def summarize_events(traces: Sequence[Mapping[str, Any]], top_n: int = TOP_N) -> dict[str, Any]:
    """The summary of one profiled window made of ``traces`` (parsed kineto JSON dicts)."""
    return _summarize(_parts_of(traces), top_n)


def _summarize(parts, top_n: int) -> dict[str, Any]:
    events, spans, base0 = _merge(parts)
    if spans:
        w0, w1 = min(s for s, _ in spans), max(e for _, e in spans)
    elif events:
        w0, w1 = min(e[0] for e in events), max(e[1] for e in events)
    else:
        w0 = w1 = 0.0
    clipped: list[_Ev] = []
    for e in events:
        if e[3] in _SKIP_CATS:
            continue
        s, t = max(e[0], w0), min(e[1], w1)
        if t > s or (t == s and e[1] == e[0] and w0 <= s <= w1):
            clipped.append((s, t, *e[2:]))
    del events
    window = w1 - w0
    cpu = [e for e in clipped if e[3] not in GPU_CATS]
    gpu = [e for e in clipped if e[3] in GPU_CATS]

    selfs = _self_times(cpu)
    threads = sum(1 for v in selfs.values() if any(t > 0 for _, t in v))
    op_totals: dict[str, float] = defaultdict(float)
    cpu_us = 0.0
    for rows in selfs.values():
        for name, t in rows:
            op_totals[name] += t
            cpu_us += t

    streams = {(e[4], e[5]) for e in gpu}
    kern_totals: dict[str, float] = defaultdict(float)
    for e in gpu:
        if e[3] == "kernel":
            kern_totals[e[2]] += e[1] - e[0]
    gpu_us = _union((e[0], e[1]) for e in gpu)
    gpu_idle = None
    gpu_span = 0.0
    if gpu:
        gpu_span = max(e[1] for e in gpu) - min(e[0] for e in gpu)
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
        "kernels": sum(1 for e in gpu if e[3] == "kernel"),
        "top_ops": _rank(op_totals, window * max(threads, 1), "self_us", top_n),
        "top_kernels": _rank(kern_totals, window * max(len(streams), 1), "time_us", top_n),
    }


def summarize_traces(paths: Sequence[str | os.PathLike], top_n: int = TOP_N) -> dict[str, Any]:
    """One summary over several trace files of one window (ranks, the front end)."""
    parts = []
    for p in paths:
        try:
            streamed = _stream(p)
        except (ValueError, UnicodeDecodeError):
            streamed = None
        parts.append(streamed if streamed is not None else _parts_of([load_trace(p)])[0])
    out = _summarize(parts, top_n)
    out["files"] = [os.path.basename(os.fspath(p)) for p in paths]
    return out


def summarize_trace(path: str | os.PathLike, top_n: int = TOP_N) -> dict[str, Any]:
    """The summary of one trace file (see the module docstring for every figure)."""
    return summarize_traces([path], top_n)


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m iejtui.profiling.summary TRACE...``: the summary as JSON on stdout (the
    service runs it in a child process, so a huge trace's memory is never the service's)."""
    import sys
    paths = list(sys.argv[1:] if argv is None else argv)
    if paths and paths[0].startswith("--max-memory="):  # cap this process's address space
        import resource
        cap = int(paths.pop(0).split("=", 1)[1])
        resource.setrlimit(resource.RLIMIT_AS, (cap, cap))
    if not paths:
        print("usage: python -m iejtui.profiling.summary TRACE [TRACE...]", file=sys.stderr)
        return 2
    try:
        out = summarize_traces(paths)
    except (OSError, ValueError, EOFError, MemoryError) as exc:
        print(f"{type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    json.dump(out, sys.stdout)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
