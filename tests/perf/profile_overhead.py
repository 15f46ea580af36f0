"""What the torch profiler costs a benchmark: the same bench with and without --profile on
the real CPU vLLM engine (launched with profile = true), alternated, medians and ratios.

Printed, not asserted (the project's rule for speed figures). Each pair runs the same
seeded load sized by duration (--request-rate × --seconds requests), plain first then
profiled, so drift of a loaded box hits both alike.

    .venv/bin/python tests/perf/profile_overhead.py [--seconds 20] [--rate 4] [--pairs 3]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
from pathlib import Path

from _harness import add_profile, cli, engine_profile, free_port, stop_service  # noqa: F401 (sys.path set there)

from iejtui.store import Reader

FIGURES = (("output_throughput", "output tok/s"), ("median_ttft_ms", "TTFT p50 ms"),
           ("median_tpot_ms", "TPOT p50 ms"), ("median_itl_ms", "ITL p50 ms"))


def bench(root: Path, args, profile: bool) -> dict:
    n = max(2, int(args.rate * args.seconds))
    flags = ["bench", "--engine", "tiny", "--num-prompts", str(n), "--request-rate", str(args.rate),
             "--num-warmups", "2", "--random-input-len", "128", "--random-output-len", "64", "--ignore-eos",
             "--seed", "7"] + (["--profile"] if profile else [])
    p = cli(root, *flags, timeout=args.seconds * 10 + 300)
    if p.returncode != 0:
        raise SystemExit(p.stderr)
    run_id = int(p.stdout.split("benchmark run ")[1].split()[0])
    return Reader(root / "journal.db").run(run_id)["summary"]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=20.0)
    ap.add_argument("--rate", type=float, default=4.0)
    ap.add_argument("--pairs", type=int, default=3)
    args = ap.parse_args()
    root = Path(tempfile.mkdtemp(prefix="iejtui-perf-")) / "journal"
    assert cli(root, "init", str(root)).returncode == 0
    add_profile(root, engine_profile("tiny", free_port()) + "profile = true\n")
    try:
        if cli(root, "engine", "start", "tiny", "--wait", timeout=900).returncode != 0:
            raise SystemExit("engine did not start")
        bench(root, argparse.Namespace(**{**vars(args), "seconds": 3.0}), False)  # the first bench's one-off costs
        plain, profiled, sizes = [], [], []
        for _ in range(args.pairs):
            plain.append(bench(root, args, False))
            s = bench(root, args, True)
            profiled.append(s)
            sizes.append((s.get("profile") or {}).get("bytes") or 0)
        print(f"profile overhead: {args.pairs} pairs of {args.seconds:g} s at {args.rate:g} req/s "
              f"(128 in / 64 out), real CPU vLLM 0.32, torch profiler, stacks off")
        print(f"{'figure':<14} {'plain':>10} {'profiled':>10} {'ratio':>7}")
        for key, label in FIGURES:
            a = statistics.median(r[key] for r in plain if r.get(key) is not None)
            b = statistics.median(r[key] for r in profiled if r.get(key) is not None)
            print(f"{label:<14} {a:>10.2f} {b:>10.2f} {b / a if a else float('nan'):>7.3f}")
        win = [((r.get("profile") or {}).get("summary") or {}).get("window_us", 0) / 1e6 for r in profiled]
        print(f"trace size median {statistics.median(sizes) / 1e6:.1f} MB over a window of "
              f"{statistics.median(win):.1f} s ({statistics.median(sizes) / 1e6 / max(statistics.median(win), 1e-9):.2f} MB/s)")
    finally:
        stop_service(root)


if __name__ == "__main__":
    main()
