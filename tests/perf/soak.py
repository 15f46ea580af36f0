"""Soak: the service under a high-rate replayed load, RSS and open file descriptors over time.

Eight fake vLLM engines replay the real 0.32 /metrics page (tests/data) with counters and
histograms moving every second, the NVML replay backend serves the recorded H100 trace,
and back-to-back benchmark jobs hammer a local instant OpenAI server. Prints the service's
RSS and open fds every interval; after warm-up both should stay flat (within +-10%).

    .venv/bin/python tests/perf/soak.py [--minutes 60] [--engines 8]

`run_soak` is also called by tests/integration/test_soak.py for a short CI variant.
"""

from __future__ import annotations

import argparse
import asyncio
import re
import sys
import tempfile
import threading
import time
from pathlib import Path

import psutil
from aiohttp import web

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(1, str(ROOT))  # the test doubles: tests.doubles.*

from helpers import cli, free_port, stop_service, wait_for  # noqa: E402

PAGE = (ROOT / "tests" / "data" / "vllm-0.32-metrics-load.txt").read_text()
_SAMPLE = re.compile(r"^([a-zA-Z_:][\w:]*)(\{[^}]*\})? (\S+)$")
_MOVING = ("_total", "_count", "_sum", "_bucket")


def moving_page(tick: int) -> bytes:
    """The real page with every counter/histogram series advanced by ``tick`` steps."""
    out = []
    for line in PAGE.splitlines():
        m = _SAMPLE.match(line)
        if m and m.group(1).endswith(_MOVING) and "created" not in m.group(1):
            try:
                v = float(m.group(3)) + tick * (1 + len(m.group(1)) % 7)
            except ValueError:
                out.append(line)
                continue
            out.append(f"{m.group(1)}{m.group(2) or ''} {v}")
        else:
            out.append(line)
    return ("\n".join(out) + "\n").encode()


class FakeFleet:
    """N fake vLLM endpoints + an instant OpenAI stream server, on one loopback port."""

    def __init__(self, engines: int):
        self.engines, self.port = engines, free_port()
        self.loop = asyncio.new_event_loop()
        self.t0 = time.time()

    def _run(self):
        from tests.doubles.mockserver import MockConfig, MockServer
        asyncio.set_event_loop(self.loop)
        app = MockServer(MockConfig(chunks=64, model="mock"), "127.0.0.1", self.port).app()

        async def metrics(request):
            return web.Response(body=moving_page(int(time.time() - self.t0)), content_type="text/plain")

        for i in range(self.engines):
            app.router.add_get(f"/e{i}/metrics", metrics)
            app.router.add_get(f"/e{i}/health", lambda r: web.Response(text=""))
        runner = web.AppRunner(app)
        self.loop.run_until_complete(runner.setup())
        self.loop.run_until_complete(web.TCPSite(runner, "127.0.0.1", self.port).start())
        self.loop.run_forever()

    def __enter__(self):
        threading.Thread(target=self._run, daemon=True).start()
        time.sleep(0.5)
        return self

    def __exit__(self, *exc):
        self.loop.call_soon_threadsafe(self.loop.stop)


def run_soak(seconds: float, engines: int = 8, interval: float = 10.0, journal: Path | None = None,
             log=print) -> list[tuple[float, int, int]]:
    """Run the soak; returns [(elapsed_s, rss_bytes, open_fds)] samples of the service."""
    journal = journal or Path(tempfile.mkdtemp(prefix="iejtui-soak-")) / "journal"
    trace = ROOT / "tests" / "data" / "nvml-h100-trace.jsonl.gz"
    assert cli(journal, "init", str(journal)).returncode == 0
    samples: list[tuple[float, int, int]] = []
    with FakeFleet(engines) as fleet:
        base = f"http://127.0.0.1:{fleet.port}"
        try:
            assert cli(journal, "service", "start", env={"IEJTUI_NVML_REPLAY": str(trace)}).returncode == 0
            for i in range(engines):
                assert cli(journal, "engine", "attach", f"e{i}", f"{base}/e{i}").returncode == 0
            svc = psutil.Process(int((journal / ".iejtui" / "service.pid").read_text()))
            t0 = time.monotonic()
            done = threading.Event()

            def sampler():  # on its own clock, whatever the benchmarks are doing
                while not done.is_set():
                    elapsed = time.monotonic() - t0
                    rss, fds = svc.memory_info().rss, svc.num_fds()
                    samples.append((elapsed, rss, fds))
                    log(f"{elapsed:7.0f} s  RSS {rss / 2**20:7.1f} MiB  open fds {fds}")
                    done.wait(interval)

            thread = threading.Thread(target=sampler, daemon=True)
            thread.start()
            while time.monotonic() - t0 < seconds:
                p = cli(journal, "bench", "--base-url", base, "--model", "mock", "--num-prompts", "200",
                        "--max-concurrency", "32", "--random-input-len", "16", "--random-output-len", "64",
                        timeout=600)
                if p.returncode != 0:
                    log(f"bench failed: {p.stderr.strip()}")
            done.set()
            thread.join()
        finally:
            stop_service(journal)
    return samples


def flatness(samples: list[tuple[float, int, int]], warmup_s: float) -> tuple[float, float]:
    """(RSS change, fd change) after warm-up, as ratios.

    RSS: first sample after warm-up to the last.  Descriptors: the floor (minimum) of the
    first half of the post-warm-up samples to the floor of the second half.  A sample that
    lands while a benchmark holds its 8..32 connections open reads 50 fds instead of 19;
    those are released at the end of the run, so a single point says nothing.  A leak
    raises the floor, which is what this compares.
    """
    after = [s for s in samples if s[0] >= warmup_s] or samples
    (_, r0, _), (_, r1, _) = after[0], after[-1]
    half = max(1, len(after) // 2)
    f0 = min(s[2] for s in after[:half])
    f1 = min(s[2] for s in after[half:]) if after[half:] else f0
    return (r1 - r0) / r0, (f1 - f0) / max(f0, 1)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--minutes", type=float, default=60.0)
    ap.add_argument("--engines", type=int, default=8)
    ap.add_argument("--interval", type=float, default=30.0)
    args = ap.parse_args()
    samples = run_soak(args.minutes * 60, args.engines, args.interval)
    # warm-up covers the first sealing of every frame (5 min of ticks), when the writer
    # first decodes and compresses a chunk and the allocator reaches its working size
    rss, fds = flatness(samples, warmup_s=min(360.0, args.minutes * 60 / 2))
    print(f"after warm-up: RSS {rss:+.1%}, open fds {fds:+.1%} (goal: within +-10%)")


if __name__ == "__main__":
    main()
