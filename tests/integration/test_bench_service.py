"""Benchmark jobs under the service against the real engine: vLLM's JSON, journal rows."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from helpers import cli, cli_json
from iejtui.store import Reader

pytestmark = pytest.mark.integration

VLLM_KEYS = json.loads((Path(__file__).resolve().parents[1] / "data" /
                        "vllm-0.32-bench-serve-result.json").read_text()).keys()


def test_bench_against_engine_writes_vllm_json_and_requests(shared_engine, tmp_path):
    journal = shared_engine["journal"]
    p = cli(journal, "bench", "--engine", "tiny", "--num-prompts", "24", "--max-concurrency", "6",
            "--random-input-len", "64", "--random-output-len", "32", "--ignore-eos", "--seed", "3",
            "--save-result", "--result-dir", str(tmp_path), timeout=300)
    assert p.returncode == 0, p.stderr
    assert "============ Serving Benchmark Result ============" in p.stdout
    (result_file,) = tmp_path.glob("*.json")
    result = json.loads(result_file.read_text())
    missing = [k for k in VLLM_KEYS if k not in result]
    assert not missing, missing
    assert result["completed"] == 24 and result["total_output_tokens"] == 24 * 32
    run_id = int(p.stdout.split("benchmark run ")[1].split()[0])
    reader = Reader(journal / "journal.db")
    run = reader.run(run_id)
    engine_run = cli_json(journal, "engine", "list")[0]["run_id"]
    assert run["kind"] == "bench" and run["status"] == "stopped" and run["parent_id"] == engine_run
    rows = reader.requests(run_id)
    assert len(rows) == 24 and all(r["ok"] for r in rows)
    assert all(len(r["chunk_times"]) >= 1 and r["t_sent"] >= run["started_at"] for r in rows)
    # the benchmark shows on the engine's timeline
    assert any(e["kind"] == "bench" for e in reader.events(engine_run))
    assert run["summary"]["output_throughput"] > 0


def test_bench_bad_flags_are_user_errors(journal):
    p = cli(journal, "bench", "--base-url", "http://127.0.0.1:9", "--frobnicate", "3")
    assert p.returncode == 2 and "Traceback" not in p.stderr and "--frobnicate" in p.stderr
    p = cli(journal, "bench", "--num-prompts", "3")
    assert p.returncode == 2 and "--engine NAME" in p.stderr
    p = cli(journal, "bench", "--engine", "ghost", "--num-prompts", "3")
    assert p.returncode == 2 and "ghost" in p.stderr


def test_find_max_load_converges_once_on_the_real_engine(shared_engine):
    """An MLPerf preset that is loose for the tiny CPU model (Llama-3.1-405B's 6000/175 ms)
    and short, duration-sized probes against the shared engine, by name: every probe is a
    bench run of the search and of the engine."""
    journal = shared_engine["journal"]
    p = cli(journal, "bench", "--engine", "tiny", "--random-input-len", "32", "--random-output-len", "16",
            "--ignore-eos", "--request-rate", "2", "--find-max-load", "--slo", "mlperf-llama3.1-405b",
            "--tolerance", "50%", "--probe-seconds", "2", timeout=600)
    print(p.stdout)
    assert p.returncode == 0, p.stderr
    search_id = int(p.stdout.split("load search run ")[1].split()[0])
    shown = cli_json(journal, "runs", "show", str(search_id))
    s = shown["summary"]["search"]
    good, bad = s["bracket"]
    assert s["converged"] and good is not None and bad is not None and bad - good <= 0.5 * good + 1e-9, s
    by_rate = {x["request_rate"]: x for x in s["probes"]}
    assert by_rate[good]["passed"] and not by_rate[bad]["passed"]
    assert by_rate[good]["p99_ttft_ms"] <= 6000 and by_rate[good]["p99_tpot_ms"] <= 175
    assert by_rate[bad]["p99_ttft_ms"] > 6000 or by_rate[bad]["p99_tpot_ms"] > 175 or by_rate[bad]["failed"]
    engine_run = cli_json(journal, "engine", "list")[0]["run_id"]
    reader = Reader(journal / "journal.db")
    probes = reader.search_probes(search_id)
    assert {r["id"] for r in probes} == {x["run_id"] for x in s["probes"]}
    assert shown["parent_id"] == engine_run and all(r["parent_id"] == engine_run for r in probes)
