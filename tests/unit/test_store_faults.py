"""Storage faults are classified from real SQLite errors and said with their fix (issue #14 item 9)."""

from __future__ import annotations

import errno
import sqlite3

import pytest

from iejtui.store import faults


def _db(path, rows=200):
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA page_size=1024")
    conn.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)")
    conn.execute("CREATE INDEX t_v ON t(v)")
    conn.executemany("INSERT INTO t (v) VALUES (?)", [(f"value-{i:05d}" * 4,) for i in range(rows)])
    conn.commit()
    conn.close()
    return path


def _rootpage(path, name):
    conn = sqlite3.connect(path)
    page = conn.execute("SELECT rootpage FROM sqlite_master WHERE name = ?", (name,)).fetchone()[0]
    conn.close()
    return page


def smash_page(path, page, page_size=1024):
    """Overwrite the start of a page (its b-tree header) with garbage, as a bad disk would."""
    with open(path, "r+b") as f:
        f.seek((page - 1) * page_size)
        f.write(b"\xff" * 64)


def _raised(fn) -> sqlite3.Error:
    with pytest.raises(sqlite3.Error) as info:
        fn()
    return info.value


def test_a_damaged_page_is_corrupt_and_names_the_recovery(tmp_path):
    path = _db(tmp_path / "journal.db")
    smash_page(path, _rootpage(path, "t"))
    conn = sqlite3.connect(path)
    exc = _raised(lambda: conn.execute("SELECT * FROM t").fetchall())
    assert faults.cause(exc) == faults.CORRUPT
    line = faults.read_error(exc, path)
    assert str(path) in line and ".recover" in line and "\n" not in line
    assert "free space" not in faults.write_error(exc, path)


def test_a_file_that_is_not_sqlite_is_corrupt(tmp_path):
    path = tmp_path / "journal.db"
    path.write_bytes(b"this is a text file, not a database\n" * 100)
    conn = sqlite3.connect(path)
    exc = _raised(lambda: conn.execute("SELECT * FROM sqlite_master").fetchall())
    assert exc.sqlite_errorname == "SQLITE_NOTADB" and faults.is_corrupt(exc)
    assert faults.quick_check(path) != []


def test_read_only_file_says_read_only(tmp_path):
    path = _db(tmp_path / "journal.db")
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    exc = _raised(lambda: conn.execute("INSERT INTO t (v) VALUES ('x')"))
    assert faults.cause(exc) == faults.READONLY
    assert "read-only" in faults.write_error(exc, path)


def test_full_database_says_disk_full(tmp_path):
    """SQLITE_FULL for real: the file may not grow past max_page_count."""
    path = _db(tmp_path / "journal.db", rows=10)
    conn = sqlite3.connect(path)
    conn.execute(f"PRAGMA max_page_count={conn.execute('PRAGMA page_count').fetchone()[0]}")
    exc = _raised(lambda: conn.executemany("INSERT INTO t (v) VALUES (?)", [("y" * 900,)] * 50))
    assert exc.sqlite_errorname == "SQLITE_FULL" and faults.cause(exc) == faults.FULL
    text = faults.write_error(exc, path)
    assert "disk is full" in text and "free space" in text and ".recover" not in text


@pytest.mark.parametrize("code,kind", [(errno.ENOSPC, faults.FULL), (errno.EROFS, faults.READONLY),
                                       (errno.EIO, faults.IOERR)])
def test_os_errors_by_errno(code, kind):
    assert faults.cause(OSError(code, "x")) == kind


def test_quick_check_ok_and_damaged(tmp_path):
    path = _db(tmp_path / "journal.db")
    assert faults.quick_check(path) == []
    smash_page(path, _rootpage(path, "t_v"))  # an index page: the table still reads
    sqlite3.connect(path).execute("SELECT count(*) FROM t").fetchone()
    problems = faults.quick_check(path)
    assert problems and "Page" in " ".join(problems)
