"""``iejtui bench --backend tensorrt-llm`` judged against truth, inside the real Triton.

The known-timing model (tests/data/triton_models/timed) streams N chunks, the first
``first_chunk_delay_ms`` after the request reaches it, then one every ``chunk_gap_ms``
(absolute schedule, so noise does not add up).  The bench must report, within 5 %:

* TTFT = the known delay + the loopback round trip, the round trip being measured the
  same way just before: the same bench (same client, Triton, stub IPC) with delay 0, one
  request at a time (an unloaded round trip: back-to-back zero-work requests at the
  run's concurrency keep the server busy and overstate it), its median TTFT;
* ITL = the known gap (mean over all gaps: per request the gaps sum to (N-1) x gap
  plus the jitter of two sends only);
* output tokens = N per request, counted by the client tokenizer (Triton sends no usage;
  each chunk is " the", one token of the tiny Llama's BPE tokenizer).

The server here is started by a module fixture (one tritonserver for the module).  When
the shared session fixture of tests/conftest.py that starts one Triton over every
tests/data/triton_models/* lands, replace ``triton`` below by it (its URL and the
tokenizer folder are all this module uses).  Under ``CI`` a missing tritonserver fails.

How the stub's Python is set up (numpy < 2): see ``tests/triton_server.py``.
"""

from __future__ import annotations

import asyncio
import json
import math
import os
import statistics

import pytest

from collectors.loadgen.config import parse_args
from collectors.loadgen.runner import run_bench
from helpers import cli
from triton_server import start_triton

pytestmark = pytest.mark.integration

DELAY_MS, GAP_MS, N = 150.0, 30.0, 16
CONCURRENCY = 4


@pytest.fixture(scope="module")
def triton(tmp_path_factory, demo_engine):
    """One tritonserver with the timed model for this module."""
    env, tokenizer = demo_engine
    try:
        srv = start_triton(["timed"], tmp_path_factory.mktemp("triton"), env.python)
    except FileNotFoundError as exc:
        if os.environ.get("CI"):
            pytest.fail(str(exc))
        pytest.skip(str(exc))
    except RuntimeError as exc:
        pytest.fail(str(exc))
    yield {"url": srv.url, "tokenizer": str(tokenizer), "log": srv.log}
    srv.stop()


def bench_argv(triton, delay_ms: float, gap_ms: float, n: int, seconds: float,
               concurrency: int = CONCURRENCY) -> list[str]:
    """Flags for a closed-loop bench of about ``seconds`` (sized from the known timing,
    not from how fast this box is)."""
    per_request = max((delay_ms + (n - 1) * gap_ms) / 1000, 0.02)
    num = concurrency * max(3, math.ceil(seconds / per_request))
    return ["--backend", "tensorrt-llm", "--base-url", triton["url"],
            "--endpoint", "/v2/models/timed/generate_stream", "--tokenizer", triton["tokenizer"],
            "--dataset-name", "random", "--random-input-len", "16", "--random-output-len", str(n),
            "--num-prompts", str(num), "--max-concurrency", str(concurrency), "--num-warmups", "2",
            "--extra-body", json.dumps({"first_chunk_delay_ms": delay_ms, "chunk_gap_ms": gap_ms}),
            "--disable-tqdm"]


def test_ttft_and_itl_within_5_percent_of_the_known_timing(triton):
    rtt = asyncio.run(run_bench(parse_args(bench_argv(triton, 0, 0, 1, 1.0, concurrency=1))))
    assert rtt.metrics.completed == len(rtt.records), rtt.errors
    round_trip = statistics.median(r.ttft for r in rtt.records)
    res = asyncio.run(run_bench(parse_args(bench_argv(triton, DELAY_MS, GAP_MS, N, 6.0))))
    recs = [r for r in res.records if r.success]
    assert len(recs) == len(res.records), res.errors
    ttft_ms = statistics.median(r.ttft for r in recs) * 1000
    gaps = [g for r in recs for g in r.itl]
    itl_ms = statistics.fmean(gaps) * 1000
    print(f"\nround trip {round_trip * 1000:.2f} ms; TTFT p50 {ttft_ms:.2f} ms "
          f"(known {DELAY_MS} + round trip); ITL mean {itl_ms:.2f} ms (known {GAP_MS}); "
          f"{len(recs)} requests")
    assert abs(ttft_ms - round_trip * 1000 - DELAY_MS) <= 0.05 * DELAY_MS
    assert abs(itl_ms - GAP_MS) <= 0.05 * GAP_MS
    assert len(gaps) == len(recs) * (N - 1)  # one chunk per response
    # tokens counted by the client tokenizer (no usage from Triton): N per request
    assert res.metrics.total_output == N * len(recs)
    assert res.result["backend"] == "tensorrt-llm"
    assert res.metrics.tpot.mean == pytest.approx(GAP_MS, rel=0.05)  # (E2EL - TTFT) / (N - 1)


def test_bench_cli_records_the_backend_in_the_run(triton, journal):
    p = cli(journal, "bench", *bench_argv(triton, 20, 5, 8, 1.0), timeout=300)
    assert p.returncode == 0, p.stderr
    assert "============ Serving Benchmark Result ============" in p.stdout
    run_id = int(p.stdout.split("benchmark run ")[1].split()[0])
    from iejtui.store import Reader
    run = Reader(journal / "journal.db").run(run_id)
    assert run["status"] == "stopped" and run["summary"]["backend"] == "tensorrt-llm"
    assert "tensorrt-llm" in " ".join(run["argv"] if isinstance(run["argv"], list) else [run["argv"]])
    assert run["summary"]["total_output_tokens"] == 8 * run["summary"]["completed"]
    # a Triton endpoint with an OpenAI backend, or the reverse: one line, exit 2
    for bad, says in ((["--backend", "tensorrt-llm", "--endpoint", "/v1/completions"], "posts to Triton's generate_stream"),
                      (["--endpoint", "/v2/models/timed/generate_stream"], "use --backend tensorrt-llm")):
        p = cli(journal, "bench", "--base-url", triton["url"], *bad, "--num-prompts", "2")
        assert p.returncode == 2 and "Traceback" not in p.stderr, p.stderr
        assert len(p.stderr.strip().splitlines()) == 1 and says in p.stderr, p.stderr
