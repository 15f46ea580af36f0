"""A fake SGLang server (0.5.23 behaviour, read from the wheel).

* Listens while loading; ``/health`` (and ``/health_generate``) answer 503 while the status
  is *Starting*, then run a 1-token generation: 200 after the first one-second poll, or
  503 after ``health_timeout_s`` (20 s in SGLang) when the scheduler does not answer
  (``healthy = False``). ``/metrics`` exists only with ``--enable-metrics``.
* Metrics in prometheus_client multiprocess form (``Multiprocess metric`` help, no
  ``_created``). Scheduler gauges carry ``model_name, engine_type, tp_rank, pp_rank,
  moe_ep_rank`` and are published at every prefill batch and every ``decode_log_interval``
  (40) decode steps only, with ``gen_throughput`` computed over that window; while idle
  they are republished when the running count is stale, else every 30 s. Tokenizer-side
  families (``model_name, engine_type`` + ``is_streaming`` where SGLang has it): TTFT at the
  first token, ITL per chunk (``_sum`` += interval, buckets += tokens), and at the finish
  prompt/generation/cached token counters, requests, e2e and per-request TPOT. Counters
  appear on their first increment. Constants (``max_total_num_tokens``...) once at start.
* Log lines ``[YYYY-MM-DD HH:MM:SS TP0] ...`` including the ``Decode batch`` line every 40
  decode steps and the ready marker ``The server is fired up and ready to roll!``.

Run: ``python -m tests.doubles.engines.sglang --model-path M --port N [--enable-metrics]``.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time

from aiohttp import web

from tests.doubles.engines.base import FakeEngine, serve_forever
from tests.doubles.engines.prom import Registry
from tests.doubles.engines.sim import SimRequest, StepStats

TTFT = [0.1, 0.2, 0.4, 0.6, 0.8, 1, 2, 4, 6, 8, 10, 20, 40, 60, 80, 100, 200, 400]
E2E = TTFT + [600, 1200, 1800, 2400]
ITL = [0.002, 0.004, 0.006, 0.008, 0.010, 0.015, 0.020, 0.025, 0.030, 0.035, 0.040, 0.060, 0.080,
       0.100, 0.200, 0.400, 0.600, 0.800, 1.000, 2.000, 4.000, 6.000, 8.000]
QUEUE = [0.0, 0.001, 0.005, 0.01, 0.05, 0.1, 0.2, 0.5, 1, 2, 3, 4, 5, 10, 15, 20, 30, 40, 50, 60, 70,
         80, 90, 100, 200, 300, 400, 500, 600, 700, 800, 900, 1000, 1200, 1400, 1600, 1800, 2000,
         2500, 3000]


class SGLangFake(FakeEngine):
    kind = "sglang"
    owned_by = "sglang"
    listen_while_loading = True

    def __init__(self, *, enable_metrics: bool = True, decode_log_interval: int = 40,
                 idle_refresh_s: float = 30.0, health_timeout_s: float = 20.0,
                 version: str = "0.5.23", **kw) -> None:
        kw.setdefault("block_size", 1)  # SGLang's default page size: the KV pool is in tokens
        kw.setdefault("total_blocks", 20000)
        super().__init__(**kw)
        self.enable_metrics, self.interval = enable_metrics, decode_log_interval
        self.idle_refresh_s, self.health_timeout_s, self.version = idle_refresh_s, health_timeout_s, version
        self.reg = Registry(multiprocess=True)
        self.sched = {"model_name": self.model, "engine_type": "unified", "tp_rank": "0",
                      "pp_rank": "0", "moe_ep_rank": "0"}
        self.tok = {"model_name": self.model, "engine_type": "unified"}
        self.forward_ct_decode = 0
        self.gen_since, self.last_decode_tic = 0, time.perf_counter()
        self.last_log_time = 0.0
        self.published_running = 0
        self.last_chunk: dict[int, float] = {}
        self.streaming: dict[int, bool] = {}
        self._tps = 0.0  # gen_throughput of the last decode window

    # ---- routes -------------------------------------------------------------------------
    def add_routes(self, app: web.Application) -> None:
        app.router.add_get("/health", self.health)
        app.router.add_get("/health_generate", self.health)
        app.router.add_get("/ready", self.ready_route)
        app.router.add_get("/server_info", self.server_info)
        app.router.add_get("/model_info", self.model_info)
        app.router.add_get("/get_model_info", self.model_info)
        if self.enable_metrics:
            app.router.add_get("/metrics", self.metrics)

    async def health(self, request: web.Request) -> web.Response:
        if not self.ready:
            return web.Response(status=503)
        tic = time.time()
        while time.time() < tic + self.health_timeout_s:
            await asyncio.sleep(1)
            if self.healthy:
                return web.Response(status=200)
        self.log(f"{self._stamp()} Health check failed. Server couldn't get a response from "
                 f"detokenizer for last {self.health_timeout_s:g} seconds.")
        return web.Response(status=503)

    async def ready_route(self, request: web.Request) -> web.Response:
        return web.Response(status=200 if self.ready else 503)

    async def model_info(self, request: web.Request) -> web.Response:
        return web.json_response({"model_path": self.model, "tokenizer_path": self.model,
                                  "is_generation": True, "preferred_sampling_params": None,
                                  "weight_version": "default"})

    async def server_info(self, request: web.Request) -> web.Response:
        return web.json_response({"version": self.version, "model_path": self.model,
                                  "port": self.port, "enable_metrics": self.enable_metrics,
                                  "decode_log_interval": self.interval})

    async def metrics(self, request: web.Request) -> web.Response:
        return web.Response(text=self.reg.render(), content_type="text/plain", charset="utf-8")

    # ---- scheduler side -----------------------------------------------------------------
    def _gauge(self, name: str, value: float) -> None:
        self.reg.gauge("sglang:" + name).set(value, self.sched)

    def _publish(self, gen_throughput: float, cache_hit_rate: float = 0.0) -> None:
        sim = self.sim
        used = sim.total_blocks - sim.free_blocks
        values = {"num_running_reqs": len(sim.running), "num_queue_reqs": len(sim.waiting),
                  "num_grammar_queue_reqs": 0, "gen_throughput": gen_throughput,
                  "cache_hit_rate": cache_hit_rate, "token_usage": used / sim.total_blocks,
                  "full_token_usage": used / sim.total_blocks, "num_used_tokens": used,
                  "kv_used_tokens": used, "kv_available_tokens": sim.free_blocks,
                  "kv_evictable_tokens": 0, "num_retracted_reqs": 0, "num_paused_reqs": 0,
                  "utilization": 0.0, "new_token_ratio": 0.7, "is_cuda_graph": 0}
        for name, v in values.items():
            self._gauge(name, v)
        self.published_running = len(sim.running)
        self.last_log_time = time.perf_counter()

    def on_step(self, st: StepStats) -> None:
        reg = self.reg
        for req in st.admitted:
            reg.histogram("sglang:queue_time_seconds", QUEUE).observe(
                req.scheduled_at - req.arrival, self.sched)
        if st.preempted:
            reg.counter("sglang:num_retracted_requests_total").inc(len(st.preempted), self.sched)
        self.gen_since += st.generated_tokens
        if st.context_requests:  # a prefill batch publishes the gauges every time
            total = sum(r.prompt_tokens for r in st.admitted)
            hit = sum(r.cached_tokens for r in st.admitted)
            self._publish(self._tps, hit / total if total else 0.0)
            self.log(f"{self._stamp(True)} Prefill batch, #new-seq: {len(st.admitted)}, #new-token: "
                     f"{st.context_tokens}, #cached-token: {hit}, token usage: "
                     f"{st.used_blocks / st.total_blocks:.2f}, #running-req: {st.running}, "
                     f"#queue-req: {st.waiting}, cuda graph: False")
        else:
            self.forward_ct_decode += 1
            if self.forward_ct_decode % self.interval == 0:
                now = time.perf_counter()
                tps = self.gen_since / max(1e-9, now - self.last_decode_tic)
                self.gen_since, self.last_decode_tic = 0, now
                self._tps = tps
                self._publish(tps)
                self.log(f"{self._stamp(True)} Decode batch, #running-req: {st.running}, #token: "
                         f"{st.used_blocks}, token usage: {st.used_blocks / st.total_blocks:.2f}, "
                         f"cuda graph: True, gen throughput (token/s): {tps:.2f}, "
                         f"#queue-req: {st.waiting}")
        self._tokenizer_side(st)

    async def _idle_loop(self) -> None:
        while True:
            await asyncio.sleep(0.2)
            if self.sim.busy:
                continue
            stale = self.published_running != len(self.sim.running)
            if stale or time.perf_counter() > self.last_log_time + self.idle_refresh_s:
                self._publish(0.0)

    # ---- tokenizer side -----------------------------------------------------------------
    def on_submit(self, req: SimRequest, body: dict) -> None:
        self.streaming[req.rid] = bool(body.get("stream"))

    def _tokenizer_side(self, st: StepStats) -> None:
        reg = self.reg
        for req in st.first_tokens:
            lab = {**self.tok, "is_streaming": str(self.streaming.get(req.rid, False)).lower()}
            reg.histogram("sglang:time_to_first_token_seconds", TTFT).observe(
                req.first_token_at - req.arrival, lab)
            self.last_chunk[req.rid] = req.first_token_at
        for req in st.decoded:
            last = self.last_chunk.get(req.rid, st.ts)
            reg.histogram("sglang:inter_token_latency_seconds", ITL).observe(st.ts - last, self.tok)
            self.last_chunk[req.rid] = st.ts
        for req in st.finished:
            stream = self.streaming.pop(req.rid, False)
            self.last_chunk.pop(req.rid, None)
            lab = {**self.tok, "is_streaming": str(stream).lower()}
            reg.counter("sglang:prompt_tokens_total").inc(req.prompt_tokens, lab)
            reg.counter("sglang:generation_tokens_total").inc(req.generated, lab)
            if req.cached_tokens:
                reg.counter("sglang:cached_tokens_total").inc(
                    req.cached_tokens, {**self.tok, "cache_source": "device"})
            reg.counter("sglang:num_requests_total").inc(1, lab)
            reg.histogram("sglang:e2e_request_latency_seconds", E2E).observe(
                req.finished_at - req.arrival, lab)
            if req.generated > 1 and req.first_token_at and req.last_token_at:
                reg.histogram("sglang:request_time_per_output_token_seconds", ITL).observe(
                    (req.last_token_at - req.first_token_at) / (req.generated - 1), lab)

    # ---- startup ------------------------------------------------------------------------
    async def on_ready(self) -> None:
        sim = self.sim
        for name, v in (("max_total_num_tokens", sim.total_blocks * sim.block_size),
                        ("page_size", sim.block_size), ("context_len", 4096),
                        ("weight_memory_usage_gb", 0.01), ("kv_cache_memory_usage_gb", 0.1)):
            self._gauge(name, v)
        self.last_log_time = time.perf_counter()  # first idle publish after idle_refresh_s
        self.background(self._idle_loop)

    def _stamp(self, tp: bool = False) -> str:
        return time.strftime("[%Y-%m-%d %H:%M:%S") + (" TP0]" if tp else "]")

    def startup_lines(self) -> list[str]:
        s, tokens = self._stamp(), self.sim.total_blocks * self.sim.block_size
        return [
            f"{s} server_args=ServerArgs(model_path='{self.model}', port={self.port}, "
            f"enable_metrics={self.enable_metrics}, decode_log_interval={self.interval})",
            f"{self._stamp(True)} Load weight begin. avail mem=23.10 GB",
            f"{self._stamp(True)} Load weight end. elapsed=0.42 s, type=LlamaForCausalLM, "
            "avail mem=23.05 GB, mem usage=0.01 GB.",
            f"{self._stamp(True)} KV Cache is allocated. dtype: torch.bfloat16, #tokens: {tokens}, "
            "K size: 0.05 GB, V size: 0.05 GB",
            f"{self._stamp(True)} Memory pool end. avail mem=22.90 GB",
            f"{self._stamp(True)} max_total_num_tokens={tokens}, chunked_prefill_size=2048, "
            f"max_prefill_tokens=16384, max_running_requests={self.sim.max_running}, "
            "context_len=4096, available_gpu_mem=22.90 GB",
            f"{s} INFO:     Started server process [{os.getpid()}]",
            f"{s} INFO:     Waiting for application startup.",
            f"{s} INFO:     Application startup complete.",
            f"{s} INFO:     Uvicorn running on http://{self.host}:{self.port} (Press CTRL+C to quit)",
        ]

    def ready_lines(self) -> list[str]:
        return [f"{self._stamp()} INFO:     127.0.0.1:0 - \"POST /generate HTTP/1.1\" 200 OK",
                f"{self._stamp()} The server is fired up and ready to roll!"]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="sglang.launch_server")
    ap.add_argument("--model-path", "--model", dest="model", default="tiny")
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=30000)
    ap.add_argument("--enable-metrics", action="store_true")
    ap.add_argument("--decode-log-interval", type=int, default=40)
    ap.add_argument("--load-s", type=float, default=1.0)
    ap.add_argument("--shutdown-s", type=float, default=0.0)  # the fake's: how long SIGTERM takes
    args, _ = ap.parse_known_args(argv)
    serve_forever(SGLangFake(host=args.host, port=args.port, model=args.model, load_s=args.load_s,
                             enable_metrics=args.enable_metrics,
                             decode_log_interval=args.decode_log_interval), shutdown_s=args.shutdown_s)
    return 0


if __name__ == "__main__":
    sys.exit(main())
