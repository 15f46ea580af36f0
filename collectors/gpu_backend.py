"""The NVML boundary: a small protocol over exactly the pynvml calls the collector uses.

Every method takes GPU *indices* (handles stay inside the backend) and returns plain,
JSON-serialisable values (ints, floats, strings, lists, dicts with string keys), so a
recording of the calls can be replayed without ctypes. GPM samples are opaque integer
tokens: the backend owns the ctypes sample buffers.

Errors are pynvml's own exceptions (``pynvml.NVMLError_NotSupported``...), raised as-is;
per-entry results of ``field_values`` and ``gpm_metrics`` carry their own NVML return code
(0 = success) instead of raising.

``tick_time(now)`` is the one method that is not an NVML call: the collector asks it which
timestamp the current tick has. Live backends return ``now``; a replay returns the recorded
instant (see ``collectors.gpu_replay``).
"""

from __future__ import annotations

import threading
from typing import Any, Protocol

import pynvml

# Calls answered with these codes mean "this GPU/driver cannot do it": stop calling.
UNSUPPORTED_CODES = frozenset(
    {
        pynvml.NVML_ERROR_NOT_SUPPORTED,
        pynvml.NVML_ERROR_NO_PERMISSION,
        pynvml.NVML_ERROR_FUNCTION_NOT_FOUND,
        pynvml.NVML_ERROR_INVALID_ARGUMENT,  # e.g. a field id the driver does not know
    }
)
NO_DRIVER_CODES = frozenset(
    {pynvml.NVML_ERROR_LIBRARY_NOT_FOUND, pynvml.NVML_ERROR_DRIVER_NOT_LOADED}
)

# Every method of the protocol that is forwarded to NVML (RecordingNvml wraps these).
BACKEND_CALLS: tuple[str, ...] = (
    "init", "shutdown", "driver_version", "cuda_driver_version", "nvml_version",
    "device_count", "uuid", "name", "memory_info", "enforced_power_limit", "max_clock",
    "pcie_gen", "pcie_width", "mig_mode", "ecc_mode", "persistence_mode", "gpm_supported",
    "utilization", "power_usage", "temperature", "clock", "clocks_event_reasons",
    "performance_state", "total_energy", "field_values", "compute_processes", "samples",
    "remapped_rows", "mig_instances", "gpm_sample", "gpm_metrics", "gpm_release",
)  # fmt: skip


class NvmlBackend(Protocol):
    """What the GPU collector needs from NVML. ``i`` is the NVML device index."""

    def tick_time(self, now: float) -> float: ...
    def init(self) -> None: ...
    def shutdown(self) -> None: ...
    def driver_version(self) -> str: ...
    def cuda_driver_version(self) -> int: ...
    def nvml_version(self) -> str: ...
    def device_count(self) -> int: ...
    def uuid(self, i: int) -> str: ...
    def name(self, i: int) -> str: ...
    def memory_info(self, i: int) -> dict[str, int]: ...  # total, reserved, used, free
    def enforced_power_limit(self, i: int) -> int: ...  # mW
    def max_clock(self, i: int, clock: int) -> int: ...  # MHz
    def pcie_gen(self, i: int) -> int: ...
    def pcie_width(self, i: int) -> int: ...
    def mig_mode(self, i: int) -> list[int]: ...  # [current, pending]
    def ecc_mode(self, i: int) -> list[int]: ...  # [current, pending]
    def persistence_mode(self, i: int) -> int: ...
    def gpm_supported(self, i: int) -> bool: ...
    def utilization(self, i: int) -> list[int]: ...  # [gpu %, memory %]
    def power_usage(self, i: int) -> int: ...  # mW
    def temperature(self, i: int) -> int: ...  # C
    def clock(self, i: int, clock: int) -> int: ...  # MHz
    def clocks_event_reasons(self, i: int) -> int: ...
    def performance_state(self, i: int) -> int: ...
    def total_energy(self, i: int) -> int: ...  # mJ since driver load

    def field_values(self, i: int, fields: list[list[int]]) -> list[list[Any]]:
        """``fields`` = [[field_id, scope_id], ...] -> [[field_id, scope_id, ret, value, ts_us]]."""
        ...

    def compute_processes(self, i: int) -> list[list[Any]]: ...  # [[pid, bytes|None]]

    def samples(self, i: int, sample_type: int, last_ts_us: int) -> list[list[int | float]]:
        """Driver ring buffer since ``last_ts_us``: [[ts_us, value]]; NotFound = no new data."""
        ...

    def remapped_rows(self, i: int) -> list[int]: ...  # [corr, unc, pending, failure]
    def mig_instances(self, i: int) -> list[dict[str, Any]]: ...
    def gpm_sample(self, i: int) -> int: ...  # token of a fresh GPM sample
    def gpm_metrics(self, i: int, metric_ids: list[int], a: int, b: int) -> list[list[Any]]:
        """Metrics between samples ``a`` and ``b``: [[metric_id, ret, value]]."""
        ...

    def gpm_release(self, i: int) -> None: ...


def _str(v: Any) -> str:
    return v.decode() if isinstance(v, bytes) else str(v)


def _union_value(value: Any, value_type: int) -> int | float:
    """Read the member of a ``c_nvmlValue_t`` that ``value_type`` names."""
    member = {0: "dVal", 1: "uiVal", 2: "ulVal", 3: "ullVal", 4: "sllVal", 5: "siVal", 6: "usVal"}
    return getattr(value, member.get(value_type, "ullVal"))


class RealNvml:
    """The pynvml backend. Thread-safe as NVML is; handles are cached by index."""

    GPM_KEEP = 2  # sample buffers kept per GPU (the rolling pair)

    def __init__(self) -> None:
        self._handles: dict[int, Any] = {}
        self._gpm: dict[int, dict[int, Any]] = {}
        self._next_token = 1
        self._lock = threading.Lock()

    def _h(self, i: int) -> Any:
        h = self._handles.get(i)
        if h is None:
            h = self._handles[i] = pynvml.nvmlDeviceGetHandleByIndex(i)
        return h

    def tick_time(self, now: float) -> float:
        return now

    def init(self) -> None:
        pynvml.nvmlInit()

    def shutdown(self) -> None:
        for i in list(self._gpm):
            self.gpm_release(i)
        self._handles.clear()
        pynvml.nvmlShutdown()

    def driver_version(self) -> str:
        return _str(pynvml.nvmlSystemGetDriverVersion())

    def cuda_driver_version(self) -> int:
        return int(pynvml.nvmlSystemGetCudaDriverVersion_v2())

    def nvml_version(self) -> str:
        return _str(pynvml.nvmlSystemGetNVMLVersion())

    def device_count(self) -> int:
        return int(pynvml.nvmlDeviceGetCount())

    def uuid(self, i: int) -> str:
        return _str(pynvml.nvmlDeviceGetUUID(self._h(i)))

    def name(self, i: int) -> str:
        return _str(pynvml.nvmlDeviceGetName(self._h(i)))

    def memory_info(self, i: int) -> dict[str, int]:
        m = pynvml.nvmlDeviceGetMemoryInfo(self._h(i), version=pynvml.nvmlMemory_v2)
        return {"total": m.total, "reserved": m.reserved, "used": m.used, "free": m.free}

    def enforced_power_limit(self, i: int) -> int:
        return int(pynvml.nvmlDeviceGetEnforcedPowerLimit(self._h(i)))

    def max_clock(self, i: int, clock: int) -> int:
        return int(pynvml.nvmlDeviceGetMaxClockInfo(self._h(i), clock))

    def pcie_gen(self, i: int) -> int:
        return int(pynvml.nvmlDeviceGetCurrPcieLinkGeneration(self._h(i)))

    def pcie_width(self, i: int) -> int:
        return int(pynvml.nvmlDeviceGetCurrPcieLinkWidth(self._h(i)))

    def mig_mode(self, i: int) -> list[int]:
        return [int(x) for x in pynvml.nvmlDeviceGetMigMode(self._h(i))]

    def ecc_mode(self, i: int) -> list[int]:
        return [int(x) for x in pynvml.nvmlDeviceGetEccMode(self._h(i))]

    def persistence_mode(self, i: int) -> int:
        return int(pynvml.nvmlDeviceGetPersistenceMode(self._h(i)))

    def gpm_supported(self, i: int) -> bool:
        return bool(pynvml.nvmlGpmQueryDeviceSupport(self._h(i)).isSupportedDevice)

    def utilization(self, i: int) -> list[int]:
        u = pynvml.nvmlDeviceGetUtilizationRates(self._h(i))
        return [int(u.gpu), int(u.memory)]

    def power_usage(self, i: int) -> int:
        return int(pynvml.nvmlDeviceGetPowerUsage(self._h(i)))

    def temperature(self, i: int) -> int:
        return int(pynvml.nvmlDeviceGetTemperature(self._h(i), pynvml.NVML_TEMPERATURE_GPU))

    def clock(self, i: int, clock: int) -> int:
        return int(pynvml.nvmlDeviceGetClockInfo(self._h(i), clock))

    def clocks_event_reasons(self, i: int) -> int:
        return int(pynvml.nvmlDeviceGetCurrentClocksEventReasons(self._h(i)))

    def performance_state(self, i: int) -> int:
        return int(pynvml.nvmlDeviceGetPerformanceState(self._h(i)))

    def total_energy(self, i: int) -> int:
        return int(pynvml.nvmlDeviceGetTotalEnergyConsumption(self._h(i)))

    def field_values(self, i: int, fields: list[list[int]]) -> list[list[Any]]:
        vals = pynvml.nvmlDeviceGetFieldValues(self._h(i), [(int(f), int(s)) for f, s in fields])
        out = []
        for v in vals:
            ret = int(v.nvmlReturn)
            value = _union_value(v.value, int(v.valueType)) if ret == 0 else None
            out.append([int(v.fieldId), int(v.scopeId), ret, value, int(v.timestamp)])
        return out

    def compute_processes(self, i: int) -> list[list[Any]]:
        procs = pynvml.nvmlDeviceGetComputeRunningProcesses(self._h(i))
        return [[int(p.pid), None if p.usedGpuMemory is None else int(p.usedGpuMemory)]
                for p in procs]  # fmt: skip

    def samples(self, i: int, sample_type: int, last_ts_us: int) -> list[list[int | float]]:
        vtype, samples = pynvml.nvmlDeviceGetSamples(self._h(i), sample_type, int(last_ts_us))
        return [[int(s.timeStamp), _union_value(s.sampleValue, int(vtype))] for s in samples]

    def remapped_rows(self, i: int) -> list[int]:
        return [int(x) for x in pynvml.nvmlDeviceGetRemappedRows(self._h(i))]

    def mig_instances(self, i: int) -> list[dict[str, Any]]:
        h = self._h(i)
        out = []
        for j in range(int(pynvml.nvmlDeviceGetMaxMigDeviceCount(h))):
            try:
                m = pynvml.nvmlDeviceGetMigDeviceHandleByIndex(h, j)
            except pynvml.NVMLError_NotFound:
                continue
            mem = pynvml.nvmlDeviceGetMemoryInfo(m)
            out.append({
                "index": j,
                "uuid": _str(pynvml.nvmlDeviceGetUUID(m)),
                "gpu_instance_id": int(pynvml.nvmlDeviceGetGpuInstanceId(m)),
                "compute_instance_id": int(pynvml.nvmlDeviceGetComputeInstanceId(m)),
                "memory_total": int(mem.total),
                "memory_used": int(mem.used),
            })  # fmt: skip
        return out

    def gpm_sample(self, i: int) -> int:
        with self._lock:
            bufs = self._gpm.setdefault(i, {})
            token = self._next_token
            self._next_token += 1
            # recycle the oldest buffer once the rolling pair is full
            if len(bufs) >= self.GPM_KEEP:
                oldest = min(bufs)
                sample = bufs.pop(oldest)
            else:
                sample = pynvml.nvmlGpmSampleAlloc()
            bufs[token] = sample
        pynvml.nvmlGpmSampleGet(self._h(i), sample)
        return token

    def gpm_metrics(self, i: int, metric_ids: list[int], a: int, b: int) -> list[list[Any]]:
        bufs = self._gpm.get(i, {})
        mg = pynvml.c_nvmlGpmMetricsGet_t()
        mg.version = pynvml.NVML_GPM_METRICS_GET_VERSION
        mg.numMetrics = len(metric_ids)
        mg.sample1 = bufs[a]
        mg.sample2 = bufs[b]
        for k, mid in enumerate(metric_ids):
            mg.metrics[k].metricId = int(mid)
        pynvml.nvmlGpmMetricsGet(mg)
        out = []
        for k in range(len(metric_ids)):
            m = mg.metrics[k]
            ret = int(m.nvmlReturn)
            out.append([int(m.metricId), ret, float(m.value) if ret == 0 else None])
        return out

    def gpm_release(self, i: int) -> None:
        with self._lock:
            bufs = self._gpm.pop(i, {})
        for sample in bufs.values():
            try:
                pynvml.nvmlGpmSampleFree(sample)
            except pynvml.NVMLError:
                pass


def error_code(exc: BaseException) -> int | str:
    """NVML return code of an exception from a backend (a string for non-NVML ones)."""
    if isinstance(exc, pynvml.NVMLError):
        return int(exc.value)
    if isinstance(exc, pynvml.NVMLLibraryMismatchError):
        return "LibraryMismatch"
    return type(exc).__name__


def is_unsupported(exc: BaseException) -> bool:
    """NotSupported and kin, a library mismatch, or a function this pynvml lacks."""
    if isinstance(exc, (pynvml.NVMLLibraryMismatchError, AttributeError)):
        return True
    return isinstance(exc, pynvml.NVMLError) and exc.value in UNSUPPORTED_CODES


def error_name(exc: BaseException) -> str:
    if isinstance(exc, pynvml.NVMLError):
        return f"{type(exc).__name__}: {exc}"
    return f"{type(exc).__name__}: {exc}"
