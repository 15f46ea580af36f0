"""The control socket, service discovery and private files on a shared box (issue #14, items
3-5), with the victim and the attacker played by spare uids (tests/users.py).

The journals live in a 0755 scratch folder; XDG_RUNTIME_DIR is unset (``user_env``), and
the journal path is long enough that the socket moves to the fallback ``/tmp/iejtui-$UID``.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import socket
import stat
import subprocess
import time
from pathlib import Path

import psutil
import pytest

from iejtui.errors import UserError
from users import ATTACKER, VICTIM, iejtui_as, need_root, popen_as, reachable_dir, run_as, user_env, user_python

FALLBACK = Path(f"/tmp/iejtui-{VICTIM}")

LISTENER = r"""
import os, socket, sys
path, record = sys.argv[1], sys.argv[2]
s = socket.socket(socket.AF_UNIX)
s.bind(path)
os.chmod(path, 0o777)
s.listen(8)
open(record, "a").close()
while True:
    c, _ = s.accept()
    with open(record, "a") as f:
        f.write("connect\n")
    c.settimeout(3)
    got = b""
    try:
        while True:
            b = c.recv(4096)
            if not b:
                break
            got += b
    except OSError:
        pass
    with open(record, "a") as f:
        f.write(f"bytes {len(got)}\n")
    c.close()
"""


def _clean_fallback() -> None:
    for d in (FALLBACK, Path(f"/tmp/iejtui-{ATTACKER}")):
        if d.is_symlink() or d.is_file():
            d.unlink()
        else:
            shutil.rmtree(d, ignore_errors=True)


def _kill_services(journal: Path) -> None:
    for p in psutil.process_iter(["cmdline"]):
        cmd = p.info["cmdline"] or []
        if "iejtui.service" in cmd and str(journal) in cmd:
            try:
                p.kill()
            except psutil.Error:
                pass


@pytest.fixture
def victim(scratch):
    """A victim's journal at a long path (socket in the /tmp fallback) and its login env."""
    need_root()
    _clean_fallback()
    base = scratch / ("v" * 60)
    journal = base / ("journal-" + "j" * 40)
    reachable_dir(journal, VICTIM)
    env = user_env(VICTIM, scratch / "home-victim")
    p = iejtui_as(VICTIM, journal, "init", env=env)
    assert p.returncode == 0, p.stderr
    yield journal, env
    iejtui_as(VICTIM, journal, "service", "stop", env=env, timeout=60)
    _kill_services(journal)
    _clean_fallback()


def _sock_in_fallback(journal: Path) -> Path:
    digest = hashlib.sha256(os.fsencode(str(journal))).hexdigest()[:16]
    return FALLBACK / f"iejtui-{digest}.sock"


def _one_line_refusal(p: subprocess.CompletedProcess, *words: str) -> None:
    assert p.returncode == 2, (p.returncode, p.stdout, p.stderr)
    assert len(p.stderr.strip().splitlines()) == 1 and "Traceback" not in p.stderr, p.stderr
    for w in words:
        assert w in p.stderr, p.stderr


def _gone(pid: int, timeout: float = 20) -> bool:
    """Whether ``pid`` exits (or is left a zombie for its reaper) within ``timeout``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if psutil.Process(pid).status() == psutil.STATUS_ZOMBIE:
                return True
        except psutil.NoSuchProcess:
            return True
        time.sleep(0.1)
    return False


def _no_service(journal: Path) -> bool:
    return not any("iejtui.service" in (p.info["cmdline"] or []) and str(journal) in (p.info["cmdline"] or [])
                   for p in psutil.process_iter(["cmdline"]))


# ---- item 4: the fallback folder is verified ---------------------------------------------------
@pytest.mark.timeout(120)
@pytest.mark.parametrize("how", ["attacker-dir", "symlink", "loose-mode"])
def test_a_fallback_folder_someone_else_could_touch_is_refused(victim, scratch, how):
    journal, env = victim
    if how == "attacker-dir":  # the attacker got there first
        assert run_as(ATTACKER, ["mkdir", "-m", "777", str(FALLBACK)]).returncode == 0
        want = f"{FALLBACK} is owned by uid {ATTACKER}, not you"
    elif how == "symlink":  # to a folder the attacker controls
        theirs = scratch / "attacker-run"
        theirs.mkdir(mode=0o777)
        os.chown(theirs, ATTACKER, ATTACKER)
        assert run_as(ATTACKER, ["ln", "-s", str(theirs), str(FALLBACK)]).returncode == 0
        want = f"{FALLBACK} is a symbolic link"
    else:  # the victim's own, but others may enter it
        FALLBACK.mkdir(mode=0o755)
        os.chown(FALLBACK, VICTIM, VICTIM)
        os.chmod(FALLBACK, 0o755)
        want = f"{FALLBACK} has mode 0755, not 0700"
    p = iejtui_as(VICTIM, journal, "service", "start", env=env)
    _one_line_refusal(p, want, "XDG_RUNTIME_DIR")
    assert _no_service(journal)
    assert not any(FALLBACK.resolve().iterdir())  # nothing was placed in it


# ---- item 4: a swapped socket gets nothing ------------------------------------------------------
@pytest.mark.timeout(180)
def test_a_swapped_socket_is_refused_and_receives_nothing(victim, scratch):
    journal, env = victim
    sock = _sock_in_fallback(journal)
    assert run_as(ATTACKER, ["mkdir", "-m", "777", str(FALLBACK)]).returncode == 0
    loot = scratch / "attacker-loot"
    reachable_dir(loot, ATTACKER)
    record = loot / "received"
    listener = popen_as(ATTACKER, [user_python(), "-c", LISTENER, str(sock), str(record)],
                        env=user_env(ATTACKER, scratch / "home-attacker"))
    try:
        deadline = time.monotonic() + 20
        while not record.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert record.exists() and listener.poll() is None

        def victim_tries(layer: str) -> None:
            for args in (["status"], ["engine", "list"], ["service", "stop"], ["service", "status"]):
                p = iejtui_as(VICTIM, journal, *args, env=env)
                _one_line_refusal(p, layer)

        # 1. the folder is the attacker's
        victim_tries(f"{FALLBACK} is owned by uid {ATTACKER}, not you")
        assert record.read_text() == ""
        # 2. the folder is the victim's and private, but the socket in it is not theirs
        os.chown(FALLBACK, VICTIM, VICTIM)
        os.chmod(FALLBACK, 0o700)
        victim_tries(f"the control socket {sock} is owned by uid {ATTACKER}, not you")
        assert record.read_text() == ""
        # 3. even a socket file of theirs: the peer's uid (SO_PEERCRED) is checked before sending
        os.chown(sock, VICTIM, VICTIM)
        victim_tries(f"the control socket {sock} is served by uid {ATTACKER}, not you")
        time.sleep(3.5)  # the listener's read deadline: anything sent would be counted by now
        lines = record.read_text().splitlines()
        assert lines.count("connect") == 4 and set(lines) == {"connect", "bytes 0"}, lines
        # the recorder does count bytes: a client that sends is seen
        with socket.socket(socket.AF_UNIX) as c:
            c.connect(str(sock))
            c.sendall(b"GET /v1/status HTTP/1.1\r\n\r\n")
        deadline = time.monotonic() + 10  # the listener writes "connect", then "bytes N" once read
        while len(record.read_text().splitlines()) < len(lines) + 2 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert record.read_text().splitlines()[len(lines):] == ["connect", "bytes 27"]
    finally:
        listener.kill()
        listener.wait()


@pytest.mark.timeout(120)
def test_the_connection_the_request_travels_on_is_the_one_checked(scratch):
    """The client's own connection (aiohttp's connector, used by the TUI too) checks the peer:
    a socket file of yours in your folder, served by another uid, gets nothing."""
    need_root()
    from iejtui.paths import JournalPaths
    from iejtui.client.transport import call
    paths = JournalPaths(scratch / "journal")
    paths.runtime.mkdir(parents=True, mode=0o700)
    theirs = scratch / "attacker"
    reachable_dir(theirs, ATTACKER)
    record = theirs / "received"
    listener = popen_as(ATTACKER, [user_python(), "-c", LISTENER, str(theirs / "s.sock"), str(record)],
                        env=user_env(ATTACKER, scratch / "home-attacker"))
    try:
        deadline = time.monotonic() + 20
        while not record.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        os.rename(theirs / "s.sock", paths.socket)  # the bound socket, now at our path and ours
        os.chown(paths.socket, os.geteuid(), os.getegid())
        with pytest.raises(UserError, match=f"the control socket {paths.socket} is served by uid {ATTACKER}"):
            call(paths, "GET", "/status", timeout=5)
        time.sleep(3.5)
        assert record.read_text().splitlines() == ["connect", "bytes 0"]
    finally:
        listener.kill()
        listener.wait()


# ---- item 5: service.json keeps the service reachable -------------------------------------------
@pytest.mark.timeout(240)
def test_the_service_is_reached_from_another_login_through_service_json(victim, scratch):
    journal, env = victim
    xdg = scratch / "xdg-victim"
    xdg.mkdir(mode=0o700)
    os.chown(xdg, VICTIM, VICTIM)
    p = iejtui_as(VICTIM, journal, "service", "start", env={**env, "XDG_RUNTIME_DIR": str(xdg)})
    assert p.returncode == 0, p.stderr
    info_path = journal / ".iejtui" / "service.json"
    st = os.stat(info_path)
    assert stat.S_IMODE(st.st_mode) == 0o600 and st.st_uid == VICTIM
    info = json.loads(info_path.read_text())
    assert Path(info["socket"]).parent == xdg and info["journal"] == str(journal)
    # re-login without XDG_RUNTIME_DIR (cron, su): the same service, not a second one
    p = iejtui_as(VICTIM, journal, "status", "--json", env=env)
    assert p.returncode == 0, p.stderr
    assert json.loads(p.stdout)["service"]["pid"] == info["pid"]
    assert json.loads(p.stdout)["service"]["socket"] == info["socket"]
    # a service.json that is not yours, or not 0600, is ignored (the computed path is used)
    for owner, mode in ((ATTACKER, 0o600), (VICTIM, 0o644)):
        os.chown(info_path, owner, owner)
        os.chmod(info_path, mode)
        p = iejtui_as(VICTIM, journal, "service", "status", env=env)
        assert p.returncode == 1 and f"(pid {info['pid']}) but its socket does not answer" in p.stderr, p.stderr
    os.chown(info_path, VICTIM, VICTIM)
    os.chmod(info_path, 0o600)
    # and stopped from yet another login
    p = iejtui_as(VICTIM, journal, "service", "stop", env=env)
    assert p.returncode == 0 and "service stopped" in p.stdout, p.stderr
    assert _gone(info["pid"]) and not info_path.exists()


# ---- item 5: the lock is held but the socket is gone ----------------------------------------------
@pytest.mark.timeout(240)
def test_a_service_whose_socket_is_gone_is_named_and_stopped_after_checks(victim):
    journal, env = victim
    assert iejtui_as(VICTIM, journal, "service", "start", env=env).returncode == 0
    info_path = journal / ".iejtui" / "service.json"
    info = json.loads(info_path.read_text())
    pid = info["pid"]
    Path(info["socket"]).unlink()
    p = iejtui_as(VICTIM, journal, "service", "status", env=env)
    assert p.returncode == 1 and f"holds the lock of {journal} (pid {pid}) but its socket does not answer" in p.stderr
    p = iejtui_as(VICTIM, journal, "status", env=env)
    assert f"holds the lock of {journal} (pid {pid}) but its socket does not answer" in p.stdout, p.stdout + p.stderr
    t0 = time.monotonic()
    p = iejtui_as(VICTIM, journal, "record", "--duration", "1", env=env)  # starting one: no 30 s wait
    assert p.returncode == 1 and f"(pid {pid})" in p.stderr and time.monotonic() - t0 < 20, p.stderr
    # a pid whose start time is not the recorded one (reused) is not signalled
    info_path.write_text(json.dumps({**info, "started": info["started"] - 1000}))
    p = iejtui_as(VICTIM, journal, "service", "stop", env=env)
    _one_line_refusal(p, f"pid {pid} started at another time", "not signalling it")
    assert psutil.pid_exists(pid)
    # a decoy of the victim's that looks like this journal's service but does not hold the lock
    decoy = popen_as(VICTIM, [user_python(), "-c", "import time; time.sleep(120)",
                              "-m", "iejtui.service", "run", "--journal", str(journal)], env=env)
    try:
        time.sleep(0.5)
        info_path.write_text(json.dumps({**info, "pid": decoy.pid,
                                         "started": psutil.Process(decoy.pid).create_time()}))
        p = iejtui_as(VICTIM, journal, "service", "stop", env=env)
        _one_line_refusal(p, f"pid {decoy.pid} does not hold the lock (the kernel names pid {pid})")
        assert decoy.poll() is None and psutil.pid_exists(pid)
    finally:
        decoy.kill()
        decoy.wait()
    info_path.write_text(json.dumps(info))
    p = iejtui_as(VICTIM, journal, "service", "stop", env=env)
    assert p.returncode == 0 and f"the service (pid {pid}) held the lock" in p.stdout, p.stderr
    assert _gone(pid)


# ---- item 3: private files, whatever the caller's umask ------------------------------------------
@pytest.mark.timeout(300)
def test_files_are_private_even_with_umask_000(scratch):
    need_root()
    journal = scratch / "journal"
    reachable_dir(journal, VICTIM)
    env = user_env(VICTIM, scratch / "home-victim")

    def as_victim(*args: str) -> subprocess.CompletedProcess:
        return run_as(VICTIM, [user_python(), "-m", "iejtui.cli", "--journal", str(journal), *args],
                      env=env, preexec_fn=lambda: os.umask(0))

    try:
        assert as_victim("init").returncode == 0
        ignored = (journal / ".gitignore").read_text().splitlines()
        assert {"journal.db", "journal.db-wal", "journal.db-shm", ".iejtui/"} <= set(ignored)
        engine = scratch / "fake_engine.py"
        engine.write_text("import sys; print('token=abc', sys.argv[1:], flush=True)\n")
        with open(journal / "iejtui.toml", "a") as f:
            f.write(f'\n[engines.fake]\nkind = "openai"\nargv = ["{user_python()}", "{engine}", "--port", "1"]\n')
        p = as_victim("engine", "start", "fake", "--wait")
        assert p.returncode == 1, p.stderr  # it exits at once: a run with argv and a log
        p = as_victim("day", "new", "modes", "--run", "fake")
        assert p.returncode == 0, p.stderr
        rt = journal / ".iejtui"
        private = [journal / "iejtui.toml", journal / "journal.db", journal / "journal.db-wal",
                   journal / "journal.db-shm", rt / "service.json", rt / "service.log", *rt.glob("logs/*")]
        day = next((journal / "days").iterdir())
        private += [day / "LOG.md", day / "metrics.json"]
        scripts = list((day / "code").glob("*.sh"))
        assert len(scripts) == 1 and len(list(rt.glob("logs/*"))) >= 1
        modes = {str(p.relative_to(journal)): oct(stat.S_IMODE(p.stat().st_mode)) for p in private}
        assert set(modes.values()) == {"0o600"}, modes
        assert stat.S_IMODE(scripts[0].stat().st_mode) == 0o700
        for d in (rt, rt / "logs", journal / "days", day, day / "code"):
            assert stat.S_IMODE(d.stat().st_mode) == 0o700, d
        # another user gets one line, not a traceback, whatever they try
        other = user_env(ATTACKER, scratch / "home-attacker")
        theirs = f"owned by uid {VICTIM}, not you: refusing to use the control socket there; this journal is another"
        for args, want in ((["status"], theirs), (["service", "status"], theirs), (["service", "stop"], theirs),
                           (["runs"], f"cannot read {journal}/journal.db"),
                           (["day", "list"], f"permission denied: {journal}/days (it belongs to uid {VICTIM}")):
            p = iejtui_as(ATTACKER, journal, *args, env=other)
            _one_line_refusal(p, want)
        # a journal from before: loose modes are tightened when the service opens it
        assert as_victim("service", "stop").returncode == 0
        os.chmod(journal / "journal.db", 0o644)
        assert as_victim("service", "start").returncode == 0
        assert stat.S_IMODE((journal / "journal.db").stat().st_mode) == 0o600
    finally:
        as_victim("service", "stop")
        _kill_services(journal)


# ---- item 5: a filesystem without unix sockets ------------------------------------------------
# The one fake here: bind() of a unix socket under the journal fails as on sshfs/FUSE (EPERM),
# injected into the service process; the clients are the real, unpatched CLI.
NO_UNIX_SOCKETS = r"""
import errno, socket, sys
journal = sys.argv[1]
real_bind = socket.socket.bind
def bind(self, addr):
    if self.family == socket.AF_UNIX and isinstance(addr, str) and addr.startswith(journal + "/"):
        raise PermissionError(errno.EPERM, "Operation not permitted")
    return real_bind(self, addr)
socket.socket.bind = bind
from iejtui.service.__main__ import main
sys.exit(main(["run", "--journal", journal]))
"""


@pytest.mark.timeout(180)
def test_a_journal_on_a_filesystem_without_unix_sockets_listens_in_the_runtime_dir(scratch):
    need_root()
    _clean_fallback()
    journal = scratch / "journal"
    reachable_dir(journal, VICTIM)
    env = user_env(VICTIM, scratch / "home-victim")
    assert iejtui_as(VICTIM, journal, "init", env=env).returncode == 0
    svc = popen_as(VICTIM, [user_python(), "-c", NO_UNIX_SOCKETS, str(journal)], env=env, cwd=str(journal),
                   stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        info_path = journal / ".iejtui" / "service.json"
        deadline = time.monotonic() + 60
        while not info_path.exists() and svc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.1)
        assert info_path.exists(), svc.stderr.read() if svc.poll() is not None else "no service.json"
        sock = Path(json.loads(info_path.read_text())["socket"])
        assert sock.parent == FALLBACK and stat.S_IMODE(os.lstat(FALLBACK).st_mode) == 0o700
        assert not (journal / ".iejtui" / "control.sock").exists()
        p = iejtui_as(VICTIM, journal, "status", "--json", env=env)
        assert p.returncode == 0, p.stderr
        assert json.loads(p.stdout)["service"]["pid"] == svc.pid
        assert json.loads(p.stdout)["service"]["socket"] == str(sock)
        p = iejtui_as(VICTIM, journal, "service", "stop", env=env)
        assert p.returncode == 0 and "service stopped" in p.stdout, p.stderr
        assert svc.wait(timeout=30) == 0
        log = svc.stderr.read()
        assert f"cannot listen on {journal}/.iejtui/control.sock (Operation not permitted): using {sock}" in log
        assert "Traceback" not in log
    finally:
        if svc.poll() is None:
            svc.kill()
            svc.wait()
        _clean_fallback()
