"""The matrix job under a real service, against the load generator's mock server as engine.

Fast stand-in for the real-vLLM acceptance test (tests/integration/test_matrix_real.py):
the same service code paths (engine per variant, a variant that dies at startup, bench
cells, resume after the service is killed, results written), in seconds.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from helpers import cli, cli_json, free_port, kill_service_mid_bench, wait_for
from iejtui.store import Reader

ROOT = Path(__file__).resolve().parents[2]  # engines import the test doubles as `tests.doubles.*`

pytestmark = pytest.mark.slow


def mock_journal(journal, itl_ms: float = 1.0):
    port = free_port()
    argv = [sys.executable, "-m", "tests.doubles.mockserver", "--port", str(port), "--chunks", "16",
            "--ttft-ms", "3"]
    with open(journal / "iejtui.toml", "a") as f:
        f.write(f'\n[engines.mock]\nkind = "openai"\nargv = {json.dumps(argv)}\nurl = "http://127.0.0.1:{port}"\n'
                f'env = {{ PYTHONPATH = {json.dumps(str(ROOT))} }}\nstop_timeout = 5\n')
    path = journal / "benchmarks" / "matrices" / "mock.toml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f'''name = "mockgrid"
[engine]
profile = "mock"
[[variants]]
name = "fast"
args = ["--itl-ms", "{itl_ms}"]
[[variants]]
name = "broken"
args = ["--chunks", "abc"]
[[variants]]
name = "slow"
args = ["--itl-ms", "{itl_ms * 3}"]
[[workloads]]
name = "tiny"
input_len = 16
output_len = 16
num_prompts = 6
[load]
max_concurrency = [1, 4]
[slo]
ttft_ms = 1000
[cost]
gpu_hour_usd = 1.5
''')
    return path


def test_matrix_runs_unattended_with_a_failing_variant(journal):
    path = mock_journal(journal)
    p = cli(journal, "matrix", "run", str(path), timeout=240)
    assert p.returncode == 0, p.stderr
    assert "3 variants × 1 workloads × 2 load points × 1 repetitions = 6 cells; 6 to run" in p.stdout
    assert "matrix mockgrid (run r" in p.stdout and "done, 6/6 cells (4 done, 0 failed, 2 skipped" in p.stdout
    assert "variant broken: failed: exited with code 2" in p.stdout
    res = json.loads((journal / "benchmarks" / "mockgrid" / "results.json").read_text())
    assert res["state"] == "done" and res["counts"]["done"] == 4 and res["counts"]["skipped"] == 2
    broken = next(v for v in res["variants"] if v["name"] == "broken")
    assert "invalid int value: 'abc'" in broken["reason"] and broken["log_tail"].startswith("mockserver.py: error")
    cell = next(c for c in res["cells"] if c["status"] == "done")
    assert cell["bench"]["completed"] == 6 and cell["figures"]["usd_per_1m_output"] > 0
    assert cell["figures"]["goodput"]["slo"] > 0 and cell["engine_run"]
    readme = (journal / "benchmarks" / "mockgrid" / "README.md").read_text()
    assert "## Results at a glance" in readme and "chart-tiny.svg" in readme
    assert (journal / "benchmarks" / "mockgrid" / "chart-tiny.svg").read_text().startswith("<?xml")
    pareto = (journal / "benchmarks" / "mockgrid" / "pareto-tiny.svg").read_text()  # issue 16: dominated marked
    assert pareto.startswith("<?xml") and 'id="frontier-' in pareto and "](pareto-tiny.svg)" in readme
    assert 'id="dominated-' in pareto and "slow · c4 (dominated)" in pareto  # 3× the ITL, less tok/s
    assert "[mockgrid](mockgrid/README.md)" in (journal / "benchmarks" / "README.md").read_text()
    reader = Reader(journal / "journal.db")
    benches = [r for r in reader.runs(kind="bench") if "matrix:mockgrid" in r["tags"]]
    assert len(benches) == 4 and {b["facts"]["cell"] for b in benches} == {c["key"] for c in res["cells"]
                                                                            if c["status"] == "done"}
    # running the file again keeps everything: nothing to do, the report is written again
    p = cli(journal, "matrix", "run", str(path), "--dry-run")
    assert p.returncode == 0 and "0 to run, 6 kept from the earlier run" in p.stdout
    st = cli_json(journal, "matrix", "status", "mockgrid")
    assert st["state"] == "done" and st["cells"]["finished"] == 6
    p = cli(journal, "compare")
    assert p.returncode == 0 and "## Workload `tiny`: random, 16 in / 16 out" in p.stdout


def test_killed_service_resumes_the_grid(journal):
    path = mock_journal(journal, itl_ms=25.0)
    p = cli(journal, "matrix", "run", str(path), "--detach")
    assert p.returncode == 0, p.stderr
    cur = kill_service_mid_bench(journal, 120)  # in the middle of a benchmark
    wait_for(lambda: cli(journal, "service", "status").returncode == 3, 30, what="the service to be gone")
    off = cli(journal, "matrix", "status", "mockgrid")
    assert "the grid resumes when it starts" in off.stdout
    assert cli(journal, "service", "start").returncode == 0
    final = wait_for(lambda: (s := cli_json(journal, "matrix", "status", "mockgrid"))["state"] == "done" and s,
                     180, interval=1.0, what="the resumed grid")
    assert final["cells"]["done"] == 4 and final["cells"]["skipped"] == 2, final
    log = [e["what"] for e in final["log"]]
    assert "resumed after a service restart" in log, log
    # the engine outlived the service and was re-adopted
    assert f"variant {cur['variant']}: re-using its engine r{cur['engine_run']} (adopted after a restart)" in log
    reader = Reader(journal / "journal.db")
    cut = [r for r in reader.runs(kind="bench") if r["status"] == "interrupted"]
    assert len(cut) == 1 and cut[0]["facts"]["variant"] == cur["variant"]  # the bench running at the kill
    assert sum(1 for r in reader.runs(kind="bench") if r["facts"]["cell"] == cut[0]["facts"]["cell"]) == 2
    res = json.loads((journal / "benchmarks" / "mockgrid" / "results.json").read_text())
    assert all(c["bench"]["completed"] == 6 for c in res["cells"] if c["status"] == "done")


# The mock server, made to die (exit 3) at its DIE_AFTER_REQUESTS+1-th completion request.
CRASHY = f"""import os, sys
sys.path.insert(0, {str(ROOT)!r})
from aiohttp import web
from tests.doubles import mockserver as m
n = int(os.environ.get("DIE_AFTER_REQUESTS") or 0)
orig = m.MockServer.app
def app(self):
    a = orig(self)
    seen = [0]
    @web.middleware
    async def die(request, handler):
        if n and request.path.endswith("/completions"):
            seen[0] += 1
            if seen[0] > n:
                os._exit(3)
        return await handler(request)
    a.middlewares.append(die)
    return a
m.MockServer.app = app
m.main(sys.argv[1:])
"""


def test_engine_dying_mid_grid_fails_its_variant_and_the_grid_goes_on(journal):
    port = free_port()
    argv = [sys.executable, "-c", CRASHY, "--port", str(port), "--chunks", "8"]
    with open(journal / "iejtui.toml", "a") as f:
        f.write(f'\n[engines.mock]\nkind = "openai"\nargv = {json.dumps(argv)}\nurl = "http://127.0.0.1:{port}"\n'
                'stop_timeout = 5\n')
    path = journal / "crash.toml"
    path.write_text("""name = "crash"
[engine]
profile = "mock"
[[variants]]
name = "oom"
env = { DIE_AFTER_REQUESTS = "8" }
[[variants]]
name = "ok"
[[workloads]]
name = "tiny"
input_len = 8
output_len = 8
num_prompts = 6
[load]
max_concurrency = [1, 4]
repetitions = 2
""")
    p = cli(journal, "matrix", "run", str(path), timeout=240)
    assert p.returncode == 0, p.stderr
    res = json.loads((journal / "benchmarks" / "crash" / "results.json").read_text())
    cells = {c["key"]: c for c in res["cells"]}
    assert [cells[f"oom/tiny/{k}"]["status"] for k in ("c1/1", "c1/2", "c4/1", "c4/2")] == \
        ["done", "failed", "skipped", "skipped"]
    assert "engine crashed" in cells["oom/tiny/c1/2"]["reason"]
    oom = next(v for v in res["variants"] if v["name"] == "oom")
    assert oom["status"] == "failed" and oom["reason"].startswith("engine crashed during oom/tiny/c1/2")
    assert "exited with code 3" in oom["reason"]
    assert all(cells[f"ok/tiny/{k}"]["status"] == "done" for k in ("c1/1", "c1/2", "c4/1", "c4/2"))
    assert "## What failed" in (journal / "benchmarks" / "crash" / "README.md").read_text()


def test_bad_matrix_files_are_refused_before_anything_starts(journal):
    bad = journal / "bad.toml"
    bad.write_text('name = "x"\n[engine]\nprofile = "nope"\n')
    p = cli(journal, "matrix", "run", str(bad))
    assert p.returncode == 2 and p.stderr.startswith(f"iejtui: {bad}:3: unknown engine profile 'nope'")
    assert len(p.stderr.strip().splitlines()) == 1 and "Traceback" not in p.stderr
    assert not (journal / ".iejtui" / "service.pid").exists()
    p = cli(journal, "matrix", "run", str(journal / "missing.toml"))
    assert p.returncode == 2 and "no such matrix file" in p.stderr
    p = cli(journal, "compare")
    assert p.returncode == 2 and "no matrix entries" in p.stderr
