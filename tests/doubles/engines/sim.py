"""A small continuous-batching engine simulator that drives every fake server.

Requests queue (FIFO), are admitted while the batch has room and the paged KV pool has
free blocks, prefill (chunked at ``max_prefill_tokens`` per step; a prompt seen before
reuses its block-aligned prefix from the prefix cache), produce their first token at the
end of prefill, then decode one token per step until ``max_tokens``. When a decoding
request needs a block and none is free, the newest running request is preempted (its
blocks freed, back to the front of the queue, recomputed later), as vLLM/SGLang do.

Each step calls ``on_step(StepStats)`` so a fake can turn the same truth into its engine's
own telemetry (TRT-LLM iteration records, SGLang gauges every 40 decode steps, llama.cpp
counters); ``SimRequest.events`` tells the HTTP layer how many tokens each step produced.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass(eq=False)
class SimRequest:
    rid: int
    prompt_tokens: int
    max_tokens: int
    stream: bool
    arrival: float
    prefix_key: str | None = None
    cached_tokens: int = 0  # prompt tokens served from the prefix cache
    done_prompt: int = 0  # tokens already in the KV cache (prompt, then generated ones)
    generated: int = 0
    blocks: int = 0
    scheduled_at: float | None = None
    first_token_at: float | None = None
    last_token_at: float | None = None
    finished_at: float | None = None
    finish_reason: str | None = None
    preemptions: int = 0
    events: asyncio.Queue = field(default_factory=asyncio.Queue)  # ints, then None

    @property
    def context_len(self) -> int:
        return self.prompt_tokens + self.generated


@dataclass
class StepStats:
    ts: float  # end of the step (Unix seconds)
    latency_s: float
    iteration: int
    context_requests: int
    generation_requests: int
    context_tokens: int  # prompt tokens computed this step (cache hits excluded)
    generated_tokens: int
    first_tokens: list[SimRequest]
    decoded: list[SimRequest]  # produced a token this step (first tokens excluded)
    admitted: list[SimRequest]  # scheduled for the first time this step
    finished: list[SimRequest]
    preempted: list[SimRequest]
    new_requests: int  # admitted this step
    running: int
    waiting: int
    used_blocks: int
    total_blocks: int
    block_size: int
    reused_blocks: int  # cumulative
    missed_blocks: int  # cumulative


class EngineSim:
    def __init__(self, *, step_s: float = 0.01, total_blocks: int = 1024, block_size: int = 16,
                 max_running: int = 32, max_prefill_tokens: int = 4096, prefix_caching: bool = True,
                 on_step: Callable[[StepStats], None] | None = None) -> None:
        self.step_s, self.total_blocks, self.block_size = step_s, total_blocks, block_size
        self.max_running, self.max_prefill_tokens = max_running, max_prefill_tokens
        self.prefix_caching = prefix_caching
        self.on_step = on_step
        self.waiting: deque[SimRequest] = deque()
        self.running: list[SimRequest] = []
        self.free_blocks = total_blocks
        self.iteration = 0
        self.reused_blocks = self.missed_blocks = 0
        self._seen: set[str] = set()
        self._ids = itertools.count(1)
        self._wake = asyncio.Event()
        self._task: asyncio.Task | None = None

    # -- requests -------------------------------------------------------------------------
    def submit(self, prompt_tokens: int, max_tokens: int, *, stream: bool = False,
               prefix_key: str | None = None) -> SimRequest:
        req = SimRequest(next(self._ids), max(1, prompt_tokens), max(1, max_tokens), stream,
                         time.time(), prefix_key)
        self.waiting.append(req)
        self._wake.set()
        return req

    def abort(self, req: SimRequest) -> None:
        if req in self.waiting:
            self.waiting.remove(req)
        if req in self.running:
            self.running.remove(req)
            self.free_blocks += req.blocks
            req.blocks = 0
        if req.finished_at is None:
            self._finish(req, "abort", time.time())

    @property
    def busy(self) -> bool:
        return bool(self.waiting or self.running)

    # -- loop -----------------------------------------------------------------------------
    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run(), name="engine-sim")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None

    async def _run(self) -> None:
        while True:
            if not self.busy:
                self._wake.clear()
                await self._wake.wait()
            t0 = time.time()
            await asyncio.sleep(self.step_s)
            stats = self.step(t0)
            if self.on_step is not None:
                self.on_step(stats)

    # -- one iteration --------------------------------------------------------------------
    def _blocks_for(self, tokens: int) -> int:
        return -(-tokens // self.block_size)

    def _admit(self, now: float) -> list[SimRequest]:
        admitted: list[SimRequest] = []
        while self.waiting and len(self.running) < self.max_running:
            req = self.waiting[0]
            need = self._blocks_for(req.context_len + 1)
            if need > self.free_blocks:
                break
            self.waiting.popleft()
            if req.scheduled_at is None:
                req.scheduled_at = now
                admitted.append(req)
                if self.prefix_caching and req.prefix_key in self._seen:
                    req.cached_tokens = (req.prompt_tokens - 1) // self.block_size * self.block_size
                hit = req.cached_tokens // self.block_size
                self.reused_blocks += hit
                self.missed_blocks += self._blocks_for(req.prompt_tokens) - hit
                req.done_prompt = req.cached_tokens
            req.blocks = need
            self.free_blocks -= need
            self.running.append(req)
        return admitted

    def _preempt_for(self, req: SimRequest, preempted: list[SimRequest]) -> bool:
        """Free blocks for ``req`` by preempting the newest other running request."""
        while self.free_blocks < 1:
            victims = [r for r in self.running if r is not req]
            if not victims:
                return False
            victim = victims[-1]
            self.running.remove(victim)
            self.free_blocks += victim.blocks
            victim.blocks, victim.done_prompt = 0, 0
            victim.preemptions += 1
            self.waiting.appendleft(victim)
            preempted.append(victim)
        return True

    def step(self, t0: float) -> StepStats:
        now = time.time()
        self.iteration += 1
        new = self._admit(t0)
        ctx_reqs = gen_reqs = ctx_tokens = gen_tokens = 0
        first, decoded, finished, preempted = [], [], [], []
        budget = self.max_prefill_tokens
        for req in list(self.running):
            if req not in self.running:
                continue  # preempted earlier in this step
            target = req.prompt_tokens + max(0, req.generated - 1) if req.generated else req.prompt_tokens
            if req.done_prompt < target:  # prefill (or recompute after a preemption)
                if budget <= 0:
                    continue
                n = min(budget, target - req.done_prompt)
                budget -= n
                req.done_prompt += n
                ctx_reqs += 1
                ctx_tokens += n
                if req.done_prompt < target or req.generated:
                    continue
                req.generated, req.first_token_at = 1, now
                first.append(req)
            else:
                if self._blocks_for(req.context_len + 1) > req.blocks:
                    if not self._preempt_for(req, preempted):
                        continue
                    req.blocks += 1
                    self.free_blocks -= 1
                req.done_prompt += 1  # the previous token entered the KV cache
                req.generated += 1
                gen_reqs += 1
                decoded.append(req)
            gen_tokens += 1
            req.last_token_at = now
            req.events.put_nowait(1)
            if req.generated >= req.max_tokens:
                self.running.remove(req)
                self.free_blocks += req.blocks
                req.blocks = 0
                self._finish(req, "length", now)
                finished.append(req)
        return StepStats(now, now - t0, self.iteration, ctx_reqs, gen_reqs, ctx_tokens, gen_tokens,
                         first, decoded, new, finished, preempted, len(new), len(self.running),
                         len(self.waiting),
                         self.total_blocks - self.free_blocks, self.total_blocks, self.block_size,
                         self.reused_blocks, self.missed_blocks)

    def _finish(self, req: SimRequest, reason: str, now: float) -> None:
        req.finish_reason, req.finished_at = reason, now
        if req.prefix_key is not None:
            self._seen.add(req.prefix_key)
        req.events.put_nowait(None)
