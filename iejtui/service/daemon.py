"""Running the service: one per journal, detached, started on demand by any command
(``iejtui.client.launch`` starts it; this module is what then runs in that process)."""

from __future__ import annotations

import asyncio
import fcntl
import logging
import os
import signal
import sqlite3
from pathlib import Path

from aiohttp import web

from iejtui.client.launch import prepare_runtime
from iejtui.client.sockets import SERVICE_MARKER, ensure_socket_dir, write_service_info
from iejtui.errors import UserError
from iejtui.paths import JournalPaths
from iejtui.service.procs import start_time


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
        await service.close_clients()
        raise UserError(await asyncio.to_thread(opening_failed, paths.db, exc)) from None
    app = build_app(service, request_stop)
    runner = web.AppRunner(app, access_log=None, handle_signals=False)
    await runner.setup()
    sock_path = await _listen(runner, paths)
    service.socket_path = sock_path  # where it really listens (status reports it)
    write_service_info(paths, {"socket": str(sock_path), "pid": os.getpid(), "started": start_time(os.getpid()),
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


def run_service(paths: JournalPaths, metrics_listen: str | None = None) -> int:
    """Run the service in this process (the detached child calls this).

    Its umask is 0o077 whatever the caller's: journal.db and its -wal/-shm, engine logs and
    day-log artefacts holding argv come out private."""
    os.umask(0o077)
    prepare_runtime(paths)
    lock = _take_lock(paths)
    paths.service_pidfile.write_text(str(os.getpid()))
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        return asyncio.run(_serve(paths, metrics_listen))
    finally:
        paths.service_pidfile.unlink(missing_ok=True)
        lock.close()
