"""A deterministic journal for UI tests, snapshots and perf scripts.

``seed_journal(root)`` writes, through the real ``Writer``, a journal whose newest sample is
at ``FROZEN_NOW``: a host GPU recording with two H100s (the second one stops answering a
minute before "now", so its panel must say stale), a vLLM engine under a varying load, an
engine that stopped an hour ago, one that crashed, and their events. Engine frames carry
every series of a real vLLM 0.32 scrape (``tests/data/ui-vllm-metrics.txt``), so read costs
are the real ones. ``seed_long_run`` adds a 24 h engine run at 1 Hz for the perf script.
"""
from __future__ import annotations

import math
import random
from pathlib import Path

from collectors.records import Event, Frame, Sample
from iejtui.journal.init import init_journal
from iejtui.store.writer import Writer

DATA = Path(__file__).resolve().parents[1] / "data"
FROZEN_NOW = 1_780_000_000.0  # 2026-05-28 20:26:40 UTC
MODEL = "meta-llama/Llama-3.1-8B-Instruct"
GPU_UUIDS = ("GPU-8f0a1c2e-0000-4d6e-9b1a-3c5d7e9f1a2b", "GPU-1b2c3d4e-1111-4a5b-8c7d-9e0f1a2b3c4d")
H100_MEM = 85_520_809_984

# histogram base name -> (median, spread) of the log-logistic distribution it draws from
_HIST_SHAPE = {
    "time_to_first_token_seconds": (0.045, 3.0), "inter_token_latency_seconds": (0.018, 6.0),
    "request_time_per_output_token_seconds": (0.02, 6.0), "e2e_request_latency_seconds": (2.4, 5.0),
    "request_queue_time_seconds": (0.004, 2.0), "request_inference_time_seconds": (2.3, 5.0),
    "request_prefill_time_seconds": (0.03, 3.0), "request_decode_time_seconds": (2.3, 5.0),
    "request_prompt_tokens": (600.0, 3.0), "request_generation_tokens": (128.0, 20.0),
    "iteration_tokens_total": (24.0, 2.0), "request_max_num_generation_tokens": (128.0, 20.0),
    "request_params_n": (1.0, 50.0), "request_params_max_tokens": (128.0, 20.0),
    "request_num_preemptions": (0.5, 1.0), "request_prefill_kv_computed_tokens": (500.0, 3.0),
}


def _template() -> list[Sample]:
    from collectors.engines import get_adapter  # imported here: they need aiohttp
    from collectors.prometheus import parse_text
    keep = get_adapter("vllm").keep_family
    page = parse_text((DATA / "ui-vllm-metrics.txt").read_text(), keep=keep)
    return _rename(page.samples)


def _rename(samples) -> list[Sample]:
    out = []
    for s in samples:
        labels = tuple((k, MODEL if k == "model_name" else v) for k, v in s.labels)
        if s.name == "vllm:cache_config_info":
            over = {"num_gpu_blocks": "28672", "block_size": "16", "kv_cache_size_tokens": "458752"}
            labels = tuple((k, over.get(k, v)) for k, v in labels)
        out.append(Sample(s.name, s.value, labels))
    return out


def _cdf(le: float, median: float, k: float) -> float:
    if le == math.inf:
        return 1.0
    if le <= 0:
        return 0.0
    return 1.0 / (1.0 + (median / le) ** k)


class EngineSim:
    """Cumulative vLLM series driven by a smooth, deterministic load."""

    def __init__(self, seed: int, peak_running: float = 12.0, kv_scale: float = 1.0,
                 template: list[Sample] | None = None):
        self.rng = random.Random(seed)
        self.template = template if template is not None else _template()
        self.peak = peak_running
        self.kv_scale = kv_scale
        self.cum: dict[tuple, float] = {}
        self.hist_carry: dict[tuple, float] = {}

    def load(self, t: float) -> float:
        """0..1 load at time t (a slow wave with steps, plus a little noise)."""
        wave = 0.55 + 0.35 * math.sin(t / 170.0) + 0.1 * math.sin(t / 23.0)
        return max(0.0, min(1.0, wave + self.rng.uniform(-0.03, 0.03)))

    def frame(self, t: float, dt: float = 1.0) -> Frame:
        self._tick = t
        load = self.load(t)
        running = round(self.peak * load)
        waiting = max(0, round((load - 0.8) * 20))
        gen = running * 31.0 * dt
        finished = gen / 128.0
        prompt = finished * 600.0
        iterations = 40.0 * dt if running else 0.0
        hits = prompt * 0.35
        rates = {
            "vllm:generation_tokens_total": gen, "vllm:prompt_tokens_total": prompt,
            "vllm:prefix_cache_queries_total": prompt, "vllm:prefix_cache_hits_total": hits,
            "vllm:prompt_tokens_cached_total": hits, "vllm:num_preemptions_total": 1.0 if waiting > 3 else 0.0,
            "vllm:estimated_flops_per_gpu_total": gen * 1.6e10,
            "vllm:estimated_read_bytes_per_gpu_total": gen * 1.7e7,
            "vllm:estimated_write_bytes_per_gpu_total": gen * 1.3e5,
            "process_cpu_seconds_total": 0.9 * dt,
        }
        gauges = {"vllm:num_requests_running": running, "vllm:num_requests_waiting": waiting,
                  "vllm:kv_cache_usage_perc": min(1.0, self.kv_scale * (0.04 + 0.6 * load * load))}
        n_obs = {"inter_token_latency_seconds": gen, "iteration_tokens_total": iterations}
        slow = 1.0 + 2.5 * max(0.0, load - 0.7)
        out: list[Sample] = []
        for s in self.template:
            key = (s.name, s.labels)
            name = s.name
            if name in gauges:
                out.append(Sample(name, float(gauges[name]), s.labels))
            elif name in rates:
                self.cum[key] = self.cum.get(key, 0.0) + rates[name]
                out.append(Sample(name, round(self.cum[key], 3), s.labels))
            elif name == "vllm:prompt_tokens_by_source_total":
                share = {"local_compute": 0.65, "local_cache_hit": 0.35}.get(dict(s.labels).get("source"), 0.0)
                self.cum[key] = self.cum.get(key, 0.0) + prompt * share
                out.append(Sample(name, round(self.cum[key]), s.labels))
            elif name == "vllm:request_success_total":
                share = {"length": 0.9, "stop": 0.1}.get(dict(s.labels).get("finished_reason"), 0.0)
                self.cum[key] = self.cum.get(key, 0.0) + finished * share
                out.append(Sample(name, math.floor(self.cum[key]), s.labels))
            elif name.endswith(("_bucket", "_count", "_sum")) and name.startswith("vllm:"):
                out.append(self._hist(s, n_obs, finished, slow))
            else:
                out.append(s)
        return Frame("engine", t, out)

    def _hist(self, s: Sample, n_obs: dict, finished: float, slow: float) -> Sample:
        """Whole observations only: each tick adds k = Δfloor(n) values spread over the
        distribution's quantiles, so every bucket delta is a real count."""
        base = s.name[len("vllm:"):].rsplit("_", 1)[0]
        median, k = _HIST_SHAPE.get(base, (1.0, 2.0))
        if base.endswith("_seconds"):
            median *= slow
        state = self.hist_carry.setdefault(("state", base, s.labels if s.name.endswith("_count") else
                                            tuple(x for x in s.labels if x[0] != "le")), {})
        tick = self._tick
        if state.get("tick") != tick:
            total = state.get("total", 0.0) + n_obs.get(base, finished)
            new = int(total) - int(state.get("total", 0.0))
            state["total"], state["tick"] = total, tick
            # k-th of `new` observations at quantile (i + 0.5) / new (log-logistic inverse CDF)
            obs = [median * (((i + 0.5) / new) / (1 - (i + 0.5) / new)) ** (1.0 / k) for i in range(new)]
            state["count"] = state.get("count", 0) + new
            state["sum"] = state.get("sum", 0.0) + sum(obs)
            state["obs"] = obs
            state["buckets"] = dict(state.get("buckets", {}))
            for le in state.setdefault("les", []):
                state["buckets"][le] = state["buckets"].get(le, 0) + sum(1 for o in obs if o <= le)
        if s.name.endswith("_bucket"):
            le = float(dict(s.labels)["le"])
            if le not in state["les"]:
                state["les"].append(le)
                state["buckets"][le] = sum(1 for o in state["obs"] if o <= le) + 0
            return Sample(s.name, float(state["buckets"][le]), s.labels)
        if s.name.endswith("_count"):
            return Sample(s.name, float(state["count"]), s.labels)
        return Sample(s.name, round(state["sum"], 4), s.labels)


def gpu_frame(uuid: str, t: float, load: float, hot: bool) -> Frame:
    lab = (("uuid", uuid),)
    util = 100.0 if load > 0.05 else 0.0
    sm = 20.0 + 55.0 * load
    power = 120_000 + 560_000 * load
    reasons = 0x4 if hot and load > 0.8 else (0x1 if load < 0.05 else 0x0)
    vals = {
        "gpu.util_gpu": util, "gpu.util_mem": 30.0 + 40.0 * load, "gpu.mem_used": 71.2 * 2**30,
        "gpu.mem_reserved": 0.5 * 2**30, "gpu.mem_total": float(H100_MEM), "gpu.power_mw": round(power),
        "gpu.temp_c": round(38 + 30 * load), "gpu.clock_sm_mhz": 1755.0 if reasons & 0x4 else 1980.0,
        "gpu.clock_mem_mhz": 2619.0, "gpu.clocks_event_reasons": float(reasons), "gpu.pstate": 0.0,
        "gpu.gr_active": util * 0.9, "gpu.sm_active": round(sm, 1), "gpu.sm_occupancy": round(sm * 0.4, 1),
        "gpu.tensor_active": round(sm * 0.55, 1), "gpu.dram_active": round(25 + 50 * load, 1),
    }
    return Frame(f"gpu:{uuid}", t, [Sample(k, float(v), lab) for k, v in vals.items()])


def _static(i: int, uuid: str) -> dict:
    return {"uuid": uuid, "index": i, "name": "NVIDIA H100 80GB HBM3", "driver": "580.159.04",
            "memory_total": H100_MEM, "power_limit_mw": 700_000, "max_clock_sm_mhz": 1980,
            "max_clock_mem_mhz": 2619, "gpm_supported": True, "unsupported": [], "lost": False}


def _engine_run(w: Writer, name: str, start: float, ready: float, end: float | None, status: str,
                sim: EngineSim, t_stop: float, reason: str | None = None, code: int | None = None) -> int:
    rid = w.create_run(kind="engine", name=name, engine_kind="vllm", owned=1, status=status,
                       phase="ready", argv=["vllm", "serve", MODEL, "--port", "8000"], model=MODEL,
                       url="http://127.0.0.1:8000", started_at=start, ready_at=ready, ended_at=end,
                       reason=reason, exit_code=code, gpus=list(GPU_UUIDS),
                       facts={"kv_cache_tokens": 458752}, tags=["seeded"])
    w.add_event(rid, Event(start, "started", f"{name}: launched (pid 4242)"))
    w.add_event(rid, Event(start + 20, "phase", f"{name}: loading weights"))
    w.add_event(rid, Event(ready, "ready", f"{name}: ready after {ready - start:.1f} s"))
    t = ready + 1
    while t <= t_stop:
        w.add_frames(rid, [sim.frame(t)])
        w.flush()
        t += 1.0
    if end is not None:
        level = "error" if status == "crashed" else "info"
        w.add_event(rid, Event(end, status, f"{name}: {status} ({reason})", level))
        w.flush()
    return rid


def seed_journal(root: Path, now: float = FROZEN_NOW, live_minutes: int = 12, past_runs: bool = True) -> dict[str, int]:
    """Write the seeded journal under ``root`` (created); returns run ids by role.
    ``past_runs=False`` leaves out the stopped and crashed engines (faster, for unit tests)."""
    init_journal(root)
    w = Writer(root / "journal.db")
    ids: dict[str, int] = {}
    w.add_event(None, Event(now - 7200, "service", "service started (pid 4100, journal mode wal)"))
    gpu_run = w.create_run(kind="record", name="gpu@gpubox", status="ready", started_at=now - 7200,
                           ready_at=now - 7200, gpus=list(GPU_UUIDS),
                           facts={"gpus": [_static(i, u) for i, u in enumerate(GPU_UUIDS)]})
    ids["gpu"] = gpu_run
    if past_runs:
        old = EngineSim(seed=2, peak_running=6)
        ids["stopped"] = _engine_run(w, "qwen-a", now - 5400, now - 5340, now - 3600, "stopped", old,
                                     now - 3601, reason="SIGTERM", code=0)
        ids["crashed"] = _engine_run(w, "crashy", now - 3000, now - 2950, now - 2900, "crashed",
                                     EngineSim(seed=3), now - 2901,
                                     reason="exited with code 1: torch.OutOfMemoryError: CUDA out of memory",
                                     code=1)
    sim = EngineSim(seed=1)
    start = now - live_minutes * 60 - 60
    rid = w.create_run(kind="engine", name="llama8b", engine_kind="vllm", owned=1, status="ready",
                       phase="ready", argv=["vllm", "serve", MODEL, "--port", "8000"], model=MODEL,
                       url="http://127.0.0.1:8000", started_at=start, ready_at=start + 55, gpus=list(GPU_UUIDS),
                       facts={"kv_cache_tokens": 458752}, tags=["baseline"])
    ids["live"] = rid
    w.add_event(rid, Event(start, "started", "llama8b: launched (pid 5120)"))
    w.add_event(rid, Event(start + 21, "phase", "llama8b: loading weights"))
    w.add_event(rid, Event(start + 55, "ready", "llama8b: ready after 55.0 s"))
    t = start + 56
    gpu_t = now - live_minutes * 60
    while t <= now + 1e-6:
        w.add_frames(rid, [sim.frame(t)])
        if t >= gpu_t:
            load = sim.load(t)
            frames = [gpu_frame(GPU_UUIDS[0], t - 0.7, load, hot=True)]
            if t <= now - 60:
                frames.append(gpu_frame(GPU_UUIDS[1], t - 0.7, 0.9 * load, hot=False))
            w.add_frames(gpu_run, frames)
        if abs(t - (now - 200)) < 0.5:
            w.add_event(rid, Event(t, "scrape_error", "llama8b: /metrics timed out after 2.0 s", "warning"))
        w.flush()
        t += 1.0
    w.add_event(gpu_run, Event(now - 59, "gpu.lost", f"GPU 1 ({GPU_UUIDS[1][:12]}…) stopped answering: "
                                                     "NVML_ERROR_GPU_IS_LOST", "error"))
    bench = w.create_run(kind="bench", name="sharegpt-c16", status="stopped", started_at=now - 900,
                         ended_at=now - 780, parent_id=rid, tags=["baseline"],
                         argv=["--dataset-name", "sharegpt", "--dataset-path", "/data/sharegpt.json",
                               "--num-prompts", "1000", "--max-concurrency", "16"],
                         summary={"num_prompts": 1000, "completed": 998, "failed": 2, "output_throughput": 1412.5,
                                  "request_throughput": 11.0, "median_ttft_ms": 88.4, "p99_ttft_ms": 412.0,
                                  "median_tpot_ms": 10.9, "median_itl_ms": 10.2})
    ids["bench"] = bench
    # a benchmark still running: the progress the service stores each second
    live = w.create_run(kind="bench", name="random-c8", status="running", started_at=now - 40, parent_id=rid,
                        argv=["--dataset-name", "random", "--num-prompts", "200", "--max-concurrency", "8",
                              "--random-input-len", "512", "--random-output-len", "128"])
    for k in range(40):
        done = 4 * k
        w.add_frames(live, [Frame("bench", now - 40 + k + 1, [
            Sample("bench.done", float(done)), Sample("bench.total", 200.0), Sample("bench.failed", 0.0),
            Sample("bench.elapsed_s", float(k + 1)), Sample("bench.output_tokens_per_s", 480.0 + k),
            Sample("bench.ttft_p50_ms", 95.0), Sample("bench.ttft_p99_ms", 240.0)])])
    ids["bench_live"] = live
    w.flush()
    w.close()
    return ids


def seed_long_run(root: Path, hours: float = 24.0, end: float = FROZEN_NOW) -> int:
    """A finished engine run of ``hours`` at 1 Hz (every series of a real scrape)."""
    w = Writer(root / "journal.db")
    sim = EngineSim(seed=7)
    start = end - hours * 3600
    rid = w.create_run(kind="engine", name="soak-24h", engine_kind="vllm", owned=1, status="stopped",
                       started_at=start - 60, ready_at=start, ended_at=end, model=MODEL, tags=["soak"])
    t = start
    n = 0
    while t <= end:
        w.add_frames(rid, [sim.frame(t)])
        n += 1
        if n % 300 == 0:
            w.flush()
        t += 1.0
    w.flush()
    w.close()
    return rid
