"""Arrival schedule (vLLM semantics), concurrency lanes and the event-loop lag ticker.

Arrivals, as in vLLM 0.32 ``get_request``: with a finite ``request_rate`` the gaps are
Gamma(shape=burstiness, scale=theta) with ``theta = 1 / (rate * burstiness)``
(burstiness 1: Poisson; ``inf``: constant ``1/rate``), accumulated, and - without a
ramp-up - rescaled so the last arrival is exactly at ``n / rate``; with an infinite
rate every request is due at t=0.  The draws are numpy's (``LegacyNumpyRandom``), so
the same ``--seed`` gives the same arrival times as ``vllm bench serve``.

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


class LegacyNumpyRandom:
    """``numpy.random.seed(seed)`` + ``numpy.random.gamma`` reproduced without numpy.

    vLLM draws its inter-arrival gaps from numpy's global legacy RandomState seeded with
    ``--seed``; drawing the same numbers makes our arrival times identical to vLLM's for
    the same flags (verified against numpy 2.x in the tests).  MT19937 is seeded the
    legacy way (``init_genrand``) and loaded into ``random.Random``, whose ``random()``
    is the same 53-bit double as numpy's; gamma, exponential and gauss follow numpy's
    ``legacy_standard_gamma`` (Marsaglia-Tsang for shape > 1, Johnk-like rejection for
    shape < 1, ``-log(1-U)`` for shape 1) and its polar ``legacy_gauss``."""

    def __init__(self, seed: int):
        mt, x = [], seed & 0xFFFFFFFF
        for i in range(624):
            mt.append(x)
            x = (1812433253 * (x ^ (x >> 30)) + i + 1) & 0xFFFFFFFF
        self._r = random.Random()
        self._r.setstate((3, tuple(mt) + (624,), None))
        self._gauss: float | None = None

    def double(self) -> float:
        return self._r.random()

    def standard_exponential(self) -> float:
        return -math.log(1.0 - self._r.random())

    def gauss(self) -> float:
        if self._gauss is not None:
            g, self._gauss = self._gauss, None
            return g
        while True:
            x1 = 2.0 * self._r.random() - 1.0
            x2 = 2.0 * self._r.random() - 1.0
            r2 = x1 * x1 + x2 * x2
            if r2 < 1.0 and r2 != 0.0:
                break
        f = math.sqrt(-2.0 * math.log(r2) / r2)
        self._gauss = f * x1
        return f * x2

    def standard_gamma(self, shape: float) -> float:
        if shape == 1.0:
            return self.standard_exponential()
        if shape == 0.0:
            return 0.0
        if shape < 1.0:
            while True:
                u = self.double()
                v = self.standard_exponential()
                if u <= 1.0 - shape:
                    x = u ** (1.0 / shape)
                    if x <= v:
                        return x
                else:
                    y = -math.log((1 - u) / shape)
                    x = (1.0 - shape + shape * y) ** (1.0 / shape)
                    if x <= v + y:
                        return x
        b = shape - 1.0 / 3.0
        c = 1.0 / math.sqrt(9 * b)
        while True:
            while True:
                x = self.gauss()
                v = 1.0 + c * x
                if v > 0.0:
                    break
            v = v * v * v
            u = self.double()
            if u < 1.0 - 0.0331 * (x * x) * (x * x):
                return b * v
            if math.log(u) < 0.5 * x * x + b * (1.0 - v + math.log(v)):
                return b * v

    def gamma(self, shape: float, scale: float) -> float:
        return scale * self.standard_gamma(shape)


def arrival_offsets(n: int, rate: float, burstiness: float = 1.0, seed: int = 0,
                    ramp: str | None = None, start_rps: float | None = None,
                    end_rps: float | None = None) -> list[float]:
    """Seconds after the start at which each of ``n`` requests is due."""
    if burstiness <= 0:
        raise ValueError("burstiness must be positive")
    rng = LegacyNumpyRandom(seed)
    delays: list[float] = []
    for r in request_rates(n, rate, ramp, start_rps, end_rps):
        if r <= 0:
            raise ValueError(f"non-positive request rate {r}")
        if r == math.inf:
            delays.append(0.0)
        elif burstiness == math.inf:
            delays.append(1.0 / r)
        else:
            delays.append(rng.gamma(burstiness, 1.0 / (r * burstiness)))
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
