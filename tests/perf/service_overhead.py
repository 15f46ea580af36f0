"""CPU share of one core that the service spends scraping one real vLLM engine at 1 Hz.

Goal: <= 1% of a core. Measured from the service process's own CPU time (user + system)
over a window of steady load, next to the engine's API server process for scale.

    .venv/bin/python tests/perf/service_overhead.py [--seconds 120] [--concurrency 4]
"""

from __future__ import annotations

import argparse
import time

import psutil

from _harness import EngineJournal, SteadyLoad


def cpu_seconds(proc: psutil.Process) -> float:
    t = proc.cpu_times()
    return t.user + t.system


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=120.0)
    ap.add_argument("--concurrency", type=int, default=4)
    args = ap.parse_args()
    with EngineJournal() as ej:
        svc = psutil.Process(ej.service_pid())
        api = psutil.Process(ej.engine["pid"])
        for label, load in (("idle engine", None), (f"engine under load ({args.concurrency} streams)", SteadyLoad)):
            ctx = load(ej.url, args.concurrency) if load else None
            if ctx:
                ctx.__enter__()
                time.sleep(10)
            s0, a0, w0 = cpu_seconds(svc), cpu_seconds(api), time.monotonic()
            time.sleep(args.seconds)
            s1, a1, w1 = cpu_seconds(svc), cpu_seconds(api), time.monotonic()
            if ctx:
                ctx.__exit__(None, None, None)
            wall = w1 - w0
            print(f"{label}: service {100 * (s1 - s0) / wall:.2f}% of one core "
                  f"(goal <= 1%); vLLM API server {100 * (a1 - a0) / wall:.1f}% for scale; "
                  f"ratio {((s1 - s0) / max(a1 - a0, 1e-9)):.3f}")


if __name__ == "__main__":
    main()
