#!/usr/bin/env python3
"""Capture real torch-profiler (kineto) traces of two GPU workloads for the profile fixtures.

    python3 tests/gpu/capture_profile_traces.py OUTDIR        # on the H100 (device tool: $OUT)

Needs only torch with CUDA (stdlib otherwise), so it runs on a bare GPU machine. Each workload
is profiled on its own with ``torch.profiler.profile(activities=[CPU, CUDA], with_stack=False)``
and written with ``export_chrome_trace`` (kineto JSON, ``baseTimeNanoseconds`` included), then
xz-compressed as ``h100-NAME.json.xz`` (a launch-heavy second is ~10^5 ops, a few hundred MB of
JSON, and the device tool returns at most 16 MiB a file: over 15 MiB, only the events with a duration in the
middle half (by start time) would be kept there, and ``capture.json`` would say so):

``matmul``  bf16 8192x8192 @ 8192x8192 into a preallocated output, then ``relu_`` on that output,
            back to back from Python; the iteration count is sized from a timed warm-up so the GPU
            works about ``SECONDS``; one synchronise at the end. Expected: the GEMM kernel on top
            (~95 % of kernel time), the relu kernel second, GPU idle share low.
``launch``  per iteration ``x.add_(1)`` three times and ``y.mul_(1.0)`` once on 1-element float32
            tensors, from a Python loop for ``SECONDS`` of wall time. Expected: the add kernel on
            top, the mul kernel second, GPU idle share high (a kernel takes ~1-2 us, the launch
            path with the profiler on ~5-20 us).

Before each profiled window: the workload's own warm-up (cuBLAS handles, kernel loading) and a
throwaway profile of one op, so CUPTI's start-up cost is not inside the window.

The independent truth written to ``capture.json`` does not come from the trace: the number of
each op issued, the CUDA-event time over the profiled loop (``cuda_event_ms``), the wall time of
the profiled block, for matmul the per-iteration time measured with CUDA events without the
profiler, for launch the final value of ``x`` (== 3 x iterations: every add ran), and the
torch / CUDA / driver / GPU versions. The idle share and top kernels are computed from the
trace by ``tests/gpu/kineto_truth.py`` (stdlib only, not the project's summariser).
"""

import json
import lzma
import math
import os
import subprocess
import sys
import time

import torch
from torch.profiler import ProfilerActivity, profile

SECONDS = 1.0
LIMIT = 15 << 20
N = 8192


def _profiled(fn, out, name):
    with profile(activities=[ProfilerActivity.CPU, ProfilerActivity.CUDA], with_stack=False):
        torch.ones(1, device="cuda").add_(1)  # throwaway: CUPTI starts here, not in the window
        torch.cuda.synchronize()
    with profile(activities=[ProfilerActivity.CPU, ProfilerActivity.CUDA], with_stack=False) as p:
        t0 = time.perf_counter()
        truth = fn()
        torch.cuda.synchronize()
        truth["wall_s"] = time.perf_counter() - t0
    raw = os.path.join(out, name + ".json")
    p.export_chrome_trace(raw)
    truth["trace_bytes"] = os.path.getsize(raw)
    with open(raw, "rb") as src, lzma.open(raw + ".xz", "wb", preset=2) as dst:
        dst.write(src.read())
    if os.path.getsize(raw + ".xz") > LIMIT:  # the device tool brings back 16 MiB a file at most
        with open(raw) as f:
            doc = json.load(f)
        ev = doc["traceEvents"]
        ts = sorted(e["ts"] for e in ev if "dur" in e)
        lo, hi = ts[len(ts) // 4], ts[3 * len(ts) // 4]
        doc["traceEvents"] = [e for e in ev if "dur" not in e or lo <= e["ts"] <= hi]
        with lzma.open(raw + ".xz", "wt", preset=2) as dst:
            json.dump(doc, dst)
        truth["cut_on_device_to_ts"] = [lo, hi]
    os.remove(raw)
    return truth


def matmul():
    a = torch.randn(N, N, device="cuda", dtype=torch.bfloat16)
    b = torch.randn(N, N, device="cuda", dtype=torch.bfloat16)
    c = torch.empty(N, N, device="cuda", dtype=torch.bfloat16)

    def step():
        torch.matmul(a, b, out=c)
        c.relu_()

    for _ in range(5):
        step()
    e0, e1 = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    e0.record()
    for _ in range(20):
        step()
    e1.record()
    torch.cuda.synchronize()
    per_iter_ms = e0.elapsed_time(e1) / 20
    n = math.ceil(SECONDS * 1000 / per_iter_ms)

    def body():
        s, e = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        s.record()
        for _ in range(n):
            step()
        e.record()
        torch.cuda.synchronize()
        return {"iterations": n, "ops": {"matmul": n, "relu_": n},
                "cuda_event_ms": s.elapsed_time(e), "per_iter_ms_unprofiled": per_iter_ms}

    return body


def launch():
    x = torch.zeros(1, device="cuda")
    y = torch.ones(1, device="cuda")
    for _ in range(200):
        x.add_(1)
        y.mul_(1.0)
    x.zero_()
    torch.cuda.synchronize()

    def body():
        s, e = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        n = 0
        s.record()
        t_end = time.perf_counter() + SECONDS
        while time.perf_counter() < t_end:
            for _ in range(64):
                x.add_(1)
                x.add_(1)
                x.add_(1)
                y.mul_(1.0)
            n += 64
        e.record()
        torch.cuda.synchronize()
        return {"iterations": n, "ops": {"add_": 3 * n, "mul_": n},
                "cuda_event_ms": s.elapsed_time(e), "x_final": x.item()}

    return body


def env():
    try:
        smi = subprocess.run(["nvidia-smi", "--format=csv", "--query-gpu=name,driver_version"],
                             capture_output=True, text=True).stdout.strip()
    except OSError as e:
        smi = f"nvidia-smi: {e}"
    return {"gpu": torch.cuda.get_device_name(0), "nvidia_smi": smi, "torch": torch.__version__,
            "cuda": torch.version.cuda, "python": sys.version.split()[0],
            "capability": list(torch.cuda.get_device_capability(0)), "seconds": SECONDS}


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else os.environ.get("OUT", "/tmp/profile_out")
    os.makedirs(out, exist_ok=True)
    result = {"env": env()}
    for name, make in (("matmul", matmul), ("launch", launch)):
        result[name] = _profiled(make(), out, "h100-" + name)
        print(name, json.dumps(result[name]), flush=True)
    with open(os.path.join(out, "capture.json"), "w") as f:
        json.dump(result, f, indent=1)
    print(json.dumps(result["env"]))


if __name__ == "__main__":
    main()
