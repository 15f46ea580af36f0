"""The view models: plain frozen values the widgets draw (no Textual, no SQLite).

A ``Snapshot`` is everything one dashboard frame shows, for the live edge or for any past
window of a run: the same widgets draw both, so they cannot tell live from replay.
Numbers are ``None`` when the source does not report them ("n/a" on screen, never 0).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # type only: the widgets import these models before any maths is needed
    from iejtui.derive.engine import EngineFigures
    from iejtui.derive.engine_extras import EngineExtras
    from iejtui.derive.triton import Agreement, HostFigures, ModelFigures


@dataclass(frozen=True, slots=True)
class Field:
    """One figure as a panel shows it: a label, its text, a level and an optional gauge.

    ``level`` is one of "" (normal), "muted" (n/a, idle), "good", "warn", "bad"; the widget
    maps it to a theme variable. ``bar`` is a 0..1 fill for a small gauge, or None.
    """

    label: str
    text: str
    level: str = ""
    bar: float | None = None


@dataclass(frozen=True, slots=True)
class GpuPanel:
    """One GPU at the end of the window (``None``: not reported by this GPU or driver)."""

    uuid: str
    index: int
    name: str
    newest: float | None  # timestamp of the newest sample at or before the window's end
    stale_since: float | None  # set when the newest sample is too old: show that, not numbers
    kernel_active: float | None = None  # NVML "utilization": % of time any kernel ran
    sm_active: float | None = None  # GPM: % of SMs busy
    tensor_active: float | None = None
    dram_active: float | None = None
    mem_used: float | None = None  # bytes
    mem_total: float | None = None  # bytes
    power_w: float | None = None
    power_limit_w: float | None = None
    temp_c: float | None = None
    clock_sm_mhz: float | None = None
    clock_sm_max_mhz: float | None = None
    clock_mem_mhz: float | None = None
    throttle: tuple[str, ...] | None = None  # decoded clock-event reasons; () = none
    note: str | None = None  # e.g. "lost" or why a figure is missing

    @property
    def title(self) -> str:
        short = self.name.replace("NVIDIA ", "") if self.name else "GPU"
        return f"GPU{self.index} {short}"


@dataclass(frozen=True, slots=True)
class EnginePanel:
    """One engine run: identity, lifecycle and its figures over the stat windows."""

    run_id: int
    name: str
    engine_kind: str | None
    status: str
    phase: str | None
    model: str | None
    url: str | None
    started_at: float
    ended_at: float | None
    reason: str | None
    newest: float | None  # newest engine sample at or before the window's end
    stale_since: float | None
    rate_window_s: float  # window of the token rates and gauges
    latency_window_s: float  # window of the latency percentiles
    figures: EngineFigures | None  # rates and gauges (None: nothing scraped yet)
    latency: EngineFigures | None  # latency percentiles
    # per latency key: (first bucket's upper bound, highest finite bound), seconds. A quantile
    # at or below the first is only known to be "< first"; at the last, "≥ last".
    latency_bounds: dict[str, tuple[float, float]] = field(default_factory=dict)
    # canonical figures this engine kind does not report at all ("not reported", never 0)
    unreported: frozenset[str] = frozenset()
    # spec-decode / LoRA / KV-offload figures, over the latency window; None or empty parts
    # when the engine does not export them (rows appear only for what it reports)
    extras: EngineExtras | None = None
    # the engine's process tree (CPU, RSS, host memory) when the service launched it
    procs: ProcPanel | None = None
    triton: TritonView | None = None  # Triton's own rows (engine kind "triton" only)


@dataclass(frozen=True, slots=True)
class ProcPanel:
    """An engine's process tree on the host (``collectors.host_procs``): live the newest
    reading, for a past window the mean (CPU) and peaks (CPU, RSS)."""

    cpu_pct: float | None  # % of one core (100 = one core busy)
    cpu_pct_peak: float | None
    cpus: float | None  # logical CPUs the host offers
    rss_bytes: float | None
    rss_bytes_peak: float | None
    count: float | None  # processes in the tree
    host_mem_used: float | None
    host_mem_total: float | None
    newest: float | None
    mem_bw_pmu: bool = False  # a memory-controller PMU is exposed (bandwidth still not read)


@dataclass(frozen=True, slots=True)
class TritonView:
    """What a Triton engine panel adds to the canonical rows: what it hosts, one model's
    request figures (the served model, else the busiest), host readings, and Triton's GPU
    readings checked against iejtui's NVML ones (empty without GPU panels)."""

    backend: str | None  # tensorrt-llm | vllm | python; None before the first scrape
    model: ModelFigures | None
    models: int  # how many models Triton reports
    host: HostFigures | None
    gpu_check: tuple[tuple[str, tuple[Agreement, ...]], ...] = ()  # (gpu uuid, agreements)


@dataclass(frozen=True, slots=True)
class Line:
    """One plotted series: aligned timestamps and values (gaps are simply missing points)."""

    label: str
    ts: tuple[float, ...]
    values: tuple[float, ...]


@dataclass(frozen=True, slots=True)
class Plot:
    """A time plot over ``[t0, t1]``; ``y_max`` fixes the top (100 for percentages)."""

    key: str
    title: str
    unit: str
    t0: float
    t1: float
    lines: tuple[Line, ...]
    y_max: float | None = None
    note: str | None = None  # shown when there is nothing to draw, e.g. "no GPU"

    @property
    def empty(self) -> bool:
        return not any(line.values for line in self.lines)


@dataclass(frozen=True, slots=True)
class EventRow:
    id: int
    ts: float
    level: str  # info | warning | error
    kind: str
    message: str
    run_id: int | None


@dataclass(frozen=True, slots=True)
class Snapshot:
    """Everything one dashboard frame shows, live (``live=True``) or for a past window."""

    t0: float
    t1: float
    live: bool
    gpus: tuple[GpuPanel, ...] = ()
    gpu_note: str | None = None  # why there are no GPU panels
    engines: tuple[EnginePanel, ...] = ()
    plots: tuple[Plot, ...] = ()
    events: tuple[EventRow, ...] = ()
    title: str = ""
    advice: tuple = ()  # iejtui.viewmodel.advice.AdviceLine: what the advisor says now (live only)

    @property
    def window_s(self) -> float:
        return self.t1 - self.t0


@dataclass(frozen=True, slots=True)
class RunRow:
    """One row of the runs table."""

    id: int
    kind: str
    name: str
    status: str
    started_at: float
    ended_at: float | None
    duration_s: float
    headline: str
    tags: tuple[str, ...] = field(default_factory=tuple)
    engine_kind: str | None = None
    model: str | None = None

    def matches(self, text: str) -> bool:
        """Case-insensitive filter on id, kind, name, status, engine, model and tags."""
        if not text:
            return True
        hay = " ".join([f"r{self.id}", str(self.id), self.kind, self.name, self.status,
                        self.engine_kind or "", self.model or "", *self.tags]).lower()
        return all(word in hay for word in text.lower().split())
