"""GPU telemetry from NVML (nvidia-ml-py): the collector the service calls.

The service owns scheduling threads and the store; this module only reads NVML and returns
``Frame``s and ``Event``s (``collectors.records``). All calls block: call ``open``, ``tick``
and ``close`` from one worker thread, never from the event loop.

Tiers (decided here from the ``now`` each ``tick`` gets; the service ticks at ~1 Hz):

* every tick (1 s), source ``gpu:<uuid>``: ``gpu.util_gpu`` (NVML "utilization": the
  **kernel-active time**, 100 % even when one SM of 132 is busy), ``gpu.util_mem``,
  memory (v2 struct), power, temperature, SM/memory clocks, clock-event reasons (bitmask,
  ``decode_clock_reasons``), P-state, and on Hopper+ the GPM rolling pair: ``gpu.sm_active``,
  ``gpu.sm_occupancy``, ``gpu.tensor_active``, ``gpu.dram_active``, ``gpu.gr_active``,
  PCIe/NVLink MiB/s over the window since the previous tick;
* every 2 s: the driver's own sample buffers (power ~20 ms, utilisation ~200 ms, SM clock
  on change), one Frame per kept sample at the driver's timestamp, sources
  ``gpu-samples:<uuid>:power|util|clock_sm``. Kept means: outside a deadband around the
  last kept value (default 5 W for power, "changed" for util and clock), so a flat line
  costs nothing and a burst that a 1 s average hides is still there;
* every 5 s, ``gpu:<uuid>:slow``: energy counter (mJ), PCIe/NVLink byte counters, HBM
  temperature, instant power, compute processes with memory, MIG instance memory;
* every 60 s, ``gpu:<uuid>:health``: ECC counts, remapped rows, clock-event time counters.

Every call is probed once at ``open``; one that answers NotSupported (or FunctionNotFound,
NoPermission, a library mismatch) is never asked again and is listed in
``static_info()[i]["unsupported"]``. Never called: ``nvmlDeviceGetPcieThroughput`` (it
sleeps 20 ms in the driver). Energy and J/token maths: ``collectors.gpu_math``.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections import deque
from typing import Any

import pynvml

from . import gpu_names as N
from .gpu_backend import (
    NO_DRIVER_CODES,
    NvmlBackend,
    RealNvml,
    error_code,
    is_unsupported,
)
from .gpu_names import DCGM_EQUIVALENT, decode_clock_reasons
from .gpu_replay import RecordingNvml, ReplayFinished, ReplayMismatch, ReplayNvml
from .gpu_tiers import (
    GpuState,
    drain_samples,
    read_fast,
    read_gpm,
    read_health,
    read_slow,
    read_static,
)
from .records import Event, Frame

NO_DRIVER_MESSAGE = "NVML not found: no NVIDIA driver"

TIERS: dict[str, float] = {"fast": 1.0, "samples": 2.0, "slow": 5.0, "health": 60.0}
SLACK_S = 0.25  # a tier is due this much early, so 1 Hz jitter does not skip a beat
DEFAULT_DEADBAND: dict[str, float | None] = {"power": 5000.0, "util": 0.0, "clock_sm": 0.0}


class GpuCollector:
    """NVML collector. ``backend=None`` uses the real driver through pynvml."""

    def __init__(
        self,
        backend: NvmlBackend | None = None,
        *,
        tiers: dict[str, float] | None = None,
        sample_deadband: dict[str, float | None] | None = None,
    ) -> None:
        self.backend: Any = backend if backend is not None else RealNvml()
        self.tiers = {**TIERS, **(tiers or {})}
        self.deadband = {**DEFAULT_DEADBAND, **(sample_deadband or {})}
        self.available = False
        self.status = "not opened"
        self.system: dict[str, Any] = {}
        self.gpus: list[GpuState] = []
        # seconds spent per tier per GPU, most recent last (for status and perf scripts)
        self.costs: dict[str, deque[float]] = {t: deque(maxlen=3600) for t in (*TIERS, "gpm")}
        self._last: dict[str, float] = {}
        self._warned: set[tuple[str, str, str]] = set()
        self._events: list[Event] = []
        self._probing = False
        self._lock = threading.RLock()
        self._opened = False
        self._inited = False
        self._now = 0.0

    # --- lifecycle ------------------------------------------------------------------------
    def open(self) -> list[Event]:
        """nvmlInit, enumerate GPUs, read static info, probe every call once."""
        with self._lock:
            if self._opened:
                return []
            self._opened = True
            now = time.time()
            try:
                self.backend.init()
            except Exception as exc:  # noqa: BLE001 - no driver/library/permission: say so
                code = error_code(exc)
                if code in NO_DRIVER_CODES:
                    self.status = NO_DRIVER_MESSAGE
                else:
                    self.status = f"NVML init failed: {exc}"
                self.available = False
                data = {"error": type(exc).__name__, "code": code}
                return [Event(now, "gpu.unavailable", self.status, "warning", data)]
            self._inited = True
            self._now = now
            events: list[Event] = []
            self._events = events
            self.system = {
                "driver": self._sys("driver_version"),
                "cuda_driver_version": _cuda_str(self._sys("cuda_driver_version")),
                "nvml_version": self._sys("nvml_version"),
            }
            count = self._sys("device_count") or 0
            for i in range(int(count)):
                try:
                    uuid = self.backend.uuid(i)
                except pynvml.NVMLError as exc:
                    events.append(Event(now, "gpu.error", f"GPU {i}: no UUID ({exc})", "warning"))
                    continue
                g = GpuState(i, uuid)
                self._probing = True
                try:
                    g.static = read_static(self, g, self.system)
                    self._probe(g)
                finally:
                    self._probing = False
                self.gpus.append(g)
                if g.unsupported:
                    msg = f"GPU {i} {uuid}: not supported: {', '.join(sorted(g.unsupported))}"
                    events.append(Event(now, "gpu.unsupported", msg, "info",
                                        {"uuid": uuid, "calls": sorted(g.unsupported)}))  # fmt: skip
            self.available = bool(self.gpus)
            names = ", ".join(f"{g.index}: {g.static.get('name')}" for g in self.gpus)
            self.status = f"{len(self.gpus)} GPU(s): {names}" if self.gpus else "NVML: no GPUs"
            data = {"driver": self.system.get("driver"), "gpus": [g.uuid for g in self.gpus]}
            level = "info" if self.gpus else "warning"
            events.insert(0, Event(now, "gpu.open", self.status, level, data))
            self._events = []
            return events

    def _sys(self, method: str) -> Any:
        try:
            return getattr(self.backend, method)()
        except (pynvml.NVMLError, pynvml.NVMLLibraryMismatchError):
            return None

    def _probe(self, g: GpuState) -> None:
        """Ask each per-tick call once; answers are dropped, refusals remembered."""
        read_fast(self, g)
        read_slow(self, g, 0.0)
        read_health(self, g, 0.0)
        drain_samples(self, g, {})  # also moves each buffer's cursor past old history

    def close(self) -> None:
        with self._lock:
            self.available = False
            if not self._inited:
                return
            self._inited = False
            for g in self.gpus:
                if g.gpm and g.gpm_prev is not None:
                    with contextlib.suppress(Exception):  # closing: nothing left to tell
                        self.backend.gpm_release(g.index)
            with contextlib.suppress(Exception):
                self.backend.shutdown()
            self.gpus = []
            self.status = "closed"

    # --- the service's view ---------------------------------------------------------------
    def static_info(self) -> list[dict[str, Any]]:
        with self._lock:
            return [{**g.static, "unsupported": sorted(g.unsupported), "lost": g.lost}
                    for g in self.gpus]  # fmt: skip

    def processes(self) -> dict[str, list[tuple[int, int | None]]]:
        """Latest 5 s-tier answer: {uuid: [(host pid, used bytes or None)]}."""
        with self._lock:
            return {g.uuid: list(g.processes) for g in self.gpus}

    def tick(self, now: float) -> tuple[list[Frame], list[Event]]:
        """Read whatever tiers are due at ``now`` (Unix seconds)."""
        with self._lock:
            if not self.available:
                return [], []
            try:
                now = self.backend.tick_time(now)
            except ReplayFinished as exc:
                self.available = False
                self.status = "replay finished"
                return [], [Event(now, "gpu.replay_end", str(exc))]
            events: list[Event] = []
            self._events = events
            self._now = now
            due = [t for t in self.tiers if self._due(t, now)]
            frames: list[Frame] = []
            for g in self.gpus:
                if g.lost:
                    continue
                if "fast" in due:
                    t0 = time.perf_counter()
                    samples = read_fast(self, g)
                    t1 = time.perf_counter()
                    samples.extend(read_gpm(self, g, now))
                    t2 = time.perf_counter()
                    self.costs["fast"].append(t1 - t0)
                    if g.gpm:
                        self.costs["gpm"].append(t2 - t1)
                    frames.append(Frame(g.src_fast, now, samples))
                if "samples" in due:
                    frames.extend(self._timed("samples", drain_samples, g, self.deadband, now))
                if "slow" in due:
                    frames.append(self._timed("slow", read_slow, g, now))
                if "health" in due:
                    frames.append(self._timed("health", read_health, g, now))
            for t in due:
                self._last[t] = now
            self._events = []
            return [f for f in frames if f.samples], events

    def _timed(self, tier: str, fn: Any, *args: Any) -> Any:
        t0 = time.perf_counter()
        try:
            return fn(self, *args)
        finally:
            self.costs[tier].append(time.perf_counter() - t0)

    def _due(self, tier: str, now: float) -> bool:
        last = self._last.get(tier)
        if last is None or now < last:
            return True
        interval = self.tiers[tier]
        if tier == "fast":
            return now - last >= interval * 0.5
        return now - last >= interval - SLACK_S

    # --- Caller protocol (used by gpu_tiers) ----------------------------------------------
    def call(self, g: GpuState, key: str, method: str, *args: Any) -> Any:
        if g.lost or key in g.unsupported:
            return None
        try:
            return getattr(self.backend, method)(g.index, *args)
        except (ReplayMismatch, ReplayFinished):
            raise
        except Exception as exc:  # noqa: BLE001 - one bad call must not stop the sampler
            self._failed(g, key, exc)
            return None

    def samples_call(self, g: GpuState, kind: str, stype: int, last_us: int) -> list | None:
        key = f"samples_{kind}"
        if g.lost or key in g.unsupported:
            return None
        try:
            return self.backend.samples(g.index, stype, last_us)
        except pynvml.NVMLError_NotFound:
            return None  # nothing new in the buffer (clocks record only changes)
        except (ReplayMismatch, ReplayFinished):
            raise
        except Exception as exc:  # noqa: BLE001 - one bad call must not stop the sampler
            self._failed(g, key, exc)
            return None

    def mark_unsupported(self, g: GpuState, key: str, why: str) -> None:
        if key in g.unsupported:
            return
        g.unsupported[key] = why
        if not self._probing:
            msg = f"GPU {g.index} {g.uuid}: {key} not supported ({why}); no longer asked"
            self._events.append(Event(self._now, "gpu.unsupported", msg, "info",
                                      {"uuid": g.uuid, "calls": [key]}))  # fmt: skip

    def _failed(self, g: GpuState, key: str, exc: BaseException) -> None:
        code = error_code(exc)
        if is_unsupported(exc):
            self.mark_unsupported(g, key, f"{type(exc).__name__}")
            return
        if code == pynvml.NVML_ERROR_GPU_IS_LOST:
            g.lost = True
            msg = f"GPU {g.index} {g.uuid} is lost (NVML: {exc}); no longer sampled"
            self._events.append(Event(self._now, "gpu.lost", msg, "error", {"uuid": g.uuid}))
            return
        tag = (g.uuid, key, str(code))
        if tag in self._warned:
            return
        self._warned.add(tag)
        msg = f"GPU {g.index} {g.uuid}: {key} failed: {type(exc).__name__}: {exc}"
        self._events.append(Event(self._now, "gpu.error", msg, "warning",
                                  {"uuid": g.uuid, "call": key, "code": code}))  # fmt: skip


def _cuda_str(v: Any) -> str | None:
    """13000 -> "13.0" (NVML encodes major*1000 + minor*10)."""
    if v is None:
        return None
    v = int(v)
    return f"{v // 1000}.{(v % 1000) // 10}"


__all__ = [
    "DCGM_EQUIVALENT",
    "NO_DRIVER_MESSAGE",
    "GpuCollector",
    "N",
    "RealNvml",
    "RecordingNvml",
    "ReplayFinished",
    "ReplayMismatch",
    "ReplayNvml",
    "decode_clock_reasons",
]  # fmt: skip
