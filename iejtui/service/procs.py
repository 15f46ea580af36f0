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
from dataclasses import asdict, dataclass
from pathlib import Path
from urllib.parse import urlparse

import psutil

from iejtui.errors import UserError


@dataclass
class PidRecord:
    """What the service keeps on disk about an engine it launched (``pids/<run>.json``)."""

    run_id: int
    name: str
    pgid: int                 # the wrapper's pid, leader of the engine's process group
    pid: int | None           # the engine process itself
    create_time: float | None  # the engine's start time, to tell a reused pid apart
    log_path: str
    exit_path: str

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
        for p in sorted(folder.glob("*.json")):
            try:
                out.append(cls(**json.loads(p.read_text())))
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


def launch(run_id: int, name: str, argv: list[str], env: dict[str, str], cwd: str | None,
           log_path: Path, pid_folder: Path) -> PidRecord:
    """Start the engine through the wrapper in a new session; wait for the engine's pid."""
    exit_path = pid_folder / f"{run_id}.exit"
    pid_folder.mkdir(parents=True, exist_ok=True)
    log_path.parent.mkdir(parents=True, exist_ok=True)
    for stale in (exit_path, Path(f"{exit_path}.pid")):
        stale.unlink(missing_ok=True)
    with open(log_path, "ab") as log:
        wrapper = subprocess.Popen(
            [sys.executable, "-m", "iejtui.service.runner", str(exit_path), str(log_path), "--", *argv],
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
    rec = PidRecord(run_id=run_id, name=name, pgid=wrapper.pid, pid=pid,
                    create_time=_create_time(pid), log_path=str(log_path), exit_path=str(exit_path))
    rec.save(pid_folder)
    # The wrapper is our child: reap it in the background so it never lingers as a zombie.
    _reapers.append(wrapper)
    return rec


_reapers: list[subprocess.Popen] = []


def reap() -> None:
    """Collect exited wrapper processes (they are children of this service)."""
    _reapers[:] = [p for p in _reapers if p.poll() is None]


def _create_time(pid: int | None) -> float | None:
    if pid is None:
        return None
    try:
        return psutil.Process(pid).create_time()
    except psutil.Error:
        return None


def alive(pid: int | None, create_time: float | None = None) -> bool:
    """Is this pid running and (when known) the same process we started?"""
    if not pid:
        return False
    try:
        p = psutil.Process(pid)
        if p.status() == psutil.STATUS_ZOMBIE:
            return False
        return create_time is None or abs(p.create_time() - create_time) < 1.0
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
