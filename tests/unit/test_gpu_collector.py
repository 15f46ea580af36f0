"""GpuCollector against a scripted fake backend and against this machine's real NVML."""

from __future__ import annotations

import gzip
import json
import math
from itertools import pairwise

import pynvml
import pytest

from collectors import gpu_names as N
from collectors.gpu import NO_DRIVER_MESSAGE, GpuCollector
from collectors.gpu_backend import BACKEND_CALLS, RealNvml
from collectors.gpu_replay import (
    RecordingNvml,
    ReplayMismatch,
    ReplayNvml,
    replay_ticks,
)

T0 = 1_750_000_000.0


class FakeNvml:
    """Two GPUs; GPU 1 has MIG on, no GPM; NVLink answers NotSupported everywhere."""

    def __init__(self, n: int = 2) -> None:
        self.n = n
        self.calls: list[str] = []
        self.by_gpu: list[int | None] = []
        self.energy = [1_000_000, 5_000_000]
        self.tok = 0
        self.sample_clock_us = int(T0 * 1e6)
        self.lost: set[int] = set()

    def _c(self, name: str, i: int | None = None) -> None:
        self.calls.append(name)
        self.by_gpu.append(i)
        if i is not None and i in self.lost:
            raise pynvml.NVMLError(pynvml.NVML_ERROR_GPU_IS_LOST)

    def tick_time(self, now):
        return now

    def init(self): self._c("init")
    def shutdown(self): self._c("shutdown")
    def driver_version(self): return "580.159.04"
    def cuda_driver_version(self): return 13000
    def nvml_version(self): return "13.580.159.04"
    def device_count(self): return self.n
    def uuid(self, i): return f"GPU-{i:04d}"
    def name(self, i): return "NVIDIA H100 80GB HBM3"

    def memory_info(self, i):
        self._c("memory_info", i)
        return {"total": 80 << 30, "reserved": 480 << 20, "used": (1 + i) << 30, "free": 1}

    def enforced_power_limit(self, i): return 700_000
    def max_clock(self, i, clock): return 1980 if clock == N.CLOCK_SM else 2619
    def pcie_gen(self, i): return 5
    def pcie_width(self, i): return 16
    def mig_mode(self, i): return [1 if i == 1 else 0, 0]
    def ecc_mode(self, i): return [1, 1]
    def persistence_mode(self, i): return 1
    def gpm_supported(self, i): return i == 0

    def utilization(self, i):
        self._c("utilization", i)
        return [100, 3]

    def power_usage(self, i): self._c("power_usage", i); return 120_000
    def temperature(self, i): return 40

    def clock(self, i, clock):
        return 1980 if clock == N.CLOCK_SM else 2619

    def clocks_event_reasons(self, i): return 0x1 | 0x4
    def performance_state(self, i): return 0

    def total_energy(self, i):
        self._c("total_energy", i)
        self.energy[i] += 600_000
        return self.energy[i]

    def field_values(self, i, fields):
        self._c("field_values", i)
        out = []
        for fid, scope in fields:
            if fid in (138, 139):
                out.append([fid, scope, 3, None, 0])
            else:
                out.append([fid, scope, 0, 7, int(T0 * 1e6)])
        return out

    def compute_processes(self, i):
        self._c("compute_processes", i)
        return [[4242, 2 << 30], [4343, None]]

    def samples(self, i, stype, last):
        self._c(f"samples{stype}", i)
        if stype == 5:
            raise pynvml.NVMLError(pynvml.NVML_ERROR_NOT_FOUND)
        if stype == 1 and i == 1:
            raise pynvml.NVMLError(pynvml.NVML_ERROR_NOT_SUPPORTED)
        self.sample_clock_us += 1_000_000
        base = self.sample_clock_us
        vals = [70_000, 71_000, 90_000, 90_500, 300_000] if stype == 0 else [0, 0, 100, 100, 0]
        return [[base + k * 200_000, v] for k, v in enumerate(vals) if base + k * 200_000 > last]

    def remapped_rows(self, i): return [0, 0, 0, 0]

    def mig_instances(self, i):
        self._c("mig_instances", i)
        return [{"index": 0, "uuid": "MIG-a", "gpu_instance_id": 1, "compute_instance_id": 0,
                 "memory_total": 10 << 30, "memory_used": 1 << 30}]

    def gpm_sample(self, i):
        self._c("gpm_sample", i)
        self.tok += 1
        return self.tok

    def gpm_metrics(self, i, ids, a, b):
        self._c("gpm_metrics", i)
        vals = {2: 0.76, 1: 99.9, 3: 0.01, 5: 0.0, 10: float("nan")}
        return [[m, 3 if m in (60, 61) else 0, vals.get(m, 1.0)] for m in ids]

    def gpm_release(self, i): self._c("gpm_release", i)


def _by(frames):
    out = {}
    for f in frames:
        for s in f.samples:
            out.setdefault((f.source, s.name), []).append((f.ts, s.value, s.labels))
    return out


def test_fake_protocol_covers_backend_calls():
    for name in BACKEND_CALLS:
        assert callable(getattr(FakeNvml, name)), name


def test_open_static_info_and_probe():
    fake = FakeNvml()
    c = GpuCollector(fake)
    events = c.open()
    assert c.available
    assert events[0].kind == "gpu.open" and "H100" in events[0].message
    info = c.static_info()
    assert [g["uuid"] for g in info] == ["GPU-0000", "GPU-0001"]
    g0, g1 = info
    assert g0["driver"] == "580.159.04" and g0["cuda_driver_version"] == "13.0"
    assert g0["memory_total"] == 80 << 30 and g0["power_limit_mw"] == 700_000
    assert g0["max_clock_sm_mhz"] == 1980 and g0["pcie_gen"] == 5 and g0["pcie_width"] == 16
    assert g0["gpm_supported"] is True and g1["gpm_supported"] is False
    assert g0["mig_mode"] is False and g1["mig_mode"] is True
    assert g1["mig_instances"][0]["uuid"] == "MIG-a"
    assert "field:gpu.nvlink_tx_kib" in g0["unsupported"]
    assert "samples_util" in g1["unsupported"] and "samples_util" not in g0["unsupported"]
    assert any(e.kind == "gpu.unsupported" for e in events)


def test_tiers_sources_and_values():
    fake = FakeNvml()
    c = GpuCollector(fake)
    c.open()
    all_frames = []
    for k in range(12):
        frames, _ = c.tick(T0 + k)
        all_frames += frames
    by = _by(all_frames)
    fast = by[("gpu:GPU-0000", N.UTIL_GPU)]
    assert len(fast) == 12 and fast[0][1] == 100.0 and fast[0][2] == (("uuid", "GPU-0000"),)
    assert by[("gpu:GPU-0000", N.MEM_RESERVED)][0][1] == 480 << 20
    assert by[("gpu:GPU-0000", N.CLOCKS_EVENT_REASONS)][0][1] == 5
    # GPM from the second tick on, rolling pair; NaN dropped; NVLink dropped as unsupported
    sm = by[("gpu:GPU-0000", "gpu.sm_active")]
    assert len(sm) == 11 and sm[0][1] == pytest.approx(0.76)
    assert ("gpu:GPU-0000", "gpu.dram_active") not in by
    assert ("gpu:GPU-0000", "gpu.nvlink_tx_mibs") not in by
    assert "gpm:gpu.nvlink_tx_mibs" in c.static_info()[0]["unsupported"]
    assert ("gpu:GPU-0001", "gpu.sm_active") not in by  # no GPM on GPU 1
    # slow tier at t0, t0+5, t0+10
    energy = by[("gpu:GPU-0000:slow", N.ENERGY_MJ)]
    assert [t for t, _, _ in energy] == [T0, T0 + 5, T0 + 10]
    procs = by[("gpu:GPU-0000:slow", N.PROC_MEM_USED)]
    assert procs[0][2] == (("pid", "4242"), ("uuid", "GPU-0000")) and len(procs) == 3
    assert c.processes()["GPU-0000"] == [(4242, 2 << 30), (4343, None)]
    assert ("gpu:GPU-0001:slow", N.MIG_MEM_USED) in by
    assert ("gpu:GPU-0000:slow", N.MIG_MEM_USED) not in by
    assert ("gpu:GPU-0000:slow", "gpu.nvlink_tx_kib") not in by
    assert len(by[("gpu:GPU-0000:health", "gpu.ecc_dbe_volatile")]) == 1
    # sample buffers every 2 s, at the driver's timestamps, power with a 5 W deadband
    power = by[("gpu-samples:GPU-0000:power", "gpu.sample.power_mw")]
    assert all(abs(t - T0) < 100 for t, _, _ in power)
    vals = [v for _, v, _ in power]
    assert 71_000.0 not in vals and 90_500.0 not in vals and 300_000.0 in vals
    util = [v for _, v, _ in by[("gpu-samples:GPU-0000:util", "gpu.sample.util_gpu")]]
    assert all(a != b for a, b in pairwise(util))  # change-only
    assert fake.calls.count("samples0") == 1 * 2 + 6 * 2  # probe + ticks 0,2,4,6,8,10
    assert all(f.samples for f in all_frames)


def test_unsupported_call_is_not_asked_again():
    fake = FakeNvml(1)
    c = GpuCollector(fake)
    c.open()
    for k in range(5):
        c.tick(T0 + k)
    # NotSupported fields were dropped from the request after the probe
    assert "field:gpu.nvlink_rx_kib" in c.static_info()[0]["unsupported"]


def test_gpu_lost_stops_sampling_that_gpu():
    fake = FakeNvml()
    c = GpuCollector(fake)
    c.open()
    c.tick(T0)
    fake.lost.add(1)
    frames, events = c.tick(T0 + 1)
    assert any(e.kind == "gpu.lost" and e.level == "error" for e in events)
    n = len(fake.by_gpu)
    frames, events = c.tick(T0 + 2)
    assert not [f for f in frames if "GPU-0001" in f.source]
    assert [f for f in frames if "GPU-0000" in f.source]
    assert 1 not in fake.by_gpu[n:] and 0 in fake.by_gpu[n:]
    assert c.static_info()[1]["lost"] is True


def test_tick_before_open_and_after_close():
    c = GpuCollector(FakeNvml())
    assert c.tick(T0) == ([], [])
    c.open()
    c.close()
    assert c.tick(T0) == ([], [])
    c.close()  # idempotent


def test_no_nvidia_driver_real_backend():
    """This machine has no NVIDIA driver: a clear event, available False, no exception."""
    try:
        pynvml.nvmlInit()
    except pynvml.NVMLError:
        pass
    else:  # pragma: no cover - a machine with a driver
        pynvml.nvmlShutdown()
        pytest.skip("an NVIDIA driver is present")
    c = GpuCollector()
    assert isinstance(c.backend, RealNvml)
    events = c.open()
    assert c.available is False
    assert [e.kind for e in events] == ["gpu.unavailable"]
    assert events[0].message == NO_DRIVER_MESSAGE == c.status
    assert c.tick(T0) == ([], []) and c.static_info() == [] and c.processes() == {}
    c.close()


def test_record_then_replay_is_identical(tmp_path):
    path = tmp_path / "trace.jsonl.gz"
    rec = RecordingNvml(FakeNvml(), path)
    c = GpuCollector(rec)
    c.open()
    live = [c.tick(T0 + k)[0] for k in range(8)]
    live_static = c.static_info()
    c.close()
    with gzip.open(path, "rt") as f:
        lines = [json.loads(x) for x in f]
    assert "meta" in lines[0]
    assert sum(1 for x in lines if "tick" in x) == 8
    errs = [x for x in lines if x.get("err") is not None]
    assert {x["err"] for x in errs} >= {3, 6}  # NotSupported, NotFound kept as codes

    replay = ReplayNvml(path)
    c2 = GpuCollector(replay)
    c2.open()
    replayed = [frames for _, frames, _ in replay_ticks(c2, replay)]
    assert replayed == live
    assert c2.static_info() == live_static
    c2.close()
    assert replay.remaining() == 0
    frames, _ = c2.tick(T0 + 100)
    assert frames == []


def test_replay_raises_same_error_class_and_mismatch(tmp_path):
    path = tmp_path / "t.jsonl"
    rec = RecordingNvml(FakeNvml(), path)
    with pytest.raises(pynvml.NVMLError_NotFound):
        rec.samples(0, 5, 0)
    rec.close()
    rp = ReplayNvml(path)
    with pytest.raises(pynvml.NVMLError_NotFound):
        rp.samples(0, 5, 12345)
    with pytest.raises(ReplayMismatch):
        rp.samples(0, 5, 0)


def test_replay_end_and_rebase(tmp_path):
    path = tmp_path / "t.jsonl"
    c = GpuCollector(RecordingNvml(FakeNvml(1), path))
    c.open()
    for k in range(3):
        c.tick(T0 + k)
    c.close()
    rp = ReplayNvml(path, rebase_to=T0 + 1000)
    c2 = GpuCollector(rp)
    c2.open()
    stamps = []
    for _ in range(3):
        frames, _ = c2.tick(0.0)  # the caller's clock is ignored: recorded instants served
        stamps.append(frames[0].ts)
        assert all(f.ts > T0 + 900 for f in frames)
    assert stamps == [T0 + 1000, T0 + 1001, T0 + 1002]
    frames, events = c2.tick(0.0)
    assert frames == [] and events[0].kind == "gpu.replay_end" and not c2.available
    assert rp.delays() and all(d >= 0 for d in rp.delays())


def test_values_are_finite():
    c = GpuCollector(FakeNvml())
    c.open()
    for k in range(3):
        for f in c.tick(T0 + k)[0]:
            assert all(math.isfinite(s.value) for s in f.samples)
