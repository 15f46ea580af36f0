"""Starting the service from a client: check the journal can be written, prepare its runtime
folders, launch ``python -m iejtui.service run`` detached and wait until its socket answers.

Decisions: the client starts the service as a separate process and never imports the service
package (the CLI, the TUI and the journal stay on this side of the socket). A journal the
service could not write (missing, read-only, full disk) is refused here with one line,
before anything starts; a service that holds the lock but does not answer is named with its
pid (``iejtui service stop`` ends it).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from iejtui.client.lockholder import lock_holder
from iejtui.client.sockets import ensure_socket_dir, read_service_info, service_running
from iejtui.errors import ServiceError, UserError
from iejtui.paths import JournalPaths

MIN_FREE_BYTES = 2 * 1024 * 1024


def preflight(paths: JournalPaths) -> None:
    """Refuse clearly, before anything starts, a journal the service could not write."""
    probe = paths.root if paths.root.exists() else paths.root.parent
    if not paths.root.exists() and not probe.is_dir():
        raise UserError(f"{paths.root} does not exist: create the journal with `iejtui init {paths.root}` "
                        f"(or pass --journal DIR)")
    if not os.access(probe, os.W_OK):
        try:
            st = os.statvfs(probe)
            ro = bool(st.f_flag & os.ST_RDONLY)
        except OSError:
            ro = False
        what = "is on a read-only filesystem" if ro else "is not writable"
        raise UserError(f"{probe} {what}: the service must write journal.db there "
                        f"(read commands still work; record into a writable copy)")
    st = os.statvfs(probe)
    free = st.f_bavail * st.f_frsize
    if free < MIN_FREE_BYTES:
        raise UserError(f"the filesystem of {probe} is full ({free // 1024} KiB free): "
                        f"free some space before recording into this journal")


def prepare_runtime(paths: JournalPaths) -> None:
    try:
        paths.root.mkdir(parents=True, exist_ok=True)
        for d in (paths.runtime, paths.logs, paths.pids):
            d.mkdir(mode=0o700, exist_ok=True)
        os.chmod(paths.runtime, 0o700)
        if paths.socket.parent != paths.runtime:
            ensure_socket_dir(paths.socket.parent)
    except PermissionError:
        raise UserError(f"cannot write in {paths.root}: permission denied (choose a journal folder you own)") from None
    except OSError as exc:
        raise UserError(f"cannot create the runtime folder in {paths.root}: {exc.strerror}") from None


def spawn_service(paths: JournalPaths, timeout: float = 30.0, metrics_listen: str | None = None) -> int:
    """Start the service detached (own session) and wait until its socket answers."""
    preflight(paths)
    prepare_runtime(paths)
    from iejtui.config import load_config
    load_config(paths.config)  # a broken iejtui.toml is reported here, not in a log
    log = open(paths.service_log, "ab")
    env = dict(os.environ)
    env.pop("IEJTUI_SERVICE_FOREGROUND", None)
    extra = ["--metrics-listen", metrics_listen] if metrics_listen else []
    proc = subprocess.Popen([sys.executable, "-m", "iejtui.service", "run", "--journal", str(paths.root), *extra],
                            stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                            start_new_session=True, close_fds=True, cwd=str(paths.root), env=env)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if service_running(paths):
            return proc.pid
        if proc.poll() is not None:
            tail = _last_line(paths.service_log)
            if proc.returncode == 2 and "already runs" in tail:
                _refuse_stuck(paths)
                time.sleep(0.05)  # another command started it at the same moment: wait for its socket
                continue
            if proc.returncode == 2:
                raise UserError(tail.removeprefix("iejtui service: ") or "the service refused to start")
            raise ServiceError(f"the service exited at start (code {proc.returncode}): {tail} "
                               f"(full log: {paths.service_log})")
        time.sleep(0.05)
    _refuse_stuck(paths, waited=True)
    raise ServiceError(f"the service did not answer within {timeout:.0f} s (log: {paths.service_log})")


def _refuse_stuck(paths: JournalPaths, waited: bool = False) -> None:
    """A service holds the lock and has said where it listens (service.json comes after the
    socket listens; or we waited long enough), yet nothing answers there: say so with its pid."""
    pid = lock_holder(paths)
    info = read_service_info(paths) or {}
    if pid is not None and (waited or (pid and info.get("pid") == pid)):
        if not service_running(paths):
            raise ServiceError(f"a service holds the lock of {paths.root} (pid {pid}) but its socket "
                               f"does not answer: `iejtui service stop` ends it")


def _last_line(path: Path) -> str:
    try:
        lines = [ln for ln in path.read_text(errors="replace").splitlines() if ln.strip()]
    except OSError:
        return ""
    return lines[-1].strip() if lines else ""


def ensure_service(paths: JournalPaths) -> bool:
    """Start the service if none answers; returns True when this call started it."""
    if service_running(paths):
        return False
    spawn_service(paths)
    return True
