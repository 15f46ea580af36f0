"""The trace summariser on a real vLLM 0.32 CPU trace and on GPU-shaped events.

``tests/data/profile/vllm-0.32-cpu-rank0.pt.trace.json.gz`` and its ``.profiler_out.txt``
were written by the real CPU vLLM 0.32 (``--profiler-config
'{"profiler":"torch","torch_profiler_dir":...,"torch_profiler_with_stack":false}'``,
``POST /start_profile {"profile_prefix":"run7"}``, four completions, ``POST /stop_profile``):
torch's own ``key_averages()`` table of the same window is the truth for self CPU time.
The GPU cases are kineto-shaped events (``cat`` kernel / cuda_runtime on a stream tid, as
torch 2.x writes them); engineer G's H100 traces check the same code on real GPU output.
"""

from __future__ import annotations

import gzip
import json
import re
from pathlib import Path

import pytest

from iejtui.profiling.nsys import parse_kern_sum
from iejtui.profiling.summary import summarize_events, summarize_trace, summarize_traces

DATA = Path(__file__).resolve().parents[1] / "data" / "profile"
CPU_TRACE = DATA / "vllm-0.32-cpu-rank0.pt.trace.json.gz"


def _torch_self_cpu_us() -> dict[str, float]:
    """Self CPU per operator from torch's own table (``Self CPU`` column, ms/us units)."""
    out = {}
    for line in (DATA / "vllm-0.32-cpu-rank0.profiler_out.txt").read_text().splitlines():
        m = re.match(r"^\s*(\S.*?)\s{2,}\S+%\s+([\d.]+)(ms|us|s)\s", line)
        if m:
            out[m.group(1)] = float(m.group(2)) * {"ms": 1e3, "us": 1.0, "s": 1e6}[m.group(3)]
    return out


def test_self_time_matches_torch_key_averages():
    s = summarize_trace(CPU_TRACE)
    truth = _torch_self_cpu_us()
    assert len(truth) >= 10
    ops = {r["name"]: r["self_us"] for r in s["top_ops"]}
    checked = 0
    for name, us in ops.items():
        if name in truth and truth[name] >= 500:  # the table rounds to 3 digits
            assert us == pytest.approx(truth[name], rel=0.002), name
            checked += 1
    assert checked >= 5
    assert s["top_ops"][1]["name"] == "aten::mm"  # the matmul is the heaviest aten op


def test_cpu_trace_window_shares_and_no_gpu():
    s = summarize_trace(CPU_TRACE)
    assert 1.0e6 < s["window_us"] < 1.2e6  # the ~1.1 s window between start and stop
    assert s["cpu_threads"] == 1
    assert s["gpu_idle_share"] is None and s["top_kernels"] == [] and s["gpu_us"] == 0
    total = sum(r["share"] for r in s["top_ops"])
    assert 0 < total <= 1.0
    assert s["cpu_busy_share"] <= 1.0 and s["cpu_us"] <= s["window_us"]
    # wall clock: baseTimeNanoseconds + ts
    assert s["end_unix"] - s["start_unix"] == pytest.approx(s["window_us"] / 1e6)
    assert s["start_unix"] == pytest.approx(1790857026 + 5754368.163797, abs=1e-3)


def test_front_end_trace_merges_on_the_wall_clock():
    both = summarize_traces([CPU_TRACE, DATA / "vllm-0.32-cpu-async_llm.pt.trace.json.gz"])
    one = summarize_trace(CPU_TRACE)
    strip = lambda rows: [(r["name"], r["self_us"]) for r in rows]  # noqa: E731
    assert strip(both["top_ops"]) == strip(one["top_ops"])  # the front end ran no operators
    assert both["window_us"] >= one["window_us"]


def test_plain_json_and_gzip_read_alike(tmp_path):
    plain = tmp_path / "t.json"
    plain.write_bytes(gzip.decompress(CPU_TRACE.read_bytes()))
    assert summarize_trace(plain)["top_ops"] == summarize_trace(CPU_TRACE)["top_ops"]


def _gpu_trace(kernels: list[tuple[float, float, str]], window: float) -> dict:
    ev = [{"ph": "X", "cat": "Trace", "name": "PyTorch Profiler (0)", "pid": "Spans",
           "tid": "PyTorch Profiler", "ts": 0.0, "dur": window}]
    for i, (ts, dur, name) in enumerate(kernels):
        ev.append({"ph": "X", "cat": "cpu_op", "name": "aten::op", "pid": 1, "tid": 1, "ts": ts - 8, "dur": 6})
        ev.append({"ph": "X", "cat": "cuda_runtime", "name": "cudaLaunchKernel", "pid": 1, "tid": 1,
                   "ts": ts - 7, "dur": 4})
        ev.append({"ph": "X", "cat": "kernel", "name": name, "pid": 0, "tid": 7, "ts": ts, "dur": dur})
    ev.append({"ph": "X", "cat": "gpu_memcpy", "name": "Memcpy HtoD", "pid": 0, "tid": 7,
               "ts": 2.0, "dur": 1.0})
    return {"baseTimeNanoseconds": 1_000_000_000_000_000_000, "traceEvents": ev}


def test_matmul_bound_gpu_is_busy():
    kernels = [(10 + i * 1001, 1000, "sm90_xmma_gemm_bf16") for i in range(50)]
    s = summarize_events([_gpu_trace(kernels, 60_000)])
    assert s["top_kernels"][0]["name"] == "sm90_xmma_gemm_bf16"
    assert s["top_kernels"][0]["time_us"] == pytest.approx(50_000)
    assert s["gpu_idle_share"] < 0.05
    # cudaLaunchKernel nests inside aten::op: the op keeps 2 µs self, the launch 4
    ops = {r["name"]: r["self_us"] for r in s["top_ops"]}
    assert ops["aten::op"] == pytest.approx(100) and ops["cudaLaunchKernel"] == pytest.approx(200)
    assert sum(r["share"] for r in s["top_kernels"]) <= 1.0


def test_launch_bound_gpu_is_mostly_idle():
    kernels = [(10 + i * 20, 2, "vectorized_elementwise_kernel") for i in range(500)]
    s = summarize_events([_gpu_trace(kernels, 12_000)])
    assert s["gpu_idle_share"] > 0.8
    assert s["kernels"] == 500 and s["gpu_streams"] == 1
    assert s["gpu_us"] == pytest.approx(500 * 2 + 1)  # kernels plus the memcpy


def test_events_outside_the_window_are_clipped():
    tr = _gpu_trace([(100, 50, "k"), (990, 50, "k")], 1000)
    s = summarize_events([tr])
    assert s["top_kernels"][0]["time_us"] == pytest.approx(60)  # 50 + the 10 inside


def test_not_a_trace_is_a_value_error(tmp_path):
    p = tmp_path / "x.json"
    p.write_text(json.dumps({"hello": 1}))
    with pytest.raises(ValueError):
        summarize_trace(p)


# nsys stats CSV, laid out as the Nsight Systems Analysis Guide documents cuda_gpu_kern_sum
# (docs.nvidia.com/nsight-systems/AnalysisGuide, "CUDA GPU Kernel Summary"), with the
# banner lines `nsys stats` prints before it.
NSYS_CSV = """\
Generating SQLite file report.sqlite from report.nsys-rep
Processing [report.sqlite] with [/opt/nvidia/nsight-systems/2024.5.1/host-linux-x64/reports/cuda_gpu_kern_sum.py]...

 ** CUDA GPU Kernel Summary (cuda_gpu_kern_sum):

Time (%),Total Time (ns),Instances,Avg (ns),Med (ns),Min (ns),Max (ns),StdDev (ns),Name
72.5,"7,250,000",500,14500.0,14400.0,14000,16000,300.5,"sm90_xmma_gemm_bf16bf16_bf16f32_f32_tn_n_tilesize128x128x64"
20.0,2000000,1000,2000.0,2000.0,1900,2100,50.0,"void at::native::vectorized_elementwise_kernel<4, at::native::FillFunctor<float>, std::array<char*, 1ul> >(int, at::native::FillFunctor<float>, std::array<char*, 1ul>)"
7.5,750000,250,3000.0,3000.0,2900,3100,40.0,flash_fwd_kernel
"""


def test_nsys_kern_sum_parsed():
    rows = parse_kern_sum(NSYS_CSV, window_us=20_000)
    assert [r["name"][:12] for r in rows] == ["sm90_xmma_ge", "void at::nat", "flash_fwd_ke"]
    assert rows[0]["time_us"] == pytest.approx(7250) and rows[0]["instances"] == 500
    assert rows[0]["kernel_share"] == pytest.approx(0.725) and rows[0]["share"] == pytest.approx(0.3625)
    assert "FillFunctor<float>, std::array<char*, 1ul> >(int" in rows[1]["name"]  # commas inside quotes


def test_nsys_timeunit_and_garbage():
    us = NSYS_CSV.replace("(ns)", "(us)")
    assert parse_kern_sum(us)[0]["time_us"] == pytest.approx(7_250_000)
    with pytest.raises(ValueError):
        parse_kern_sum("nothing to see\n")


def test_streamed_read_equals_the_whole_json(tmp_path):
    from iejtui.profiling.summary import _stream
    streamed = _stream(CPU_TRACE)
    assert streamed is not None and streamed[0] == 1790857026000000000 and len(streamed[1]) == 9135
    whole = summarize_events([json.loads(gzip.decompress(CPU_TRACE.read_bytes()))])
    assert {k: v for k, v in summarize_trace(CPU_TRACE).items() if k != "files"} == whole
    # not kineto's layout (a bare event array): the whole-file reader takes it
    bare = tmp_path / "bare.json"
    bare.write_text(json.dumps(_gpu_trace([(10, 5, "k")], 100)["traceEvents"]))
    assert _stream(bare) is None and summarize_trace(bare)["top_kernels"][0]["name"] == "k"


def test_summary_module_runs_apart(tmp_path):
    import subprocess
    import sys
    root = Path(__file__).resolve().parents[2]
    run = lambda *a: subprocess.run([sys.executable, "-m", "iejtui.profiling.summary", *a],  # noqa: E731
                                    capture_output=True, text=True, cwd=root, timeout=120)
    p = run("--max-memory=2000000000", str(CPU_TRACE))
    assert p.returncode == 0 and json.loads(p.stdout)["top_ops"][1]["name"] == "aten::mm"
    p = run(str(tmp_path / "missing.json.gz"))
    assert p.returncode == 1 and len(p.stderr.strip().splitlines()) == 1 and "Traceback" not in p.stderr
