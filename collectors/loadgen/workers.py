"""Running a load: in the caller's event loop, or in N worker processes.

One worker = one event loop + one pooled session (``execute``).  With ``num_workers``
> 1 the parent spawns N processes ("spawn": safe beside Textual's threads) and:

* open loop (finite rate): request i goes to worker ``i % N`` with its own scheduled
  time; each worker gets ``max_concurrency // N`` slots (+1 for the first remainder);
* closed loop (infinite rate with ``--max-concurrency C``): each worker runs its share
  of the C lanes and takes the next request index from a counter shared by all
  workers (a lock-protected integer), so the C slots stay busy until the work runs out
  whichever process is faster;
* infinite rate without a cap: round-robin partition, everything due at t=0.

Workers warm their own connection pools (their share of ``--num-warmups``), report
ready, and start together at a ``perf_counter`` deadline sent by the parent
(CLOCK_MONOTONIC is shared by all processes on Linux).  Finished records stream back
in batches; a parent ``cancel`` is forwarded and in-flight requests are cancelled.
"""

from __future__ import annotations

import asyncio
import multiprocessing as mp
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from time import perf_counter

from .client import DeferredParser, RequestRecord, StreamClient
from .schedule import LoopLagMonitor, drive


@dataclass
class LoadSpec:
    api_url: str
    headers: dict[str, str]
    chat: bool | str  # stream kind: True chat, False completions, "trt" Triton generate_stream
    request_timeout: float
    read_timeout: float | None
    records: list[RequestRecord]
    bodies: list[bytes]
    offsets: list[float]
    max_concurrency: int | None
    num_warmups: int = 0
    warmup_body: bytes = b""
    keep_text: bool = False


@dataclass
class ExecStats:
    worker: int = 0
    start: float = 0.0  # perf_counter at the start of dispatch (t0)
    end: float = 0.0  # perf_counter when the last request finished
    cpu_s: float = 0.0
    loop_lag: list[float] = field(default_factory=list)
    warmup_failed: int = 0
    warmup_errors: list[str] = field(default_factory=list)
    event_loop: str = ""  # "asyncio" or "uvloop"


async def execute(spec: LoadSpec, on_done: Callable[[RequestRecord], None],
                  cancel: asyncio.Event | None = None, worker: int = 0,
                  start_at: Callable[[], object] | None = None,
                  next_index: Callable[[], int | None] | None = None) -> ExecStats:
    """Warm up, wait for the start (``start_at`` may be async and return t0), run."""
    stats = ExecStats(worker=worker)
    stats.event_loop = type(asyncio.get_running_loop()).__module__.split(".")[0]
    limit = spec.max_concurrency or max(len(spec.records), spec.num_warmups, 1)
    base = {"Content-Type": "application/json", **spec.headers}
    async with StreamClient(spec.api_url, spec.headers, spec.chat, limit,
                            spec.request_timeout, spec.read_timeout) as client:
        if spec.num_warmups:
            sem = asyncio.Semaphore(spec.max_concurrency or spec.num_warmups)

            async def warm(i: int) -> RequestRecord:
                async with sem:
                    return await client.send(RequestRecord(index=-1 - i, warmup=True),
                                             spec.warmup_body)
            warm_recs = await asyncio.gather(*[warm(i) for i in range(spec.num_warmups)])
            bad = [r for r in warm_recs if not r.success]
            stats.warmup_failed = len(bad)
            stats.warmup_errors = [r.error for r in bad[:3]]
        t0 = perf_counter()
        if start_at is not None:
            res = start_at()
            t0 = await res if asyncio.iscoroutine(res) else res  # type: ignore[assignment]
            if t0 > perf_counter():
                await asyncio.sleep(t0 - perf_counter())
        keep_text = spec.keep_text

        parser = DeferredParser(spec.chat, on_done, spec.max_concurrency or 64, keep_text)

        async def send(rec: RequestRecord) -> bool:
            rec.worker = worker
            h = dict(base)
            h["x-request-id"] = rec.request_id
            raw = await client.fetch(rec, spec.bodies[rec.index], h)
            if raw is None:
                return True
            await parser.submit(rec, raw[0], raw[1])
            return False

        monitor = LoopLagMonitor()
        monitor.start()
        cpu0 = time.process_time()
        stats.start = t0
        try:
            await drive(spec.records, spec.offsets, t0, send, spec.max_concurrency, on_done,
                        next_index=next_index, cancel=cancel)
            await parser.drain()
        finally:
            await parser.close()
        stats.end = perf_counter()
        stats.cpu_s = time.process_time() - cpu0
        stats.loop_lag = await monitor.stop()
    return stats


# ---------------------------------------------------------------- worker processes

def _share(total: int | None, n: int, w: int) -> int | None:
    if total is None:
        return None
    return total // n + (1 if w < total % n else 0)


def partition(spec: LoadSpec, n: int, w: int) -> tuple[LoadSpec, bool]:
    """Worker ``w``'s part of the load, and whether it pulls from the shared counter."""
    closed = spec.max_concurrency is not None and all(o == 0 for o in spec.offsets)
    cap = _share(spec.max_concurrency, n, w)
    warm = _share(spec.num_warmups, n, w) or 0
    if closed:
        return LoadSpec(spec.api_url, spec.headers, spec.chat, spec.request_timeout,
                        spec.read_timeout, spec.records, spec.bodies, spec.offsets,
                        max(cap or 1, 1), warm, spec.warmup_body, spec.keep_text), True
    idx = list(range(w, len(spec.records), n))
    recs = [spec.records[i] for i in idx]
    bodies = {i: spec.bodies[i] for i in idx}
    return LoadSpec(spec.api_url, spec.headers, spec.chat, spec.request_timeout,
                    spec.read_timeout, recs, bodies, [spec.offsets[i] for i in idx],  # type: ignore[arg-type]
                    cap if cap is None else max(cap, 1), warm, spec.warmup_body,
                    spec.keep_text), False


def worker_main(conn, spec: LoadSpec, w: int, counter, use_counter: bool) -> None:
    """Entry point of a worker process."""
    try:
        import uvloop  # optional, faster loop when installed
        uvloop.install()
    except ImportError:
        pass
    asyncio.run(_worker(conn, spec, w, counter, use_counter))


async def _worker(conn, spec: LoadSpec, w: int, counter, use_counter: bool) -> None:
    loop = asyncio.get_running_loop()
    cancel = asyncio.Event()
    go: asyncio.Future = loop.create_future()
    batch: list[RequestRecord] = []
    last = [perf_counter()]

    def on_msg() -> None:
        try:
            msg = conn.recv()
        except EOFError:
            cancel.set()
            loop.remove_reader(conn.fileno())
            return
        if msg[0] == "go" and not go.done():
            go.set_result(msg[1])
        elif msg[0] == "cancel":
            cancel.set()
            if not go.done():
                go.set_result(perf_counter())

    loop.add_reader(conn.fileno(), on_msg)

    def on_done(rec: RequestRecord) -> None:
        batch.append(rec)
        now = perf_counter()
        if len(batch) >= 64 or now - last[0] > 0.05:
            conn.send(("records", batch[:]))
            batch.clear()
            last[0] = now

    def take() -> int | None:
        with counter.get_lock():
            i = counter.value
            counter.value = i + 1
        return i

    async def start_at() -> float:
        conn.send(("ready", w))
        return await go

    stats = await execute(spec, on_done, cancel, w, start_at, take if use_counter else None)
    if batch:
        conn.send(("records", batch))
    loop.remove_reader(conn.fileno())
    conn.send(("done", stats))


async def run_workers(spec: LoadSpec, n: int, on_done: Callable[[RequestRecord], None],
                      cancel: asyncio.Event | None = None, start_delay: float = 0.05
                      ) -> list[ExecStats]:
    """Run ``spec`` over ``n`` processes; ``on_done`` gets each finished record here."""
    ctx = mp.get_context("spawn")
    counter = ctx.Value("q", 0)
    loop = asyncio.get_running_loop()
    conns, procs = [], []
    for w in range(n):
        part, use_counter = partition(spec, n, w)
        parent, child = ctx.Pipe()
        p = ctx.Process(target=worker_main, args=(child, part, w, counter, use_counter),
                        name=f"loadgen-worker-{w}", daemon=True)
        p.start()
        child.close()
        conns.append(parent)
        procs.append(p)
    ready: set[int] = set()
    all_ready = loop.create_future()
    stats: dict[int, ExecStats] = {}
    finished = loop.create_future()

    def reader(i: int) -> Callable[[], None]:
        def on_readable() -> None:
            try:
                msg = conns[i].recv()
            except (EOFError, OSError):
                loop.remove_reader(conns[i].fileno())
                stats.setdefault(i, ExecStats(worker=i))
                _check()
                return
            if msg[0] == "records":
                for rec in msg[1]:
                    on_done(rec)
            elif msg[0] == "ready":
                ready.add(i)
                if len(ready) == n and not all_ready.done():
                    all_ready.set_result(True)
            elif msg[0] == "done":
                stats[i] = msg[1]
                loop.remove_reader(conns[i].fileno())
                _check()
        return on_readable

    def _check() -> None:
        if len(stats) == n and not finished.done():
            finished.set_result(True)
        if not all_ready.done() and len(stats) + len(ready) >= n and stats:
            all_ready.set_result(False)

    for i, c in enumerate(conns):
        loop.add_reader(c.fileno(), reader(i))
    watcher = None
    try:
        await all_ready
        t0 = perf_counter() + start_delay
        for c in conns:
            c.send(("go", t0))
        if cancel is not None:
            async def forward() -> None:
                await cancel.wait()
                for c in conns:
                    try:
                        c.send(("cancel",))
                    except OSError:
                        pass
            watcher = asyncio.ensure_future(forward())
        await finished
    finally:
        if watcher is not None:
            watcher.cancel()
        for c in conns:
            try:
                loop.remove_reader(c.fileno())
            except (ValueError, OSError):
                pass
        for p in procs:
            await loop.run_in_executor(None, p.join, 10)
            if p.is_alive():
                p.kill()
        for c in conns:
            c.close()
    return [stats.get(i, ExecStats(worker=i)) for i in range(n)]


def cpu_count() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


__all__ = ["LoadSpec", "ExecStats", "execute", "run_workers", "partition", "cpu_count"]
