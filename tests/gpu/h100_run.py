#!/usr/bin/env python3
"""On a real H100: run the GPU collector (recording every NVML call) at 1 Hz while a torch
workload goes through phases, check what the hardware must show, and measure call costs.

    PYTHONPATH=. python3 tests/gpu/h100_run.py          # writes to $OUT (or /tmp/h100_out)

Writes ``nvml-h100-trace.jsonl`` (the recording, for ``tests/data/``),
``nvml-h100-phases.json`` (timeline + static info + truths + costs) and prints a summary.
Exit status 1 if a truth failed.
"""

from __future__ import annotations

import contextlib
import json
import os
import statistics
import sys
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent.parent))
sys.path.insert(0, str(HERE))

import h100_truths

from collectors import gpu_names as N
from collectors.gpu import GpuCollector
from collectors.gpu_backend import RealNvml
from collectors.gpu_replay import RecordingNvml
from collectors.gpu_tiers import read_fast, read_gpm

OUT = Path(os.environ.get("OUT") or "/tmp/h100_out")
PHASE_S = {"idle": 5.0, "spin": 8.0, "tiny": 8.0, "matmul": 8.0, "alloc": 5.0, "idle_end": 5.0}


class Sampler(threading.Thread):
    """Calls collector.tick at 1 Hz on its own thread, like the service does."""

    def __init__(self, coll: GpuCollector) -> None:
        super().__init__(daemon=True)
        self.coll = coll
        self.frames: list = []
        self.events: list = []
        self.stop = threading.Event()

    def run(self) -> None:
        t0 = time.time()
        k = 0
        while not self.stop.is_set():
            frames, events = self.coll.tick(time.time())
            self.frames += frames
            self.events += events
            k += 1
            self.stop.wait(max(0.0, t0 + k - time.time()))


def workload(timeline: list[dict]) -> None:
    import torch

    dev = torch.device("cuda:0")
    a = torch.randn(8192, 8192, dtype=torch.bfloat16, device=dev)
    b = torch.randn(8192, 8192, dtype=torch.bfloat16, device=dev)
    x = torch.zeros(1, device=dev)
    (a @ b).sum().item()  # cuBLAS warm-up before the idle phase
    torch.cuda._sleep(1000)
    torch.cuda.synchronize()

    def phase(name: str, body) -> None:
        start = time.time()
        end = start + PHASE_S[name]
        n = body(end)
        torch.cuda.synchronize()
        timeline.append({"name": name, "start": start, "end": time.time(), "iterations": n})
        print(f"phase {name:9s} {time.time() - start:5.1f} s  iterations {n}", flush=True)

    def idle(end: float) -> int:
        time.sleep(max(0.0, end - time.time()))
        return 0

    def spin(end: float) -> int:
        n = 0
        while time.time() < end:
            torch.cuda._sleep(100_000_000)  # ~50-300 ms of one thread spinning
            torch.cuda.synchronize()
            n += 1
        return n

    def tiny(end: float) -> int:
        n = 0
        while time.time() < end:
            for _ in range(200):
                x.add_(1)
            torch.cuda.synchronize()
            n += 200
        return n

    def matmul(end: float) -> int:
        n = 0
        while time.time() < end:
            for _ in range(20):
                torch.matmul(a, b)
            torch.cuda.synchronize()
            n += 20
        return n

    def alloc(end: float) -> int:
        buf = torch.empty(20 * (1 << 30), dtype=torch.uint8, device=dev)
        buf.fill_(1)
        torch.cuda.synchronize()
        time.sleep(max(0.0, end - time.time()))
        del buf
        torch.cuda.empty_cache()
        return 1

    phase("idle", idle)
    phase("spin", spin)
    phase("tiny", tiny)
    phase("matmul", matmul)
    phase("alloc", alloc)
    phase("idle_end", idle)


def _med_us(xs: list[float]) -> float | None:
    return round(statistics.median(xs) * 1e6, 1) if xs else None


def measure_costs(n: int = 200) -> dict:
    """Costs on a clean (non-recording) collector: tiers per GPU, then each call."""
    coll = GpuCollector(RealNvml())
    coll.open()
    out: dict = {"per_gpu": []}
    be = coll.backend
    for g in coll.gpus:
        fast = []
        for _ in range(n):
            t = time.perf_counter()
            read_fast(coll, g)
            fast.append(time.perf_counter() - t)
        gpm = []
        for _ in range(12):
            time.sleep(0.15)
            t = time.perf_counter()
            read_gpm(coll, g, time.time())
            gpm.append(time.perf_counter() - t)
        calls: dict[str, float | None] = {}
        i = g.index
        probes = {
            "utilization": lambda i=i, g=g: be.utilization(i),
            "memory_info": lambda i=i, g=g: be.memory_info(i),
            "power_usage": lambda i=i, g=g: be.power_usage(i),
            "temperature": lambda i=i, g=g: be.temperature(i),
            "clock_sm": lambda i=i, g=g: be.clock(i, N.CLOCK_SM),
            "clocks_event_reasons": lambda i=i, g=g: be.clocks_event_reasons(i),
            "performance_state": lambda i=i, g=g: be.performance_state(i),
            "total_energy": lambda i=i, g=g: be.total_energy(i),
            "fields_slow": lambda i=i, g=g: be.field_values(i, [list(v) for v in g.slow_specs.values()]),
            "fields_health": lambda i=i, g=g: be.field_values(i, [list(v) for v in g.health_specs.values()]),
            "compute_processes": lambda i=i, g=g: be.compute_processes(i),
            "remapped_rows": lambda i=i, g=g: be.remapped_rows(i),
            "samples_power": lambda i=i, g=g: be.samples(i, 0, int((time.time() - 2) * 1e6)),
            "gpm_sample": lambda i=i, g=g: be.gpm_sample(i),
        }
        for name, fn in probes.items():
            ts = []
            for _ in range(30):
                t = time.perf_counter()
                with contextlib.suppress(Exception):  # a refused call still has a cost
                    fn()
                ts.append(time.perf_counter() - t)
            calls[name] = _med_us(ts)
        out["per_gpu"].append({
            "uuid": g.uuid,
            "fast_tier_median_us": _med_us(fast),
            "fast_tier_p90_us": round(sorted(fast)[int(0.9 * len(fast))] * 1e6, 1),
            "gpm_tier_median_us": _med_us(gpm[1:]),
            "calls_median_us": calls,
        })  # fmt: skip
    for g in coll.gpus:
        g.gpm_prev = None  # the probes above recycled the GPM buffers
    t = time.perf_counter()
    coll.tick(time.time())
    out["first_full_tick_ms"] = round((time.perf_counter() - t) * 1e3, 2)
    coll.close()
    return out


def main() -> int:
    import torch

    OUT.mkdir(parents=True, exist_ok=True)
    trace = OUT / "nvml-h100-trace.jsonl"
    coll = GpuCollector(RecordingNvml(RealNvml(), trace))
    t = time.perf_counter()
    events = coll.open()
    open_ms = (time.perf_counter() - t) * 1e3
    for e in events:
        print(f"event {e.kind}: {e.message}")
    static = coll.static_info()
    cuda_uuid = "GPU-" + str(torch.cuda.get_device_properties(0).uuid)
    uuid = next((g["uuid"] for g in static if g["uuid"] == cuda_uuid), static[0]["uuid"])
    sampler = Sampler(coll)
    sampler.start()
    timeline: list[dict] = []
    try:
        workload(timeline)
    finally:
        time.sleep(1.0)
        sampler.stop.set()
        sampler.join()
        in_run = {k: _med_us(list(v)) for k, v in coll.costs.items()}
        procs_seen = coll.processes()
        coll.close()
    frames = sampler.frames
    truths = h100_truths.check(frames, timeline, uuid)
    stats = h100_truths.phase_stats(frames, timeline, uuid)
    ticks = [f.ts for f in frames if f.source == f"gpu:{uuid}"]
    ps = h100_truths.series(frames, f"gpu-samples:{uuid}:power", "gpu.sample.power_mw")
    costs = measure_costs()
    result = {
        "static": static,
        "uuid": uuid,
        "torch": torch.__version__,
        "open_ms": round(open_ms, 2),
        "timeline": timeline,
        "phase_stats": stats,
        "truths": truths,
        "in_run_median_us_per_gpu": in_run,
        "costs": costs,
        "events": [{"kind": e.kind, "level": e.level, "message": e.message}
                   for e in events + sampler.events],
        "ticks": len(ticks),
        "power_samples_kept": len(ps),
        "sample_ts_minus_tick_s": (ps[-1][0] - ticks[-1]) if ps and ticks else None,
        "my_pid": os.getpid(),
        "processes_last": {k: v for k, v in procs_seen.items()},
    }  # fmt: skip
    (OUT / "nvml-h100-phases.json").write_text(json.dumps(result, indent=1, default=str))
    print(json.dumps({k: result[k] for k in ("static", "open_ms", "in_run_median_us_per_gpu",
                                             "costs", "ticks", "power_samples_kept",
                                             "sample_ts_minus_tick_s", "my_pid",
                                             "processes_last")}, indent=1, default=str))
    for ph, st in stats.items():
        row = {k: (None if v["median"] is None else round(v["median"], 3)) for k, v in st.items()}
        print(f"{ph:9s} {row}")
    print("truths:\n" + h100_truths.report(truths))
    print(f"trace: {trace} ({trace.stat().st_size} bytes)")
    return 0 if all(r["ok"] for r in truths) else 1


if __name__ == "__main__":
    sys.exit(main())
