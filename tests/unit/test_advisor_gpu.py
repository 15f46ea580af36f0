"""The advisor's GPU rules on the real H100 recording (tests/data/nvml-h100-trace.jsonl.gz),
replayed through the GPU collector: each phase gets the finding its kernels deserve, and
idle gets none. Phases last ~8 s, so the rules run with ``for: 4 s`` (the same shortened
duration for every rule: a positive test and the silence of idle are judged alike)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from collectors.gpu import GpuCollector
from collectors.gpu_replay import ReplayNvml, replay_ticks
from iejtui.advisor.catalog import RULES
from iejtui.advisor.evaluate import evaluate
from iejtui.advisor.overrides import with_durations
from iejtui.advisor.signals import derived_signals, gpu_signals

DATA = Path(__file__).resolve().parents[1] / "data"
PHASES = json.loads((DATA / "nvml-h100-phases.json").read_text())
UUID = PHASES["uuid"]
SPAN = {p["name"]: (p["start"], p["end"]) for p in PHASES["timeline"]}


@pytest.fixture(scope="module")
def signals():
    rp = ReplayNvml(DATA / "nvml-h100-trace.jsonl.gz")
    c = GpuCollector(rp)
    c.open()
    static = c.static_info()[0]
    named: dict[str, tuple[list[float], list[float]]] = {}
    for _, frames, _ in replay_ticks(c, rp):
        for fr in frames:
            if fr.source not in (f"gpu:{UUID}", f"gpu:{UUID}:slow"):
                continue
            for s in fr.samples:
                ts, vs = named.setdefault(s.name, ([], []))
                ts.append(fr.ts)
                vs.append(s.value)
    c.close()
    sig = gpu_signals(named, static)
    sig.update(derived_signals(sig))
    return sig


@pytest.fixture(scope="module")
def findings(signals):
    return evaluate(with_durations(RULES, 4.0), signals)


def _phase_of(t: float) -> str | None:
    """The phase a tick's sample describes: GPM and utilization cover the second before the
    tick, so its middle (t − 0.5 s) names the phase."""
    return next((name for name, (a, b) in SPAN.items() if a <= t - 0.5 <= b), None)


def _by_rule(findings, rule):
    return [f for f in findings if f.rule == rule]


def test_tiny_kernels_are_launch_bound(findings):
    (f,) = _by_rule(findings, "launch-bound")
    assert _phase_of(f.start) == "tiny" and f.state in ("resolved", "firing")
    assert f.fired_at - f.start >= 4.0
    assert f.knob["flag"] == "--enforce-eager"
    assert "0.0" in f.message and "% of the SMs" in f.message  # SM-active 0.03 % named


def test_a_single_thread_spin_is_an_under_filled_gpu(findings):
    (f,) = _by_rule(findings, "under-filled")
    assert _phase_of(f.start) == "spin"
    assert f.observed["kernel_active_pct"] == 100.0 and f.observed["sm_active_pct"] < 1.0
    assert f.knob["flag"] == "--max-num-seqs"


def test_matmul_is_compute_bound_and_may_be_power_capped(findings):
    (f,) = _by_rule(findings, "compute-bound")
    assert _phase_of(f.start) == "matmul"
    assert f.peak >= 90
    for other in _by_rule(findings, "throttled-power") + _by_rule(findings, "gpu-power-cap"):
        assert _phase_of(other.start) == "matmul"  # 697 W against 700 W: rightly said


def test_idle_and_alloc_raise_nothing(findings):
    for f in findings:
        assert _phase_of(f.start) not in ("idle", "alloc", "idle_end"), (f.rule, f.start, f.message)
    # nothing else fired at all: each finding belongs to one of the rules above
    assert {f.rule for f in findings} <= {"launch-bound", "under-filled", "compute-bound",
                                          "throttled-power", "gpu-power-cap"}


def test_util_alone_would_call_spin_busy(signals):
    """Why the rules read SM-active: 'GPU utilization' reads 100 % in the spin phase."""
    ts, vs = signals["kernel_active_pct"]
    spin = [v for t, v in zip(ts, vs) if SPAN["spin"][0] + 1 <= t <= SPAN["spin"][1]]
    assert spin and min(spin) == 100.0


def test_live_evaluation_in_slices_finds_what_the_replay_finds(signals, findings):
    """The service feeds the trackers a few ticks at a time: same episodes as one pass."""
    from iejtui.advisor.live import LiveAdvisor
    from iejtui.advisor.run_inputs import RunInputs
    live = LiveAdvisor(with_durations(RULES, 4.0))
    ts = signals["kernel_active_pct"][0]
    transitions = []
    for end in range(3, len(ts) + 3, 3):  # every 3 ticks, the trailing 10 s
        t1 = ts[min(end, len(ts)) - 1]
        window = {k: ([t for t in v[0] if t1 - 10 <= t <= t1], [x for t, x in zip(*v) if t1 - 10 <= t <= t1])
                  for k, v in signals.items()}
        inp = RunInputs(run={"id": 7}, window=(ts[0], t1), gpus={UUID: {k: v for k, v in window.items() if v[0]}},
                        gpu_names={UUID: "0: H100"})
        transitions += live.update(7, inp)
    fired = sorted((t.finding.rule, t.finding.fired_at) for t in transitions if t.kind == "firing")
    assert fired == sorted((f.rule, f.fired_at) for f in findings)
    resolved = {(t.finding.rule, t.finding.end) for t in transitions if t.kind == "resolved"}
    assert resolved == {(f.rule, f.end) for f in findings if f.state == "resolved"}
    assert all(t.gpu == UUID and t.finding.message.startswith("GPU 0: H100: ") for t in transitions)
    assert live.firing() == [] and live.forget(7) == []
