"""Process plumbing for engines: launch through the wrapper, pidfiles, liveness, stop.

Pure OS work, no asyncio and no SQLite, so it can be tested on its own.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from urllib.parse import urlparse

import psutil

from iejtui.errors import UserError


@dataclass
class PidRecord:
    """What the service keeps on disk about an engine it launched (``pids/<run>.json``).

    Start times and the wrapper's command line tell our processes from strangers that got
    the same pid after a reboot or pid reuse: nothing is signalled unless they match."""

    run_id: int
    name: str
    pgid: int                 # the wrapper's pid, leader of the engine's process group
    pid: int | None           # the engine process itself
    create_time: float | None  # the engine's start time, to tell a reused pid apart
    log_path: str
    exit_path: str
    leader_create_time: float | None = None  # the wrapper's start time
    leader_cmdline: list[str] | None = None   # the wrapper's command line at launch
    tree: list[list] = field(default_factory=list)  # [pid, start time] of descendants seen running

    def save(self, folder: Path) -> Path:
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{self.run_id}.json"
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(asdict(self)))
        os.replace(tmp, path)
        return path

    @classmethod
    def load_all(cls, folder: Path) -> list["PidRecord"]:
        out = []
        known = set(cls.__dataclass_fields__)
        for p in sorted(folder.glob("*.json")):
            try:  # keys this version does not know (a newer or older iejtui wrote it) are skipped
                out.append(cls(**{k: v for k, v in json.loads(p.read_text()).items() if k in known}))
            except (OSError, ValueError, TypeError):
                continue
        return out


def resolve_self(argv: list[str]) -> list[str]:
    """``iejtui ...`` in a profile runs this iejtui with the service's own interpreter."""
    if argv and argv[0] == "iejtui":
        return [sys.executable, "-m", "iejtui.cli", *argv[1:]]
    return argv


def check_command(argv: list[str], cwd: str | None = None) -> str:
    """The executable that ``argv[0]`` names, or a UserError saying it is not there."""
    if not argv:
        raise UserError("empty command line: give the engine command after --, e.g. -- vllm serve MODEL")
    exe = argv[0]
    if os.sep in exe:
        path = Path(cwd or ".", exe) if not os.path.isabs(exe) else Path(exe)
        if not path.exists():
            raise UserError(f"command not found: {exe} (no such file)")
        if not os.access(path, os.X_OK):
            raise UserError(f"command not executable: {exe} (chmod +x it or run it through its interpreter)")
        return str(path)
    found = shutil.which(exe)
    if not found:
        raise UserError(f"command not found: {exe!r} is not on PATH; install it or give its full path")
    return found


def check_port_free(url: str | None) -> None:
    """Refuse to launch an engine whose port is already taken (it would die or hit the wrong server)."""
    if not url:
        return
    u = urlparse(url)
    host = u.hostname or "127.0.0.1"
    port = u.port or (443 if u.scheme == "https" else 80)
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as s:
        s.settimeout(0.5)
        if s.connect_ex((host, port)) == 0:
            owner = _port_owner(port)
            raise UserError(f"port {port} on {host} is already in use{owner}: stop that server or pick another --port")


def _port_owner(port: int) -> str:
    try:
        for c in psutil.net_connections(kind="inet"):
            if c.laddr and c.laddr.port == port and c.status == psutil.CONN_LISTEN and c.pid:
                return f" (pid {c.pid}, {psutil.Process(c.pid).name()})"
    except (psutil.Error, OSError):
        pass
    return ""


def write_spec(path: Path, spec: dict) -> None:
    """The wrapper's launch spec, readable by its owner only (it names the run's secrets)."""
    path.unlink(missing_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump(spec, f)


def launch(run_id: int, name: str, argv: list[str], env: dict[str, str], cwd: str | None,
           log_path: Path, pid_folder: Path, secrets: list[str] = ()) -> PidRecord:
    """Start the engine through the wrapper in a new session; wait for the engine's pid.

    The engine's argv and the secrets to mask travel in a 0600 spec file that the wrapper
    deletes once read: the wrapper's own command line (``ps``) names only that file."""
    exit_path = pid_folder / f"{run_id}.exit"
    spec_path = pid_folder / f"{run_id}.spec"
    pid_folder.mkdir(parents=True, exist_ok=True)
    log_path.parent.mkdir(parents=True, exist_ok=True)
    for stale in (exit_path, Path(f"{exit_path}.pid")):
        stale.unlink(missing_ok=True)
    write_spec(spec_path, {"argv": argv, "log_path": str(log_path), "exit_path": str(exit_path),
                           "secrets": sorted(set(secrets))})
    with open(log_path, "ab") as log:
        wrapper = subprocess.Popen(
            [sys.executable, "-m", "iejtui.service.runner", str(spec_path)],
            stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=cwd,
            start_new_session=True, close_fds=True)
    pid = None
    deadline = time.monotonic() + 10
    pidfile = Path(f"{exit_path}.pid")
    while time.monotonic() < deadline:
        if pidfile.exists() and pidfile.read_text().strip():
            pid = int(pidfile.read_text())
            break
        if exit_path.exists() or wrapper.poll() is not None:
            break
        time.sleep(0.01)
    spec_path.unlink(missing_ok=True)  # normally gone already: the wrapper deletes it once read
    # read once the wrapper runs its own code (right after exec its cmdline can read empty)
    leader_ct, leader_cmd = _identity(wrapper.pid)
    # (the engine's own command line is not kept: it may hold a secret, and it may exec on)
    rec = PidRecord(run_id=run_id, name=name, pgid=wrapper.pid, pid=pid,
                    create_time=start_time(pid), log_path=str(log_path), exit_path=str(exit_path),
                    leader_create_time=leader_ct, leader_cmdline=leader_cmd)
    rec.save(pid_folder)
    # The wrapper is our child: reap it in the background so it never lingers as a zombie.
    _reapers.append(wrapper)
    return rec


_reapers: list[subprocess.Popen] = []


def reap() -> None:
    """Collect exited wrapper processes (they are children of this service)."""
    _reapers[:] = [p for p in _reapers if p.poll() is None]


def start_time(pid: int | None) -> float | None:
    """The start time psutil reports for ``pid`` (what pidfiles record), or None when gone."""
    if pid is None:
        return None
    try:
        return psutil.Process(pid).create_time()
    except psutil.Error:
        return None


def _identity(pid: int | None) -> tuple[float | None, list[str] | None]:
    """(start time, command line) of ``pid`` now, as far as they can be read."""
    if pid is None:
        return None, None
    try:
        p = psutil.Process(pid)
        ct = p.create_time()
    except psutil.Error:
        return None, None
    try:
        return ct, p.cmdline() or None
    except psutil.Error:
        return ct, None


# psutil derives a start time from the kernel's start ticks and the boot time: the same
# process always reads the same value (to 10 ms), so a reused pid started even a fraction
# of a second later is told apart.
SAME_START_S = 0.1


def alive(pid: int | None, create_time: float | None = None) -> bool:
    """Is this pid running and (when known) the same process we started?"""
    if not pid:
        return False
    try:
        p = psutil.Process(pid)
        if p.status() == psutil.STATUS_ZOMBIE:
            return False
        return create_time is None or abs(p.create_time() - create_time) < SAME_START_S
    except psutil.Error:
        return False


def read_exit(rec: PidRecord) -> dict | None:
    try:
        return json.loads(Path(rec.exit_path).read_text())
    except (OSError, ValueError):
        return None


def group_alive(pgid: int) -> list[int]:
    """Pids still in the process group ``pgid``."""
    out = []
    for p in psutil.process_iter(["pid"]):
        try:
            if os.getpgid(p.pid) == pgid and p.status() != psutil.STATUS_ZOMBIE:
                out.append(p.pid)
        except (ProcessLookupError, PermissionError, psutil.Error):
            continue
    return out


def signal_group(pgid: int, sig: int) -> bool:
    try:
        os.killpg(pgid, sig)
        return True
    except (ProcessLookupError, PermissionError):
        return False


def stop_group(pgid: int, grace_s: float, poll: float = 0.1) -> str:
    """SIGTERM the group, wait up to ``grace_s``, then SIGKILL what is left. Returns how it ended."""
    if not group_alive(pgid):
        return "already gone"
    signal_group(pgid, signal.SIGTERM)
    deadline = time.monotonic() + grace_s
    while time.monotonic() < deadline:
        reap()
        members = group_alive(pgid)
        # The wrapper itself ignores SIGTERM and leaves once the engine is gone.
        if not members or members == [pgid]:
            break
        time.sleep(poll)
    else:
        signal_group(pgid, signal.SIGKILL)
        time.sleep(poll)
        reap()
        return "killed after grace period"
    t_end = time.monotonic() + 2
    while group_alive(pgid) and time.monotonic() < t_end:
        reap()
        time.sleep(poll)
    if group_alive(pgid):
        signal_group(pgid, signal.SIGKILL)
    reap()
    return "terminated"


# ---- is it ours? (a stale pidfile after a reboot or pid reuse names strangers) -----------
def same_process(pid: int | None, create_time: float | None) -> bool:
    """``pid`` is alive (not a zombie) and started at ``create_time``; unknown time: False."""
    return bool(pid) and create_time is not None and alive(pid, create_time)


def leader_is_ours(rec: PidRecord) -> bool:
    """The group leader named by ``rec`` is the wrapper we launched (start time, and the
    command line recorded at launch; a record without either must look like a wrapper)."""
    try:
        p = psutil.Process(rec.pgid)
        if p.status() == psutil.STATUS_ZOMBIE:
            return False
        if rec.leader_create_time is not None and abs(p.create_time() - rec.leader_create_time) >= SAME_START_S:
            return False
        cmd = p.cmdline()
    except psutil.Error:
        return False
    if rec.leader_cmdline is not None:
        return cmd == rec.leader_cmdline
    return rec.leader_create_time is not None or "iejtui.service.runner" in cmd


def _pgid(pid: int) -> int | None:
    try:
        return os.getpgid(pid)
    except OSError:
        return None


def group_is_ours(rec: PidRecord) -> bool:
    """Signalling ``rec.pgid`` reaches our processes: its leader is our wrapper, or a member
    of it is our engine or one of its recorded descendants (the wrapper may be gone)."""
    if leader_is_ours(rec):
        return True
    members = [[rec.pid, rec.create_time], *rec.tree]
    return any(same_process(pid, ct) and _pgid(pid) == rec.pgid for pid, ct in members)


def engine_is_ours(rec: PidRecord) -> bool:
    return same_process(rec.pid, rec.create_time)


def record_tree(rec: PidRecord, folder: Path) -> bool:
    """Add the wrapper's live descendants (pid, start time) to ``rec.tree`` and save it.

    Descendants that ``setsid()`` leave the engine's process group; the record lets a stop
    reach them even when the wrapper is gone. Entries that are no longer running go.
    Returns whether the record changed."""
    tree = [[pid, ct] for pid, ct in rec.tree if same_process(pid, ct)]
    if leader_is_ours(rec):
        try:
            for c in psutil.Process(rec.pgid).children(recursive=True):
                try:
                    entry = [c.pid, c.create_time()]
                except psutil.Error:
                    continue
                if entry not in tree:
                    tree.append(entry)
        except psutil.Error:
            pass
    if tree == rec.tree:
        return False
    rec.tree = tree
    if (folder / f"{rec.run_id}.json").exists():
        rec.save(folder)
    return True


def _signal_tree(rec: PidRecord, sig: int) -> list[int]:
    """Signal the recorded descendants still running as themselves; the pids signalled."""
    hit = []
    for pid, ct in rec.tree:
        if same_process(pid, ct):
            try:
                os.kill(pid, sig)
                hit.append(pid)
            except OSError:
                pass
    return hit


def stop_tree(rec: PidRecord, grace_s: float = 3.0, poll: float = 0.1) -> int:
    """SIGTERM the verified recorded descendants, SIGKILL those left after ``grace_s``."""
    hit = _signal_tree(rec, signal.SIGTERM)
    deadline = time.monotonic() + grace_s
    while hit and time.monotonic() < deadline:
        reap()
        if not any(same_process(pid, ct) for pid, ct in rec.tree):
            return len(hit)
        time.sleep(poll)
    _signal_tree(rec, signal.SIGKILL)
    return len(hit)


def stop_run(rec: PidRecord, grace_s: float, folder: Path | None = None) -> str:
    """Stop an engine we launched: its process group (only when it is verifiably ours) and
    its recorded descendants (those that ``setsid()``, verified one by one)."""
    if folder is not None:
        record_tree(rec, folder)
    if group_is_ours(rec):
        how = stop_group(rec.pgid, grace_s)
    else:
        how = "not signalled: its pidfile names processes that are not ours (reboot or pid reuse)"
    stop_tree(rec)
    return how


def kill_leftovers(rec: PidRecord) -> None:
    """SIGKILL what is left of an ended engine: its group if still ours, its descendants."""
    if group_alive(rec.pgid) and group_is_ours(rec):
        signal_group(rec.pgid, signal.SIGKILL)
    _signal_tree(rec, signal.SIGKILL)
