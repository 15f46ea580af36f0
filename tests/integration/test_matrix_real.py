"""The benchmark matrix on the real CPU vLLM (the issue's acceptance).

2 working variants (--max-num-seqs 8 vs 64) + 1 made to fail at startup (an invalid
--dtype) × 2 workloads × 2 load points × 2 repetitions, unattended under the service;
the service is SIGKILLed in the middle of a benchmark and started again: the grid
resumes (the engine that outlived the service is re-adopted, the cut cell runs again)
and produces benchmarks/seqs/ with results.json, README.md and SVG charts.
"""

from __future__ import annotations

import json

import pytest

from helpers import add_profile, cli, cli_json, free_port, kill_service_mid_bench, wait_for
from iejtui.store import Reader

pytestmark = pytest.mark.integration

MATRIX = '''name = "seqs"
description = "Tiny Llama on the CPU build of vLLM: does --max-num-seqs change throughput and latency?"
[engine]
profile = "tiny"
[[variants]]
name = "seqs8"
args = ["--max-num-seqs", "8"]
[[variants]]
name = "broken"
args = ["--dtype", "nonsense"]
description = "made to fail: vLLM refuses the dtype at startup"
[[variants]]
name = "seqs64"
args = ["--max-num-seqs", "64"]
[[workloads]]
name = "short"
input_len = 32
output_len = 16
num_prompts = 12
[[workloads]]
name = "long"
input_len = 64
output_len = 16
num_prompts = 12
[load]
max_concurrency = [2, 8]
repetitions = 2
[slo]
name = "interactive"
ttft_ms = 2000
tpot_ms = 250
[cost]
gpu_hour_usd = 2.5
'''


@pytest.mark.timeout(1200)
def test_matrix_on_the_real_engine_survives_a_service_kill(journal, demo_engine):
    from iejtui.demo.engine_env import demo_argv, demo_env
    env, model = demo_engine
    port = free_port()
    add_profile(journal, f'\n[engines.tiny]\nkind = "vllm"\nargv = {json.dumps(demo_argv(env, model, port))}\n'
                         f'env = {{ {", ".join(f"{k} = {json.dumps(v)}" for k, v in demo_env().items())} }}\n'
                         'stop_timeout = 20\n')
    path = journal / "benchmarks" / "matrices" / "seqs.toml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(MATRIX)
    p = cli(journal, "matrix", "run", str(path), "--detach")
    assert p.returncode == 0, p.stderr
    assert "= 24 cells; 24 to run" in p.stdout and "estimate: about" in p.stdout

    cur = kill_service_mid_bench(journal)
    wait_for(lambda: cli(journal, "service", "status").returncode == 3, 30, what="the service to be gone")
    assert cli(journal, "service", "start").returncode == 0
    final = wait_for(lambda: (s := cli_json(journal, "matrix", "status", "seqs"))["state"] != "running" and s,
                     900, interval=3.0, what="the grid to finish")
    assert final["state"] == "done", final
    assert (final["cells"]["done"], final["cells"]["skipped"], final["cells"]["failed"]) == (16, 8, 0), final
    log = [e["what"] for e in final["log"]]
    assert "resumed after a service restart" in log
    assert f"variant {cur['variant']}: re-using its engine r{cur['engine_run']} (adopted after a restart)" in log

    reader = Reader(journal / "journal.db")
    benches = [r for r in reader.runs(kind="bench") if "matrix:seqs" in (r["tags"] or [])]
    cut = [r for r in benches if r["status"] == "interrupted"]
    # the benchmark running at the kill was cut short, and its cell ran again
    assert len(cut) == 1 and cut[0]["facts"]["variant"] == cur["variant"] and len(benches) == 17
    assert any(r["status"] == "stopped" and r["facts"]["cell"] == cut[0]["facts"]["cell"] for r in benches)
    engines = {r["name"]: r for r in reader.runs(kind="engine")}
    assert engines["seqs.broken"]["status"] == "crashed" and engines["seqs.seqs64"]["status"] == "stopped"

    entry = journal / "benchmarks" / "seqs"
    res = json.loads((entry / "results.json").read_text())
    variants = {v["name"]: v for v in res["variants"]}
    assert variants["broken"]["status"] == "failed" and "nonsense" in variants["broken"]["reason"]
    for name in ("seqs8", "seqs64"):
        v = variants[name]
        assert v["status"] == "done" and v["kv_capacity_tokens"] > 0 and v["startup_s"] > 0
    assert res["hardware"]["cpu_cores"] and res["hardware"]["label"].startswith("CPU:")
    assert res["versions"]["engine"]
    done = [c for c in res["cells"] if c["status"] == "done"]
    assert len(done) == 16 and all(c["bench"]["completed"] == 12 for c in done)
    assert all(c["bench"]["total_output_tokens"] == 12 * 16 for c in done)
    assert all(c["figures"]["usd_per_1m_output"] > 0 and c["figures"]["ttft_p99_ms"] > 0 for c in done)
    assert any((c["figures"].get("kv_peak_tokens") or 0) > 0 for c in done)
    assert {b["slo"] for b in res["best"]} == {None, "interactive"}
    readme = (entry / "README.md").read_text()
    for text in ("# seqs: benchmark matrix", "## Results at a glance", "**Output throughput (tokens/s)**",
                 "**TTFT p50 / p99 (ms)**", "**TPOT p50 / p99 (ms)**", "**Goodput under SLO `interactive`",
                 "## What failed", "chart-short.svg", "chart-long.svg", "16 of 24 cells measured"):
        assert text in readme, text
    assert (entry / "chart-short.svg").read_text().startswith("<?xml")
    p = cli(journal, "compare", "seqs")
    assert p.returncode == 0 and "## Workload `short`: random, 32 in / 16 out" in p.stdout
