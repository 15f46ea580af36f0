"""A service that holds its journal's lock but whose socket does not answer: who it is, and
stopping it only once it is proven ours (DESIGN: PIDs are reused; a pidfile is trusted only
with the start time and command line it recorded)."""

from __future__ import annotations

import fcntl
import os
import signal
import time
from pathlib import Path

from iejtui.errors import ServiceError, UserError
from iejtui.paths import JournalPaths
from iejtui.client.sockets import SERVICE_MARKER, read_service_info


def lock_holder(paths: JournalPaths) -> int | None:
    """The pid of a service holding this journal's lock (0 when unknown), or None when free."""
    try:
        fd = os.open(paths.service_lock, os.O_RDONLY | os.O_NOFOLLOW)
    except OSError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        info = read_service_info(paths) or {}
        pid = info.get("pid")
        if not isinstance(pid, int):
            try:
                pid = int(paths.service_pidfile.read_text().strip())
            except (OSError, ValueError):
                pid = 0
        return pid
    except OSError:
        return None
    finally:
        os.close(fd)
    return None


def is_our_service(paths: JournalPaths, pid: int) -> str | None:
    """Why ``pid`` is not this journal's service run by you (None when it is): same uid,
    its command line runs ``iejtui.service`` for this journal, the kernel says it holds the lock
    (/proc/locks), and its start time is the one service.json recorded (when it is trusted)."""
    import psutil
    try:
        proc = psutil.Process(pid)
        uid, cmdline, started = proc.uids().real, proc.cmdline(), proc.create_time()
    except psutil.NoSuchProcess:
        return f"pid {pid} no longer exists"
    except psutil.Error as exc:
        return f"pid {pid} cannot be inspected ({exc.__class__.__name__})"
    if uid != os.getuid():
        return f"pid {pid} belongs to uid {uid}"
    joined = " ".join(cmdline)
    if " ".join(SERVICE_MARKER) not in joined or str(paths.root) not in cmdline:
        return f"pid {pid} is not the iejtui service of {paths.root} ({joined[:80]})"
    holders = _flock_holders(paths.service_lock)
    if holders is not None and pid not in holders:
        return f"pid {pid} does not hold the lock (the kernel names pid {', '.join(map(str, sorted(holders)))})"
    info = read_service_info(paths) or {}
    recorded = info.get("started")
    if info.get("pid") == pid and isinstance(recorded, (int, float)) and abs(recorded - started) > 1:
        return f"pid {pid} started at another time than the recorded service (the pid was reused)"
    return None


def _flock_holders(path: Path) -> set[int] | None:
    """The pids holding a flock on ``path`` per /proc/locks (None when it cannot tell)."""
    try:
        st = os.stat(path)
        lines = Path("/proc/locks").read_text().splitlines()
    except OSError:
        return None
    dev = f"{os.major(st.st_dev):02x}:{os.minor(st.st_dev):02x}:{st.st_ino}"
    found = set()
    for line in lines:
        parts = line.split()
        if "->" in parts:  # a waiter, not a holder
            continue
        if len(parts) >= 6 and parts[1] == "FLOCK" and parts[5] == dev:
            found.add(int(parts[4]))
    return found or None  # none matched (e.g. overlayfs shows other device numbers): unknown


def terminate_stuck(paths: JournalPaths, pid: int, timeout: float = 60.0) -> None:
    """SIGTERM a service that holds the lock but does not answer, after checking it is ours."""
    if not pid:
        raise UserError(f"a process holds the service lock of {paths.root} but its pid is not recorded: "
                        f"find it with `fuser {paths.service_lock}` and stop it")
    why = is_our_service(paths, pid)
    if why:
        raise UserError(f"a process holds the service lock of {paths.root} but {why}: not signalling it")
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while lock_holder(paths) is not None and time.monotonic() < deadline:
        time.sleep(0.1)
    if lock_holder(paths) is not None:
        raise ServiceError(f"the service (pid {pid}) still holds the lock {timeout:.0f} s after SIGTERM")
