"""A journal on a full or read-only filesystem (real tmpfs mounts; CI runs as root)."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import time

import pytest

from helpers import cli, cli_json, stop_service, wait_for


def _mount_tmpfs(path, size="4m"):
    path.mkdir(parents=True, exist_ok=True)
    p = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)], capture_output=True)
    if p.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {p.stderr.decode().strip()}")


def _umount(path):
    subprocess.run(["umount", "-l", str(path)], capture_output=True)


def _fill(path, leave_bytes=0):
    st = os.statvfs(path)
    free = st.f_bavail * st.f_frsize - leave_bytes
    with open(path / "filler", "wb") as f:
        try:
            f.write(b"\0" * max(free, 0))
        except OSError:
            pass


def test_service_on_a_full_filesystem_is_one_clear_error(tmp_path):
    mnt = tmp_path / "full"
    _mount_tmpfs(mnt)
    try:
        journal = mnt / "journal"
        assert cli(journal, "init", str(journal)).returncode == 0
        _fill(mnt)
        p = cli(journal, "service", "start")
        assert p.returncode == 2, (p.stdout, p.stderr)
        assert "Traceback" not in p.stderr and len(p.stderr.strip().splitlines()) == 1
        assert any(w in p.stderr for w in ("full", "No space", "space left"))
    finally:
        stop_service(mnt / "journal")
        _umount(mnt)


def test_filesystem_filling_up_while_recording_loses_nothing_written(tmp_path):
    mnt = tmp_path / "filling"
    _mount_tmpfs(mnt, "8m")
    journal = mnt / "journal"
    try:
        assert cli(journal, "init", str(journal)).returncode == 0
        assert cli(journal, "service", "start").returncode == 0
        assert cli(journal, "record", "--duration", "1").returncode == 0
        _fill(mnt)
        for _ in range(40):  # sooner or later SQLite needs a page it cannot get
            p = cli(journal, "record", "--duration", "1")
            if p.returncode != 0:
                break
        assert p.returncode == 1 and "Traceback" not in p.stderr, (p.stdout, p.stderr)
        assert len(p.stderr.strip().splitlines()) == 1 and "full" in p.stderr
        st = cli(journal, "status")
        assert st.returncode == 0 and "NOT RECORDING" in st.stdout
        os.unlink(mnt / "filler")  # space comes back: recording works again
        assert cli(journal, "record", "--duration", "1").returncode == 0
        runs = cli_json(journal, "runs")
        assert len([r for r in runs if r["kind"] == "record" and r["name"] == "record"]) >= 2
    finally:
        stop_service(journal)
        conn = sqlite3.connect(f"file:{journal / 'journal.db'}?mode=ro", uri=True)
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        conn.close()
        _umount(mnt)


def test_read_only_journal_can_be_read_but_not_recorded_into(tmp_path):
    mnt, view = tmp_path / "rw", tmp_path / "ro"
    _mount_tmpfs(mnt)
    journal = mnt / "journal"
    try:
        assert cli(journal, "init", str(journal)).returncode == 0
        assert cli(journal, "record", "--duration", "1").returncode == 0
        time.sleep(1.5)
        stop_service(journal)
        view.mkdir()
        subprocess.run(["mount", "--bind", str(mnt), str(view)], check=True)
        subprocess.run(["mount", "-o", "remount,ro,bind", str(view)], check=True)
        ro_journal = view / "journal"
        runs = cli_json(ro_journal, "runs")
        assert any(r["kind"] == "record" for r in runs)
        p = cli(ro_journal, "service", "start")
        assert p.returncode == 2 and "Traceback" not in p.stderr
        assert len(p.stderr.strip().splitlines()) == 1 and "read-only" in p.stderr.lower()
    finally:
        _umount(view)
        _umount(mnt)
