"""The service's background ``PRAGMA quick_check`` of journal.db.

Decisions: the check is O(size) (minutes for a multi-GB journal), so it starts only once the
control socket listens (``service start`` waits at most 30 s for that) and runs in a thread
on its own read-only connection, never on the event loop or the writer's thread. Its outcome
is kept in ``service.journal_check`` (``state`` running | ok | damaged | failed, ``problem``:
one line naming the file and the recovery), which ``GET /v1/status`` returns and ``iejtui
status`` and the dashboard's start show.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from typing import TYPE_CHECKING

from iejtui.store import faults

if TYPE_CHECKING:
    from iejtui.service.core import Service

log = logging.getLogger("iejtui.service")


async def _in_daemon_thread(fn, *args):
    """``fn(*args)`` in a daemon thread: unlike ``asyncio.to_thread``, ``service stop`` never
    waits for a long check of a big journal to finish."""
    loop = asyncio.get_running_loop()
    fut = loop.create_future()

    def settle(result, exc) -> None:
        if not fut.done():
            fut.set_exception(exc) if exc is not None else fut.set_result(result)

    def work() -> None:
        try:
            result, exc = fn(*args), None
        except Exception as e:  # noqa: BLE001
            result, exc = None, e
        try:
            loop.call_soon_threadsafe(settle, result, exc)
        except RuntimeError:  # the service already stopped
            pass

    threading.Thread(target=work, name="journal-check", daemon=True).start()
    return await fut


QUICK_CHECK_AT_OPEN_MAX_BYTES = 256 * 1024 * 1024


def opening_failed(path, exc: BaseException) -> str:
    """The one line for a journal.db the service could not open (called in a thread).

    A damaged file is quick_checked for its first problem when small enough to finish well
    within ``service start``'s 30 s wait; a bigger one is reported with SQLite's own error.
    """
    if not faults.is_corrupt(exc):
        return f"cannot open {path} for writing: {faults.write_error(exc, path)}"
    detail = str(exc)
    try:
        if path.stat().st_size <= QUICK_CHECK_AT_OPEN_MAX_BYTES:
            problems = faults.quick_check(path, max_errors=1)
            detail = problems[0] if problems else detail
    except OSError:
        pass
    return faults.damaged(path, detail)


def outcome(path, problems: list[str], seconds: float) -> dict:
    """The status record of a finished check (pure)."""
    if not problems:
        return {"state": "ok", "problem": None, "seconds": round(seconds, 3)}
    more = f" and {len(problems) - 1} more" if len(problems) > 1 else ""
    return {"state": "damaged", "problem": faults.damaged(path, problems[0] + more), "seconds": round(seconds, 3)}


async def check_journal(service: "Service") -> dict:
    """Run quick_check in a thread; record the outcome (and an error event when damaged)."""
    service.journal_check = {"state": "running", "problem": None, "seconds": None}
    t0 = time.monotonic()
    try:
        problems = await _in_daemon_thread(faults.quick_check, service.paths.db)
    except Exception as exc:  # noqa: BLE001  (a check that cannot run must not stop the service)
        service.journal_check = {"state": "failed", "problem": None, "error": str(exc), "seconds": None}
        log.warning("journal quick_check could not run: %s", exc)
        return service.journal_check
    service.journal_check = outcome(service.paths.db, problems, time.monotonic() - t0)
    if service.journal_check["state"] == "damaged":
        log.error("%s", service.journal_check["problem"])
        try:
            await service.event(None, "journal", service.journal_check["problem"], "error")
        except Exception:  # noqa: BLE001  (writing into a damaged file may fail too)
            pass
    else:
        log.info("journal quick_check ok in %.1f s", service.journal_check["seconds"])
    return service.journal_check
