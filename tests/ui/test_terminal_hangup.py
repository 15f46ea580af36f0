"""A TUI whose terminal hangs up without a SIGHUP (a closed pty: nohup, a dead tmux pane, a
perf harness) quits instead of spinning on end-of-file at a full core. Real process, real pty."""
from __future__ import annotations

import os
import pty
import select
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from helpers import cli  # noqa: E402

APP = ("import sys; from iejtui.paths import journal_paths; from iejtui.ui.app import run_app; "
       "run_app(journal_paths(sys.argv[1]))")


def _read_until(fd: int, needle: bytes, timeout: float) -> bool:
    buf, deadline = b"", time.monotonic() + timeout
    while time.monotonic() < deadline:
        r, _, _ = select.select([fd], [], [], 0.2)
        if r:
            try:
                buf += os.read(fd, 65536)
            except OSError:
                return False
            if needle in buf:
                return True
    return False


def test_tui_quits_when_its_terminal_hangs_up(tmp_path):
    root = tmp_path / "j"
    assert cli(root, "init", str(root)).returncode == 0
    master, slave = pty.openpty()
    env = {**os.environ, "TERM": "xterm-256color", "COLUMNS": "100", "LINES": "30"}
    proc = subprocess.Popen([sys.executable, "-c", APP, str(root)], stdin=slave, stdout=slave, stderr=slave,
                            env=env, start_new_session=True, close_fds=True)
    os.close(slave)
    try:
        # "Window": the dashboard's own key in its footer, at any width
        assert _read_until(master, b"Window", 60), "the dashboard never drew"
        os.close(master)  # the terminal goes away; no SIGHUP (no controlling terminal)
        master = None
        proc.wait(15)
        assert proc.returncode is not None  # it quit by itself, within two checks
    finally:
        if master is not None:
            os.close(master)
        if proc.poll() is None:
            proc.kill()
            proc.wait()
