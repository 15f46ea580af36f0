"""A fake ``amdsmi`` module (the hardware we cannot provoke: an AMD GPU), faithful to amdsmi
7.0.2's documented calls and return structures: the PyPI wheel's ``amdsmi/amdsmi_interface.py``
(dict keys, "N/A" for 0xFFFF/UINT_MAX fields, IntEnum arguments with their aliases: GFX = SYS,
JUNCTION = HOTSPOT; ``AmdSmiLibraryException.err_code``) and the ROCm 7.0 ``amdsmi.h`` docs
(power in W, VRAM in MB, clocks in MHz, temperatures in °C). Two MI300X GPUs; the second
answers NOT_SUPPORTED (2) for activity, as on a VM guest.

``install(namespace)`` fills a module namespace with it, so a folder holding
``amdsmi/__init__.py`` = ``from tests.doubles.amdsmi_fake import install; install(globals())``
on PYTHONPATH makes a service subprocess see "AMD GPUs".
"""

from __future__ import annotations

import types
from enum import IntEnum


class AmdSmiException(Exception):
    pass


class AmdSmiLibraryException(AmdSmiException):  # amdsmi_exception.py: abs(err_code) kept
    def __init__(self, err_code):
        super().__init__(abs(err_code))
        self.err_code = abs(err_code)


def fake_amdsmi(mi300: bool = True, hotspot: bool = True, fail_vram: bool = False):
    """Two GPUs; the second answers NOT_SUPPORTED (2) for activity, like a VM guest."""
    m = types.ModuleType("amdsmi")
    m.AmdSmiInitFlags = IntEnum("AmdSmiInitFlags", {"INIT_ALL_PROCESSORS": 0xFFFFFFFF, "INIT_AMD_GPUS": 2})
    m.AmdSmiClkType = IntEnum("AmdSmiClkType", {"SYS": 0, "GFX": 0, "DF": 1, "DCEF": 2, "SOC": 3, "MEM": 4})
    m.AmdSmiTemperatureType = IntEnum("AmdSmiTemperatureType", {"EDGE": 0, "HOTSPOT": 1, "JUNCTION": 1, "VRAM": 2})
    m.AmdSmiTemperatureMetric = IntEnum("AmdSmiTemperatureMetric", {"CURRENT": 0, "MAX": 1})
    m.AmdSmiLibraryException = AmdSmiLibraryException
    handles = [object(), object()]
    m.calls = []
    m.amdsmi_init = lambda flag=m.AmdSmiInitFlags.INIT_AMD_GPUS: m.calls.append(("init", flag))
    m.amdsmi_shut_down = lambda: m.calls.append(("shut_down",))
    m.amdsmi_get_processor_handles = lambda: list(handles)
    m.amdsmi_get_gpu_device_uuid = lambda h: ["3eff74a1-0000-1000-80ca-9b1f5e3c7a21",
                                              "8aff74a1-0000-1000-80de-2c4a1b9d0e55"][handles.index(h)]
    m.amdsmi_get_gpu_asic_info = lambda h: {
        "market_name": "AMD Instinct MI300X", "vendor_id": "0x1002", "vendor_name": "Advanced Micro Devices Inc.",
        "subvendor_id": "0x1002", "device_id": "0x74a1", "rev_id": "0x00", "asic_serial": "0xD1CB2F7A0B4E12A5",
        "oam_id": 0, "num_compute_units": 304, "target_graphics_version": "gfx942", "subsystem_id": "0x74a1"}

    def activity(h):
        m.calls.append(("activity", handles.index(h)))
        if handles.index(h) == 1:
            raise AmdSmiLibraryException(2)
        return {"gfx_activity": 87, "umc_activity": 41, "mm_activity": "N/A"}
    m.amdsmi_get_gpu_activity = activity

    def vram(h):
        if fail_vram:
            raise AmdSmiLibraryException(8)  # AMDSMI_STATUS_TIMEOUT: a transient error
        return {"vram_total": 196592, "vram_used": 150016}
    m.amdsmi_get_gpu_vram_usage = vram
    m.amdsmi_get_power_info = lambda h: {
        "socket_power": 512 if mi300 else "N/A", "current_socket_power": 512 if mi300 else "N/A",
        "average_socket_power": "N/A" if mi300 else 230, "gfx_voltage": "N/A", "soc_voltage": "N/A",
        "mem_voltage": "N/A", "power_limit": 750}

    def temp(h, sensor, metric):
        assert isinstance(sensor, m.AmdSmiTemperatureType) and metric == m.AmdSmiTemperatureMetric.CURRENT
        if sensor == m.AmdSmiTemperatureType.HOTSPOT and not hotspot:
            raise AmdSmiLibraryException(2)
        return 61 if sensor == m.AmdSmiTemperatureType.HOTSPOT else 48
    m.amdsmi_get_temp_metric = temp

    def clock(h, clk):
        assert isinstance(clk, m.AmdSmiClkType)
        if clk == m.AmdSmiClkType.GFX:
            return {"clk": 2100, "min_clk": 500, "max_clk": 2100, "clk_locked": False, "clk_deep_sleep": 0}
        return {"clk": 1300, "min_clk": 900, "max_clk": 1300, "clk_locked": "N/A", "clk_deep_sleep": "N/A"}
    m.amdsmi_get_clock_info = clock
    return m


def install(namespace: dict) -> None:
    namespace.update({k: v for k, v in vars(fake_amdsmi()).items() if not k.startswith("__")})
