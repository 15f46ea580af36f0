"""AMD GPU telemetry through ``amdsmi`` (AMD's official Python library): the same canonical
rows as the NVML collector. **Untested on real AMD hardware**: written and tested against the
documented calls and return structures of amdsmi 7.0.2 (the PyPI wheel's
``amdsmi/amdsmi_interface.py``, and the ROCm docs of ``amdsmi.h`` 7.0:
https://rocm.docs.amd.com/projects/amdsmi/en/docs-7.0.1/), with a fake ``amdsmi`` module in
the tests. ``import amdsmi`` loads ``libamd_smi.so`` (ROCm) at import time, so on a host
without ROCm the import fails and the collector says so; iejtui does not depend on it.

Same interface as ``collectors.gpu.GpuCollector`` where the service uses it: ``open()`` →
events, ``static_info()``, ``tick(now)`` → (frames, events), ``processes()``, ``close()``.
Frames: one per GPU per tick, source ``gpu:<uuid>``, every sample labelled ``uuid``:

==================  ====================================================  ==================
row                 amdsmi call → field                                   unit conversion
==================  ====================================================  ==================
gpu.util_gpu        ``amdsmi_get_gpu_activity`` → ``gfx_activity``        % (as is)
gpu.util_mem        ... → ``umc_activity`` (memory controller)            % (as is)
gpu.mem_used/total  ``amdsmi_get_gpu_vram_usage`` → ``vram_used/total``   MB → bytes (× 2^20)
gpu.power_mw        ``amdsmi_get_power_info`` → ``current_socket_power``  W → mW
                    (MI300+), else ``average_socket_power``, else
                    ``socket_power``
gpu.temp_c          ``amdsmi_get_temp_metric(HOTSPOT, CURRENT)``, else    °C (as is)
                    ``EDGE`` (MI300 has no edge sensor)
gpu.clock_sm_mhz    ``amdsmi_get_clock_info(GFX)`` → ``clk``              MHz (as is)
gpu.clock_mem_mhz   ``amdsmi_get_clock_info(MEM)`` → ``clk``              MHz (as is)
==================  ====================================================  ==================

The library reports an unsupported field as the string ``"N/A"`` (0xFFFF / UINT_MAX in the
struct): that row is left out, never 0. A call that raises ``AmdSmiLibraryException`` with
NOT_SUPPORTED (2) or NO_PERM (10) is never asked again for that GPU (listed in
``static_info()[i]["unsupported"]``; every call is probed once at ``open``); other errors are reported once as an event. NVML-only
rows (SM-active, tensor-active, clock-event reasons, GPM) stay absent: the panels show them
as "n/a". Static facts: ``amdsmi_get_gpu_asic_info`` → ``market_name``, ``power_info`` →
``power_limit`` (W), ``clock_info`` → ``max_clk``.
"""

from __future__ import annotations

import time
from typing import Any

from . import gpu_names as N
from .records import Event, Frame, Sample

UNSUPPORTED_CODES = frozenset({2, 10})  # AMDSMI_STATUS_NOT_SUPPORTED, AMDSMI_STATUS_NO_PERM
MIB = 1024 * 1024


def _num(v: Any) -> float | None:
    """A reading, or None for amdsmi's "N/A" (and anything else that is not a number)."""
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return None
    return float(v)


class AmdGpuCollector:
    """``lib`` is the ``amdsmi`` module (None: imported at ``open``)."""

    def __init__(self, lib: Any = None) -> None:
        self.lib = lib
        self.available = False
        self.status = "not opened"
        self.handles: list[Any] = []
        self.static: list[dict[str, Any]] = []
        self.unsupported: list[set[str]] = []
        self._warned: set[tuple[int, str]] = set()
        self._events: list[Event] = []

    # --- lifecycle ------------------------------------------------------------------------
    def open(self) -> list[Event]:
        now = time.time()
        try:
            if self.lib is None:
                import amdsmi  # noqa: PLC0415 - optional, loads libamd_smi.so
                self.lib = amdsmi
            self.lib.amdsmi_init(self.lib.AmdSmiInitFlags.INIT_AMD_GPUS)
            self.handles = list(self.lib.amdsmi_get_processor_handles())
        except Exception as exc:  # noqa: BLE001 - no ROCm, no driver, no permission: say so
            self.status = f"amdsmi not available: {type(exc).__name__}: {exc}"
            return [Event(now, "gpu.unavailable", self.status, "warning", {"backend": "amdsmi"})]
        self.unsupported = [set() for _ in self.handles]
        self._events = []
        self.static = [self._read_static(i, h) for i, h in enumerate(self.handles)]
        for i in range(len(self.handles)):
            self.read_gpu(i)  # probe every call once, as the NVML collector does at open
        self.available = bool(self.handles)
        self.status = f"{len(self.handles)} AMD GPU(s) via amdsmi" if self.handles else "amdsmi: no AMD GPU"
        events, self._events = self._events, []
        return events

    def close(self) -> None:
        if self.lib is not None and self.available:
            try:
                self.lib.amdsmi_shut_down()
            except Exception:  # noqa: BLE001 - shutting down anyway
                pass
        self.available = False

    # --- calls ----------------------------------------------------------------------------
    def _call(self, i: int, key: str, fn: str, *args: Any) -> Any:
        if key in self.unsupported[i]:
            return None
        try:
            return getattr(self.lib, fn)(self.handles[i], *args)
        except Exception as exc:  # noqa: BLE001 - amdsmi's exceptions, AttributeError on old libs
            code = getattr(exc, "err_code", None)
            if code in UNSUPPORTED_CODES or isinstance(exc, AttributeError):
                self.unsupported[i].add(key)
            elif (i, key) not in self._warned:
                self._warned.add((i, key))
                self._events.append(Event(time.time(), "gpu.error", f"amdsmi {fn} failed on GPU {i}: {exc}",
                                          "warning", {"backend": "amdsmi", "code": code}))
            return None

    def _clock(self, i: int, which: str) -> dict[str, Any]:
        return self._call(i, f"clock_{which.lower()}", "amdsmi_get_clock_info",
                          getattr(self.lib.AmdSmiClkType, which)) or {}

    def _temp(self, i: int) -> float | None:
        T, M = self.lib.AmdSmiTemperatureType, self.lib.AmdSmiTemperatureMetric
        for sensor in ("HOTSPOT", "EDGE"):
            v = _num(self._call(i, f"temp_{sensor.lower()}", "amdsmi_get_temp_metric",
                                getattr(T, sensor), M.CURRENT))
            if v is not None:
                return v
        return None

    def _read_static(self, i: int, h: Any) -> dict[str, Any]:
        uuid = self._call(i, "uuid", "amdsmi_get_gpu_device_uuid") or f"amd-gpu-{i}"
        asic = self._call(i, "asic_info", "amdsmi_get_gpu_asic_info") or {}
        vram = self._call(i, "vram_usage", "amdsmi_get_gpu_vram_usage") or {}
        power = self._call(i, "power_info", "amdsmi_get_power_info") or {}
        total = _num(vram.get("vram_total"))
        limit = _num(power.get("power_limit"))
        name = asic.get("market_name")
        return {"uuid": str(uuid), "index": i, "vendor": "amd", "backend": "amdsmi",
                "name": name if name and name != "N/A" else "AMD GPU",
                "memory_total": None if total is None else int(total * MIB),
                "power_limit_mw": None if limit is None else int(limit * 1000),
                "max_clock_sm_mhz": _num(self._clock(i, "GFX").get("max_clk")),
                "max_clock_mem_mhz": _num(self._clock(i, "MEM").get("max_clk"))}

    # --- the service's interface ----------------------------------------------------------
    def static_info(self) -> list[dict[str, Any]]:
        return [{**s, "unsupported": sorted(u), "lost": False} for s, u in zip(self.static, self.unsupported)]

    def processes(self) -> dict[str, list[tuple[int, int | None]]]:
        return {}  # amdsmi_get_gpu_process_list is not read yet

    def read_gpu(self, i: int) -> list[Sample]:
        """The canonical rows of GPU ``i`` (see the module doc's table)."""
        lab = (("uuid", self.static[i]["uuid"]),)
        vals: dict[str, float | None] = {}
        act = self._call(i, "activity", "amdsmi_get_gpu_activity") or {}
        vals[N.UTIL_GPU] = _num(act.get("gfx_activity"))
        vals[N.UTIL_MEM] = _num(act.get("umc_activity"))
        vram = self._call(i, "vram_usage", "amdsmi_get_gpu_vram_usage") or {}
        used, total = _num(vram.get("vram_used")), _num(vram.get("vram_total"))
        vals[N.MEM_USED] = None if used is None else used * MIB
        vals[N.MEM_TOTAL] = None if total is None else total * MIB
        power = self._call(i, "power_info", "amdsmi_get_power_info") or {}
        watts = next((w for w in (_num(power.get(k)) for k in
                                  ("current_socket_power", "average_socket_power", "socket_power"))
                      if w is not None), None)
        vals[N.POWER_MW] = None if watts is None else watts * 1000.0
        vals[N.TEMP_C] = self._temp(i)
        vals[N.CLOCK_SM_MHZ] = _num(self._clock(i, "GFX").get("clk"))
        vals[N.CLOCK_MEM_MHZ] = _num(self._clock(i, "MEM").get("clk"))
        return [Sample(k, v, lab) for k, v in vals.items() if v is not None]

    def tick(self, now: float) -> tuple[list[Frame], list[Event]]:
        if not self.available:
            return [], []
        frames = [Frame(f"gpu:{s['uuid']}", now, self.read_gpu(i)) for i, s in enumerate(self.static)]
        events, self._events = self._events, []
        return [f for f in frames if f.samples], events
