"""What the dashboard costs: first paint, CPU at 1 Hz under load, opening a 24 h run, key latency.

    .venv/bin/python tests/perf/tui_overhead.py [--journal DIR --url URL] [--seconds 60]
    .venv/bin/python tests/perf/tui_overhead.py --synthetic      # no engine, no service

Without ``--journal`` it makes a temp journal, starts the real CPU vLLM engine through the
service (``iejtui engine start``), loads it with 4 streams, and stops it at the end.
``--synthetic`` instead writes, at 1 Hz, what the service would record for one busy vLLM
engine (every series of a real scrape, moving like a loaded engine) and for this host's
GPUs (real NVML when there is a driver); for a quiet machine without the engine (the
TUI's work is the same: it only reads the journal). The TUI runs as a real process in a
pseudo-terminal (160×48, TERM=xterm-256color), the way it runs over SSH; its CPU time comes
from /proc, and the bytes it writes to the terminal are counted (what SSH carries).

Goals (issue 4): first paint ≤ 0.7 s (vllmstat: 0.69 s), CPU ≤ 1.5 % of a core at 1 Hz with one
engine under load (vllmstat: 3.4 %), a 24 h run at 1 Hz opens in ≤ 1 s, key → screen ≤ 100 ms.
Figures, not assertions: the script prints them. With a real engine, vllmstat (installed once
from PyPI into ~/.cache/iejtui/peers) watches the same engine over the same window in its own
terminal, and the script prints the CPU ratio: the machine's noise hits both alike.
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

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "tests" / "ui"))

TICK = os.sysconf("SC_CLK_TCK")

COLS, ROWS = 160, 48
APP = ("import sys; from iejtui.paths import journal_paths; from iejtui.ui.app import run_app; "
       "run_app(journal_paths(sys.argv[1]))")


PEER_VERSION = "0.9.1"
PEER_VENV = Path.home() / ".cache/iejtui/peers" / f"vllmstat-{PEER_VERSION}"


def ensure_peer() -> Path | None:
    """vllmstat (the closest peer: Textual, vLLM /metrics + NVML at 1 Hz) in its own venv
    from PyPI, built once; None when it cannot be installed here."""
    exe = PEER_VENV / "bin" / "vllmstat"
    if exe.exists():
        return exe
    print(f"  installing vllmstat {PEER_VERSION} (once) into {PEER_VENV} …", flush=True)
    try:
        subprocess.run([sys.executable, "-m", "venv", str(PEER_VENV)], check=True, capture_output=True)
        subprocess.run([str(PEER_VENV / "bin/pip"), "install", "-q", f"vllmstat=={PEER_VERSION}"], check=True,
                       capture_output=True, timeout=600)
    except (subprocess.SubprocessError, OSError) as exc:
        print(f"  vllmstat could not be installed ({exc}); no side-by-side figure", flush=True)
        return None
    return exe if exe.exists() else None


class Tui:
    """The TUI in a pseudo-terminal; a thread drains its output and keeps the screen text."""

    def __init__(self, journal: Path | None, argv: list[str] | None = None):
        self.master, slave = pty.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", ROWS, COLS, 0, 0))
        env = {**os.environ, "TERM": "xterm-256color", "COLUMNS": str(COLS), "LINES": str(ROWS)}
        self.t_start = time.perf_counter()
        argv = argv or [sys.executable, "-c", APP, str(journal)]
        self.proc = subprocess.Popen(argv, stdin=slave, stdout=slave,
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

    def terminate(self) -> None:
        """Stop a program that has no quit key we rely on (the peer): SIGTERM, then SIGKILL."""
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        self._stop = True

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


def peer_first_paint(peer: Path, url: str, runs: int = 3) -> list[float]:
    """vllmstat's process start → its first frame (its footer's "Pause" key), same terminal."""
    out = []
    for _ in range(runs):
        other = Tui(None, [str(peer), "--url", url, "--interval", "1"])
        try:
            out.append(other.wait_for("Pause", timeout=60) - other.t_start)
        finally:
            other.terminate()
    return out


def _cpu_s(pid: int) -> tuple[float, int]:
    """(user + system CPU seconds, threads) of a process, from /proc/PID/stat."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK, int(fields[17])


def cpu_share(journal: Path, url: str | None, seconds: float, peer: Path | None = None) -> dict:
    """The TUI's CPU share over ``seconds``; with ``peer`` (vllmstat) watching the same engine
    in its own terminal over the same window, the peer's share too (same load, same noise)."""
    tui = Tui(journal)
    tui.wait_for("tokens/s", timeout=60)
    other = None
    if peer is not None and url is not None:
        other = Tui(None, [str(peer), "--url", url, "--interval", "1"])
    loader = None
    if url is not None:
        from load import load
        loader = threading.Thread(target=lambda: asyncio.run(load(url, 4, seconds + 15, 128)), daemon=True)
        loader.start()
    time.sleep(10)  # the engine is busy and the dashboard shows it
    (c0, _), b0, t0 = _cpu_s(tui.proc.pid), tui.total, time.perf_counter()
    p0 = _cpu_s(other.proc.pid)[0] if other is not None else None
    time.sleep(seconds)
    (c1, threads), b1, t1 = _cpu_s(tui.proc.pid), tui.total, time.perf_counter()
    p1 = _cpu_s(other.proc.pid)[0] if other is not None else None
    wall = t1 - t0
    tui.close()
    if other is not None:
        other.terminate()
    if loader is not None:
        loader.join(timeout=seconds + 60)
    return {"cpu_pct": 100.0 * (c1 - c0) / wall, "bytes_per_s": (b1 - b0) / wall, "wall_s": wall,
            "threads": threads, "peer_cpu_pct": None if p0 is None else 100.0 * (p1 - p0) / wall}


def key_latency(journal: Path, n: int = 10) -> dict[str, list[float]]:
    """Seconds from a key press to its effect on the terminal: screen switches (r → Runs,
    d → Dashboard: a full repaint, timed to a word only the new screen shows) and an
    in-screen key (w, the plot window, with the display paused so that nothing else is
    drawn: timed to the first bytes written after the key)."""
    tui = Tui(journal)
    tui.wait_for("tokens/s", timeout=60)
    time.sleep(2)
    out: dict[str, list[float]] = {"switch screen (r / d)": [], "in-screen key (w)": []}
    for i in range(n):
        key, text = ("r", "headline") if i % 2 == 0 else ("d", "tokens/s")
        since = tui.mark()
        t = time.perf_counter()
        tui.key(key)
        out["switch screen (r / d)"].append(tui.wait_for(text, since=since, timeout=10) - t)
        time.sleep(0.7)
    tui.key("p")  # pause: from now on only key presses make the TUI draw
    time.sleep(1.5)
    for _ in range(n):
        since = tui.mark()
        t = time.perf_counter()
        tui.key("w")
        with tui.cond:
            while len(tui.buf) <= since:
                if not tui.cond.wait(10):
                    raise TimeoutError("nothing drawn after w")
        out["in-screen key (w)"].append(time.perf_counter() - t)
        time.sleep(0.5)
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


def screenshot(journal: Path, size: tuple[int, int], folder: Path) -> Path:
    """The dashboard on ``journal`` as an SVG (headless, the real clock)."""
    from iejtui.paths import journal_paths
    from iejtui.ui.app import make_app
    from iejtui.ui.widgets.snapshot_view import SnapshotView

    async def shoot() -> Path:
        app = make_app(journal_paths(journal))
        async with app.run_test(size=size) as pilot:
            for _ in range(100):
                await pilot.pause(0.1)
                view = app.screen.query_one(SnapshotView)
                if view.snapshot is not None:
                    break
            await pilot.pause(1.5)
            return Path(app.save_screenshot(f"dashboard-{size[0]}x{size[1]}.svg", str(folder)))
    return asyncio.run(shoot())


class Recorder(threading.Thread):
    """--synthetic: writes at 1 Hz what the service records for one busy vLLM engine and
    this host's GPUs (real NVML when present), through the real Writer."""

    def __init__(self, root: Path):
        super().__init__(daemon=True)
        from seed import EngineSim, _rename

        from collectors.records import Sample
        from iejtui.journal.init import init_journal
        from iejtui.store.writer import Writer
        init_journal(root)
        self.writer = Writer(root / "journal.db")
        template = []
        for line in (ROOT / "tests" / "data" / "ui-vllm-metrics.txt").read_text().splitlines():
            if not line.startswith("vllm:") or "_created" in line.split("{")[0]:
                continue
            head, value = line.rsplit(" ", 1)
            name, _, rest = head.partition("{")
            labels = tuple(sorted((k, v.strip('"')) for k, v in
                                  (kv.split("=", 1) for kv in rest.rstrip("}").split('",') if kv)))
            labels = tuple((k, v.rstrip('"')) for k, v in labels)
            template.append(Sample(name, float(value), labels))
        self.sim = EngineSim(seed=11, template=_rename(template))
        self.gpu = None
        try:
            from collectors.gpu import GpuCollector
            gpu = GpuCollector()
            gpu.open()
            if gpu.available:
                self.gpu = gpu
        except Exception:  # no driver, no pynvml: synthetic GPU frames instead
            self.gpu = None
        now = time.time()
        static = self.gpu.static_info() if self.gpu else [{"uuid": "GPU-synthetic-0", "index": 0,
                                                            "name": "synthetic GPU"}]
        self.gpu_run = self.writer.create_run(kind="record", name="gpu@perf", status="ready", started_at=now,
                                              facts={"gpus": static})
        self.run_id = self.writer.create_run(kind="engine", name="sim", engine_kind="vllm", status="ready",
                                             started_at=now, ready_at=now, url="http://127.0.0.1:1")
        self.static = static
        self.stop = threading.Event()
        self.gpu_name = static[0].get("name") if static else None

    def run(self) -> None:
        from seed import gpu_frame
        next_t = time.time()
        while not self.stop.is_set():
            now = time.time()
            self.writer.add_frames(self.run_id, [self.sim.frame(now)])
            if self.gpu is not None:
                frames, _ = self.gpu.tick(now)
                self.writer.add_frames(self.gpu_run, frames)
            else:
                self.writer.add_frames(self.gpu_run, [gpu_frame("GPU-synthetic-0", now, self.sim.load(now), True)])
            self.writer.flush()
            next_t += 1.0
            self.stop.wait(max(0.0, next_t - time.time()))
        self.writer.close()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--journal", type=Path, help="a journal whose service runs an engine (default: start one)")
    ap.add_argument("--url", help="that engine's base URL (with --journal)")
    ap.add_argument("--synthetic", action="store_true", help="no engine: write a busy engine's samples at 1 Hz")
    ap.add_argument("--seconds", type=float, default=60.0, help="CPU measurement window")
    ap.add_argument("--skip-24h", action="store_true")
    ap.add_argument("--no-peer", action="store_true", help="do not run vllmstat side by side")
    ap.add_argument("--screenshots", type=Path, help="also save SVG screenshots of the dashboard here")
    a = ap.parse_args()
    owned = recorder = None
    journal, url = a.journal, a.url
    if a.synthetic:
        journal = Path(tempfile.mkdtemp(prefix="iejtui-perf-")) / "journal"
        recorder = Recorder(journal)
        recorder.start()
        time.sleep(20)  # some history for the plots
        print(f"synthetic engine (1 Hz, every series of a real vLLM scrape); GPUs: "
              f"{len(recorder.static)} × {recorder.gpu_name}" + ("" if recorder.gpu else " (synthetic)"))
    elif journal is None:
        from helpers import add_profile, cli, engine_profile, free_port, stop_service
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
        print(f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}; terminal {COLS}×{ROWS}; "
              f"python {sys.version.split()[0]}")
        peer = None if a.synthetic or a.no_peer else ensure_peer()
        frame, data = first_paint(journal)
        print(f"time to first paint: median {statistics.median(frame):.2f} s to the first frame, "
              f"{statistics.median(data):.2f} s to the first frame with data  (runs: "
              + ", ".join(f"{x:.2f}/{y:.2f}" for x, y in zip(frame, data)) + ")  goal ≤ 0.7 s", flush=True)
        if peer is not None and url is not None:
            pf = peer_first_paint(peer, url)
            print(f"  side by side: vllmstat {PEER_VERSION} first frame median {statistics.median(pf):.2f} s "
                  f"→ iejtui / vllmstat = {statistics.median(frame) / statistics.median(pf):.2f}", flush=True)
        cpu = cpu_share(journal, url, a.seconds, peer)
        what = "a synthetic busy engine" if a.synthetic else "one engine under load"
        print(f"TUI CPU at 1 Hz, {what}: {cpu['cpu_pct']:.2f} % of a core over {cpu['wall_s']:.0f} s"
              f"  goal ≤ 1.5 %  (terminal output {cpu['bytes_per_s'] / 1024:.1f} KiB/s, "
              f"{cpu['threads']} threads)", flush=True)
        if cpu["peer_cpu_pct"]:
            print(f"  side by side, same engine, same window: vllmstat {PEER_VERSION} {cpu['peer_cpu_pct']:.2f} % "
                  f"→ iejtui / vllmstat = {cpu['cpu_pct'] / cpu['peer_cpu_pct']:.2f}", flush=True)
        for kind, kl in key_latency(journal).items():
            print(f"key press → screen drawn, {kind}: median {1000 * statistics.median(kl):.0f} ms, "
                  f"max {1000 * max(kl):.0f} ms over {len(kl)} presses  goal ≤ 100 ms", flush=True)
        if not a.skip_24h:
            with tempfile.TemporaryDirectory() as tmp:
                r = open_24h(Path(tmp))
            print(f"open a 24 h run ({r['samples']:,} ticks at 1 Hz): view model "
                  f"{min(r['view_model_s']):.2f} s (best of 3), key → drawn {r['key_to_screen_s']:.2f} s  goal ≤ 1 s")
        if a.screenshots:
            a.screenshots.mkdir(parents=True, exist_ok=True)
            for size in ((160, 48), (80, 24)):
                path = screenshot(journal, size, a.screenshots)
                print(f"screenshot: {path}")
        print(f"load average at the end {os.getloadavg()[0]:.1f}")
    finally:
        if recorder is not None:
            recorder.stop.set()
            recorder.join(5)
        if owned is not None:
            from helpers import stop_service
            stop_service(owned)
    return 0


if __name__ == "__main__":
    sys.exit(main())
