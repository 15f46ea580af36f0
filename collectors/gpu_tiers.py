"""Per-GPU state and the readers of each polling tier (used by ``collectors.gpu``).

Each reader takes a ``Caller`` (the collector: it owns the backend, the unsupported-call
bookkeeping and the events) and returns ``Frame``s. Readers never raise for NVML errors:
a call that fails yields ``None`` and the caller records why.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Protocol

from . import gpu_names as N
from .gpu_backend import UNSUPPORTED_CODES
from .records import Frame, Labels, Sample

MIB = 1024 * 1024


class Caller(Protocol):
    def call(self, g: GpuState, key: str, method: str, *args: Any) -> Any: ...
    def mark_unsupported(self, g: GpuState, key: str, why: str) -> None: ...
    def samples_call(self, g: GpuState, kind: str, stype: int, last_us: int) -> list | None: ...


@dataclass
class GpuState:
    index: int
    uuid: str
    labels: Labels = ()
    static: dict[str, Any] = field(default_factory=dict)
    unsupported: dict[str, str] = field(default_factory=dict)  # key -> error text
    lost: bool = False
    gpm: bool = False
    gpm_ids: list[int] = field(default_factory=lambda: list(N.GPM_METRICS.values()))
    gpm_prev: tuple[int, float] | None = None  # (token, tick time)
    mig: bool = False
    slow_specs: dict[str, tuple[int, int]] = field(default_factory=lambda: dict(N.SLOW_FIELDS))
    health_specs: dict[str, tuple[int, int]] = field(
        default_factory=lambda: dict(N.HEALTH_FIELDS)
    )
    sample_last_us: dict[str, int] = field(default_factory=dict)
    sample_kept: dict[str, float] = field(default_factory=dict)
    sample_offset_us: int | None = None  # driver sample clock -> Unix time (normally 0)
    processes: list[tuple[int, int | None]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.labels = (("uuid", self.uuid),)

    @property
    def src_fast(self) -> str:
        return f"gpu:{self.uuid}"

    @property
    def src_slow(self) -> str:
        return f"gpu:{self.uuid}:slow"

    @property
    def src_health(self) -> str:
        return f"gpu:{self.uuid}:health"

    def src_samples(self, kind: str) -> str:
        return f"gpu-samples:{self.uuid}:{kind}"


def _num(v: Any) -> float | None:
    if v is None:
        return None
    try:
        f = float(v)
    except (TypeError, ValueError):
        return None
    return f if math.isfinite(f) else None


def _add(out: list[Sample], name: str, value: Any, labels: Labels) -> None:
    f = _num(value)
    if f is not None:
        out.append(Sample(name, f, labels))


def read_fast(c: Caller, g: GpuState) -> list[Sample]:
    """The 1 s tier: classic utilisation, memory, power, temperature, clocks, P-state."""
    out: list[Sample] = []
    lab = g.labels
    u = c.call(g, "utilization", "utilization")
    if u is not None:
        _add(out, N.UTIL_GPU, u[0], lab)
        _add(out, N.UTIL_MEM, u[1], lab)
    m = c.call(g, "memory_info", "memory_info")
    if m is not None:
        _add(out, N.MEM_USED, m.get("used"), lab)
        _add(out, N.MEM_RESERVED, m.get("reserved"), lab)
        _add(out, N.MEM_TOTAL, m.get("total"), lab)
    _add(out, N.POWER_MW, c.call(g, "power_usage", "power_usage"), lab)
    _add(out, N.TEMP_C, c.call(g, "temperature", "temperature"), lab)
    _add(out, N.CLOCK_SM_MHZ, c.call(g, "clock_sm", "clock", N.CLOCK_SM), lab)
    _add(out, N.CLOCK_MEM_MHZ, c.call(g, "clock_mem", "clock", N.CLOCK_MEM), lab)
    _add(out, N.CLOCKS_EVENT_REASONS, c.call(g, "clocks_event_reasons", "clocks_event_reasons"), lab)
    _add(out, N.PSTATE, c.call(g, "performance_state", "performance_state"), lab)
    return out


def read_gpm(c: Caller, g: GpuState, now: float) -> list[Sample]:
    """GPM over the window since the previous tick's sample (the rolling pair)."""
    if not g.gpm or "gpm_sample" in g.unsupported:
        return []
    prev = g.gpm_prev
    if prev is not None and now - prev[1] < N.GPM_MIN_INTERVAL_S:
        return []  # too close: keep the old sample as the window's start
    token = c.call(g, "gpm_sample", "gpm_sample")
    if token is None:
        g.gpm_prev = None
        return []
    g.gpm_prev = (int(token), now)
    if prev is None or not g.gpm_ids:
        return []
    res = c.call(g, "gpm_metrics", "gpm_metrics", list(g.gpm_ids), prev[0], int(token))
    out: list[Sample] = []
    for mid, ret, value in res or ():
        name = N.GPM_NAME_BY_ID.get(int(mid), f"gpu.gpm_{mid}")
        if ret == 0:
            _add(out, name, value, g.labels)
        elif ret in UNSUPPORTED_CODES:
            if int(mid) in g.gpm_ids:
                g.gpm_ids.remove(int(mid))
            c.mark_unsupported(g, f"gpm:{name}", f"NVML return {ret}")
    return out


def drain_samples(
    c: Caller, g: GpuState, deadband: dict[str, float | None], now: float = 0.0
) -> list[Frame]:
    """Driver ring buffers since the last drain: one Frame per kept sample, stamped with
    the driver's timestamp. ``deadband[kind]``: keep a sample only when it moved more
    than this from the last kept one (0: on change; None: keep all).

    The driver stamps samples with the CPU's wall clock in microseconds; should a driver
    use another clock (more than an hour off ``now``), the offset is measured once and
    applied, so frames still line up with the tick's clock."""
    frames: list[Frame] = []
    for kind, (stype, name) in N.SAMPLE_KINDS.items():
        last = g.sample_last_us.get(kind, 0)
        rows = c.samples_call(g, kind, stype, last)
        if not rows:
            continue
        if now > 0 and g.sample_offset_us is None:
            newest = max(int(r[0]) for r in rows)
            skew = now * 1e6 - newest
            g.sample_offset_us = int(skew) if abs(skew) > 3600e6 else 0
        off = g.sample_offset_us or 0
        band = deadband.get(kind)
        src = g.src_samples(kind)
        for ts_us, value in rows:
            ts_us = int(ts_us)
            if ts_us <= last:
                continue
            last = ts_us
            v = _num(value)
            if v is None:
                continue
            kept = g.sample_kept.get(kind)
            if band is not None and kept is not None and abs(v - kept) <= band:
                continue  # inside the deadband (band 0: unchanged)
            g.sample_kept[kind] = v
            frames.append(Frame(src, (ts_us + off) / 1e6, [Sample(name, v, g.labels)]))
        g.sample_last_us[kind] = last
    return frames


def _fields(c: Caller, g: GpuState, key: str, specs: dict[str, tuple[int, int]]) -> list[Sample]:
    if not specs:
        return []
    names = {tuple(v): k for k, v in specs.items()}
    res = c.call(g, key, "field_values", [list(v) for v in specs.values()])
    out: list[Sample] = []
    for fid, scope, ret, value, _ts in res or ():
        name = names.get((int(fid), int(scope)))
        if name is None:
            continue
        if ret == 0:
            _add(out, name, value, g.labels)
        elif ret in UNSUPPORTED_CODES:
            specs.pop(name, None)
            c.mark_unsupported(g, f"field:{name}", f"NVML return {ret}")
    return out


def read_slow(c: Caller, g: GpuState, now: float) -> Frame:
    """The 5 s tier: energy counter, PCIe/NVLink byte counters, HBM temperature, instant
    power, compute processes with memory, MIG instance memory."""
    out: list[Sample] = []
    _add(out, N.ENERGY_MJ, c.call(g, "total_energy", "total_energy"), g.labels)
    out.extend(_fields(c, g, "fields_slow", g.slow_specs))
    procs = c.call(g, "compute_processes", "compute_processes")
    if procs is not None:
        g.processes = [(int(p), None if b is None else int(b)) for p, b in procs]
        _add(out, N.PROC_COUNT, len(g.processes), g.labels)
        for pid, used in g.processes:
            lab = (("pid", str(pid)), ("uuid", g.uuid))
            _add(out, N.PROC_MEM_USED, used, lab)
    if g.mig:
        for inst in c.call(g, "mig_instances", "mig_instances") or ():
            lab = (("gi", str(inst.get("gpu_instance_id"))), ("mig_uuid", str(inst.get("uuid"))),
                   ("uuid", g.uuid))  # fmt: skip
            _add(out, N.MIG_MEM_USED, inst.get("memory_used"), lab)
            _add(out, N.MIG_MEM_TOTAL, inst.get("memory_total"), lab)
    return Frame(g.src_slow, now, out)


def read_health(c: Caller, g: GpuState, now: float) -> Frame:
    """The 60 s tier: ECC error counts, remapped rows, clock-event time counters."""
    out = _fields(c, g, "fields_health", g.health_specs)
    rows = c.call(g, "remapped_rows", "remapped_rows")
    if rows is not None:
        for name, v in zip(N.REMAPPED_ROWS, rows):
            _add(out, name, v, g.labels)
    return Frame(g.src_health, now, out)


def read_static(c: Caller, g: GpuState, system: dict[str, Any]) -> dict[str, Any]:
    """Identity and limits, read once at open."""
    mem = c.call(g, "memory_info", "memory_info") or {}
    mig = c.call(g, "mig_mode", "mig_mode")
    ecc = c.call(g, "ecc_mode", "ecc_mode")
    pers = c.call(g, "persistence_mode", "persistence_mode")
    gpm = c.call(g, "gpm_supported", "gpm_supported")
    g.gpm = bool(gpm)
    g.mig = bool(mig and mig[0])
    info: dict[str, Any] = {
        "uuid": g.uuid,
        "index": g.index,
        "name": c.call(g, "name", "name"),
        "driver": system.get("driver"),
        "cuda_driver_version": system.get("cuda_driver_version"),
        "nvml_version": system.get("nvml_version"),
        "memory_total": mem.get("total"),
        "power_limit_mw": c.call(g, "enforced_power_limit", "enforced_power_limit"),
        "max_clock_sm_mhz": c.call(g, "max_clock_sm", "max_clock", N.CLOCK_SM),
        "max_clock_mem_mhz": c.call(g, "max_clock_mem", "max_clock", N.CLOCK_MEM),
        "pcie_gen": c.call(g, "pcie_gen", "pcie_gen"),
        "pcie_width": c.call(g, "pcie_width", "pcie_width"),
        "mig_mode": None if mig is None else bool(mig[0]),
        "mig_instances": [],
        "ecc_mode": None if ecc is None else bool(ecc[0]),
        "persistence_mode": None if pers is None else bool(pers),
        "gpm_supported": g.gpm,
    }
    if g.mig:
        info["mig_instances"] = c.call(g, "mig_instances", "mig_instances") or []
    return info
