"""Profiling on the real CPU vLLM 0.32 (the session's shared engine, launched with
``profile = true``): a profiled bench run, a ``profile`` run, the free-space refusal.

One engine for all (no extra launch); windows of a few seconds (traces grow fast).
"""

from __future__ import annotations

import json
import stat
import time

import pytest

from helpers import cli, cli_json
from iejtui.store import Reader

pytestmark = pytest.mark.integration


def _run_id(text: str, what: str) -> int:
    return int(text.split(what)[1].split()[0])


def test_profiled_bench_trace_lies_inside_the_bench_window(shared_engine):
    journal = shared_engine["journal"]
    # ~4 s of load at 4 req/s (sized by duration), two warm-ups before the window opens
    p = cli(journal, "bench", "--engine", "tiny", "--profile", "--num-prompts", "16", "--request-rate", "4",
            "--num-warmups", "2", "--random-input-len", "32", "--random-output-len", "16", "--ignore-eos",
            "--seed", "5", timeout=300)
    assert p.returncode == 0, p.stderr
    assert "top operators by self time" in p.stdout, p.stdout
    run_id = _run_id(p.stdout, "benchmark run ")
    run = Reader(journal / "journal.db").run(run_id)
    prof = run["summary"]["profile"]
    s = prof["summary"]
    # kineto's baseTimeNanoseconds + event times: the window sits inside the bench run
    assert run["started_at"] <= s["start_unix"] < s["end_unix"] <= run["ended_at"]
    assert prof["started_at"] <= s["start_unix"] + 0.5 and s["end_unix"] <= prof["stopped_at"] + 0.5
    # the first measured request opened it: after the earliest send of the run
    first_sent = min(r["t_sent"] for r in Reader(journal / "journal.db").requests(run_id))
    assert s["start_unix"] > first_sent
    assert s["top_ops"] and 0 < sum(r["share"] for r in s["top_ops"]) <= 1.0
    assert any(r["name"].startswith("aten::") for r in s["top_ops"])
    assert s["gpu_idle_share"] is None  # a CPU box: no GPU events
    # the files belong to the run: under the runtime folder, private, named by the run id
    folder = journal / ".iejtui" / "profiles" / f"run-{run_id}"
    assert prof["dir"] == str(folder) and stat.S_IMODE(folder.stat().st_mode) == 0o700
    names = [f["name"] for f in prof["files"]]
    assert names and all(n.startswith(f"iejtui-run{run_id}_") for n in names)
    assert sum(f["bytes"] for f in prof["files"]) == prof["bytes"] > 0
    assert all((folder / n).stat().st_size == f["bytes"] for n, f in zip(names, prof["files"]))
    shown = cli(journal, "runs", "show", str(run_id))
    assert shown.returncode == 0 and "top operators by self time" in shown.stdout
    # the day log and the export carry the table and bars; the trace stays out of days/
    p = cli(journal, "day", "new", "profiled bench", "--run", str(run_id))
    assert p.returncode == 0, p.stderr
    day_dir = next((journal / "days").glob("day-*-profiled-bench"))
    log = (day_dir / "LOG.md").read_text()
    top = s["top_ops"][0]["name"]
    assert f"**Profile of r{run_id}**" in log and f"| `{top}` |" in log and "█" in log
    assert not [f for f in day_dir.rglob("*") if ".pt.trace" in f.name]
    assert json.loads((day_dir / "metrics.json").read_text())["runs"][0]["profile"]["prefix"] == f"iejtui-run{run_id}"
    number = int(day_dir.name.split("-")[1])
    p = cli(journal, "export", "--day", str(number))
    assert p.returncode == 0 and "**Profile**" in p.stdout and f"| `{top}` |" in p.stdout


def test_profile_command_makes_a_profile_run(shared_engine):
    journal = shared_engine["journal"]
    p = cli(journal, "profile", "tiny", "--seconds", "2", timeout=120)
    assert p.returncode == 0, p.stderr
    run_id = _run_id(p.stdout, "profile run ")
    run = Reader(journal / "journal.db").run(run_id)
    engine_run = cli_json(journal, "engine", "list")[0]["run_id"]
    assert run["kind"] == "profile" and run["status"] == "stopped" and run["parent_id"] == engine_run
    prof = run["summary"]["profile"]
    assert prof["files"] and prof["stop_reason"] == "2 s window ended"
    assert 1.5 < prof["stopped_at"] - prof["started_at"] < 30
    assert json.loads(cli(journal, "runs", "show", str(run_id), "--json").stdout)["profile"]["prefix"] \
        == f"iejtui-run{run_id}"


def test_runs_delete_takes_the_profile_run_and_its_traces(shared_engine):
    """The trace files belong to the run: deleting the run removes them (and only them)."""
    journal = shared_engine["journal"]
    p = cli(journal, "profile", "tiny", "--seconds", "1", timeout=120)
    assert p.returncode == 0, p.stderr
    run_id = _run_id(p.stdout, "profile run ")
    db = journal / "journal.db"
    prof = Reader(db).run(run_id)["summary"]["profile"]
    folder = journal / ".iejtui" / "profiles" / f"run-{run_id}"
    assert folder.is_dir() and prof["bytes"] > 0
    engine_run = cli_json(journal, "engine", "list")[0]["run_id"]
    n_runs = len(Reader(db).runs())

    def one_line_2(proc, msg):
        assert proc.returncode == 2, proc.stdout + proc.stderr
        assert msg in proc.stderr and len(proc.stderr.strip().splitlines()) == 1, proc.stderr

    # no terminal to ask on and no --yes: nothing goes
    one_line_2(cli(journal, "runs", "delete", str(run_id)), "pass --yes")
    # the engine serves: refused, its benchmarks and profiles with it
    one_line_2(cli(journal, "runs", "delete", str(engine_run), "--yes", "--with-children"), "is still ready: stop it first")
    one_line_2(cli(journal, "runs", "delete", str(engine_run), "--yes"), "--with-children")
    assert len(Reader(db).runs()) == n_runs and folder.is_dir()

    p = cli(journal, "runs", "delete", f"r{run_id}", "--yes", "--json")
    assert p.returncode == 0, p.stderr
    out = json.loads(p.stdout)
    assert [(r["id"], r["kind"]) for r in out["deleted"]] == [(run_id, "profile")]
    assert out["files"] >= 1 and out["bytes"] >= prof["bytes"]
    assert not folder.exists()
    reader = Reader(db)
    assert reader.run(run_id) is None and reader.run(engine_run) is not None
    assert len(reader.runs()) == n_runs - 1
    deadline = time.time() + 10  # the service's event lands with its next flush (~1 s)
    while not any(e["kind"] == "runs.deleted" and run_id in (e["data"] or {}).get("ids", [])
                  for e in Reader(db).events(since=time.time() - 60, limit=1000)):
        assert time.time() < deadline, "no runs.deleted event"
        time.sleep(0.3)
    one_line_2(cli(journal, "runs", "show", str(run_id)), f"no run '{run_id}'")


def test_too_little_free_space_is_refused_before_starting(shared_engine):
    journal = shared_engine["journal"]
    toml = journal / "iejtui.toml"
    before = toml.read_text()
    n_runs = len(Reader(journal / "journal.db").runs())
    # a floor above any real disk's free space: the real statvfs answer refuses it
    toml.write_text(before.replace("[service]", "[service]\nprofile_min_free_bytes = 1000000000000000000", 1)
                    if "[service]" in before else before + "\n[service]\nprofile_min_free_bytes = 1000000000000000000\n")
    try:
        p = cli(journal, "profile", "tiny", "--seconds", "1", timeout=60)
        b = cli(journal, "bench", "--engine", "tiny", "--profile", "--num-prompts", "2", timeout=60)
    finally:
        toml.write_text(before)
    for proc in (p, b):
        assert proc.returncode == 2, proc.stderr
        assert "too little free space for a profile" in proc.stderr
        assert len(proc.stderr.strip().splitlines()) == 1 and "Traceback" not in proc.stderr
    assert len(Reader(journal / "journal.db").runs()) == n_runs  # nothing started, nothing recorded


def test_profile_bad_input_is_one_line_exit_2(journal):
    cases = [(("profile", "nosuch", "--seconds", "1"), "engine 'nosuch' is not running"),
             (("bench", "--engine", "x", "--profile-seconds", "3", "--num-prompts", "2"),
              "--profile-seconds goes with --profile"),
             (("bench", "--base-url", "http://127.0.0.1:9", "--profile"), "--profile needs --engine"),
             (("profile", "x", "--seconds", "0"), "0")]
    for args, msg in cases:
        p = cli(journal, *args, timeout=120)
        assert p.returncode == 2, (args, p.stderr)
        assert msg in p.stderr and "Traceback" not in p.stderr, (args, p.stderr)
