"""A recorded run's signals, read from journal.db (reads only): what ``iejtui advise`` and the
service's live evaluation feed the rules.

* An **engine** run: its own scrapes over its window.
* A **bench** run: its target engine's scrapes (``parent_id``) over the bench's window, so a
  benchmark is advised on what the engine did while it ran.
* Any run: the host's GPU recording (``gpu@HOST``) over the run's window, one signal set per
  GPU the run could see (``CUDA_VISIBLE_DEVICES``): GPU rules run per GPU.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from iejtui.advisor.signals import (GPU_SERIES, Signals, config_signals, derived_signals, engine_signals,
                                    gpu_signals, profile_signals, summed_series)
from iejtui.derive.gpu import visible_gpus
from iejtui.derive.metric_map import metric_map_for
from iejtui.derive.series import labels_match
from iejtui.store.vocab import RunKind

_GPU_NAMES = [*GPU_SERIES, "gpu.power_mw", "gpu.clocks_event_reasons", "gpu.clock_sm_mhz"]
_LEAD_S = 35.0  # windows (rates, trends) need samples from before the run's start


@dataclass
class RunInputs:
    run: dict[str, Any]
    window: tuple[float, float]
    engine: Signals = field(default_factory=dict)  # empty when no engine was scraped
    engine_run: dict[str, Any] | None = None
    gpus: dict[str, Signals] = field(default_factory=dict)  # uuid → signals
    gpu_names: dict[str, str] = field(default_factory=dict)  # uuid → "0: NVIDIA H100 …"
    argv: list[str] = field(default_factory=list)
    generation_counter: tuple[list[float], list[float]] | None = None  # the engine's, for restarts


def _getter(reader, run_id: int, t0: float, t1: float):
    def get(name: str, labels_filter=None):
        return [(sd.labels, sd.ts, sd.values) for sd in reader.series(run_id, name, None, t0, t1)
                if labels_match(sd.labels, labels_filter)]
    return get


def _clip(sig: Signals, t0: float, t1: float) -> Signals:
    out: Signals = {}
    for k, (ts, vs) in sig.items():
        pairs = [(t, v) for t, v in zip(ts, vs) if t0 <= t <= t1]
        if pairs:
            out[k] = ([p[0] for p in pairs], [p[1] for p in pairs])
    return out


def run_window(run: dict[str, Any], now: float | None = None) -> tuple[float, float]:
    """``[started_at, ended_at]``; a live run ends ``now``; ``now`` also cuts an ended run
    short (a replay of what the service saw at that moment)."""
    end = float(run.get("ended_at") or now or time.time())
    return float(run["started_at"]), min(end, now) if now is not None else end


def read_inputs(reader, run: dict[str, Any], now: float | None = None, since: float | None = None) -> RunInputs:
    """Signals of ``run`` over its window, or only from ``since`` on (live evaluation reads a
    trailing window; rates and trends still get their lead-in)."""
    t0, t1 = run_window(run, now)
    if since is not None:
        t0 = max(t0, since)
    if run["kind"] == RunKind.BENCH and isinstance(run.get("summary"), dict) and "bench" not in run["summary"]:
        from iejtui.bench_sections import bench_sections  # the client-bound verdict, steady state
        run = {**run, "summary": {**run["summary"], "bench": bench_sections(reader, run)}}
    engine_run = run if run["kind"] == RunKind.ENGINE else None
    if run["kind"] in (RunKind.BENCH, RunKind.PROFILE) and run.get("parent_id"):
        engine_run = reader.run(int(run["parent_id"]))  # a profile run's parent: the engine profiled
    out = RunInputs(run=run, window=(t0, t1), engine_run=engine_run,
                    argv=list((engine_run or {}).get("argv") or []))
    mmap = metric_map_for((engine_run or {}).get("engine_kind") or "vllm") if engine_run else None
    if engine_run is not None and mmap is not None:
        get = _getter(reader, engine_run["id"], t0 - _LEAD_S, t1)
        sig = engine_signals(get, mmap)
        out.generation_counter = summed_series(get, mmap, "generation_tokens")
        sig.update(derived_signals(sig))
        out.engine = _clip(sig, t0, t1)
    for host in reader.gpu_runs_between(t0, t1):
        static = (host.get("facts") or {}).get("gpus") or []
        for g in visible_gpus(engine_run or run, static):
            uuid = g.get("uuid")
            if not uuid or uuid in out.gpus:
                continue
            named: dict[str, tuple[list[float], list[float]]] = {}
            for source in (f"gpu:{uuid}", f"gpu:{uuid}:slow"):
                for sd in reader.series_many(host["id"], _GPU_NAMES, None, t0, t1, source):
                    named[sd.name] = (list(sd.ts), list(sd.values))
            sig = gpu_signals(named, g)
            if sig:
                sig.update(derived_signals(sig))
                out.gpus[uuid] = sig
                out.gpu_names[uuid] = f"{g.get('index')}: {g.get('name') or 'GPU'}"
    if out.engine and engine_run is not None:
        ticks = next(iter(out.engine.values()))[0] if "running" not in out.engine else out.engine["running"][0]
        out.engine.update(config_signals(out.argv, engine_run.get("engine_kind"), ticks, bool(out.gpus)))
        if run["kind"] == RunKind.BENCH:
            out.engine.update(bench_signals(run, out.engine, ticks))
        if run["kind"] in (RunKind.BENCH, RunKind.PROFILE):
            out.engine.update(profile_signals(run.get("summary"), ticks))  # bench --profile, iejtui profile
    return out


def bench_signals(run: dict[str, Any], engine: Signals, ticks: list[float]) -> Signals:
    """What only the benchmark knows, as constant signals over the engine's ticks in the
    bench window: the share of requests cut short of their max_tokens."""
    from iejtui.advisor.validity import cut_share_pct
    ls = engine.get("length_share_pct")
    cut = cut_share_pct(run.get("summary") or {}, run.get("argv") or [], ls[1][-1] if ls and ls[1] else None)
    return {"length_cut_pct": (list(ticks), [cut] * len(ticks))} if cut is not None and ticks else {}
