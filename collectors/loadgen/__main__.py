"""``python -m collectors.loadgen [vllm bench serve flags]``: run a benchmark standalone.

Prints vLLM's "Serving Benchmark Result" block (and its failed-request lines), then
iejtui's own section: client self-measurement and warnings.  ``--save-result`` writes
the vLLM-compatible JSON.  Exit status: 0, 2 on a usage error, 1 when every request
failed.
"""

from __future__ import annotations

import asyncio
import math
import signal
import sys
from typing import Any

from .config import BenchUsageError, parse_args
from .runner import BenchResult, run_bench
from .sweep import format_curve, run_sweep


class TerminalProgress:
    """A one-line progress display on stderr (``--disable-tqdm`` turns it off)."""

    def __init__(self, enabled: bool):
        self.enabled = enabled and sys.stderr.isatty()

    def on_start(self, info: dict[str, Any]) -> None:
        print("Starting main benchmark run...", flush=True)

    def on_request(self, record) -> None:
        pass

    def on_progress(self, done: int, total: int, snap: dict[str, Any]) -> None:
        if not self.enabled:
            return
        sys.stderr.write(f"\r{done}/{total} done, {snap['failed']} failed, "
                         f"{snap['output_tokens_per_s']:.0f} tok/s, TTFT p50 "
                         f"{snap['ttft_p50_ms']:.1f} ms p99 {snap['ttft_p99_ms']:.1f} ms   ")
        if done >= total:
            sys.stderr.write("\n")
        sys.stderr.flush()


def describe(r: BenchResult) -> str:
    c = r.client
    ex = r.result.get("iejtui", {})
    lines = ["{s:{c}^{n}}".format(s=" iejtui ", n=50, c="-"),
             "{:<40} {}".format("Tokenizer:", ex.get("tokenizer_source")),
             "{:<40} {}".format("Prompt salt:", ex.get("prompt_salt")),
             "{:<40} {}".format("Client workers:", c["num_workers"]),
             "{:<40} {:.2f} / {:.2f} / {:.2f}".format("Send lag p50/p99/max (ms):",
                                                      *c["send_lag_ms"].values()),
             "{:<40} {:.2f} / {:.2f} / {:.2f}".format("Event-loop lag p50/p99/max (ms):",
                                                      *c["loop_lag_ms"].values()),
             "{:<40} {:.0%}".format("Client CPU (per worker):", c["cpu_util"]),
             "{:<40} {}".format("Client bottleneck:", "YES" if c["client_bottleneck"] else "no")]
    if ex.get("errors_by_kind"):
        lines.append("{:<40} {}".format("Failures by kind:", ex["errors_by_kind"]))
    lines += [f"WARNING: {w}" for w in r.warnings]
    if r.result_file:
        lines.append(f"Result saved to {r.result_file}")
    return "\n".join(lines)


def print_result(r: BenchResult) -> None:
    if r.errors:
        print(r.errors)
    print(r.summary)
    print(describe(r))


async def amain(argv: list[str]) -> int:
    cfg = parse_args(argv)
    cancel = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            loop.add_signal_handler(sig, cancel.set)
        except (NotImplementedError, RuntimeError):
            pass
    sink = TerminalProgress(not cfg.disable_tqdm)
    rate = "inf" if math.isinf(cfg.request_rate) else cfg.request_rate
    if cfg.sweep_concurrency or cfg.sweep_rate or cfg.sweep_slo_search:
        sweep = await run_sweep(cfg, sink, cancel, on_point=print_result)
        print(format_curve(sweep))
        return 0 if any(p.metrics.completed for p in sweep.points) else 1
    print(f"Traffic request rate: {rate}")
    print(f"Burstiness factor: {cfg.burstiness} "
          f"({'Poisson process' if cfg.burstiness == 1.0 else 'Gamma distribution'})")
    print(f"Maximum request concurrency: {cfg.max_concurrency}")
    r = await run_bench(cfg, sink, cancel)
    print_result(r)
    return 0 if r.metrics.completed else 1


def main(argv: list[str] | None = None) -> int:
    try:
        return asyncio.run(amain(sys.argv[1:] if argv is None else argv))
    except BenchUsageError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
