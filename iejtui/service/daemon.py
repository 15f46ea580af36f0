"""Running the service: one per journal, detached, started on demand by any command."""

from __future__ import annotations

import asyncio
import fcntl
import logging
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from aiohttp import web

from iejtui.errors import ServiceError, UserError
from iejtui.paths import JournalPaths
from iejtui.service.lockholder import lock_holder
from iejtui.client.sockets import (SERVICE_MARKER, ensure_socket_dir, read_service_info,  # noqa: F401 (re-exported)
                                    service_running, service_socket, write_service_info)


MIN_FREE_BYTES = 2 * 1024 * 1024


def _preflight(paths: JournalPaths) -> None:
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


def _prepare_runtime(paths: JournalPaths) -> None:
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


def _take_lock(paths: JournalPaths):
    f = open(paths.service_lock, "a+")
    try:
        fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        pid = paths.service_pidfile.read_text().strip() if paths.service_pidfile.exists() else "?"
        raise UserError(f"a service already runs for {paths.root} (pid {pid}); stop it with `iejtui service stop`") from None
    return f


async def _serve(paths: JournalPaths, metrics_listen: str | None = None) -> int:
    from iejtui.service.api import build_app
    from iejtui.service.core import Service

    service = Service(paths)
    done = asyncio.Event()
    stop_engines = {"value": False}

    def request_stop(engines: bool) -> None:
        stop_engines["value"] = engines
        done.set()

    listen = metrics_listen or service.config.service.metrics_listen
    metrics_runner = None
    if listen:  # bound before anything starts: a taken port is refused at once
        from iejtui.service.metrics import start_listener
        metrics_runner = await start_listener(service, listen)
    try:
        await service.start()
    except sqlite3.DatabaseError as exc:  # opened, then a damaged page: one line, exit 2
        from iejtui.service.journal_check import opening_failed
        for closer in (service._http and service._http.close, service.scraper and service.scraper.aclose):
            if closer:
                await closer()
        raise UserError(await asyncio.to_thread(opening_failed, paths.db, exc)) from None
    app = build_app(service, request_stop)
    runner = web.AppRunner(app, access_log=None, handle_signals=False)
    await runner.setup()
    sock_path = await _listen(runner, paths)
    service.socket_path = sock_path  # where it really listens (status reports it)
    write_service_info(paths, {"socket": str(sock_path), "pid": os.getpid(), "started": _start_time(os.getpid()),
                               "cmdline": SERVICE_MARKER, "journal": str(paths.root), "uid": os.geteuid()})
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, request_stop, False)
    loop.add_signal_handler(signal.SIGINT, request_stop, False)
    loop.add_signal_handler(signal.SIGHUP, lambda: None)
    logging.getLogger("iejtui.service").info("listening on %s", sock_path)
    from iejtui.service.journal_check import check_journal
    check = asyncio.create_task(check_journal(service), name="journal-check")  # O(size): after listening
    await done.wait()
    check.cancel()  # its thread finishes on its own; only the wait for it ends here
    await service.stop(stop_engines=stop_engines["value"])
    await runner.cleanup()
    if metrics_runner is not None:
        await metrics_runner.cleanup()
    sock_path.unlink(missing_ok=True)
    paths.service_json.unlink(missing_ok=True)
    return 0


async def _bind(runner: web.AppRunner, sock_path: Path) -> None:
    sock_path.unlink(missing_ok=True)
    old = os.umask(0o177)
    try:
        await web.UnixSite(runner, str(sock_path)).start()
    finally:
        os.umask(old)
    os.chmod(sock_path, 0o600)


async def _listen(runner: web.AppRunner, paths: JournalPaths) -> Path:
    """Listen on the journal's socket; where its filesystem has no unix sockets (sshfs, some
    FUSE: bind fails), on the per-user runtime dir instead (service.json tells clients)."""
    first = paths.socket
    try:
        await _bind(runner, first)
        return first
    except OSError as exc:
        second = paths.runtime_socket
        if second == first:
            raise UserError(f"cannot listen on {first}: {exc.strerror or exc}") from None
        logging.getLogger("iejtui.service").warning(
            "cannot listen on %s (%s): using %s instead", first, exc.strerror or exc, second)
    ensure_socket_dir(second.parent)
    try:
        await _bind(runner, second)
    except OSError as exc:
        raise UserError(f"cannot listen on {first} nor on {second}: {exc.strerror or exc}") from None
    return second


def _start_time(pid: int) -> float | None:
    import psutil
    try:
        return psutil.Process(pid).create_time()
    except psutil.Error:
        return None


def run_service(paths: JournalPaths, metrics_listen: str | None = None) -> int:
    """Run the service in this process (the detached child calls this).

    Its umask is 0o077 whatever the caller's: journal.db and its -wal/-shm, engine logs and
    day-log artefacts holding argv come out private."""
    os.umask(0o077)
    _prepare_runtime(paths)
    lock = _take_lock(paths)
    paths.service_pidfile.write_text(str(os.getpid()))
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        return asyncio.run(_serve(paths, metrics_listen))
    finally:
        paths.service_pidfile.unlink(missing_ok=True)
        lock.close()


def spawn_service(paths: JournalPaths, timeout: float = 30.0, metrics_listen: str | None = None) -> int:
    """Start the service detached (own session) and wait until its socket answers."""
    _preflight(paths)
    _prepare_runtime(paths)
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
