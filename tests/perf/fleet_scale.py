"""The fleet view against a big fleet: simulated hosts (default 32 hosts x 8 GPUs, one vLLM
engine each) served by a synthetic exporter that speaks exactly what ``iejtui service
--metrics-listen`` exposes (the same exposition code), scraped by a real Prometheus.

Prints the fleet view's refresh time and the load each refresh puts on Prometheus
(queries, series, samples, bytes) for a page of visible hosts, for the whole fleet
(``fleet --json``), and the plots of one host (range queries). Goal: refresh <= 1 s, and
queries proportional to what is visible (the query count is constant; the series and
bytes follow the visible hosts).

    .venv/bin/python tests/perf/fleet_scale.py [--hosts 32] [--gpus 8] [--scrape-interval 2s] [--warmup 30]
"""

from __future__ import annotations

import argparse
import asyncio
import math
import multiprocessing
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT))

from aiohttp import web  # noqa: E402
from prometheus_client import CollectorRegistry, generate_latest  # noqa: E402

from collectors.prometheus import parse_text  # noqa: E402
from collectors.records import Frame, Sample  # noqa: E402
from helpers import free_port  # noqa: E402
from iejtui.derive.metric_map import VLLM  # noqa: E402
from iejtui.fleet import exposition as X  # noqa: E402
from iejtui.fleet.promql import PromClient  # noqa: E402
from iejtui.fleet.view import fleet_snapshot, host_plots  # noqa: E402
from prom import run_prometheus  # noqa: E402

LOAD_PAGE = ROOT / "tests" / "data" / "vllm-0.32-metrics-load.txt"
COUNTING = ("_total", "_count", "_bucket", "_sum")


class SyntheticHost:
    """One simulated host: ``gpus`` H100s and one vLLM engine whose counters keep growing."""

    def __init__(self, i: int, gpus: int, base: list[Sample], t_start: float):
        self.i, self.gpus, self.base, self.t_start = i, gpus, base, t_start
        self.hostname = f"node{i:03d}"

    def page(self, now: float) -> bytes:
        k = 1.0 + (now - self.t_start) / 60.0  # counters grow ~1x their base per minute
        phase = now / 10.0 + self.i
        gpus = []
        for g in range(self.gpus):
            act = 50 + 40 * math.sin(phase + g)
            gpus.append({"static": {"index": g, "uuid": f"GPU-{self.i:04d}-{g:04d}", "name": "NVIDIA H100 80GB HBM3"},
                         "ts": now, "values": {
                             "gpu.util_gpu": 100.0, "gpu.sm_active": act, "gpu.tensor_active": act * 0.6,
                             "gpu.dram_active": act * 0.4, "gpu.mem_used": 70e9, "gpu.mem_total": 85520809984.0,
                             "gpu.power_mw": 300000 + 2000 * act, "gpu.temp_c": 55 + act / 10,
                             "gpu.clock_sm_mhz": 1980.0, "gpu.clock_mem_mhz": 2619.0, "gpu.clocks_event_reasons": 0.0,
                             "gpu.energy_mj": (now - self.t_start) * 400000.0}})
        samples = [Sample(s.name, s.value * k if s.name.endswith(COUNTING) else s.value, s.labels) for s in self.base]
        frame = Frame("engine", now, samples)
        eng = [{"name": "vllm", "kind": "vllm", "run_id": 1, "mmap": VLLM, "get": X.frames_getter([frame])}]
        runs = [{"id": 1, "name": "vllm", "kind": "engine", "status": "ready", "tags": ["fleet"], "engine_name": "vllm",
                 "engine_kind": "vllm", "model": "tiny"}]
        fams = [*X.gpu_families(gpus, self.hostname), *X.engine_families(eng), *X.info_families(runs, self.hostname, "perf")]

        class C:
            def collect(self):
                return fams
        reg = CollectorRegistry(auto_describe=False)
        reg.register(C())
        return generate_latest(reg)


def serve_hosts(hosts: list[SyntheticHost], ports: list[int], stop) -> None:
    """The synthetic exporter (its own process: the fleet view must not share a GIL with it);
    each host's page is rebuilt at most once a second."""
    cache: dict[int, tuple[float, bytes]] = {}

    def page(h: SyntheticHost) -> bytes:
        now = time.time()
        hit = cache.get(h.i)
        if hit is None or now - hit[0] >= 1.0:
            hit = cache[h.i] = (now, h.page(now))
        return hit[1]

    async def main():
        runners = []
        for h, port in zip(hosts, ports):
            app = web.Application()

            async def metrics(request, h=h):
                return web.Response(body=page(h), content_type="text/plain")
            app.router.add_get("/metrics", metrics)
            r = web.AppRunner(app, access_log=None)
            await r.setup()
            await web.TCPSite(r, "127.0.0.1", port).start()
            runners.append(r)
        while not stop.is_set():
            await asyncio.sleep(0.2)
        for r in runners:
            await r.cleanup()
    asyncio.run(main())


async def measure(url: str, visible: list[int | None], repeats: int, window_s: float, plot_window_s: float):
    out = []
    async with PromClient(url, timeout_s=10.0) as c:
        first = (await fleet_snapshot(c, window_s=window_s, limit=1)).hosts[0].instance
        for limit in visible:
            times, loads = [], []
            for _ in range(repeats):
                t0 = time.perf_counter()
                # the TUI: a page of rows, the selected host in full; --json: every host in full
                snap = await fleet_snapshot(c, window_s=window_s, limit=limit,
                                            detail=[first] if limit else True)
                times.append(time.perf_counter() - t0)
                if snap.error:
                    raise SystemExit(snap.error)
                loads.append(snap.load)
            n_gpus = sum(len(h.gpus) for h in snap.hosts)
            gen = sum(e.panel.figures.generation_tok_s or 0 for h in snap.hosts for e in h.engines if e.panel.figures)
            out.append((f"TUI page" if limit else "all (--json)", limit or snap.total_hosts, n_gpus, times, loads[-1], gen))
        c.load.reset()
        t0 = time.perf_counter()
        host = snap.hosts[0].instance
        await host_plots(c, host, time.time(), plot_window_s)
        plot_t = time.perf_counter() - t0
        plot_load = c.load.as_dict()
    return out, plot_t, plot_load


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--hosts", type=int, default=32)
    ap.add_argument("--gpus", type=int, default=8)
    ap.add_argument("--scrape-interval", default="2s")
    ap.add_argument("--warmup", type=float, default=75.0, help="seconds of scrapes before measuring (> --window)")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--window", type=float, default=60.0)
    args = ap.parse_args()
    base = parse_text(LOAD_PAGE.read_text()).samples
    t_start = time.time() - 3600
    hosts = [SyntheticHost(i, args.gpus, base, t_start) for i in range(args.hosts)]
    ports = [free_port() for _ in hosts]
    page_bytes = len(hosts[0].page(time.time()))
    stop = multiprocessing.Event()
    exporter = multiprocessing.Process(target=serve_hosts, args=(hosts, ports, stop), daemon=True)
    exporter.start()
    work = Path(tempfile.mkdtemp(prefix="iejtui-fleet-perf-"))
    try:
        with run_prometheus(work, {"iejtui": [f"127.0.0.1:{p}" for p in ports]}, interval=args.scrape_interval) as url:
            print(f"fleet: {args.hosts} hosts x {args.gpus} GPUs + 1 vLLM engine each, {page_bytes / 1024:.0f} KiB "
                  f"per host page, scraped every {args.scrape_interval} by Prometheus at {url}")
            print(f"warming up {args.warmup:.0f} s ...", flush=True)
            time.sleep(args.warmup)
            visible = sorted({v for v in (10, 20, args.hosts) if v <= args.hosts}) + [None]
            rows, plot_t, plot_load = asyncio.run(measure(url, visible, args.repeats, args.window, 900.0))
    finally:
        stop.set()
        exporter.join(5)
        if exporter.is_alive():
            exporter.kill()
    print(f"\n{'view':<14}{'hosts':>6}{'GPUs':>6}{'refresh med':>13}{'max':>8}{'queries':>9}{'series':>8}"
          f"{'samples':>9}{'KiB':>8}{'gen tok/s':>11}")
    for what, n, gpus, times, load, gen in rows:
        print(f"{what:<14}{n:>6}{gpus:>6}{statistics.median(times):>12.3f}s{max(times):>7.3f}s{load['queries']:>9}"
              f"{load['series']:>8}{load['samples']:>9}{load['bytes'] / 1024:>8.1f}{gen:>11.0f}")
    print(f"plots of one host (15 min, step {max(1.0, 900 / 120):.1f} s): {plot_t:.3f} s, "
          f"{plot_load['range_queries']} range queries, {plot_load['series']} series, {plot_load['samples']} points, "
          f"{plot_load['bytes'] / 1024:.1f} KiB")
    worst = max(statistics.median(r[3]) for r in rows)
    print(f"\ngoal refresh <= 1 s: {'met' if worst <= 1.0 else 'NOT met'} (worst median {worst:.3f} s); "
          f"queries per refresh constant ({rows[0][4]['queries']}), series and bytes follow the visible hosts")


if __name__ == "__main__":
    main()
