"""TensorRT-LLM, SGLang and llama.cpp through the real service: attach (and launch) the
faithful local fakes with the CLI, load them, and read back what the journal stored: the
canonical figures of ``runs show --json`` and the rows of ``iejtui export``, the same
rows a vLLM run gets. The fakes run in this process (a thread) on 127.0.0.1."""

from __future__ import annotations

import io
import os
import stat
import sys
import time
from pathlib import Path

import pytest

from tests.doubles.engines.base import ThreadedFake
from tests.doubles.engines.llamacpp import LlamaCppFake
from tests.doubles.engines.sglang import SGLangFake
from tests.doubles.engines.trtllm import TrtllmFake
from helpers import cli, cli_json, free_port, load_engine, wait_for
from iejtui.store import Reader

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
EXPORT_ROWS = ("Tokens generated / prompt", "KV cache peak", "Prefix-cache hit", "Requests finished")


def _engine(journal: Path, name: str) -> dict:
    return next(e for e in cli_json(journal, "engine", "list") if e["name"] == name)


def _attach_and_load(journal: Path, fake, name: str, kind: str, n: int = 8) -> dict:
    p = cli(journal, "engine", "attach", name, fake.url, "--kind", kind)
    assert p.returncode == 0, p.stderr
    wait_for(lambda: _engine(journal, name)["status"] == "ready", 30, 0.2, f"{name} ready")
    time.sleep(2.5)  # a few idle scrapes before the load
    out = load_engine(fake.url, n=n, concurrency=4, prompt_words=32, max_tokens=48)
    time.sleep(3.5)  # scrapes after the last token, then the writer's flush
    run_id = _engine(journal, name)["run_id"]
    return {"run": cli_json(journal, "runs", "show", str(run_id)), "load": out, "run_id": run_id}


def _panel(journal: Path, run_id: int) -> dict:
    """The dashboard's engine panel for the run's whole window, as the TUI's run view draws it."""
    from iejtui.viewmodel import run_history
    from iejtui.viewmodel.text import ROW_FIGURE, engine_fields
    reader = Reader(journal / "journal.db")
    try:
        run = reader.run(run_id)
        (panel,) = run_history(reader, run_id, run["started_at"], time.time()).engines
    finally:
        reader.close()
    fields = [f for f in engine_fields(panel) if f.label != "ended"]  # the fake may be gone by now
    assert [f.label for f in fields] == list(ROW_FIGURE), (fields, "the same canonical rows as a vLLM panel")
    return {f.label: f.text for f in fields}


def _export(journal: Path, run_id: int) -> str:
    p = cli(journal, "export", "--run", str(run_id))
    assert p.returncode == 0, p.stderr
    return p.stdout


def test_trtllm_attached_iteration_records_and_canonical_figures(journal):
    with ThreadedFake(lambda: TrtllmFake(log=io.StringIO(), step_s=0.02)) as fake:
        got = _attach_and_load(journal, fake, "trt", "trtllm")
        total_iters = fake.sim.iteration
    run, s = got["run"], got["run"]["summary"]["engine"]
    assert run["engine_kind"] == "trtllm" and run["versions"]["engine"] == "1.2.0"
    (iters,) = Reader(journal / "journal.db").series(got["run_id"], "trtllm:iter")
    assert [int(v) for v in iters.values] == list(range(1, total_iters + 1))  # every record, once
    assert s["tokens"]["generated"] == 8 * 47  # decode steps: first tokens come from context steps
    assert s["tokens"]["prompt"] is None  # all prompt tokens: not reported by iteration records
    assert s["kv"]["capacity_tokens"] == 1024 * 32 and s["kv"]["peak_pct"] > 0
    assert s["prefix_cache_hit_pct"] is not None
    assert s["latency_s"]["ttft"]["count"] is None  # no latency histograms without return_perf_metrics
    md = _export(journal, got["run_id"])
    assert all(row in md for row in EXPORT_ROWS) and "(trtllm)" in md
    assert "| ITL | not reported by this engine |" in md  # TRT-LLM has per-request TPOT only
    rows = _panel(journal, got["run_id"])
    assert rows["ITL"] == rows["preempt"] == "not reported"
    assert rows["gen"].endswith("tok/s") and rows["gen"] != "n/a"
    assert rows["KV peak"] != "n/a" and rows["prefix hit"] != "n/a", rows
    assert rows["TTFT"] == "n/a"  # reported by TRT-LLM, but only with return_perf_metrics


def test_sglang_attached_40_step_gauges_stored_and_exported(journal):
    with ThreadedFake(lambda: SGLangFake(log=io.StringIO(), idle_refresh_s=2.0)) as fake:
        got = _attach_and_load(journal, fake, "sg", "sglang")
    s = got["run"]["summary"]["engine"]
    assert s["tokens"]["generated"] == 8 * 48 and s["tokens"]["prompt"] == 8 * 33
    assert s["throughput"]["requests_finished"] == 8 and s["kv"]["capacity_tokens"] == 20000
    lat = s["latency_s"]
    assert lat["ttft"]["count"] == 8 and lat["itl"]["count"] == 8 * 47 and lat["tpot"]["count"] == 8
    assert s["prefix_cache_hit_pct"] > 0  # the same prompt eight times
    md = _export(journal, got["run_id"])
    assert all(row in md for row in EXPORT_ROWS) and "TTFT" in md and "(sglang)" in md
    assert "not reported" not in md  # SGLang reports every canonical figure
    rows = _panel(journal, got["run_id"])
    assert "not reported" not in rows.values() and "n/a" not in rows.values()
    assert rows["TTFT"].startswith("p50 ") and rows["KV"].endswith("of 20k tok")


def test_llamacpp_attached_slots_give_kv_use(journal):
    with ThreadedFake(lambda: LlamaCppFake(log=io.StringIO())) as fake:
        got = _attach_and_load(journal, fake, "lc", "llamacpp")
    s = got["run"]["summary"]["engine"]
    assert s["tokens"]["generated"] == 8 * 48 and s["kv"]["capacity_tokens"] == 4096
    assert s["kv"]["peak_pct"] > 0 and s["latency_s"]["tpot"]["mean"] > 0 and s["latency_s"]["tpot"]["p50"] is None
    assert s["latency_s"]["ttft"]["count"] is None
    md = _export(journal, got["run_id"])
    assert all(row in md for row in EXPORT_ROWS)
    assert "| TTFT | not reported by this engine |" in md and "| TPOT |" in md
    rows = _panel(journal, got["run_id"])
    assert rows["TTFT"] == rows["ITL"] == rows["e2e"] == "not reported"
    assert rows["KV peak"] != "n/a"


def test_sglang_attached_while_loading_becomes_ready(journal):
    assert cli(journal, "service", "start").returncode == 0
    threaded = ThreadedFake(lambda: SGLangFake(log=io.StringIO(), hold=True), wait_ready=False)
    with threaded as fake:
        p = cli(journal, "engine", "attach", "slow", fake.url, "--kind", "sglang")
        assert p.returncode == 0, p.stderr
        time.sleep(1.5)
        assert not fake.ready and _engine(journal, "slow")["status"] == "starting"  # 503: Starting
        threaded.call(fake.release)
        wait_for(lambda: _engine(journal, "slow")["status"] == "ready", 30, 0.2, "ready")


def _shim(bin_dir: Path, name: str, module: str) -> None:
    path = bin_dir / name
    path.write_text(f"#!/bin/sh\nexec {sys.executable} -m {module} \"$@\"\n")
    path.chmod(path.stat().st_mode | stat.S_IXUSR)


def test_trtllm_launched_with_generated_yaml(journal, tmp_path):
    """``engine start --kind trtllm -- trtllm-serve MODEL``: the service adds the options file
    that turns iteration stats on (without it the fake's /metrics stays empty), follows the
    startup log into phases and facts, and reads the records."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    _shim(bin_dir, "trtllm-serve", "tests.doubles.engines.trtllm")
    port = free_port()
    env = {"PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}", "PYTHONPATH": str(ROOT)}
    p = cli(journal, "engine", "start", "trt", "--kind", "trtllm", "--wait", "--",
            "trtllm-serve", "/models/tiny", "--port", str(port), env=env, timeout=120)
    assert p.returncode == 0, p.stdout + p.stderr
    e = _engine(journal, "trt")
    run = cli_json(journal, "runs", "show", str(e["run_id"]))
    i = run["argv"].index("--extra_llm_api_options")
    assert "enable_iter_perf_stats: true" in Path(run["argv"][i + 1]).read_text()
    assert run["facts"]["kv_cache_tokens"] == 1024 * 32 and run["facts"]["kv_blocks"] == 1024
    assert run["model"] == "tiny"  # /v1/models answers the model directory's basename
    load_engine(f"http://127.0.0.1:{port}", n=4, concurrency=4, max_tokens=16)
    wait_for(lambda: cli_json(journal, "runs", "show", str(e["run_id"]))["samples"].get("engine-iter"),
             20, 0.5, "iteration records stored")
    assert cli(journal, "engine", "stop", "trt").returncode == 0


def test_sglang_launched_gets_metrics_flag_and_ready_marker(journal, tmp_path):
    """``engine start --kind sglang``: the service adds ``--enable-metrics`` (without it the
    fake has no /metrics), and readiness waits for /health after the warm-up."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    _shim(bin_dir, "sglang-serve", "tests.doubles.engines.sglang")
    port = free_port()
    env = {"PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}", "PYTHONPATH": str(ROOT)}
    p = cli(journal, "engine", "start", "sg", "--kind", "sglang", "--wait", "--", "sglang-serve",
            "--model-path", "tiny", "--port", str(port), env=env, timeout=120)
    assert p.returncode == 0, p.stdout + p.stderr
    e = _engine(journal, "sg")
    run = cli_json(journal, "runs", "show", str(e["run_id"]))
    assert run["argv"][-1] == "--enable-metrics" and run["facts"]["kv_cache_tokens"] == 20000
    assert run["facts"]["max_total_num_tokens"] == 20000
    wait_for(lambda: "sglang:max_total_num_tokens" in Reader(journal / "journal.db").series_names(e["run_id"]),
             20, 0.5, "SGLang metrics stored")
    assert cli(journal, "engine", "stop", "sg").returncode == 0
