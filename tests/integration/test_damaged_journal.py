"""A damaged journal.db is said so in one line with the recovery, never crashed on (issue #14 item 9).

The damage is real: bytes of a real journal's pages are overwritten, or journal.db is replaced
by a file that is not SQLite at all; the CLI and the service run as subprocesses.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import time

import pytest

from helpers import cli, cli_json, stop_service, wait_for
from users import need_root


def one_line(p, code=2) -> str:
    assert p.returncode == code, (p.returncode, p.stdout, p.stderr)
    assert "Traceback" not in p.stderr + p.stdout
    lines = [ln for ln in p.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("iejtui: "), p.stderr
    return lines[0]


def recorded_journal(journal):
    """A journal with one finished record run, its service stopped (journal.db checkpointed)."""
    assert cli(journal, "record", "--duration", "1").returncode == 0
    time.sleep(1.2)
    stop_service(journal)
    assert not (journal / "journal.db-wal").exists() or (journal / "journal.db-wal").stat().st_size == 0
    return journal / "journal.db"


def smash(db, table):
    """Overwrite the b-tree header of ``table``'s root page with garbage (1 KiB pages)."""
    conn = sqlite3.connect(db)
    page_size = conn.execute("PRAGMA page_size").fetchone()[0]
    page = conn.execute("SELECT rootpage FROM sqlite_master WHERE name = ?", (table,)).fetchone()[0]
    conn.close()
    with open(db, "r+b") as f:
        f.seek((page - 1) * page_size)
        f.write(b"\xff" * 64)


READS = [("runs",), ("runs", "show", "1"), ("status",), ("export", "--run", "1"), ("day", "new", "x", "--run", "1"),
         ("engine", "logs", "record", "-n", "3")]


def _all_reads_say_damaged(journal):
    db = journal / "journal.db"
    for args in READS:
        msg = one_line(cli(journal, *args))
        assert str(db) in msg and "damaged" in msg and f"sqlite3 {db} .recover" in msg, (args, msg)
        assert "free space" not in msg and "permission" not in msg


def test_damaged_page_every_read_command_one_line(journal):
    db = recorded_journal(journal)
    smash(db, "runs")
    _all_reads_say_damaged(journal)
    assert not (journal / "days").exists() or not any((journal / "days").iterdir())


def test_not_sqlite_at_all(journal):
    db = recorded_journal(journal)
    db.write_bytes(b"PK\x03\x04 a zip file someone copied over the journal\n" * 300)
    _all_reads_say_damaged(journal)
    msg = one_line(cli(journal, "service", "start"))
    assert str(db) in msg and ".recover" in msg
    msg = one_line(cli(journal, timeout=60))  # the dashboard: one line, not a Textual crash
    assert ".recover" in msg


def test_service_start_on_a_damaged_page(journal):
    db = recorded_journal(journal)
    smash(db, "runs")  # the service reads runs at start (recovery of unfinished runs)
    msg = one_line(cli(journal, "service", "start"))
    assert str(db) in msg and "damaged" in msg and ".recover" in msg and "Page" in msg


def test_damage_found_by_quick_check_is_shown_in_status(journal):
    """An index page the service does not touch at start: it starts, then quick_check says so."""
    db = recorded_journal(journal)
    smash(db, "series_name")
    assert cli(journal, "service", "start").returncode == 0
    st = wait_for(lambda: (s := cli_json(journal, "status"))["journal_check"]["state"] in ("ok", "damaged") and s,
                  timeout=60, what="quick_check")
    assert st["journal_check"]["state"] == "damaged"
    assert str(db) in st["journal_check"]["problem"] and ".recover" in st["journal_check"]["problem"]
    p = cli(journal, "status")
    assert p.returncode == 0 and f"journal  DAMAGED: {db} is damaged" in p.stdout
    assert "Page" in p.stdout
    msg = one_line(cli(journal, timeout=60))  # the dashboard refuses to open on it, in one line
    assert "damaged" in msg
    assert any(r["kind"] == "record" for r in cli_json(journal, "runs"))  # what still reads, reads


def _start_seconds(journal) -> float:
    t0 = time.monotonic()
    p = cli(journal, "service", "start")
    assert p.returncode == 0, p.stderr
    return time.monotonic() - t0


def test_big_journal_quick_check_does_not_delay_start(journal, tmp_path):
    """quick_check is O(size): it runs after the socket listens, so start time barely moves."""
    small = tmp_path / "small"
    assert cli(small, "init", str(small)).returncode == 0
    try:
        recorded_journal(journal)
        conn = sqlite3.connect(journal / "journal.db")  # ~200 MB of real rows the check must read
        conn.execute("CREATE TABLE ballast (id INTEGER PRIMARY KEY, b BLOB)")
        chunk = os.urandom(4000)
        for _ in range(5):
            conn.executemany("INSERT INTO ballast (b) VALUES (?)", [(chunk,)] * 10_000)
            conn.commit()
        conn.close()
        size = (journal / "journal.db").stat().st_size
        t_small = _start_seconds(small)
        t_big = _start_seconds(journal)
        st = cli_json(journal, "status")["journal_check"]
        done = wait_for(lambda: (s := cli_json(journal, "status")["journal_check"])["state"] != "running" and s,
                        timeout=300, what="quick_check of the big journal")
        print(f"\nservice start: small journal {t_small:.2f} s, {size / 1e6:.0f} MB journal {t_big:.2f} s; "
              f"quick_check state right after start: {st['state']}, it took {done['seconds']:.2f} s")
        assert done["state"] == "ok"
        assert t_big < 30
    finally:
        stop_service(small)


def test_missing_journal_folder_is_said_missing(tmp_path):
    root = tmp_path / "no" / "such" / "journal"
    msg = one_line(cli(root, "service", "start"))
    assert "does not exist" in msg and f"iejtui init {root}" in msg and "not writable" not in msg
    assert not root.exists()


def _mount_tmpfs(path):
    path.mkdir(parents=True, exist_ok=True)
    p = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=8m", "tmpfs", str(path)], capture_output=True)
    assert p.returncode == 0, p.stderr


def test_day_new_on_a_read_only_journal(tmp_path):
    need_root()
    mnt, view = tmp_path / "rw", tmp_path / "ro"
    _mount_tmpfs(mnt)
    try:
        journal = mnt / "journal"
        assert cli(journal, "init", str(journal)).returncode == 0
        recorded_journal(journal)
        view.mkdir()
        subprocess.run(["mount", "--bind", str(mnt), str(view)], check=True)
        subprocess.run(["mount", "-o", "remount,ro,bind", str(view)], check=True)
        msg = one_line(cli(view / "journal", "day", "new", "sweep", "--run", "1"))
        assert "Read-only file system" in msg and "read-only" in msg and str(view / "journal" / "days") in msg
        assert json.loads(cli(view / "journal", "runs", "--json").stdout)[0]["kind"] == "record"
    finally:
        subprocess.run(["umount", "-l", str(view)], capture_output=True)
        subprocess.run(["umount", "-l", str(mnt)], capture_output=True)
