"""Faults around the service itself: a second service, a newer journal, security rules."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
import socket
import sqlite3
import stat
import subprocess
import sys

import psutil

from helpers import cli, cli_json, stop_service
from iejtui.paths import JournalPaths
from iejtui.store.schema import SCHEMA_VERSION


def test_second_service_for_the_same_journal_is_refused(journal):
    assert cli(journal, "service", "start").returncode == 0
    p = subprocess.run([sys.executable, "-m", "iejtui.service", "run", "--journal", str(journal)],
                       capture_output=True, text=True, timeout=30)
    assert p.returncode == 2 and "a service already runs" in p.stderr and "Traceback" not in p.stderr
    assert cli(journal, "service", "status").returncode == 0  # the first one is untouched


def test_concurrent_commands_start_one_service(journal):
    procs = [subprocess.Popen([sys.executable, "-m", "iejtui.cli", "--journal", str(journal), "status", "--json"],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(4)]
    procs += [subprocess.Popen([sys.executable, "-m", "iejtui.cli", "--journal", str(journal), "record",
                                "--duration", "1"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
              for _ in range(2)]
    outs = [p.communicate(timeout=60) for p in procs]
    assert all(p.returncode == 0 for p in procs), outs
    services = [p for p in psutil.process_iter(["cmdline"])
                if p.info["cmdline"] and "iejtui.service" in " ".join(p.info["cmdline"])
                and str(journal) in " ".join(p.info["cmdline"])]
    assert len(services) == 1


def test_journal_from_a_newer_iejtui_is_refused_untouched(journal):
    db = journal / "journal.db"
    conn = sqlite3.connect(db)
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 5}")
    conn.commit()
    conn.close()
    before = db.read_bytes()
    p = cli(journal, "service", "start")
    assert p.returncode == 2 and "newer than this iejtui understands" in p.stderr
    assert len(p.stderr.strip().splitlines()) == 1 and "Traceback" not in p.stderr
    p = cli(journal, "runs")
    assert p.returncode == 2 and "upgrade iejtui" in p.stderr
    assert db.read_bytes() == before


def test_control_socket_is_user_only_and_there_is_no_tcp_listener(journal):
    assert cli(journal, "service", "start").returncode == 0
    paths = JournalPaths(journal)
    mode = stat.S_IMODE(os.stat(paths.socket).st_mode)
    assert mode == 0o600 and stat.S_IMODE(os.stat(paths.runtime).st_mode) == 0o700
    pid = int(paths.service_pidfile.read_text())
    inet = [c for c in psutil.Process(pid).net_connections(kind="inet") if c.status == psutil.CONN_LISTEN]
    assert inet == []


def test_other_users_are_refused_by_peer_uid():
    """Even with every file mode loosened, a connection from another uid gets 403."""
    base = Path(tempfile.mkdtemp(prefix="iejtui-peer-"))
    journal = base / "journal"
    try:
        assert cli(journal, "init", str(journal)).returncode == 0
        assert cli(journal, "service", "start").returncode == 0
        paths = JournalPaths(journal)
        for d in (base, journal, paths.runtime):
            os.chmod(d, 0o711)
        os.chmod(paths.socket, 0o666)
        nobody = 65534

        def as_nobody():
            os.setgid(nobody)
            os.setuid(nobody)

        code = ("import socket,sys; s=socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]);"
                "s.sendall(b'GET /v1/status HTTP/1.1\\r\\nHost: x\\r\\nConnection: close\\r\\n\\r\\n');"
                "print(s.recv(200).decode().split()[1])")
        p = subprocess.run(["/usr/bin/python3", "-c", code, str(paths.socket)], capture_output=True, text=True,
                           preexec_fn=as_nobody, timeout=20, cwd="/", env={"PATH": "/usr/bin:/bin"})
        assert p.stdout.strip() == "403", (p.stdout, p.stderr)
        assert cli_json(journal, "status")["service"]["pid"] > 0  # the owner still gets in
    finally:
        stop_service(journal)
        shutil.rmtree(base, ignore_errors=True)


def test_profile_values_reach_the_engine_as_argv_not_a_shell(journal, tmp_path):
    marker = tmp_path / "pwned"
    script = tmp_path / "fake_engine.py"
    script.write_text("import sys, json; print(json.dumps(sys.argv[1:]), flush=True)\n")
    evil = f"; touch {marker}; echo $(id)"
    with open(journal / "iejtui.toml", "a") as f:
        f.write(f'\n[engines.argvtest]\nkind = "openai"\nargv = ["{sys.executable}", "{script}", "{evil}", "--port", "1"]\n')
    p = cli(journal, "engine", "start", "argvtest", "--wait")
    assert p.returncode == 1  # it exits at once: not a server
    log = cli(journal, "engine", "logs", "argvtest").stdout
    assert evil in log and not marker.exists()


def test_socket_path_too_long_moves_to_runtime_dir(tmp_path):
    deep = tmp_path / ("d" * 60) / ("e" * 60)
    paths = JournalPaths(deep)
    assert len(str(paths.socket)) < 108 and str(paths.socket).endswith(".sock")
    assert cli(deep, "init", str(deep)).returncode == 0
    try:
        assert cli(deep, "service", "start").returncode == 0
        assert cli_json(deep, "status")["service"]["socket"] == str(paths.socket)
    finally:
        cli(deep, "service", "stop")
