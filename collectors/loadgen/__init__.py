"""Load generator speaking the OpenAI API with ``vllm bench serve``'s flags and metrics.

Public API (no SQLite, no Textual here; the service stores what the sink receives)::

    cfg = parse_args(["--base-url", url, "--max-concurrency", "16", ...])
    result = await run_bench(cfg, sink=None, cancel=None)   # BenchResult
    sweep = await run_sweep(cfg, sink=None, cancel=None)    # SweepResult (curve)

``python -m collectors.loadgen [flags]`` runs one standalone.
"""

from .client import RequestRecord
from .config import BenchConfig, BenchUsageError, parse_args
from .runner import BenchResult, BenchSink, run_bench
from .sweep import SweepResult, format_curve, run_sweep

__all__ = ["BenchConfig", "BenchResult", "BenchSink", "BenchUsageError", "RequestRecord",
           "SweepResult", "format_curve", "parse_args", "run_bench", "run_sweep"]
