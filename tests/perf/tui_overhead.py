"""What the dashboard costs: first paint, CPU at 1 Hz under load, opening a 24 h run, key latency.

    .venv/bin/python tests/perf/tui_overhead.py [--journal DIR --url URL] [--seconds 60]

Without ``--journal`` it makes a temp journal, starts the real CPU vLLM engine through the
service (``iejtui engine start``), and stops it at the end. The TUI runs as a real process in a
pseudo-terminal (160×48, TERM=xterm-256color), the way it runs over SSH; its CPU time comes
from /proc (psutil), and the bytes it writes to the terminal are counted (what SSH carries).

Goals (issue 4): first paint ≤ 0.7 s (vllmstat: 0.69 s), CPU ≤ 1.5 % of a core at 1 Hz with one
engine under load (vllmstat: 3.4 %), a 24 h run at 1 Hz opens in ≤ 1 s, key → screen ≤ 100 ms.
Figures, not assertions: the script prints them.
"""
from __future__ import annotations

import argparse
import asyncio
import fcntl
import os
import pty
import select
import statistics
import struct
import subprocess
import sys
import tempfile
import termios
import threading
import time
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "tests" / "ui"))

from helpers import add_profile, cli, engine_profile, free_port, stop_service  # noqa: E402
from load import load  # noqa: E402

COLS, ROWS = 160, 48
APP = ("import sys; from iejtui.paths import journal_paths; from iejtui.ui.app import run_app; "
       "run_app(journal_paths(sys.argv[1]))")


class Tui:
    """The TUI in a pseudo-terminal; a thread drains its output and keeps the screen text."""

    def __init__(self, journal: Path):
        self.master, slave = pty.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", ROWS, COLS, 0, 0))
        env = {**os.environ, "TERM": "xterm-256color", "COLUMNS": str(COLS), "LINES": str(ROWS)}
        self.t_start = time.perf_counter()
        self.proc = subprocess.Popen([sys.executable, "-c", APP, str(journal)], stdin=slave, stdout=slave,
                                     stderr=slave, env=env, start_new_session=True, close_fds=True)
        os.close(slave)
        self.buf = bytearray()
        self.total = 0
        self.lock = threading.Lock()
        self.cond = threading.Condition(self.lock)
        self._stop = False
        threading.Thread(target=self._drain, daemon=True).start()

    def _drain(self) -> None:
        while not self._stop:
            r, _, _ = select.select([self.master], [], [], 0.2)
            if not r:
                continue
            try:
                data = os.read(self.master, 65536)
            except OSError:
                return
            if not data:
                return
            with self.cond:
                self.buf += data
                self.total += len(data)
                if len(self.buf) > 4_000_000:
                    del self.buf[:2_000_000]
                self.cond.notify_all()

    def mark(self) -> int:
        with self.lock:
            return len(self.buf)

    def wait_for(self, text: str, since: int = 0, timeout: float = 30.0) -> float:
        """Seconds (perf_counter) when ``text`` first appears in the output after ``since``."""
        needle = text.encode()
        deadline = time.monotonic() + timeout
        with self.cond:
            while True:
                if self.buf.find(needle, max(0, since - len(needle))) >= 0:
                    return time.perf_counter()
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"{text!r} did not appear within {timeout} s")
                self.cond.wait(left)

    def key(self, k: str) -> None:
        os.write(self.master, k.encode())

    def close(self) -> None:
        self.key("q")
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        self._stop = True


def first_paint(journal: Path, runs: int = 3) -> tuple[list[float], list[float]]:
    """(process start → first frame, process start → first frame with the journal's data)."""
    frame, data = [], []
    for _ in range(runs):
        tui = Tui(journal)
        frame.append(tui.wait_for("Window", timeout=60) - tui.t_start)  # the footer's first key
        data.append(tui.wait_for("tokens/s", timeout=60) - tui.t_start)  # a plot drawn from the store
        tui.close()
    return frame, data


def cpu_share(journal: Path, url: str, seconds: float) -> dict:
    tui = Tui(journal)
    tui.wait_for("tokens/s", timeout=60)
    stop = threading.Event()
    loader = threading.Thread(target=lambda: asyncio.run(load(url, 4, seconds + 15, 128)), daemon=True)
    loader.start()
    time.sleep(10)  # the engine is busy and the dashboard shows it
    proc = psutil.Process(tui.proc.pid)
    c0, b0, t0 = proc.cpu_times(), tui.total, time.perf_counter()
    time.sleep(seconds)
    c1, b1, t1 = proc.cpu_times(), tui.total, time.perf_counter()
    stop.set()
    wall = t1 - t0
    cpu = (c1.user - c0.user) + (c1.system - c0.system)
    threads = proc.num_threads()
    tui.close()
    loader.join(timeout=seconds + 60)
    return {"cpu_pct": 100.0 * cpu / wall, "bytes_per_s": (b1 - b0) / wall, "wall_s": wall, "threads": threads}


def key_latency(journal: Path, n: int = 10) -> list[float]:
    """Press r (Runs) and d (Dashboard) in turn; time until the new screen's text is drawn."""
    tui = Tui(journal)
    tui.wait_for("tokens/s", timeout=60)
    time.sleep(2)
    out = []
    for i in range(n):
        key, text = ("r", "headline") if i % 2 == 0 else ("d", "tokens/s")
        since = tui.mark()
        t = time.perf_counter()
        tui.key(key)
        out.append(tui.wait_for(text, since=since, timeout=10) - t)
        time.sleep(0.7)
    tui.close()
    return out


def open_24h(tmp: Path) -> dict:
    """Seed a 24 h engine run at 1 Hz (every series of a real vLLM scrape) once, then time
    the history view: view model alone, and the app from key to drawn screen."""
    from seed import seed_journal, seed_long_run

    from iejtui.store import Reader
    from iejtui.viewmodel import run_history
    from iejtui.viewmodel.windows import run_bounds, zoom

    cache = Path(os.environ.get("IEJTUI_PERF_CACHE", tempfile.gettempdir())) / "iejtui-perf-24h"
    marker = cache / "run_id"
    if not marker.exists():
        print("  seeding a 24 h run at 1 Hz (once; cached in", cache, ") …", flush=True)
        seed_journal(cache, live_minutes=2, past_runs=False)
        marker.write_text(str(seed_long_run(cache)))
    run_id = int(marker.read_text())
    reader = Reader(cache / "journal.db")
    run = reader.run(run_id)
    model = []
    for _ in range(3):
        t = time.perf_counter()
        start, end = run_bounds(reader, run, time.time())
        w = zoom(start, end, None)
        run_history(reader, run_id, w.t0, w.t1, 240)
        model.append(time.perf_counter() - t)
    samples = sum(reader.sample_counts(run_id).values())
    reader.close()
    tui = Tui(cache)
    tui.wait_for("tokens/s", timeout=60)
    tui.key("r")
    tui.wait_for("soak-24h", timeout=30)
    time.sleep(1)
    since = tui.mark()
    t = time.perf_counter()
    tui.key("\r")  # the newest run is the 24 h one: enter opens it
    drawn = tui.wait_for("whole run", since=since, timeout=60) - t
    tui.close()
    return {"samples": samples, "view_model_s": model, "key_to_screen_s": drawn}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--journal", type=Path, help="a journal whose service runs an engine (default: start one)")
    ap.add_argument("--url", help="that engine's base URL (with --journal)")
    ap.add_argument("--seconds", type=float, default=60.0, help="CPU measurement window")
    ap.add_argument("--skip-24h", action="store_true")
    a = ap.parse_args()
    owned = None
    journal, url = a.journal, a.url
    if journal is None:
        owned = Path(tempfile.mkdtemp(prefix="iejtui-perf-")) / "journal"
        cli(owned, "init", str(owned))
        port = free_port()
        add_profile(owned, engine_profile("tiny", port))
        print("starting the real CPU vLLM engine through the service …", flush=True)
        t = time.monotonic()
        p = cli(owned, "engine", "start", "tiny", "--wait", timeout=900)
        if p.returncode != 0:
            print(p.stdout, p.stderr)
            stop_service(owned)
            return 1
        print(f"  ready after {time.monotonic() - t:.0f} s", flush=True)
        journal, url = owned, f"http://127.0.0.1:{port}"
    try:
        print(f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}; terminal {COLS}×{ROWS}")
        frame, data = first_paint(journal)
        print(f"time to first paint: median {statistics.median(frame):.2f} s to the first frame, "
              f"{statistics.median(data):.2f} s to the first frame with data  (runs: "
              + ", ".join(f"{x:.2f}/{y:.2f}" for x, y in zip(frame, data)) + ")  goal ≤ 0.7 s", flush=True)
        cpu = cpu_share(journal, url, a.seconds)
        print(f"TUI CPU at 1 Hz, one engine under load: {cpu['cpu_pct']:.2f} % of a core over {cpu['wall_s']:.0f} s"
              f"  goal ≤ 1.5 %  (terminal output {cpu['bytes_per_s'] / 1024:.1f} KiB/s, "
              f"{cpu['threads']} threads)", flush=True)
        kl = key_latency(journal)
        print(f"key press → screen drawn: median {1000 * statistics.median(kl):.0f} ms, "
              f"max {1000 * max(kl):.0f} ms over {len(kl)} presses  goal ≤ 100 ms", flush=True)
        if not a.skip_24h:
            with tempfile.TemporaryDirectory() as tmp:
                r = open_24h(Path(tmp))
            print(f"open a 24 h run ({r['samples']:,} ticks at 1 Hz): view model "
                  f"{min(r['view_model_s']):.2f} s (best of 3), key → drawn {r['key_to_screen_s']:.2f} s  goal ≤ 1 s")
        print(f"load average at the end {os.getloadavg()[0]:.1f}")
    finally:
        if owned is not None:
            stop_service(owned)
    return 0


if __name__ == "__main__":
    sys.exit(main())
