"""Arrival schedule (vLLM semantics), concurrency lanes and the event-loop lag ticker.

Arrivals, as in vLLM 0.32 ``get_request``: with a finite ``request_rate`` the gaps are
Gamma(shape=burstiness, scale=theta) with ``theta = 1 / (rate * burstiness)``
(burstiness 1: Poisson; ``inf``: constant ``1/rate``), accumulated, and - without a
ramp-up - rescaled so the last arrival is exactly at ``n / rate``; with an infinite
rate every request is due at t=0.  vLLM draws from numpy's global RNG; we draw from
``random.Random(seed)``, so the distribution and the normalisation are the same but the
individual draws differ.

Concurrency, as vLLM's semaphore: a request due at its arrival time waits for one of
``max_concurrency`` slots (FIFO).  Here the slots are "lanes", coroutines that take due
requests in order, which is the same policy without a task and a semaphore per request.
With an infinite rate and a cap (closed loop) a lane takes the next index as soon as it
is free (``next_index`` may be a counter shared between worker processes).
"""

from __future__ import annotations

import asyncio
import math
import random
from collections.abc import Awaitable, Callable, Sequence
from time import perf_counter

from .client import RequestRecord


def request_rates(n: int, rate: float, ramp: str | None = None, start_rps: float | None = None,
                  end_rps: float | None = None) -> list[float]:
    """The target rate for each request index (vLLM's ``_get_current_request_rate``)."""
    if not ramp or start_rps is None or end_rps is None:
        return [rate] * n
    out = []
    for i in range(n):
        progress = i / max(n - 1, 1)
        if ramp == "linear":
            out.append(start_rps + (end_rps - start_rps) * progress)
        else:
            out.append(start_rps * (end_rps / start_rps) ** progress)
    return out


def arrival_offsets(n: int, rate: float, burstiness: float = 1.0, seed: int = 0,
                    ramp: str | None = None, start_rps: float | None = None,
                    end_rps: float | None = None) -> list[float]:
    """Seconds after the start at which each of ``n`` requests is due."""
    if burstiness <= 0:
        raise ValueError("burstiness must be positive")
    rng = random.Random(seed)
    delays: list[float] = []
    for r in request_rates(n, rate, ramp, start_rps, end_rps):
        if r <= 0:
            raise ValueError(f"non-positive request rate {r}")
        if r == math.inf:
            delays.append(0.0)
        elif burstiness == math.inf:
            delays.append(1.0 / r)
        else:
            delays.append(rng.gammavariate(burstiness, 1.0 / (r * burstiness)))
    for i in range(1, n):
        delays[i] += delays[i - 1]
    if not ramp and n and delays[-1] != 0:
        factor = (n / rate) / delays[-1]
        delays = [d * factor for d in delays]
    return delays


class LoopLagMonitor:
    """Measures how late the event loop wakes a sleeper (a proxy for how late every
    arrival stamp and every send can be).  ``start()`` / ``await stop()`` -> samples."""

    def __init__(self, interval: float = 0.005):
        self.interval = interval
        self.samples: list[float] = []
        self._task: asyncio.Task | None = None

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def _run(self) -> None:
        interval, app = self.interval, self.samples.append
        while True:
            t = perf_counter()
            await asyncio.sleep(interval)
            app(perf_counter() - t - interval)

    async def stop(self) -> list[float]:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
        return self.samples


# send(rec) -> True when rec is finished now (drive calls on_done), False when the
# sender will call on_done itself later (deferred parsing).
SendFn = Callable[[RequestRecord], Awaitable[bool]]


async def _sleep_until(t: float, cancel: asyncio.Event | None = None) -> None:
    dt = t - perf_counter()
    if dt <= 0:
        return
    if cancel is None or dt < 0.05:
        await asyncio.sleep(dt)
        return
    try:  # long gaps: wake up early when cancelled
        await asyncio.wait_for(cancel.wait(), dt)
    except asyncio.TimeoutError:
        pass


async def drive(records: Sequence[RequestRecord], offsets: Sequence[float], t0: float,
                send: SendFn, max_concurrency: int | None,
                on_done: Callable[[RequestRecord], None],
                next_index: Callable[[], int | None] | None = None,
                cancel: asyncio.Event | None = None) -> None:
    """Send ``records[i]`` at ``t0 + offsets[i]`` under the concurrency cap.

    ``next_index`` (closed loop only) hands out indices; by default 0..n-1 in order.
    ``on_done`` is called for every finished record (failed ones included).  A set
    ``cancel`` stops dispatching and cancels requests in flight (marked ``cancelled``).
    """
    n = len(records)
    inflight: set[asyncio.Task] = set()
    closed_loop = max_concurrency is not None and all(o == 0 for o in offsets)

    async def one(rec: RequestRecord) -> None:
        try:
            done_now = await send(rec)
        except asyncio.CancelledError:
            on_done(rec)
            raise
        if done_now:
            on_done(rec)

    if closed_loop:
        it = iter(range(n))
        take = next_index or (lambda: next(it, None))

        async def lane() -> None:
            free = t0
            while cancel is None or not cancel.is_set():
                i = take()
                if i is None or i >= n:
                    return
                rec = records[i]
                rec.sched_time = rec.dispatch_time = t0
                rec.ready_time = max(t0, free)
                await one(rec)
                free = rec.end_time or perf_counter()  # the slot was free at EOF

        lanes = [asyncio.ensure_future(lane()) for _ in range(min(max_concurrency or 1, n))]
        inflight.update(lanes)
    else:
        queue: asyncio.Queue[RequestRecord | None] = asyncio.Queue()

        async def lane_q() -> None:
            free = t0
            while True:
                rec = await queue.get()
                if rec is None:
                    return
                rec.ready_time = max(rec.sched_time, free)
                await one(rec)
                free = rec.end_time or perf_counter()

        lanes = []
        if max_concurrency is not None:
            lanes = [asyncio.ensure_future(lane_q()) for _ in range(min(max_concurrency, n))]
            inflight.update(lanes)
        for i, rec in enumerate(records):
            if cancel is not None and cancel.is_set():
                break
            rec.sched_time = t0 + offsets[i]
            await _sleep_until(rec.sched_time, cancel)
            rec.dispatch_time = perf_counter()
            if lanes:
                queue.put_nowait(rec)
            else:
                rec.ready_time = rec.sched_time
                task = asyncio.ensure_future(one(rec))
                inflight.add(task)
                task.add_done_callback(inflight.discard)
        for _ in lanes:
            queue.put_nowait(None)
    await _wait_or_cancel(inflight, cancel)


async def _wait_or_cancel(tasks: set[asyncio.Task], cancel: asyncio.Event | None) -> None:
    watcher = None
    if cancel is not None:
        async def watch() -> None:
            await cancel.wait()
            for t in list(tasks):
                t.cancel()
        watcher = asyncio.ensure_future(watch())
    try:
        while tasks:  # tasks may drop out of the set as they finish
            await asyncio.gather(*list(tasks), return_exceptions=True)
            tasks = {t for t in tasks if not t.done()}
    finally:
        if watcher is not None:
            watcher.cancel()
