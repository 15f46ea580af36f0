"""A grid whose service dies after a variant's last cell, while that variant's engine is
still up (here: shutting down, as a real engine takes seconds to): the service that starts
again re-adopts the engine, and the grid must stop it before the next variant starts on the
same port, or the next variant fails with "port in use" and all its cells are skipped.

The engine is the SGLang fake launched as a process (it keeps serving ``--shutdown-s``
seconds after SIGTERM, so the moment is easy to catch); the service, its recovery and the
bench client are the real ones. test_matrix_real covers a kill in the middle of a benchmark.
"""

from __future__ import annotations

import json
import os
import signal
import stat
import sys
from pathlib import Path

import pytest

from helpers import add_profile, cli, cli_json, free_port, wait_for
from iejtui.store import Reader

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
MATRIX = '''name = "drain"
[engine]
profile = "sg"
args = ["--shutdown-s", "6"]
[[variants]]
name = "a"
args = ["--decode-log-interval", "40"]
[[variants]]
name = "b"
args = ["--decode-log-interval", "20"]
[[workloads]]
name = "w"
input_len = 16
output_len = 8
num_prompts = 4
args = ["--tokenizer", "MODEL"]
[load]
max_concurrency = [2]
repetitions = 1
'''


@pytest.mark.timeout(300)
def test_restart_after_a_variants_last_cell_stops_its_engine_before_the_next(journal, tmp_path, demo_engine):
    _, model = demo_engine  # the generated tiny model: its tokenizer.json shapes the benchmark's prompts
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    shim = bin_dir / "sglang-serve"
    shim.write_text(f"#!/bin/sh\nexec {sys.executable} -m tests.doubles.engines.sglang \"$@\"\n")
    shim.chmod(shim.stat().st_mode | stat.S_IXUSR)
    port = free_port()
    argv = [str(shim), "--model-path", str(model), "--port", str(port)]
    add_profile(journal, f'\n[engines.sg]\nkind = "sglang"\nargv = {json.dumps(argv)}\n'
                         f'env = {{ PYTHONPATH = {json.dumps(str(ROOT))} }}\nstop_timeout = 20\n')
    path = journal / "drain.toml"
    path.write_text(MATRIX.replace("MODEL", str(model)))
    p = cli(journal, "matrix", "run", str(path), "--detach")
    assert p.returncode == 0, p.stdout + p.stderr

    def stopping_a():
        cur = cli_json(journal, "matrix", "status", "drain")["current"]
        return cur.get("variant") == "a" and cur.get("phase") == "stopping the engine" and cur
    wait_for(stopping_a, 120, interval=0.2, what="variant a's engine to be stopping")
    os.kill(int((journal / ".iejtui" / "service.pid").read_text()), signal.SIGKILL)
    wait_for(lambda: cli(journal, "service", "status").returncode == 3, 30, what="the service to be gone")
    assert cli(journal, "service", "start").returncode == 0
    final = wait_for(lambda: (s := cli_json(journal, "matrix", "status", "drain"))["state"] != "running" and s,
                     180, interval=1.0, what="the grid to finish")
    cells = final["cells"]
    assert (final["state"], cells["done"], cells["skipped"], cells["failed"]) == ("done", 2, 0, 0), final
    assert {v["name"]: v["status"] for v in final["variants"]} == {"a": "done", "b": "done"}, final

    reader = Reader(journal / "journal.db")
    engines = {r["name"]: r for r in reader.runs(kind="engine")}
    assert engines["drain.a"]["status"] == "stopped" and engines["drain.b"]["status"] == "stopped"
    # a's engine was gone before b's started: b did not meet a busy port
    assert engines["drain.a"]["ended_at"] <= engines["drain.b"]["started_at"]
    messages = [e["message"] for e in reader.events(final["run_id"])]
    assert any("engine drain.a" in m and "outlived a service restart" in m for m in messages), messages
