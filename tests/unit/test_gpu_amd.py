"""The amdsmi collector (collectors.gpu_amd) against a fake ``amdsmi`` module built from
amdsmi 7.0.2's documented calls and return structures: the PyPI wheel's
``amdsmi/amdsmi_interface.py`` (dict keys, "N/A" for 0xFFFF/UINT_MAX fields, IntEnum
arguments, ``AmdSmiLibraryException.err_code``) and the ROCm 7.0 ``amdsmi.h`` docs (units:
power in W, VRAM in MB, clocks in MHz, temperatures in °C). No AMD GPU was used: untested on
real hardware. The rows it produces are the NVML collector's, so the GPU panels show them."""

from __future__ import annotations

import pytest

from collectors import gpu_names as N
from collectors.gpu_amd import AmdGpuCollector
from tests.doubles.amdsmi_fake import fake_amdsmi
from iejtui.viewmodel.gpu import gpu_panels


def test_canonical_rows_and_units():
    lib = fake_amdsmi()
    c = AmdGpuCollector(lib)
    assert c.open() == [] and c.available
    static = c.static_info()
    assert [s["name"] for s in static] == ["AMD Instinct MI300X"] * 2
    assert static[0]["memory_total"] == 196592 * 2**20 and static[0]["power_limit_mw"] == 750_000
    assert static[0]["max_clock_sm_mhz"] == 2100
    frames, events = c.tick(1000.0)
    assert events == [] and [f.source for f in frames] == [f"gpu:{s['uuid']}" for s in static]
    got = {s.name: s.value for s in frames[0].samples}
    assert got == {N.UTIL_GPU: 87, N.UTIL_MEM: 41, N.MEM_USED: 150016 * 2**20, N.MEM_TOTAL: 196592 * 2**20,
                   N.POWER_MW: 512_000, N.TEMP_C: 61, N.CLOCK_SM_MHZ: 2100, N.CLOCK_MEM_MHZ: 1300}
    assert all(dict(s.labels) == {"uuid": static[0]["uuid"]} for s in frames[0].samples)
    # GPU 1: activity NOT_SUPPORTED → no util rows (not 0), and never asked again
    second = {s.name for s in frames[1].samples}
    assert N.UTIL_GPU not in second and N.MEM_USED in second
    assert "activity" in c.static_info()[1]["unsupported"]
    c.tick(1001.0)
    assert lib.calls.count(("activity", 1)) == 1 and lib.calls.count(("activity", 0)) == 3  # probe + 2 ticks
    c.close()
    assert ("shut_down",) in lib.calls


def test_older_cards_and_missing_sensors():
    c = AmdGpuCollector(fake_amdsmi(mi300=False, hotspot=False))
    c.open()
    got = {s.name: s.value for s in c.tick(5.0)[0][0].samples}
    assert got[N.POWER_MW] == 230_000  # average_socket_power on Navi / MI200 and earlier
    assert got[N.TEMP_C] == 48  # edge sensor when there is no hotspot


def test_transient_error_is_reported_once_and_retried():
    c = AmdGpuCollector(fake_amdsmi(fail_vram=True))
    events = c.open()
    assert [e.kind for e in events] == ["gpu.error", "gpu.error"]  # once per GPU, at open
    assert c.static_info()[0]["memory_total"] is None and "vram_usage" not in c.static_info()[0]["unsupported"]
    frames, events = c.tick(1.0)
    assert events == [] and N.MEM_USED not in {s.name for s in frames[0].samples}


def test_without_rocm_it_says_so():
    c = AmdGpuCollector()  # imports the real amdsmi: absent here, or present without libamd_smi.so
    try:
        import amdsmi  # noqa: F401
    except Exception:  # noqa: BLE001
        (ev,) = c.open()
        assert ev.kind == "gpu.unavailable" and ev.message.startswith("amdsmi not available")
        assert not c.available and c.tick(1.0) == ([], [])
    else:
        pytest.skip("amdsmi with ROCm installed: this host is not the CPU-only case")


def test_gpu_panels_show_amd_rows():
    c = AmdGpuCollector(fake_amdsmi())
    c.open()
    store: dict[str, list] = {}
    for t in (10.0, 11.0):
        for f in c.tick(t)[0]:
            for s in f.samples:
                store.setdefault(s.name, {}).setdefault(s.labels, ([], []))
                store[s.name][s.labels][0].append(f.ts)
                store[s.name][s.labels][1].append(s.value)

    def get(name, flt=None, /):
        return [(dict(lab), ts, vs) for lab, (ts, vs) in store.get(name, {}).items()]
    (p0, p1) = gpu_panels(c.static_info(), get, 0.0, 11.0, live=True, interval_s=1.0)
    assert p0.name == "AMD Instinct MI300X" and p0.kernel_active == 87 and p0.power_w == 512.0
    assert p0.power_limit_w == 750.0 and p0.temp_c == 61 and p0.mem_used == 150016 * 2**20
    assert p0.sm_active is None and p1.kernel_active is None  # NVML-only / unsupported: n/a, not 0
