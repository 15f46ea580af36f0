"""Assemble a ``Snapshot``: the live dashboard and any past window of a run, one code path.

``dashboard_snapshot(reader, now, window_s)`` shows the engines active in the window and
the host's GPUs; ``run_history(reader, run_id, t0, t1, max_points)`` shows one run over a
past window. Both go through ``build_snapshot``. With a ``SnapshotCache`` the reads are
incremental (the live edge); without one, a window is read once, and a long window is
thinned at query time (``iejtui.viewmodel.thin``) so a 24 h run opens fast.
"""

from __future__ import annotations

import dataclasses
from bisect import bisect_left, bisect_right
from collections.abc import Mapping

from iejtui.derive.downsample import downsample
from iejtui.derive.triton import GpuReading, gpu_crosscheck
from iejtui.store import Reader
from iejtui.store.vocab import BENCH_LIVE, ENGINE_LIVE, RunKind
from iejtui.viewmodel import engine as eng
from collectors import host_procs
from iejtui.viewmodel import gpu as gpus
from iejtui.viewmodel import procs
from iejtui.viewmodel.cache import SnapshotCache
from iejtui.viewmodel.models import EnginePanel, EventRow, Line, Plot, Snapshot
from iejtui.viewmodel.thin import ThinGetter, read_thinned

MAX_EVENTS = 200
THIN_FACTOR = 4  # thin a window holding more than this many samples per plot point
LEAD_S = 5.0  # read this much before the window: counter and histogram deltas need it
GPU_THIN_HOW = {gpus.MEM_USED: "max", gpus.MEM_TOTAL: "max", gpus.REASONS: "or"}


def _event_row(e: Mapping) -> EventRow:
    return EventRow(e["id"], e["ts"], e.get("level") or "info", e.get("kind") or "", e.get("message") or "",
                    e.get("run_id"))


def host_gpu_run(reader: Reader, t0: float, t1: float) -> dict | None:
    """The service's GPU recording covering the window (the newest that overlaps it)."""
    runs = reader.gpu_runs_between(t0, t1)
    return runs[0] if runs else None


#: An engine run's frames: "engine" (its /metrics scrapes) and, for TRT-LLM, "engine-iter"
#: (the JSON iteration records); the names asked for pick the series, whatever the source.
ENGINE_SOURCES = None
PROC_SOURCE = host_procs.SOURCE  # the engine's process tree (read in its own buffer)


def _thin(reader: Reader, t0: float, t1: float, max_points: int, interval_s: float, cache) -> bool:
    return cache is None and (t1 - t0) / interval_s > THIN_FACTOR * max_points


def _engine_data(reader: Reader, run: dict, t0: float, t1: float, live: bool, cache: SnapshotCache | None,
                 max_points: int, interval_s: float):
    """(getter, full-resolution KV getter or None, newest sample time, thinned?)."""
    mmap = eng.metric_map(run.get("engine_kind"))
    if mmap is None:
        return (None, None), None, None, False
    names = eng.engine_names(mmap)
    lo = t0 - max(LEAD_S, eng.LATENCY_WINDOW_S if live else 0.0)
    if not _thin(reader, t0, t1, max_points, interval_s, cache):
        if cache is not None:
            buf = cache.buffer(run["id"], names, ENGINE_SOURCES)
            buf.ensure(reader, lo, t1, cache.dirty)
        else:
            from iejtui.viewmodel.cache import SeriesBuffer
            buf = SeriesBuffer(run["id"], names, ENGINE_SOURCES)
            buf.ensure(reader, lo, t1)
        return (buf.get, buf.get), None, buf.newest_at(t1), False
    # A long window: figures from the window's end samples (exact for counters and
    # histograms), plots from one sample per bucket, the KV peak from bucket maxima.
    ends = ThinGetter(read_thinned(reader, run["id"], names, t0, t1, 1, ENGINE_SOURCES))
    kv_names = set(mmap.names("kv_usage"))
    plot = ThinGetter(read_thinned(reader, run["id"], eng.plot_names(mmap), t0 - LEAD_S, t1, max_points,
                                   ENGINE_SOURCES, {n: "max" for n in kv_names}))
    return (ends, plot), plot, ends.newest(), True


def _proc_data(reader: Reader, run: dict, t0: float, t1: float, cache: SnapshotCache | None, max_points: int,
               interval_s: float):
    """The engine run's process-tree series (source ``proc``), in their own buffer: their
    samples keep coming while /metrics is silent, so they must not set the engine's newest."""
    names = procs.NAMES
    if not _thin(reader, t0, t1, max_points, interval_s, cache):
        if cache is not None:
            buf = cache.buffer(run["id"], names, PROC_SOURCE)
            buf.ensure(reader, t0 - LEAD_S, t1, cache.dirty)
        else:
            from iejtui.viewmodel.cache import SeriesBuffer
            buf = SeriesBuffer(run["id"], names, PROC_SOURCE)
            buf.ensure(reader, t0 - LEAD_S, t1)
        return buf.get
    how = {n: "max" for n in names} | {host_procs.CPU: "mean"}
    return ThinGetter(read_thinned(reader, run["id"], names, t0, t1, max_points, PROC_SOURCE, how))


def _gpu_data(reader: Reader, gpu_run: dict, t0: float, t1: float, cache: SnapshotCache | None,
              max_points: int, interval_s: float):
    if not _thin(reader, t0, t1, max_points, interval_s, cache):
        if cache is not None:
            buf = cache.buffer(gpu_run["id"], gpus.GPU_NAMES)
            buf.ensure(reader, t0 - LEAD_S, t1, cache.dirty)
        else:
            from iejtui.viewmodel.cache import SeriesBuffer
            buf = SeriesBuffer(gpu_run["id"], gpus.GPU_NAMES)
            buf.ensure(reader, t0 - LEAD_S, t1)
        return buf.get, buf.newest_at(t1)
    how = {n: GPU_THIN_HOW.get(n, "mean") for n in gpus.GPU_NAMES}
    get = ThinGetter(read_thinned(reader, gpu_run["id"], gpus.GPU_NAMES, t0, t1, max_points, None, how))
    return get, get.newest()


def sliced(get, lo: float, hi: float):
    """A getter serving only ``[lo, hi]`` of ``get``'s series (cheap list slices)."""
    def inner(name: str, labels_filter=None):
        out = []
        for labels, ts, vs in get(name, labels_filter):
            i, j = bisect_left(ts, lo), bisect_right(ts, hi)
            out.append((labels, ts[i:j], vs[i:j]))
        return out
    return inner


def _line(cache: SnapshotCache | None, key: tuple, points, get, t0: float, t1: float, max_points: int,
          how: str = "mean", newest: float | None = None) -> tuple[list[float], list[float]]:
    if cache is not None:
        ts, vs = cache.line(key, lambda a, b: points(get, a, b), t0, t1, newest)
    else:
        ts, vs = points(get, t0 - 1e-9, t1)
    if len(ts) > max_points:
        ts, vs = downsample(ts, vs, max_points, how, t0, t1)
    return ts, vs


def build_snapshot(reader: Reader, engines: list[dict], gpu_run: dict | None, t0: float, t1: float, *,
                   live: bool, cache: SnapshotCache | None = None, max_points: int = 240,
                   interval_s: float = 1.0, events: list[dict] | None = None, title: str = "",
                   gpu_note: str | None = None) -> Snapshot:
    """The one assembly used by the live dashboard and by past windows (see module doc)."""
    panels: list = []
    lines: dict[str, list[Line]] = {"tokens": [], "kv": [], "ttft": []}
    single = len(engines) == 1
    names = [r["name"] for r in engines]
    bucket_s = (t1 - t0) / max_points
    have_engine_data = False
    for run in engines:
        (get, plot_get), kv_get, newest, thinned = _engine_data(reader, run, t0, t1, live, cache, max_points,
                                                                interval_s)
        fig_get = sliced(get, t1 - eng.LATENCY_WINDOW_S - LEAD_S, t1) if (live and get is not None) else get
        proc_get = _proc_data(reader, run, t0, t1, cache, max_points, interval_s) if run.get("owned") else None
        panels.append(eng.engine_panel(run, fig_get, t1, live=live, interval_s=interval_s, newest=newest,
                                       t0=None if live else t0, kv_getter=kv_get, labels_get=get,
                                       proc_get=proc_get))
        if get is None or newest is None:
            continue
        have_engine_data = True
        shown = run["name"] if names.count(run["name"]) == 1 else f"{run['name']} r{run['id']}"
        for plot, label, line_id, points, scale in eng.line_specs(shown, run.get("engine_kind"), single,
                                                                  interval_s, 0.0 if live else bucket_s):
            ts, vs = _line(cache, (run["id"], line_id, round(bucket_s) if not live else 0), points, plot_get,
                           t0, t1, max_points, "max" if plot == "kv" else "mean", newest)
            lines[plot].append(Line(label, tuple(ts), tuple(v * scale for v in vs) if scale != 1 else tuple(vs)))
    gpu_panels, activity, n_gpu = [], [], 0
    if gpu_run is not None:
        gget, gpu_newest = _gpu_data(reader, gpu_run, t0, t1, cache, max_points, interval_s)
        static = (gpu_run.get("facts") or {}).get("gpus") or []
        gpu_panels = gpus.gpu_panels(static, gget, t0, t1, live=live, interval_s=interval_s)
        n_gpu = len(gpu_panels)
        for name, label in ((gpus.SM, "SM-active"), (gpus.UTIL, "kernel-active")):
            ts, vs = _line(cache, (gpu_run["id"], name), lambda g, a, b, n=name: gpus.mean_points(g, n, a, b),
                           gget, t0, t1, max_points, "mean", gpu_newest)
            if ts:
                activity.append(Line(label, tuple(ts), tuple(vs)))
    if gpu_panels and any(isinstance(p, EnginePanel) and p.triton is not None for p in panels):
        panels = [_triton_gpu_check(p, gpu_panels) for p in panels]
    if cache is not None:
        keys = [(r["id"], ENGINE_SOURCES) for r in engines] + ([(gpu_run["id"], None)] if gpu_run else [])
        keys += [(r["id"], PROC_SOURCE) for r in engines if r.get("owned")]
        cache.keep_only(keys)
    plots = _plots(lines, have_engine_data, activity, n_gpu, t0, t1, single,
                   gpu_note if gpu_run is None else None)
    rows = tuple(_event_row(e) for e in (events or [])[-MAX_EVENTS:])
    return Snapshot(t0=t0, t1=t1, live=live, gpus=tuple(gpu_panels), engines=tuple(panels), plots=plots,
                    events=rows, title=title,
                    gpu_note=None if gpu_run is not None else (gpu_note or "no GPU recording in this window"))


def _triton_gpu_check(p, gpu_panels):
    """A Triton panel with its GPU readings (DCGM) checked against our NVML GPU panels."""
    if not isinstance(p, EnginePanel) or p.triton is None or p.triton.host is None or not p.triton.host.gpus:
        return p
    nvml = {g.uuid: GpuReading(util_pct=g.kernel_active, mem_used_bytes=g.mem_used, mem_total_bytes=g.mem_total,
                               power_w=g.power_w) for g in gpu_panels}
    checks = tuple((u, tuple(gpu_crosscheck(r, nvml[u]))) for u, r in p.triton.host.gpus.items() if u in nvml)
    return dataclasses.replace(p, triton=dataclasses.replace(p.triton, gpu_check=checks)) if checks else p


def _plots(lines: dict[str, list[Line]], have_engine: bool, activity: list[Line], n_gpu: int, t0: float,
           t1: float, single: bool, gpu_note: str | None) -> tuple[Plot, ...]:
    no_engine = None if have_engine else "no engine samples in this window"
    gpu_title = "SM-active vs kernel-active" + (f" (mean of {n_gpu} GPUs)" if n_gpu > 1 else "")
    return (
        Plot("tokens", "tokens/s", "tok/s", t0, t1, tuple(lines["tokens"]), note=no_engine),
        Plot("kv", "KV cache", "%", t0, t1, tuple(lines["kv"]), y_max=100.0, note=no_engine),
        Plot("gpu", gpu_title, "%", t0, t1, tuple(activity), y_max=100.0,
             note=None if activity else (gpu_note or "no GPU samples in this window")),
        Plot("ttft", "TTFT p50 / p99" if single else "TTFT p99", "ms", t0, t1, tuple(lines["ttft"]),
             note=no_engine),
    )


# ---- the two entry points ---------------------------------------------------------------------
def dashboard_snapshot(reader: Reader, now: float, window_s: float = 300.0, *, cache: SnapshotCache | None = None,
                       max_points: int = 240, interval_s: float = 1.0) -> Snapshot:
    """The live dashboard at ``now``: engines active in the last ``window_s``, the host's GPUs,
    recent events. Pass the same ``cache`` on every refresh to read only what is new."""
    t0, t1 = now - window_s, now
    if cache is not None:
        cache.check(reader)
    engines = [r for r in reader.runs(kind=RunKind.ENGINE, limit=40)
               if r["started_at"] <= t1 and (r["status"] in ENGINE_LIVE or (r.get("ended_at") or 0) >= t0)]
    engines.sort(key=lambda r: (r["status"] not in ENGINE_LIVE, r["id"]))
    gpu_run = host_gpu_run(reader, t0, t1)
    events = _live_events(reader, t0, cache)
    note = None
    if gpu_run is None:
        note = next((e["message"] for e in reversed(events) if e.get("kind", "").startswith("gpu.")), None)
        if note is None and cache is not None:
            note = cache.gpu_note
        elif cache is not None:
            cache.gpu_note = note
    snap = build_snapshot(reader, engines, gpu_run, t0, t1, live=True, cache=cache, max_points=max_points,
                          interval_s=interval_s, events=events, title="live", gpu_note=note)
    from dataclasses import replace
    from iejtui.viewmodel.advice import firing_now
    live_ids = [r["id"] for r in engines if r["status"] in ENGINE_LIVE]
    live_ids += [r["id"] for r in reader.runs(kind=RunKind.BENCH, limit=10) if r["status"] in BENCH_LIVE]
    # the strip changes only with a new event or a run going live/ending: keyed on both, a
    # poll that brought neither (most polls) does not walk the events again
    key = (cache.last_event_id if cache is not None else None, tuple(live_ids))
    if cache is not None and key[0] is not None and cache.advice_key == key:
        advice = cache.advice
    else:
        advice = firing_now(events, live_ids)
        if cache is not None:
            cache.advice_key, cache.advice = key, advice
    return replace(snap, advice=advice) if advice else snap


def _live_events(reader: Reader, t0: float, cache: SnapshotCache | None) -> list[dict]:
    if cache is None:
        return reader.events(since=None, limit=MAX_EVENTS)
    if cache.dirty or cache.last_event_id is None:
        new = reader.events(limit=MAX_EVENTS, after_id=cache.last_event_id)
        if new:
            cache.events.extend(new)
            cache.last_event_id = new[-1]["id"]
            if cache.gpu_note is None:
                cache.gpu_note = next((e["message"] for e in reversed(new)
                                       if e.get("kind", "").startswith("gpu.")), None)
        del cache.events[:-MAX_EVENTS]
    return list(cache.events)


def run_history(reader: Reader, run_id: int, t0: float, t1: float, max_points: int = 240, *,
                cache: SnapshotCache | None = None, interval_s: float = 1.0) -> Snapshot:
    """Run ``run_id`` over ``[t0, t1]`` with the dashboard's widgets (figures over the window)."""
    run = reader.run(run_id)
    if run is None:
        raise KeyError(run_id)
    if cache is not None:
        cache.check(reader)
    if run["kind"] == RunKind.RECORD and run["name"].startswith("gpu@"):
        engines, gpu_run = [], run
    else:
        engines = [run] if run["kind"] == RunKind.ENGINE else []
        gpu_run = host_gpu_run(reader, t0, t1)
    related = {run_id, gpu_run["id"] if gpu_run else None, None}
    events = [e for e in reader.events(since=t0, limit=2000) if e["ts"] <= t1 and e.get("run_id") in related]
    title = f"r{run['id']} {run['name']}"
    return build_snapshot(reader, engines, gpu_run, t0, t1, live=False, cache=cache, max_points=max_points,
                          interval_s=interval_s, events=events, title=title)
