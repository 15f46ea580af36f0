"""Every rule of the catalog fires, through the real evaluation path, at its own thresholds;
and a near-miss just on the other side of them does not.

The path is the one ``iejtui advise`` and the live service take: a real journal.db written by
the ``Writer`` the way the sampler writes a scrape (the real vLLM 0.32 ``/metrics`` page of
``tests/data/vllm-0.32-metrics-load.txt`` with the series a scenario drives rewritten, parsed
by ``collectors.prometheus.parse_text`` into one ``engine`` frame per second), a ``gpu@HOST``
recording written the way ``collectors.gpu`` writes its fast tier (``gpu:<uuid>`` frames,
``uuid`` label, the static facts the service stores), then ``read_inputs`` → ``advise_inputs``
→ ``RuleTracker``. Only the ``for:`` is shortened (to ``FOR_S``), as in every positive test:
thresholds are the catalog's.

Counters advance by fractional amounts where a near-miss needs a rate just below a threshold
(0.04 preemptions/s): Prometheus counters are floats, and the rate maths is the same.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable

import pytest

from collectors.gpu_names import CLOCK_REASON_BITS
from collectors.prometheus import parse_text
from collectors.records import Frame, Sample
from iejtui.advisor.advise import advise_inputs
from iejtui.advisor.catalog import BY_ID, RULES
from iejtui.advisor.run_inputs import read_inputs
from iejtui.store import Reader
from iejtui.store.writer import Writer

DATA = Path(__file__).resolve().parents[1] / "data"
PAGE = (DATA / "vllm-0.32-metrics-load.txt").read_text()
T0 = 1_780_000_000.0
SPAN_S = 80  # 1 Hz ticks: room for the 30 s share/quantile/trend windows and a for: after them
FOR_S = 5.0
UUID = "GPU-4f1c2a9e-0000-4000-8000-00000000a100"
STATIC = {"index": 0, "uuid": UUID, "name": "NVIDIA H100 80GB HBM3", "power_limit_mw": 700000,
          "max_clock_sm_mhz": 1980}
BIT = {name: bit for bit, name in CLOCK_REASON_BITS}

Value = float | Callable[[float], float]

# A healthy engine and GPU: no rule fires on these (test_the_healthy_baseline_fires_nothing).
ENGINE = {"running": 4.0, "waiting": 0.0, "kv": 0.30, "preempt_per_s": 0.0, "gen_per_s": 100.0,
          "finished_per_s": {"stop": 1.0}, "ttft": 0.05, "itl": 0.02, "e2e": 1.0,
          "prefix_per_s": (100.0, 60.0), "spec_per_s": None}
GPU = {"util": 60.0, "sm": 50.0, "tensor": 20.0, "dram": 40.0, "temp": 60.0, "power_pct": 50.0,
       "reasons": 0, "clock": 1980.0}


@dataclass
class Scenario:
    engine: dict[str, Any] = field(default_factory=dict)  # overrides of ENGINE
    gpu: dict[str, Any] | None = field(default_factory=dict)  # overrides of GPU; None: no GPU sampled
    argv: tuple[str, ...] = ()
    bench: dict[str, Any] | None = None  # {"summary": ..., "argv": [...]}: advise a bench run on the engine


def _v(x: Value, t: float) -> float:
    return float(x(t)) if callable(x) else float(x)


# ---- the scrape: the real vLLM page with the driven series rewritten --------------------------
_LINE = re.compile(r"^(?P<name>[a-zA-Z_:][a-zA-Z0-9_:]*)(?P<labels>\{[^}]*\})? (?P<value>\S+)$")
_LE = re.compile(r'le="([^"]+)"')
_REASON = re.compile(r'finished_reason="([^"]+)"')
_PAGE_LINES = [(ln, *((m["name"], m["labels"] or "") if (m := _LINE.match(ln)) else (None, None)))
               for ln in PAGE.splitlines()]  # split once: every tick rewrites the same page
HISTS = {"vllm:time_to_first_token_seconds": "ttft", "vllm:inter_token_latency_seconds": "itl",
         "vllm:e2e_request_latency_seconds": "e2e"}


class EngineState:
    """Cumulative counters and histogram observations of a scenario's engine, one second at a
    time (each second's requests all observe the scenario's latency of that second)."""

    def __init__(self, spec: dict[str, Any]):
        self.spec = spec
        self.counters = {"vllm:num_preemptions_total": 0.0, "vllm:generation_tokens_total": 0.0,
                         "vllm:prefix_cache_queries_total": 0.0, "vllm:prefix_cache_hits_total": 0.0,
                         "vllm:spec_decode_num_draft_tokens_total": 0.0,
                         "vllm:spec_decode_num_accepted_tokens_total": 0.0}
        self.finished: dict[str, float] = {}
        self.obs: dict[str, list[tuple[float, float]]] = {k: [] for k in HISTS.values()}  # (value, count)
        self.gauges: dict[str, float] = {}

    def advance(self, t: float) -> None:
        s = self.spec
        self.gauges = {"vllm:num_requests_running": _v(s["running"], t),
                       "vllm:num_requests_waiting": _v(s["waiting"], t),
                       "vllm:kv_cache_usage_perc": _v(s["kv"], t)}
        c = self.counters
        c["vllm:num_preemptions_total"] += _v(s["preempt_per_s"], t)
        c["vllm:generation_tokens_total"] += _v(s["gen_per_s"], t)
        q, h = s["prefix_per_s"]
        c["vllm:prefix_cache_queries_total"] += _v(q, t)
        c["vllm:prefix_cache_hits_total"] += _v(h, t)
        if s["spec_per_s"]:
            d, a = s["spec_per_s"]
            c["vllm:spec_decode_num_draft_tokens_total"] += _v(d, t)
            c["vllm:spec_decode_num_accepted_tokens_total"] += _v(a, t)
        n = 0.0
        for reason, per_s in s["finished_per_s"].items():
            self.finished[reason] = self.finished.get(reason, 0.0) + _v(per_s, t)
            n += _v(per_s, t)
        for key in HISTS.values():
            self.obs[key].append((_v(s[key], t), n if key != "itl" else _v(s["gen_per_s"], t)))

    def _hist(self, key: str, suffix: str, labels: str) -> float:
        obs = self.obs[key]
        if suffix == "_count":
            return sum(n for _, n in obs)
        if suffix == "_sum":
            return sum(v * n for v, n in obs)
        le = float(_LE.search(labels).group(1))
        return sum(n for v, n in obs if v <= le)

    def page(self) -> str:
        out = []
        for line, name, labels in _PAGE_LINES:
            if name is None:
                out.append(line)
                continue
            new: float | None = self.gauges.get(name, self.counters.get(name))
            if name == "vllm:request_success_total":
                new = self.finished.get(_REASON.search(labels).group(1), 0.0)
            for base, key in HISTS.items():
                for suffix in ("_bucket", "_count", "_sum"):
                    if name == base + suffix:
                        new = self._hist(key, suffix, labels)
            out.append(line if new is None else f"{name}{labels} {new!r}")
        if self.spec["spec_per_s"]:  # only served with --speculative-config (vllm/v1/spec_decode/metrics.py)
            for name in ("vllm:spec_decode_num_draft_tokens_total", "vllm:spec_decode_num_accepted_tokens_total"):
                out += [f"# TYPE {name} counter", f'{name}{{engine="0",model_name="tiny"}} {self.counters[name]!r}']
        return "\n".join(out) + "\n"


def _gpu_frame(spec: dict[str, Any], t: float, ts: float) -> Frame:
    lab = (("uuid", UUID),)
    vals = {"gpu.util_gpu": _v(spec["util"], t), "gpu.sm_active": _v(spec["sm"], t),
            "gpu.tensor_active": _v(spec["tensor"], t), "gpu.dram_active": _v(spec["dram"], t),
            "gpu.temp_c": _v(spec["temp"], t),
            "gpu.power_mw": _v(spec["power_pct"], t) / 100.0 * STATIC["power_limit_mw"],
            "gpu.clocks_event_reasons": float(int(_v(spec["reasons"], t))), "gpu.clock_sm_mhz": _v(spec["clock"], t)}
    return Frame(f"gpu:{UUID}", ts, [Sample(n, v, lab) for n, v in vals.items()])


_SCRAPED: dict[str, list[list[Sample]]] = {}


def _scrapes(engine: dict[str, Any]) -> list[list[Sample]]:
    """Each second's scrape of the scenario's engine, parsed (the same engine — the GPU and
    launch-flag cases keep the healthy one — is rendered and parsed once per module)."""
    key = repr(sorted(engine.items())) if not any(callable(v) for v in engine.values()) else None
    if key is not None and key in _SCRAPED:
        return _SCRAPED[key]
    state = EngineState({**ENGINE, **engine})
    out = []
    for k in range(SPAN_S + 1):
        state.advance(float(k))
        out.append(parse_text(state.page()).samples)
    if key is not None:
        _SCRAPED[key] = out
    return out


def record(tmp: Path, sc: Scenario) -> tuple[Path, int]:
    """A journal holding the scenario: the engine run (and the bench run, when it has one)
    and the host's GPU recording; returns the journal and the run to advise."""
    path = tmp / "journal.db"
    w = Writer(path)
    end = T0 + SPAN_S
    eng = w.create_run(kind="engine", name="tiny", engine_kind="vllm", status="stopped", started_at=T0,
                       ready_at=T0, ended_at=end, argv=["vllm", "serve", "tiny", *sc.argv])
    gpu_run = None
    if sc.gpu is not None:
        gpu_run = w.create_run(kind="record", name="gpu@box", status="stopped", started_at=T0 - 60, ended_at=end + 60,
                               gpus=[UUID], facts={"gpus": [STATIC]})
    gspec = {**GPU, **(sc.gpu or {})}
    for k, samples in enumerate(_scrapes(sc.engine)):
        ts = T0 + k
        w.add_frames(eng, [Frame("engine", ts, samples)])
        if gpu_run is not None:
            w.add_frames(gpu_run, [_gpu_frame(gspec, float(k), ts)])
        if k % 20 == 0:
            w.flush()
    target = eng
    if sc.bench is not None:
        target = w.create_run(kind=sc.bench.get("kind", "bench"), name="b", status="stopped", started_at=T0 + 5, ended_at=end,
                              parent_id=eng, argv=list(sc.bench.get("argv") or []), summary=sc.bench["summary"])
    w.flush()
    w.close()
    return path, target


def advise_one(tmp: Path, rule_id: str, sc: Scenario, rules=None):
    """The findings of one rule (its ``for:`` shortened) over the recorded scenario."""
    path, run_id = record(tmp, sc)
    reader = Reader(path)
    try:
        inp = read_inputs(reader, reader.run(run_id))
    finally:
        reader.close()
    rule = replace(BY_ID[rule_id], for_s=min(BY_ID[rule_id].for_s, FOR_S))
    return advise_inputs(inp, rules if rules is not None else [rule])


def _ramp(a: float, b: float) -> Callable[[float], float]:
    return lambda t: a + (b - a) * t / SPAN_S


def _bench(cut_pct: float) -> dict[str, Any]:
    done = 200
    return {"argv": ["--ignore-eos", "--num-prompts", str(done)],
            "summary": {"completed": done, "failed": 0, "short_outputs": round(done * cut_pct / 100)}}


def _profiled(gpu_idle_share: float) -> dict[str, Any]:
    """A bench run whose profiler window (20 s inside the run) saw the GPU idle this share."""
    return {"argv": ["--num-prompts", "200"],
            "summary": {"completed": 200, "failed": 0,
                        "profile": {"summary": {"start_unix": T0 + 30, "end_unix": T0 + 50,
                                                "gpu_idle_share": gpu_idle_share}}}}


def _finished(stop: float, error: float) -> dict[str, Any]:
    return {"finished_per_s": {"stop": stop, "error": error}}


# rule → (fires, near-miss): the near-miss moves only what the rule's threshold judges.
CASES: dict[str, tuple[Scenario, Scenario]] = {
    # vllmstat
    "preemptions": (Scenario({"preempt_per_s": 0.06}), Scenario({"preempt_per_s": 0.04})),
    "length-cut": (Scenario(bench=_bench(25)), Scenario(bench=_bench(18))),
    "length-cut-most": (Scenario(bench=_bench(55)), Scenario(bench=_bench(45))),
    "errors": (Scenario(_finished(1.0, 0.025)), Scenario(_finished(1.0, 0.018))),  # 2.4 % / 1.8 %
    "queue-backlog": (Scenario({"waiting": 2.0}), Scenario({"waiting": 1.0})),
    "spec-decode-low": (Scenario({"spec_per_s": (10.0, 2.5)}), Scenario({"spec_per_s": (10.0, 3.2)})),
    "gpu-memory-share-low": (Scenario(argv=("--gpu-memory-utilization", "0.8")),
                             Scenario(argv=("--gpu-memory-utilization", "0.85"))),
    "prefix-caching-off": (Scenario(argv=("--no-enable-prefix-caching",)), Scenario(argv=("--enable-prefix-caching",))),
    "eager-mode": (Scenario(argv=("--enforce-eager",)), Scenario()),
    "gpu-hot": (Scenario(gpu={"temp": 86.0}), Scenario(gpu={"temp": 84.0})),
    "gpu-power-cap": (Scenario(gpu={"power_pct": 98.5}), Scenario(gpu={"power_pct": 97.0})),
    # llm-d (histogram percentiles move by whole buckets: vLLM's 10/20/40 s TTFT, 5/10/15 s e2e edges)
    "ttft-extreme": (Scenario({"ttft": 35.0}), Scenario({"ttft": 19.0})),
    "ttft-high": (Scenario({"ttft": 15.0}), Scenario({"ttft": 9.0})),
    "e2e-high": (Scenario({"e2e": 12.0}), Scenario({"e2e": 9.0})),
    "preemptions-high": (Scenario({"preempt_per_s": 1.2}), Scenario({"preempt_per_s": 0.9})),
    "kv-saturated": (Scenario({"kv": 0.92}), Scenario({"kv": 0.89})),
    "queue-buildup": (Scenario({"waiting": 51.0}), Scenario({"waiting": 50.0})),
    "prefix-hit-low": (Scenario({"prefix_per_s": (100.0, 25.0)}), Scenario({"prefix_per_s": (100.0, 32.0)})),
    "errors-elevated": (Scenario(_finished(1.0, 0.015)), Scenario(_finished(1.0, 0.009))),  # 1.5 % / 0.9 %
    "errors-high": (Scenario(_finished(1.0, 0.06)), Scenario(_finished(1.0, 0.045))),  # 5.7 % / 4.3 %
    "gpu-underused": (Scenario(gpu={"util": 25.0, "sm": 20.0}), Scenario(gpu={"util": 32.0, "sm": 25.0})),
    # iejtui
    "launch-bound": (Scenario(gpu={"util": 40.0, "sm": 8.0}), Scenario(gpu={"util": 40.0, "sm": 11.0})),
    "launch-bound-profile": (Scenario(bench=_profiled(0.31)), Scenario(bench=_profiled(0.29))),
    "under-filled": (Scenario(gpu={"util": 100.0, "sm": 0.8}), Scenario(gpu={"util": 100.0, "sm": 30.0})),
    "compute-bound": (Scenario(gpu={"util": 100.0, "sm": 90.0, "tensor": 70.0}),
                      Scenario(gpu={"util": 100.0, "sm": 90.0, "tensor": 45.0})),
    "memory-bound": (Scenario(gpu={"util": 100.0, "sm": 60.0, "dram": 75.0, "tensor": 10.0}),
                     Scenario(gpu={"util": 100.0, "sm": 60.0, "dram": 55.0, "tensor": 10.0})),
    "kv-bound": (Scenario({"kv": 0.95, "preempt_per_s": 0.2}), Scenario({"kv": 0.88, "preempt_per_s": 0.2})),
    "kv-bound-queue": (Scenario({"kv": 0.95, "waiting": 1.0}), Scenario({"kv": 0.95, "waiting": 0.0})),
    "throttled-power": (Scenario(gpu={"util": 90.0, "sm": 85.0, "reasons": BIT["sw_power_cap"], "clock": 1600.0}),
                        Scenario(gpu={"util": 45.0, "sm": 40.0, "reasons": BIT["sw_power_cap"], "clock": 1600.0})),
    "throttled-thermal": (Scenario(gpu={"util": 90.0, "sm": 85.0, "reasons": BIT["sw_thermal_slowdown"], "clock": 1500.0}),
                          Scenario(gpu={"util": 45.0, "sm": 40.0, "reasons": BIT["sw_thermal_slowdown"], "clock": 1500.0})),
    # trends over 30 s: the queue grows 0.3/s (fires) or 0.08/s (< 0.1: no) while ITL holds
    "queue-grows-capacity": (Scenario({"waiting": _ramp(1.0, 25.0)}), Scenario({"waiting": _ramp(1.0, 7.4)})),
    # ITL doubles with the queue and batch steady (fires); with the batch growing too, it is the batch (no)
    "tpot-grows-context": (Scenario({"itl": _ramp(0.02, 0.09), "waiting": 3.0, "running": 8.0}),
                           Scenario({"itl": _ramp(0.02, 0.09), "waiting": 3.0, "running": _ramp(4.0, 16.0)})),
}


def test_every_rule_has_a_case():
    assert set(CASES) == {r.id for r in RULES}


@pytest.mark.parametrize("rule_id", list(CASES))
def test_rule_fires_at_its_threshold(tmp_path, rule_id):
    rule = BY_ID[rule_id]
    fired = [f for f in advise_one(tmp_path, rule_id, CASES[rule_id][0]) if f.rule == rule_id]
    assert fired, f"{rule_id} did not fire"
    f = fired[0]
    assert f.fired_at is not None and f.fired_at - f.start >= min(rule.for_s, FOR_S) - 1e-6
    assert f.severity == rule.severity and f.source == rule.source
    assert "?" not in f.message, f.message  # every figure of the message was observed
    if rule.knob is not None:
        flags = {k.flag for k in (rule.knob if isinstance(rule.knob, tuple) else (rule.knob,))}
        assert f.knob and f.knob["flag"] in flags


@pytest.mark.parametrize("rule_id", list(CASES))
def test_rule_near_miss_stays_silent(tmp_path, rule_id):
    assert [f.rule for f in advise_one(tmp_path, rule_id, CASES[rule_id][1]) if f.rule == rule_id] == []


def test_the_healthy_baseline_fires_nothing(tmp_path):
    """The scenarios' common ground (engine and GPU) raises no finding of any rule: each
    positive case fires because of what it changes."""
    from iejtui.advisor.overrides import with_durations
    assert advise_one(tmp_path, "errors", Scenario(), rules=with_durations(RULES, FOR_S)) == []


@pytest.mark.parametrize("kind", ["bench", "profile"])
@pytest.mark.parametrize("trace, fires", [("h100-launch.json.gz", True), ("h100-matmul.json.gz", False)])
def test_the_profiler_rule_on_real_h100_traces(tmp_path, trace, fires, kind):
    """The summary of a real H100 profiler trace (tests/data/profile/: a launch-heavy loop
    of tiny kernels, 93 % idle; a matmul loop, under 1 % idle) as a profiled bench run's, or
    an `iejtui profile` run's: the launch-bound finding cites the measured idle share, and
    the matmul run stays silent."""
    from iejtui.profiling.summary import summarize_trace
    got = summarize_trace(DATA / "profile" / trace)
    bench = {**_profiled(got["gpu_idle_share"]), "kind": kind}
    found = [f for f in advise_one(tmp_path, "launch-bound-profile", Scenario(bench=bench))]
    if not fires:
        assert found == []
        return
    (f,) = found
    assert f"GPU idle {100 * got['gpu_idle_share']:.0f} % of its window" in f.message
    assert f.knob and f.knob["flag"] == "--enforce-eager"
