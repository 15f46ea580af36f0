"""GPU panels and the SM-active vs kernel-active plot, from the host GPU recording.

GPU frames live once per host under the service's ``record`` run (``gpu@HOST``), one
source ``gpu:<uuid>`` per GPU, every series labelled with ``uuid``. Live, a panel shows
the newest reading; for a past window it shows window means (memory: the peak; throttle
reasons: every reason seen), because the instant at the window's end says little.
"""

from __future__ import annotations

import math
from bisect import bisect_left, bisect_right
from collections.abc import Mapping

from collectors.gpu_names import decode_clock_reasons
from iejtui.derive.series import SeriesGetter
from iejtui.viewmodel.engine import stale_after
from iejtui.viewmodel.models import GpuPanel

UTIL = "gpu.util_gpu"
SM = "gpu.sm_active"
TENSOR = "gpu.tensor_active"
DRAM = "gpu.dram_active"
MEM_USED = "gpu.mem_used"
MEM_TOTAL = "gpu.mem_total"
POWER = "gpu.power_mw"
TEMP = "gpu.temp_c"
CLOCK_SM = "gpu.clock_sm_mhz"
CLOCK_MEM = "gpu.clock_mem_mhz"
REASONS = "gpu.clocks_event_reasons"
GPU_NAMES = frozenset({UTIL, SM, TENSOR, DRAM, MEM_USED, MEM_TOTAL, POWER, TEMP, CLOCK_SM, CLOCK_MEM, REASONS})


def _by_uuid(get: SeriesGetter, name: str) -> dict[str, tuple[list[float], list[float]]]:
    return {labels.get("uuid", ""): (ts, vs) for labels, ts, vs in get(name, None)}


def _last(col: tuple[list[float], list[float]] | None, t1: float) -> tuple[float, float] | None:
    if not col:
        return None
    ts, vs = col
    i = bisect_right(ts, t1) - 1
    return (ts[i], vs[i]) if i >= 0 else None


def _window(col: tuple[list[float], list[float]] | None, t0: float, t1: float) -> list[float]:
    if not col:
        return []
    ts, vs = col
    return [v for v in vs[bisect_left(ts, t0):bisect_right(ts, t1)] if math.isfinite(v)]


def gpu_panels(static: list[Mapping], get: SeriesGetter, t0: float, t1: float, *, live: bool,
               interval_s: float) -> list[GpuPanel]:
    """One panel per GPU known from the recording's static facts or its series."""
    cols = {name: _by_uuid(get, name) for name in GPU_NAMES}
    uuids = [g["uuid"] for g in static if g.get("uuid")]
    for uuid in sorted({u for c in cols.values() for u in c}):
        if uuid not in uuids:
            uuids.append(uuid)
    info = {g.get("uuid"): g for g in static}
    out = []
    for i, uuid in enumerate(uuids):
        st = info.get(uuid, {})
        newest = max((p[0] for p in (_last(cols[n].get(uuid), t1) for n in GPU_NAMES) if p), default=None)
        fields: dict[str, float | None] = {}
        throttle: tuple[str, ...] | None = None
        for name in GPU_NAMES:
            col = cols[name].get(uuid)
            if live:
                last = _last(col, t1)
                fields[name] = last[1] if last and newest is not None and last[0] >= newest - interval_s else None
            else:
                vals = _window(col, t0, t1)
                if name == REASONS:
                    fields[name] = None if not vals else float(_or(vals))
                elif name in (MEM_USED, MEM_TOTAL, CLOCK_MEM):
                    fields[name] = max(vals) if vals else None
                else:
                    fields[name] = sum(vals) / len(vals) if vals else None
        if fields[REASONS] is not None:
            throttle = tuple(r for r in decode_clock_reasons(fields[REASONS]) if r != "gpu_idle" or live)
        stale = None
        if live and newest is not None and t1 - newest > stale_after(interval_s):
            stale = newest
        limit = st.get("power_limit_mw")
        if stale is not None:  # never show frozen numbers: only who it is and since when
            out.append(GpuPanel(uuid=uuid, index=int(st.get("index", i)), name=st.get("name") or "GPU",
                                newest=newest, stale_since=stale, mem_total=st.get("memory_total"),
                                power_limit_w=None if not limit else limit / 1000.0,
                                note="lost" if st.get("lost") else None))
            continue
        out.append(GpuPanel(
            uuid=uuid, index=int(st.get("index", i)), name=st.get("name") or "GPU", newest=newest,
            stale_since=stale, kernel_active=fields[UTIL], sm_active=fields[SM], tensor_active=fields[TENSOR],
            dram_active=fields[DRAM], mem_used=fields[MEM_USED],
            mem_total=fields[MEM_TOTAL] or st.get("memory_total"),
            power_w=None if fields[POWER] is None else fields[POWER] / 1000.0,
            power_limit_w=None if not limit else limit / 1000.0, temp_c=fields[TEMP],
            clock_sm_mhz=fields[CLOCK_SM], clock_sm_max_mhz=st.get("max_clock_sm_mhz"),
            clock_mem_mhz=fields[CLOCK_MEM], throttle=throttle,
            note="lost" if st.get("lost") else None))
    return out


def _or(vals: list[float]) -> int:
    acc = 0
    for v in vals:
        acc |= int(v)
    return acc


def mean_points(get: SeriesGetter, name: str, t_from: float, t1: float) -> tuple[list[float], list[float]]:
    """Series ``name`` averaged over GPUs per timestamp (one host samples its GPUs at one
    instant), points in ``(t_from, t1]``."""
    parts = []
    for _, ts, vs in get(name, None):
        i, j = bisect_right(ts, t_from), bisect_right(ts, t1)
        if j > i:
            parts.append((ts[i:j], vs[i:j]))
    if len(parts) <= 1:
        return (list(parts[0][0]), list(parts[0][1])) if parts else ([], [])
    acc: dict[float, list[float]] = {}
    for ts, vs in parts:
        for t, v in zip(ts, vs):
            acc.setdefault(t, []).append(v)
    keys = sorted(acc)
    return keys, [math.fsum(acc[k]) / len(acc[k]) for k in keys]
