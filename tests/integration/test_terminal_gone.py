"""The terminal goes away (the TUI's tmux session is killed, as an SSH drop does): the
engine, a benchmark and the recording go on; two new TUIs at once show them, and the
stored history has no gap over the moment the terminal died."""

from __future__ import annotations

import shutil
import subprocess
import sys
import time

import psutil
import pytest

from helpers import cli, cli_json, wait_for
from iejtui.store import Reader

pytestmark = pytest.mark.integration

TMUX = shutil.which("tmux")


def _tui(session: str, journal) -> None:
    cmd = f"{sys.executable} -m iejtui.cli --journal {journal}"
    subprocess.run([TMUX, "new-session", "-d", "-s", session, "-x", "100", "-y", "30", cmd], check=True)


def _screen(session: str) -> str:
    return subprocess.run([TMUX, "capture-pane", "-p", "-t", session], capture_output=True, text=True).stdout


@pytest.mark.skipif(TMUX is None, reason="tmux is not installed (.ci/run installs it)")
def test_engine_bench_and_recording_outlive_the_terminal(shared_engine):
    journal = shared_engine["journal"]
    run_id = [e for e in cli_json(journal, "engine", "list") if e["name"] == "tiny"][0]["run_id"]
    _tui("iejtui-a", journal)
    try:
        wait_for(lambda: "tiny" in _screen("iejtui-a"), 60, interval=0.5, what="the first TUI to show the engine")
        p = cli(journal, "bench", "--engine", "tiny", "--detach", "--num-prompts", "60", "--max-concurrency", "2",
                "--random-input-len", "32", "--random-output-len", "32", "--ignore-eos")
        assert p.returncode == 0, p.stderr
        bench_id = int(p.stdout.split("benchmark run ")[1].split()[0])
        time.sleep(3)
        t_drop = time.time()
        subprocess.run([TMUX, "kill-session", "-t", "iejtui-a"], check=True)  # the SSH drop
        time.sleep(6)
        # nothing stopped: the service, the engine, the benchmark and the recording went on
        (e,) = [e for e in cli_json(journal, "engine", "list") if e["name"] == "tiny"]
        assert e["status"] == "ready" and psutil.pid_exists(e["pid"])
        reader = Reader(journal / "journal.db")
        (gen,) = reader.series(run_id, "vllm:generation_tokens_total", t0=t_drop - 10, t1=time.time())
        gaps = [b - a for a, b in zip(gen.ts, gen.ts[1:])]
        assert gen.ts[0] < t_drop < gen.ts[-1] and max(gaps) < 2.5, gaps
        assert reader.run(bench_id)["status"] in ("running", "stopped")
        assert len(reader.requests(bench_id)) > 0
        # two TUIs at once see the same live engine
        _tui("iejtui-b", journal)
        _tui("iejtui-c", journal)
        for s in ("iejtui-b", "iejtui-c"):
            wait_for(lambda s=s: "tiny" in _screen(s), 60, interval=0.5, what=f"{s} to show the engine")
        wait_for(lambda: Reader(journal / "journal.db").run(bench_id)["status"] == "stopped", 240, interval=1,
                 what="the benchmark to finish while nobody watched it")
    finally:
        for s in ("iejtui-a", "iejtui-b", "iejtui-c"):
            subprocess.run([TMUX, "kill-session", "-t", s], capture_output=True)
