"""The key series of a run, ready to plot (read from journal.db, then pure shaping).

Four panels per run, x in seconds since the run started:
``throughput``  generation and prompt tok/s (sliding 5 s rate of the token counters)
``kv``          KV-cache usage, % of capacity
``gpu``         SM-active % (GPM: share of SMs busy) vs kernel-active % (NVML
                "utilization": time any kernel ran), averaged over the run's GPUs
``ttft``        TTFT p50 and p99 (ms) over a sliding 30 s window of the histogram
An empty panel carries a note saying why (not sampled, engine does not report it).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from iejtui.derive.downsample import downsample

PANELS = ("throughput", "kv", "gpu", "ttft")
PANEL_TITLES = {"throughput": "Token throughput (tok/s)", "kv": "KV cache usage (%)",
                "gpu": "GPU: SM-active vs kernel-active (%)", "ttft": "TTFT (ms)"}
TTFT_WINDOW_S = 30.0
MAX_POINTS = 300


@dataclass
class Line:
    label: str
    x: list[float]
    y: list[float]


@dataclass
class RunCharts:
    run_id: int
    title: str
    t0: float
    duration_s: float
    panels: dict[str, list[Line]] = field(default_factory=dict)
    notes: dict[str, str] = field(default_factory=dict)

    def has_data(self) -> bool:
        return any(line.x for lines in self.panels.values() for line in lines)


def shape(label: str, ts: list[float], vs: list[float], t0: float, scale: float = 1.0,
          how: str = "mean", max_points: int = MAX_POINTS) -> Line:
    """Downsample and shift to seconds since ``t0``; ``scale`` converts units (pure)."""
    dts, dvs = downsample(ts, vs, max_points, how)  # type: ignore[arg-type]
    return Line(label, [t - t0 for t in dts], [v * scale for v in dvs])


def _ttft_lines(reader, run_id: int, t0: float, t1: float, max_points: int) -> list[Line]:
    from iejtui.derive.histograms import merge_series, quantile_series
    from iejtui.derive.series import histogram_series
    from iejtui.summary import store_getter
    get = store_getter(reader, run_id, t0, t1)
    by_labels = histogram_series(get, "vllm:time_to_first_token_seconds")
    if not by_labels:
        return []
    parts = list(by_labels.values())
    try:
        snaps = parts[0] if len(parts) == 1 else merge_series(parts)
    except ValueError:
        return []
    step = max((t1 - t0) / max_points, 1.0)
    lines = []
    for q, label in ((0.5, "p50"), (0.99, "p99")):
        ts, vs = quantile_series(snaps, TTFT_WINDOW_S, q, step_s=step)
        lines.append(shape(f"TTFT {label}", ts, vs, t0, 1000.0, "max" if q > 0.5 else "mean", max_points))
    return lines


def run_chart_data(reader, run: dict, max_points: int = MAX_POINTS) -> RunCharts:
    """The four panels of ``run``: an engine run's own series; a benchmark's engine series
    over the benchmark's window; other kinds get the GPU panel only."""
    from iejtui.derive.gpu_window import read_gpu_window, run_span, token_rate
    t0, t1 = run_span(run)
    rc = RunCharts(run["id"], f"r{run['id']} {run.get('name') or ''}".strip(), t0, t1 - t0)
    rid = run["id"]
    if run.get("kind") == "bench" and run.get("parent_id"):
        rid = run["parent_id"]  # a benchmark: its engine's series over the benchmark's window
        rc.title += f" (engine r{rid})"
    if run.get("kind") == "engine" or rid != run["id"]:
        gen_ts, gen = token_rate(reader, rid, "vllm:generation_tokens_total", t0, t1)
        prm_ts, prm = token_rate(reader, rid, "vllm:prompt_tokens_total", t0, t1)
        rc.panels["throughput"] = [ln for ln in (shape("generation", gen_ts, gen, t0, how="max", max_points=max_points),
                                                 shape("prompt", prm_ts, prm, t0, how="max", max_points=max_points))
                                   if ln.x]
        kv = reader.series(rid, "vllm:kv_cache_usage_perc", None, t0, t1) or \
            reader.series(rid, "vllm:gpu_cache_usage_perc", None, t0, t1)
        if kv:
            from iejtui.derive.gpu_window import aggregate_ticks
            ts, vs = aggregate_ticks([(s.ts, s.values) for s in kv], "mean")
            peak = max(vs, default=0.0) * 100.0
            rc.panels["kv"] = [shape(f"KV used (peak {peak:.2f} %)", ts, vs, t0, 100.0, "max", max_points)]
        rc.panels["ttft"] = _ttft_lines(reader, rid, t0, t1, max_points)
    else:
        rc.notes.update({p: f"not an engine run ({run.get('kind')})" for p in ("throughput", "kv", "ttft")})
    gw = read_gpu_window(reader, run)
    series = gw["series"]
    rc.panels["gpu"] = [shape(label, *series[key], t0, how="mean", max_points=max_points)
                        for key, label in (("sm_active", "SM-active"), ("kernel_active", "kernel-active"))
                        if key in series]
    if not gw["uuids"]:
        rc.notes["gpu"] = "no GPU sampled during this run"
    elif "sm_active" not in series:
        rc.notes["gpu"] = "SM-active needs GPM (Hopper or newer); kernel-active only"
    for p in PANELS:
        if not rc.panels.get(p) and p not in rc.notes:
            rc.notes[p] = "no samples in this run"
    return rc
