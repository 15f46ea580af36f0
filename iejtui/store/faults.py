"""What went wrong with journal.db, in one line with its fix (pure, except ``quick_check``).

SQLite reports every storage fault as ``sqlite3.Error``; its text ("database or disk is
full", "attempt to write a readonly database") is accurate but says nothing of what to do.
Decisions:

- The cause is read from ``sqlite_errorname`` (Python 3.11 sets it from the extended result
  code) and, for ``OSError``, from ``errno``; the message text is the fallback.
- A damaged file (SQLITE_CORRUPT, SQLITE_NOTADB, "malformed") is never "free space or fix
  permissions": the line names the file and the recovery (``sqlite3 journal.db .recover``).
- ``quick_check`` opens its own read-only connection, so it can run in a thread beside the
  service's writer; it is O(size) and therefore never runs before the service listens.
"""

from __future__ import annotations

import errno
import sqlite3
from pathlib import Path

CORRUPT = "corrupt"
READONLY = "read-only"
FULL = "disk full"
IOERR = "I/O error"
CANTOPEN = "cannot open"
OTHER = "error"


def cause(exc: BaseException) -> str:
    """The kind of storage fault behind ``exc`` (one of the constants above)."""
    name = str(getattr(exc, "sqlite_errorname", "") or "")
    text = str(exc).lower()
    err = getattr(exc, "errno", None)
    if name.startswith(("SQLITE_CORRUPT", "SQLITE_NOTADB")) or "malformed" in text or "not a database" in text:
        return CORRUPT
    if name.startswith("SQLITE_READONLY") or err in (errno.EROFS, errno.EACCES, errno.EPERM) or "readonly" in text \
            or "read-only" in text:
        return READONLY
    if name.startswith("SQLITE_FULL") or err in (errno.ENOSPC, errno.EDQUOT) or "disk is full" in text:
        return FULL
    if name.startswith("SQLITE_IOERR") or err == errno.EIO or "disk i/o error" in text:
        return IOERR
    if name.startswith("SQLITE_CANTOPEN") or "unable to open" in text:
        return CANTOPEN
    return OTHER


def is_corrupt(exc: BaseException) -> bool:
    return cause(exc) == CORRUPT


def recovery(path: Path) -> str:
    """The recovery command for a damaged journal.db at ``path``."""
    fixed = Path(path).parent / "fixed.db"
    return (f"recover with `sqlite3 {path} .recover | sqlite3 {fixed}` and put fixed.db in its place "
            f"(stop the service first)")


def damaged(path: Path, detail: str) -> str:
    """One line: the file is damaged, the first problem, and how to recover it."""
    detail = " ".join(str(detail).split())
    return f"{path} is damaged ({detail}); {recovery(path)}"


def write_error(exc: BaseException, path: Path) -> str:
    """Why writing journal.db failed and what to do, without the leading "cannot write"."""
    kind = cause(exc)
    msg = " ".join(str(exc).split())
    folder = Path(path).parent
    if kind == CORRUPT:
        return f"it is damaged ({msg}); {recovery(path)}"
    if kind == READONLY:
        return (f"it is read-only ({msg}): the file or its filesystem cannot be written; "
                f"fix its permissions or remount {folder} read-write")
    if kind == FULL:
        return f"the disk is full ({msg}): free space on the filesystem of {folder}"
    if kind == IOERR:
        return f"I/O error ({msg}): the disk of {folder} failed a read or write; check it (dmesg) and free space"
    if kind == CANTOPEN:
        return f"it cannot be opened ({msg}): {folder} is missing or not writable"
    return msg


def read_error(exc: BaseException, path: Path) -> str:
    """One line for a read that failed: damaged files get the recovery, the rest their cause."""
    if is_corrupt(exc):
        return damaged(path, exc)
    return f"cannot read {path}: {' '.join(str(exc).split())}"


def quick_check(path: Path, max_errors: int = 5) -> list[str]:
    """``PRAGMA quick_check`` on a read-only connection: the problems found ([] when ok)."""
    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=10)
    except sqlite3.Error as exc:
        return [str(exc)]
    try:
        rows = conn.execute(f"PRAGMA quick_check({int(max_errors)})").fetchall()
    except sqlite3.DatabaseError as exc:
        return [str(exc)]
    finally:
        conn.close()
    problems = [str(r[0]) for r in rows]
    return [] if problems == ["ok"] else problems
