"""Issue #14 items 1, 8, 11 with real processes: secrets stay masked across a service
kill, stops reach ``setsid()`` workers and never a stranger, the wrapper's ``ps`` line is bare.

The long test drives the secrets engine (tests/engines/secrets_engine.py: the real CPU vLLM
behind a process that prints its secrets every 0.5 s and forks a setsid child); the others
use small engines of their own, since what they test does not depend on vLLM.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from engines.kit import start_secrets_engine
from helpers import cli, cli_json, free_port, wait_for
from iejtui.paths import JournalPaths
from iejtui.service import procs
from iejtui.client.transport import call
from users import THIRD, need_root, popen_as


def _leaks(blob, values) -> list[str]:
    """The secret values found in ``blob`` (text or bytes)."""
    if isinstance(blob, str):
        blob = blob.encode()
    return [v for v in values if v.encode() in blob]


def _journal_files(journal: Path) -> dict[str, bytes]:
    """Every file of the journal (journal.db and its -wal, logs, pidfiles...) but the
    profile file the test wrote the secrets into."""
    out = {}
    for p in journal.rglob("*"):
        if p.is_file() and p.name != "iejtui.toml":
            out[str(p.relative_to(journal))] = p.read_bytes()
    return out


def _alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def _kill_service(journal: Path) -> None:
    pid = int((journal / ".iejtui" / "service.pid").read_text())
    os.kill(pid, signal.SIGKILL)
    wait_for(lambda: not _alive(pid), 10, what="the service to die")


def _everything_shown(journal: Path, name: str, run_id: int) -> dict[str, str]:
    """What a person (or the TUI) can see of the engine's log and run, by route."""
    shown = {}
    api = call(JournalPaths(journal), "GET", f"/engines/{name}/log?lines=400")
    shown["api log route (the TUI's Engines log pane reads this)"] = "\n".join(api["lines"])
    for args in (("engine", "logs", name, "--lines", "400"), ("runs", "show", str(run_id)),
                 ("runs", "show", str(run_id), "--json")):
        p = cli(journal, *args)
        assert p.returncode == 0, p.stderr
        shown[" ".join(args)] = p.stdout + p.stderr
    for path, data in _journal_files(journal).items():
        shown[path] = data.decode("utf-8", "replace")
    return shown


@pytest.mark.integration
def test_secrets_stay_masked_across_a_service_kill_and_stop_ends_setsid_workers(journal, demo_engine):
    eng = start_secrets_engine(journal)
    # item 11: the secret on the engine's own command line is called out, with the env form
    assert "every user of this machine can read it in `ps`" in eng.start.stderr
    assert "VLLM_API_KEY" in eng.start.stderr
    e = next(x for x in cli_json(journal, "engine", "list") if x["name"] == eng.name)
    run_id, pgid = e["run_id"], e["pgid"]
    wrapper_ps = Path(f"/proc/{pgid}/cmdline").read_bytes()
    assert b"iejtui.service.runner" in wrapper_ps
    assert _leaks(wrapper_ps, eng.values) == [] and b"--api-key" not in wrapper_ps
    assert b"secrets_engine" not in wrapper_ps  # no engine argv on the wrapper's line at all
    assert not list((journal / ".iejtui" / "pids").glob("*.spec"))  # read and deleted
    child = int(wait_for(lambda: eng.child_file.exists() and eng.child_file.read_text(), 10,
                         what="the setsid child's pid"))
    assert _alive(child) and os.getsid(child) == child != os.getsid(pgid)

    # item 1: kill -9 the service mid-run; the engine goes on printing its secrets
    log_path = Path(cli_json(journal, "runs", "show", str(run_id))["log_path"])
    _kill_service(journal)
    size = log_path.stat().st_size
    wait_for(lambda: log_path.stat().st_size > size + 2000, 30, what="the engine to print more")
    assert cli(journal, "service", "start").returncode == 0
    wait_for(lambda: any(x["name"] == eng.name and x["status"] == "ready"
                         for x in cli_json(journal, "engine", "list")), 30, what="the engine re-adopted")
    size = log_path.stat().st_size
    wait_for(lambda: log_path.stat().st_size > size + 2000, 30, what="more output after the restart")
    time.sleep(1.0)  # a supervisor tick reads it
    shown = _everything_shown(journal, eng.name, run_id)
    leaked = {where: _leaks(text, eng.values) for where, text in shown.items()}
    assert {k: v for k, v in leaked.items() if v} == {}
    api_lines = shown["api log route (the TUI's Engines log pane reads this)"]
    assert "Bearer ***" in api_lines and "SERVICE_PASSWORD=***" in api_lines  # masked, not dropped
    assert "HF_TOKEN=***" in log_path.read_text()

    # item 8: stopping the engine also ends the worker that left its process group
    p = cli(journal, "engine", "stop", eng.name, timeout=120)
    assert p.returncode == 0, p.stderr
    wait_for(lambda: not _alive(child), 15, what="the setsid child to be stopped")
    run = cli_json(journal, "runs", "show", str(run_id))
    assert run["status"] == "stopped" and run["log_tail"]
    shown = {**_journal_files(journal), "runs show --json": json.dumps(run)}  # log_tail written now
    assert {k: v for k, v in ((k, _leaks(t, eng.values)) for k, t in shown.items()) if v} == {}


def _adhoc_sleeper(journal: Path, name: str) -> dict:
    """A cheap owned engine that never gets ready (it stays `starting`)."""
    p = cli(journal, "engine", "start", name, "--kind", "vllm", "--url", f"http://127.0.0.1:{free_port()}",
            "--", sys.executable, "-c", "import time; time.sleep(600)")
    assert p.returncode == 0, p.stderr
    return next(x for x in cli_json(journal, "engine", "list") if x["name"] == name)


def test_a_stale_pidfile_never_kills_a_stranger(journal, scratch):
    """After a reboot or pid reuse the pids of a pidfile belong to others: recovery and
    stop must signal none of them (a spare uid's `sleep`, a root `sleep` in its own session)."""
    need_root()
    a, b = _adhoc_sleeper(journal, "enga"), _adhoc_sleeper(journal, "engb")
    _kill_service(journal)
    for e in (a, b):  # "the reboot": every process of both engines is gone
        os.killpg(e["pgid"], signal.SIGKILL)
        wait_for(lambda: not procs.group_alive(e["pgid"]), 10, what="the engine gone")
    time.sleep(0.5)  # strangers start later than the processes they stand in for (as after a reboot)
    strangers = [popen_as(THIRD, ["sleep", "600"], start_new_session=True, cwd=scratch),
                 subprocess.Popen(["sleep", "600"], start_new_session=True)]
    try:
        s_user, s_root = (s.pid for s in strangers)
        wait_for(lambda: psutil.Process(s_user).name() == "sleep", 10, what="the stranger's sleep")
        pids = journal / ".iejtui" / "pids"
        for e, leader, engine in ((a, s_user, s_root), (b, s_root, s_user)):
            path = pids / f"{e['run_id']}.json"
            rec = json.loads(path.read_text())
            rec.update(pgid=leader, pid=engine, tree=[[engine, rec["create_time"]]])
            path.write_text(json.dumps(rec))
        Path(pids / f"{a['run_id']}.exit").write_text(json.dumps({"code": -9, "ended_at": time.time()}))
        assert cli(journal, "service", "start").returncode == 0

        def ended():
            runs = [r for r in cli_json(journal, "runs") if r["id"] in (a["run_id"], b["run_id"])
                    and r["status"] in ("crashed", "stopped", "interrupted")]
            return len(runs) == 2
        wait_for(ended, 30, what="both runs ended by recovery")
        rb = cli_json(journal, "runs", "show", str(b["run_id"]))
        assert rb["status"] == "interrupted" and "nothing signalled" in rb["reason"]
        time.sleep(1.0)
        assert cli(journal, "service", "stop", timeout=60).returncode == 0
        assert _alive(s_user) and _alive(s_root), "a stranger named in a stale pidfile was killed"
        assert psutil.Process(s_user).uids().real == THIRD
    finally:
        for s in strangers:
            s.kill()
            s.wait()


CHILD_ENGINE = r"""
import os, sys, time
pid = os.fork()
if pid == 0:
    os.setsid()
    os.execvp("sleep", ["sleep", "600"])
open(sys.argv[1] + ".tmp", "w").write(str(pid)); os.replace(sys.argv[1] + ".tmp", sys.argv[1])
print("engine up, key", sys.argv[2], flush=True)
time.sleep(600)
"""


def test_stop_reaches_setsid_workers_from_the_recorded_tree_when_the_wrapper_is_gone(tmp_path):
    """No cgroup is used: the descendant tree recorded while running is what reaches a
    worker that left the group, even with the wrapper (its subreaper) killed."""
    child_file = tmp_path / "child.pid"
    script = tmp_path / "engine.py"
    script.write_text(CHILD_ENGINE)
    rec = procs.launch(1, "t", [sys.executable, str(script), str(child_file), "sk-tree-secret-1"],
                       dict(os.environ), None, tmp_path / "run.log", tmp_path / "pids", ["sk-tree-secret-1"])
    child = int(wait_for(lambda: child_file.exists() and child_file.read_text(), 15, what="the worker"))
    wait_for(lambda: procs.record_tree(rec, tmp_path / "pids") or [child, psutil.Process(child).create_time()]
             in rec.tree, 10, what="the worker in the recorded tree")
    saved = procs.PidRecord.load_all(tmp_path / "pids")[0]
    assert [child, psutil.Process(child).create_time()] in saved.tree
    os.kill(rec.pgid, signal.SIGKILL)  # the wrapper is gone (it was the worker's subreaper)
    wait_for(lambda: (procs.reap() or True) and not _alive(rec.pgid), 10, what="the wrapper gone")
    assert _alive(rec.pid) and _alive(child)
    procs.stop_run(saved, grace_s=5)
    wait_for(lambda: not _alive(rec.pid) and not _alive(child), 10, what="engine and worker stopped")


def test_wrapper_masks_the_log_and_keeps_argv_out_of_ps(tmp_path):
    """The log file itself never holds the secret (bare, labelled, ``\\r``-ended), and the
    wrapper's command line names only its (already deleted) spec file."""
    secret, colon = "sk-wrap-secret-77", "pa:ss=word:77"
    code = (f"import sys, time\nprint('key {secret} and Bearer {secret}')\nprint('pw {colon}', end='\\r')\n"
            "print('api_key=zzzlabelled1')\nsys.stdout.flush()\ntime.sleep(600)\n")
    rec = procs.launch(2, "w", [sys.executable, "-c", code], dict(os.environ), None, tmp_path / "run.log",
                       tmp_path / "pids", [secret, colon])
    try:
        ps = Path(f"/proc/{rec.pgid}/cmdline").read_bytes()
        assert secret.encode() not in ps and b"print" not in ps and b"-c" not in ps.split(b"\0")
        assert not (tmp_path / "pids" / "2.spec").exists()
        wait_for(lambda: b"api_key" in (tmp_path / "run.log").read_bytes(), 15,
                 what="the engine's output in the log")
        data = (tmp_path / "run.log").read_bytes()
        assert secret.encode() not in data and colon.encode() not in data and b"zzzlabelled1" not in data
        assert b"key *** and Bearer ***\npw ***\rapi_key=***\n" in data
        assert procs.group_is_ours(rec) and procs.leader_is_ours(rec)
    finally:
        procs.stop_run(rec, grace_s=5)
    assert json.loads((tmp_path / "pids" / "2.exit").read_text())["code"] == -signal.SIGTERM


def test_a_readopted_engine_remasks_raw_log_lines_through_fingerprints(journal):
    """Lines that reach the log file raw (an engine launched by an older iejtui, whose
    wrapper did not mask) are masked by the service that re-adopts it: in its tail read at
    recovery, in the lines read afterwards, in the API log route and in runs.log_tail."""
    from helpers import add_profile
    secret = "hf_readopt" + os.urandom(6).hex() + ":k=v"
    argv = [sys.executable, "-c", "import time; time.sleep(600)"]
    add_profile(journal, f'\n[engines.old]\nkind = "vllm"\nargv = {json.dumps(argv)}\n'
                         f'url = "http://127.0.0.1:{free_port()}"\nenv = {{ HF_TOKEN = {json.dumps(secret)} }}\n')
    assert cli(journal, "engine", "start", "old").returncode == 0
    e = next(x for x in cli_json(journal, "engine", "list") if x["name"] == "old")
    log_path = Path(cli_json(journal, "runs", "show", str(e["run_id"]))["log_path"])
    _kill_service(journal)
    with open(log_path, "a") as f:
        f.write(f"raw before restart {secret}\n")
    assert cli(journal, "service", "start").returncode == 0
    with open(log_path, "a") as f:
        f.write(f"raw after restart HF_TOKEN={secret}\nBearer {secret} done\n")

    def lines():
        return call(JournalPaths(journal), "GET", "/engines/old/log?lines=50")["lines"]
    wait_for(lambda: any("done" in ln for ln in lines()), 15, what="the new lines read")
    got = lines()
    assert "raw before restart ***" in got and "raw after restart HF_TOKEN=***" in got
    assert "Bearer *** done" in got and _leaks("\n".join(got), [secret]) == []
    assert cli(journal, "engine", "stop", "old").returncode == 0
    run = cli_json(journal, "runs", "show", str(e["run_id"]))
    assert "Bearer *** done" in run["log_tail"] and _leaks(json.dumps(run), [secret]) == []
    files = {k: v for k, v in _journal_files(journal).items() if not k.startswith(".iejtui/logs/")}
    assert {k: v for k, v in ((k, _leaks(b, [secret])) for k, b in files.items()) if v} == {}
