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

The Python backend's stub runs Python with an isolated configuration: PYTHONPATH and
PYTHONHOME are ignored; its ``sys.prefix`` comes from the first ``python3`` on PATH
(how EXECUTION_ENV_PATH's ``activate`` works) and its libpython from LD_LIBRARY_PATH.
That Python needs numpy < 2: the 2.51 stub (pybind11 built against numpy 1.x) under
numpy 2 hands the model every input tensor filled with its first byte (a BYTES input
"hello world" arrives as 15 x 0x0b, and ``deserialize_bytes_tensor`` fails). So the
fixture uses a small venv with numpy 1.26 (built once into the engine cache).
"""

from __future__ import annotations

import asyncio
import json
import math
import os
import shutil
import statistics
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest

from collectors.loadgen.config import parse_args
from collectors.loadgen.runner import run_bench
from helpers import cli, free_port

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
MODELS = ROOT / "tests" / "data" / "triton_models"
CACHE = Path(os.environ.get("IEJTUI_CACHE_DIR", Path.home() / ".cache" / "iejtui"))
TRITON = Path(os.environ.get("IEJTUI_TRITON_HOME",
                             CACHE / "engines" / "triton-2.51" / "wheel" / "pytriton" / "tritonserver"))
STUB_ENV = CACHE / "engines" / "triton-2.51" / "stub-env-numpy1"

DELAY_MS, GAP_MS, N = 150.0, 30.0, 16
CONCURRENCY = 4


def _missing(what: str):
    if os.environ.get("CI"):
        pytest.fail(what)
    pytest.skip(what)


def _base_python(engine_python: Path) -> Path:
    """The interpreter the CPU engine venv was made from (Python 3.11, as the stub)."""
    cfg = engine_python.parent.parent / "pyvenv.cfg"
    for line in cfg.read_text().splitlines():
        k, _, v = line.partition("=")
        if k.strip() == "home":
            return Path(v.strip()) / "python3"
    return engine_python


def stub_env(base: Path) -> Path:
    """A venv of ``base`` with numpy 1.26 for the stub (see the module docstring)."""
    done = STUB_ENV / ".iejtui-ready"
    if not done.exists():
        shutil.rmtree(STUB_ENV, ignore_errors=True)
        subprocess.run([str(base), "-m", "venv", str(STUB_ENV)], check=True, timeout=300)
        subprocess.run([str(STUB_ENV / "bin" / "python"), "-m", "pip", "install", "-q",
                        "numpy>=1.26,<2"], check=True, timeout=600)
        done.write_text("numpy<2 for the Triton Python backend stub\n")
    return STUB_ENV


def _get(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=2) as r:
            return r.status
    except OSError:
        return 0


@pytest.fixture(scope="module")
def triton(tmp_path_factory, demo_engine):
    server = TRITON / "bin" / "tritonserver"
    if not server.exists():
        _missing(f"tritonserver not found at {server} (iejtui demo setup installs it)")
    env_py, tokenizer = demo_engine
    base = _base_python(env_py.python)
    libdir = subprocess.run([str(base), "-c", "import sysconfig; print(sysconfig.get_config_var('LIBDIR'))"],
                            capture_output=True, text=True, check=True).stdout.strip()
    venv = stub_env(base)
    tmp = tmp_path_factory.mktemp("triton")
    repo = tmp / "models"
    shutil.copytree(MODELS / "timed", repo / "timed")
    http, grpc, metrics = free_port(), free_port(), free_port()
    env = dict(os.environ, PATH=f"{venv / 'bin'}:{os.environ['PATH']}",
               LD_LIBRARY_PATH=":".join(p for p in (libdir, os.environ.get("LD_LIBRARY_PATH")) if p))
    log = open(tmp / "tritonserver.log", "wb")
    proc = subprocess.Popen(
        [str(server), f"--model-repository={repo}", f"--backend-directory={TRITON / 'backends'}",
         "--http-address", "127.0.0.1", "--grpc-address", "127.0.0.1", "--metrics-address", "127.0.0.1",
         "--http-port", str(http), "--grpc-port", str(grpc), "--metrics-port", str(metrics),
         "--exit-timeout-secs", "2"],
        env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{http}"
    deadline = time.monotonic() + 120
    while _get(url + "/v2/models/timed/ready") != 200:
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            tail = (tmp / "tritonserver.log").read_text(errors="replace")[-3000:]
            pytest.fail(f"tritonserver did not get the timed model ready:\n{tail}")
        time.sleep(0.2)
    yield {"url": url, "tokenizer": str(tokenizer), "log": tmp / "tritonserver.log"}
    proc.terminate()
    try:
        proc.wait(15)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(5)
    log.close()


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
