"""A fake ``trtllm-serve`` (PyTorch backend) reproducing its telemetry endpoints.

Facts reproduced (reference/engine-telemetry.md §2; TensorRT-LLM ``openai_server.py``,
``executor/result.py`` ``IterationResult``, ``stats_serialization.py``, ``metrics/collector.py``):

* it listens only once the model is loaded (connection refused before); ``/health`` 200,
  or 503 ``LLM is unavailable...`` when the executor is unhealthy; ``/version``, ``/v1/models``.
* ``GET /metrics``: a JSON list of iteration records drained from one queue (the executor
  keeps at most ``iter_stats_max_iterations``, default 1000, oldest dropped). Records exist
  only with ``enable_iter_perf_stats``. Before any request it answers ``[]`` at once ("not
  available yet"). Otherwise the handler takes records as they come, each wait up to 2 s,
  and returns after 2 s without a new one (so idle answers take 2 s, and under unbroken
  load it only answers once the engine pauses: NVIDIA/TensorRT-LLM#4926); after such a
  timeout it answers ``[]`` at once until a new request is submitted (``mark_undone``).
* ``return_perf_metrics`` mounts ``/prometheus/metrics``. ``prom="v1"``: unprefixed
  per-request families (PR #5785); ``"v2"``: ``trtllm_`` prefix plus the KV gauges fed by a
  background collector that drains the same queue (``/metrics`` then returns ``[]``, the
  aibrix#2004 conflict); ``"v3"``: the full iteration-level set (PRs #12545/#12636), and
  with ``tee=True`` the PR #13405 fix: ``/metrics`` serves a buffer the collector fills.
* records carry the PyTorch backend's values: ``timestamp`` ``""``,
  ``avgNumDecodedTokensPerIter`` 0, CPU/pinned memory 0; ``iter`` counts from 1.

Run: ``python -m tests.doubles.engines.trtllm MODEL --port N [--extra_llm_api_options F]``
(version knobs from ``IEJTUI_FAKE_TRTLLM_PROM`` = v1|v2|v3 and ``IEJTUI_FAKE_TRTLLM_TEE``=1).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
from collections import deque

from aiohttp import web

from tests.doubles.engines.base import FakeEngine, serve_forever
from tests.doubles.engines.prom import Registry
from tests.doubles.engines.sim import SimRequest, StepStats

_LAT = [0.3, 0.5, 0.8, 1.0, 1.5, 2.0, 2.5, 5.0, 10.0, 15.0, 20.0, 30.0, 40.0, 50.0, 60.0, 120.0,
        240.0, 480.0, 960.0, 1920.0, 7680.0]
_TTFT = [0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5,
         10.0, 20.0, 40.0, 80.0, 160.0, 640.0, 2560.0]
_TPOT = [0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0,
         20.0, 40.0, 80.0]
_PREFILL = [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 20.0, 40.0,
            80.0, 160.0, 640.0, 2560.0]


def read_llm_api_yaml(path: str | None) -> dict[str, object]:
    """Top-level ``key: value`` pairs of an LLM-API options file (enough for the knobs the
    fake honours; nested mappings are skipped)."""
    out: dict[str, object] = {}
    if not path:
        return out
    for raw in open(path, encoding="utf-8").read().splitlines():
        line = raw.split("#", 1)[0].rstrip()
        if not line or line[0].isspace() or ":" not in line:
            continue
        key, _, val = line.partition(":")
        val = val.strip()
        if val.lower() in ("true", "false"):
            out[key.strip()] = val.lower() == "true"
        elif val.lstrip("-").isdigit():
            out[key.strip()] = int(val)
        elif val:
            out[key.strip()] = val.strip("'\"")
    return out


class TrtllmFake(FakeEngine):
    kind = "trtllm"
    owned_by = "tensorrt_llm"
    listen_while_loading = False

    def __init__(self, *, version: str = "1.2.0", iter_stats: bool = True,
                 return_perf_metrics: bool = False, prom: str = "v3", tee: bool = False,
                 stats_wait_s: float = 2.0, max_iterations: int = 1000,
                 gpu_mem_bytes: int = 60 * 2**30, **kw) -> None:
        kw.setdefault("block_size", 32)
        super().__init__(**kw)
        self.version, self.iter_stats, self.perf = version, iter_stats, return_perf_metrics
        self.prom_gen = prom if return_perf_metrics else None
        self.tee = tee and self.prom_gen == "v3"
        self.stats_wait_s, self.gpu_mem = stats_wait_s, gpu_mem_bytes
        self.queue: deque[dict] = deque(maxlen=max_iterations)
        self.tee_buffer: deque[dict] = deque(maxlen=max_iterations)
        self._arrived = asyncio.Event()
        self._done = False  # IterationResult._done: sticky until a request is submitted
        self._any_request = False
        self.dropped = 0
        self.reg = Registry(multiprocess=True)
        self._prev_kv = (0, 0)

    # ---- routes -------------------------------------------------------------------------
    def add_routes(self, app: web.Application) -> None:
        app.router.add_get("/health", self.health)
        app.router.add_get("/version", self.version_route)
        app.router.add_get("/metrics", self.metrics)
        if self.prom_gen:
            app.router.add_get("/prometheus/metrics", self.prometheus)
            app.router.add_get("/prometheus/metrics/", self.prometheus)

    async def health(self, request: web.Request) -> web.Response:
        if self.healthy:
            return web.Response(status=200)
        return web.Response(status=503, text="LLM is unavailable. Please check the server logs "
                                             "for more details.")

    async def version_route(self, request: web.Request) -> web.Response:
        return web.json_response({"version": self.version})

    async def metrics(self, request: web.Request) -> web.Response:
        if self.tee:
            out = list(self.tee_buffer)
            self.tee_buffer.clear()
            return web.json_response(out)
        if not self._any_request or not self.iter_stats or self._done:
            return web.json_response([])
        out: list[dict] = []
        while True:
            if self.queue:
                out.append(self.queue.popleft())
                continue
            self._arrived.clear()
            try:
                await asyncio.wait_for(self._arrived.wait(), self.stats_wait_s)
            except TimeoutError:
                self._done = True
                break
        return web.json_response(out)

    async def prometheus(self, request: web.Request) -> web.Response:
        return web.Response(text=self.reg.render(),
                            content_type="text/plain", charset="utf-8")

    # ---- telemetry ----------------------------------------------------------------------
    def on_submit(self, req: SimRequest, body: dict) -> None:
        self._any_request = True
        self._done = False  # mark_undone()

    async def on_ready(self) -> None:
        if self.prom_gen in ("v2", "v3") and self.iter_stats:
            self.background(self._collector_loop)

    async def _collector_loop(self) -> None:
        """The server's background iteration-stats collector (sole queue consumer)."""
        while True:
            while self.queue:
                rec = self.queue.popleft()
                self._log_iteration(rec)
                if self.tee:
                    self.tee_buffer.append(rec)
            self._arrived.clear()
            await self._arrived.wait()

    def _labels(self) -> dict[str, str]:
        if self.prom_gen == "v3":
            return {"model_name": self.model, "engine_type": "trtllm"}
        return {"model_name": "undefined", "engine_type": "undefined"}

    def record(self, st: StepStats) -> dict:
        sim = self.sim
        return {
            "timestamp": "", "iter": st.iteration, "iterLatencyMS": st.latency_s * 1e3,
            "newActiveRequestsQueueLatencyMS": 0.0, "numNewActiveRequests": st.new_requests,
            "numActiveRequests": st.running + len(st.finished), "numQueuedRequests": st.waiting,
            "numCompletedRequests": len(st.finished), "maxNumActiveRequests": sim.max_running,
            "maxBatchSizeStatic": 0, "maxBatchSizeTunerRecommended": 0, "maxBatchSizeRuntime": 0,
            "maxNumTokensStatic": 0, "maxNumTokensTunerRecommended": 0, "maxNumTokensRuntime": 0,
            "gpuMemUsage": self.gpu_mem, "cpuMemUsage": 0, "pinnedMemUsage": 0,
            "kvCacheStats": {
                "maxNumBlocks": st.total_blocks, "freeNumBlocks": st.total_blocks - st.used_blocks,
                "usedNumBlocks": st.used_blocks, "tokensPerBlock": st.block_size,
                "allocTotalBlocks": st.reused_blocks + st.missed_blocks,
                "allocNewBlocks": st.missed_blocks, "reusedBlocks": st.reused_blocks,
                "missedBlocks": st.missed_blocks,
                "cacheHitRate": st.reused_blocks / max(1, st.reused_blocks + st.missed_blocks)},
            "staticBatchingStats": {"numScheduledRequests": 0, "numContextRequests": 0,
                                    "numCtxTokens": 0, "numGenTokens": 0, "emptyGenSlots": 0},
            "inflightBatchingStats": {
                "numScheduledRequests": st.context_requests + st.generation_requests,
                "numContextRequests": st.context_requests, "numGenRequests": st.generation_requests,
                "numPausedRequests": len(st.preempted), "numCtxTokens": st.context_tokens,
                "microBatchId": 0, "avgNumDecodedTokensPerIter": 0},
            "specDecodingStats": None,
        }

    def on_step(self, st: StepStats) -> None:
        if self.iter_stats:
            if len(self.queue) == self.queue.maxlen:
                self.dropped += 1
            self.queue.append(self.record(st))
            self._arrived.set()
        if self.prom_gen:
            for req in st.finished:
                self._log_request(req)

    def _log_request(self, req: SimRequest) -> None:
        reg, lab, p = self.reg, self._labels(), ("" if self.prom_gen == "v1" else "trtllm_")
        reg.counter(p + "request_success_total", "Count of successfully processed requests.").inc(
            1, {**lab, ("finish_reason" if self.prom_gen == "v1" else "finished_reason"):
                req.finish_reason})
        first, last = req.first_token_at or req.finished_at, req.last_token_at or req.finished_at
        sched = req.scheduled_at or req.arrival
        obs = [("e2e_request_latency_seconds", _LAT, req.finished_at - req.arrival),
               ("time_to_first_token_seconds", _TTFT, first - req.arrival),
               ("request_queue_time_seconds", _LAT, sched - req.arrival)]
        if req.generated > 1:
            obs.append(("time_per_output_token_seconds", _TPOT, (last - first) / (req.generated - 1)))
        if self.prom_gen == "v3":
            obs += [("request_prefill_time_seconds", _PREFILL, first - sched),
                    ("request_decode_time_seconds", _LAT, last - first),
                    ("request_inference_time_seconds", _LAT, last - sched)]
            reg.counter(p + "prompt_tokens_total").inc(req.prompt_tokens, lab)
            reg.counter(p + "generation_tokens_total").inc(req.generated, lab)
            reg.counter(p + "prompt_cached_tokens_total").inc(req.cached_tokens, lab)
        for name, buckets, value in obs:
            reg.histogram(p + name, buckets).observe(max(0.0, value), lab)

    def _log_iteration(self, rec: dict) -> None:
        reg, lab, kv = self.reg, self._labels(), rec["kvCacheStats"]
        util = kv["usedNumBlocks"] / max(1, kv["maxNumBlocks"])
        reg.gauge("trtllm_kv_cache_hit_rate", "KV cache hit rate").set(kv["cacheHitRate"], lab)
        reg.gauge("trtllm_kv_cache_utilization", "KV cache utilization").set(util, lab)
        if self.prom_gen != "v3":
            return
        ifb = rec["inflightBatchingStats"]
        for name, value in (("num_requests_running", rec["numActiveRequests"]),
                            ("num_requests_waiting", rec["numQueuedRequests"]),
                            ("iteration_latency_seconds", rec["iterLatencyMS"] / 1e3),
                            ("gpu_memory_usage_bytes", rec["gpuMemUsage"]),
                            ("kv_cache_max_blocks", kv["maxNumBlocks"]),
                            ("kv_cache_free_blocks", kv["freeNumBlocks"]),
                            ("kv_cache_used_blocks", kv["usedNumBlocks"]),
                            ("kv_cache_tokens_per_block", kv["tokensPerBlock"]),
                            ("num_context_requests", ifb["numContextRequests"]),
                            ("num_generation_requests", ifb["numGenRequests"]),
                            ("num_paused_requests", ifb["numPausedRequests"])):
            reg.gauge("trtllm_" + name).set(value, lab)
        reg.counter("trtllm_num_requests_completed_total").inc(rec["numCompletedRequests"], lab)
        reused, missed = kv["reusedBlocks"], kv["missedBlocks"]
        reg.counter("trtllm_kv_cache_reused_blocks_total").inc(reused - self._prev_kv[0], lab)
        reg.counter("trtllm_kv_cache_missed_blocks_total").inc(missed - self._prev_kv[1], lab)
        self._prev_kv = (reused, missed)

    # ---- logs ---------------------------------------------------------------------------
    def _stamp(self) -> str:
        return time.strftime("[%m/%d/%Y-%H:%M:%S]")

    def startup_lines(self) -> list[str]:
        blocks, bs = self.sim.total_blocks, self.sim.block_size
        return [
            f"[TensorRT-LLM] TensorRT-LLM version: {self.version}",
            f"{self._stamp()} [TRT-LLM] [I] Using LLM with PyTorch backend",
            f"{self._stamp()} [TRT-LLM] [I] max_seq_len=2048, max_num_requests="
            f"{self.sim.max_running}, max_num_tokens=8192",
            "[TensorRT-LLM][INFO] Memory usage when calculating max tokens in paged kv cache: "
            "total: 79.14 GiB, available: 74.69 GiB",
            f"[TensorRT-LLM][INFO] Number of blocks in KV cache primary pool: {blocks}",
            f"[TensorRT-LLM][INFO] Number of tokens per block: {bs}.",
            f"[TensorRT-LLM][INFO] [MemUsageChange] Allocated 0.50 GiB for max tokens in paged "
            f"KV cache ({blocks * bs}).",
            f"[TensorRT-LLM][INFO] Max KV cache blocks per sequence: 65 [window size=2048], tokens "
            f"per block={bs}, primary blocks={blocks}, secondary blocks=0",
            f"INFO:     Started server process [{os.getpid()}]",
            "INFO:     Waiting for application startup.",
        ]

    def ready_lines(self) -> list[str]:
        lines = []
        if self.prom_gen in ("v2", "v3") and self.iter_stats:
            lines.append(f"{self._stamp()} [TRT-LLM] [I] Started background iteration stats "
                         "collector task")
        return lines + ["INFO:     Application startup complete.",
                        f"INFO:     Uvicorn running on http://{self.host}:{self.port} "
                        "(Press CTRL+C to quit)"]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="trtllm-serve")
    ap.add_argument("model")
    ap.add_argument("--host", default="localhost")
    ap.add_argument("--port", type=int, default=8000)
    ap.add_argument("--extra_llm_api_options", "--config", dest="config")
    ap.add_argument("--load-s", type=float, default=1.0)
    args, _ = ap.parse_known_args([a for a in (argv or sys.argv[1:]) if a != "serve"])
    opts = read_llm_api_yaml(args.config)
    host = "127.0.0.1" if args.host == "localhost" else args.host
    fake = TrtllmFake(host=host, port=args.port, model=os.path.basename(args.model.rstrip("/")),
                      load_s=args.load_s, iter_stats=bool(opts.get("enable_iter_perf_stats")),
                      return_perf_metrics=bool(opts.get("return_perf_metrics")),
                      prom=os.environ.get("IEJTUI_FAKE_TRTLLM_PROM", "v3"),
                      tee=os.environ.get("IEJTUI_FAKE_TRTLLM_TEE") == "1",
                      max_iterations=int(opts.get("iter_stats_max_iterations") or 1000))
    serve_forever(fake)
    return 0


if __name__ == "__main__":
    sys.exit(main())
