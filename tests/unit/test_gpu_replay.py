"""The real H100 recording (tests/data/nvml-h100-trace.jsonl.gz) replayed through the GPU
collector: the same phase truths the live run checked must hold on the replayed frames.

The recording was made by tests/gpu/h100_run.py on an NVIDIA H100 80GB HBM3 (driver
580.159.04, nvidia-ml-py 13.615.71); the phase timeline and the live results sit beside
it in nvml-h100-phases.json.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pynvml
import pytest

from collectors import gpu_names as N
from collectors.gpu import GpuCollector
from collectors.gpu_math import energy_joules, joules_per_token
from collectors.gpu_replay import ReplayNvml, replay_ticks

DATA = Path(__file__).resolve().parents[1] / "data"
TRACE = DATA / "nvml-h100-trace.jsonl.gz"
PHASES = json.loads((DATA / "nvml-h100-phases.json").read_text())
UUID = PHASES["uuid"]


def _truths_module():
    path = Path(__file__).resolve().parents[1] / "gpu" / "h100_truths.py"
    spec = importlib.util.spec_from_file_location("h100_truths", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)  # type: ignore[union-attr]
    return mod


@pytest.fixture(scope="module")
def replayed():
    rp = ReplayNvml(TRACE)
    c = GpuCollector(rp)
    open_events = c.open()
    static = c.static_info()
    frames, events = [], []
    for _, fr, ev in replay_ticks(c, rp):
        frames += fr
        events += ev
    c.close()
    return {"replay": rp, "static": static, "frames": frames,
            "events": open_events + events, "collector": c}


def test_replay_consumes_exactly_the_recorded_calls(replayed):
    rp = replayed["replay"]
    assert len(rp.ticks) == PHASES["ticks"] == 41
    assert rp.remaining() == 0  # the collector asked exactly what the real run asked
    assert rp.meta["pynvml"] == "13.615.71"


def test_static_info_and_not_supported_preserved(replayed):
    (g,) = replayed["static"]
    assert g == PHASES["static"][0]
    assert g["name"] == "NVIDIA H100 80GB HBM3" and g["driver"] == "580.159.04"
    assert g["gpm_supported"] and g["mig_mode"] is False and g["power_limit_mw"] == 700_000
    assert g["unsupported"] == ["field:gpu.nvlink_rx_kib", "field:gpu.nvlink_tx_kib"]
    kinds = [e.kind for e in replayed["events"]]
    assert kinds[:2] == ["gpu.open", "gpu.unsupported"]
    assert "gpu.error" not in kinds and "gpu.lost" not in kinds


def test_replay_raises_recorded_not_found_for_clock_samples():
    rp = ReplayNvml(TRACE)
    with pytest.raises(pynvml.NVMLError_NotFound):
        rp.samples(0, 5, 0)  # the SM-clock buffer answered NotFound on the H100


def test_phase_truths_hold_on_replayed_frames(replayed):
    truths = _truths_module()
    res = truths.check(replayed["frames"], PHASES["timeline"], UUID)
    failed = [r for r in res if not r["ok"]]
    assert not failed, truths.report(res)
    # and they are the very numbers the live run saw
    assert [r["detail"] for r in res] == [r["detail"] for r in PHASES["truths"]]


def test_spin_phase_util_vs_sm_active(replayed):
    truths = _truths_module()
    st = truths.phase_stats(replayed["frames"], PHASES["timeline"], UUID)
    assert st["spin"]["gpu.util_gpu"]["median"] == 100.0
    assert st["spin"]["gpu.sm_active"]["median"] < 1.0
    assert st["matmul"]["gpu.tensor_active"]["median"] > 90
    assert N.decode_clock_reasons(st["matmul"]["gpu.clocks_event_reasons"]["median"]) == [
        "sw_power_cap"
    ]


def test_frame_shapes(replayed):
    frames = replayed["frames"]
    srcs = {f.source for f in frames}
    assert {f"gpu:{UUID}", f"gpu:{UUID}:slow", f"gpu:{UUID}:health",
            f"gpu-samples:{UUID}:power", f"gpu-samples:{UUID}:util"} <= srcs
    fast = [f for f in frames if f.source == f"gpu:{UUID}"]
    assert len(fast) == 41
    names = {s.name for f in fast for s in f.samples}
    assert {N.UTIL_GPU, N.MEM_USED, N.MEM_RESERVED, N.POWER_MW, N.PSTATE,
            "gpu.sm_active", "gpu.nvlink_tx_mibs"} <= names
    ticks = [f.ts for f in fast]
    power = [f for f in frames if f.source == f"gpu-samples:{UUID}:power"]
    assert ticks[0] - 3 < power[0].ts and power[-1].ts < ticks[-1] + 1  # driver clock = Unix
    assert PHASES["processes_last"][UUID][0][0] == PHASES["my_pid"]  # host pid matched


def test_energy_and_joules_per_token(replayed):
    e = [(f.ts, s.value) for f in replayed["frames"] if f.source == f"gpu:{UUID}:slow"
         for s in f.samples if s.name == N.ENERGY_MJ]
    ts, mj = [t for t, _ in e], [v for _, v in e]
    total = energy_joules(ts, mj)
    assert 5_000 < total < 20_000  # ~45 s of 130-700 W
    assert joules_per_token(total, 1000) == pytest.approx(total / 1000)


def test_through_the_store(replayed, tmp_path):
    store = pytest.importorskip("iejtui.store")
    w = store.Writer(tmp_path / "journal.db")
    run = w.create_run(kind="record", name="gpu@replay", status="ready")
    w.add_frames(run, replayed["frames"])
    w.flush()
    w.close()
    r = store.Reader(tmp_path / "journal.db")
    try:
        (sd,) = r.series(run, N.ENERGY_MJ, {"uuid": UUID})
        direct = [(f.ts, s.value) for f in replayed["frames"]
                  if f.source == f"gpu:{UUID}:slow" for s in f.samples if s.name == N.ENERGY_MJ]
        assert energy_joules(sd.ts, sd.values) == pytest.approx(
            energy_joules([t for t, _ in direct], [v for _, v in direct]), rel=1e-6)
        (sm,) = r.series(run, "gpu.sm_active", {"uuid": UUID})
        assert len(sm.values) == 40 and max(sm.values) > 90
    finally:
        r.close()
