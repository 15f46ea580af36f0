"""``run_bench``: dataset -> load -> vLLM-compatible metrics, with self-measurement.

The sink (optional) gets ``on_request(record)`` for every finished request (failed
ones included, warm-ups excluded) and ``on_progress(done, total, snapshot)`` at most
every 0.25 s and once at the end; both are called from the caller's event loop, also
when the load runs in worker processes.  ``snapshot["clock"]`` is a
``(time.time(), perf_counter())`` pair to map record times onto wall-clock time.

Client self-measurement (``result["iejtui"]["client"]``):

* send lag: ``send_time - max(scheduled time, moment a concurrency slot was free)``
  per request: how late the client itself was;
* event-loop lag: how late a 5 ms ticker wakes up in each worker: the delay any arrival
  stamp may carry;
* client CPU: process CPU time of the workers during the run / (wall time x workers).

``client_bottleneck`` is set, with the reasons in ``client_warnings``, when the p99
send lag or the p99 loop lag exceeds ``lag_threshold_ms`` = min(10 ms, max(1 ms, a
quarter of the median ITL)), or the client CPU is above 90 %: then the figures
describe the client more than the server (use ``--num-workers``).
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import deque
from dataclasses import dataclass, field
from time import perf_counter
from typing import Any, Protocol

import aiohttp

from .client import RequestRecord, StreamClient
from .config import BenchConfig, BenchUsageError
from .datasets import Dataset, SampleRequest, align_to_server, load_dataset
from .metrics import BenchmarkMetrics, calculate_metrics, percentile
from .report import format_errors, format_summary, result_json, save_result
from .schedule import arrival_offsets
from .tokenizer import LocalTokenizer, ServerTokenizer, open_tokenizer
from .triton import model_from_endpoint, trt_payload
from .workers import ExecStats, LoadSpec, execute, run_workers


class BenchSink(Protocol):
    """``on_start(info)`` is also called, when the sink has it, once the dataset is
    ready and just before the load starts."""

    def on_request(self, record: RequestRecord) -> None: ...
    def on_progress(self, done: int, total: int, snapshot: dict[str, Any]) -> None: ...


@dataclass
class BenchResult:
    config: BenchConfig
    result: dict[str, Any]  # the vLLM-compatible JSON (iejtui additions under "iejtui")
    records: list[RequestRecord]
    metrics: BenchmarkMetrics
    summary: str  # vLLM's printed block
    errors: str  # vLLM's "Failed requests ..." lines
    client: dict[str, Any]
    warnings: list[str] = field(default_factory=list)
    cancelled: bool = False
    result_file: str | None = None
    clock: tuple[float, float] = (0.0, 0.0)

    def to_wall(self, t: float) -> float:
        """A record's perf_counter time as a Unix timestamp."""
        return self.clock[0] + (t - self.clock[1])

    @property
    def client_bottleneck(self) -> bool:
        return bool(self.client.get("client_bottleneck"))


def build_body(cfg: BenchConfig, req: SampleRequest, model: str) -> bytes:
    """The request JSON vLLM 0.32's request functions send (``--backend tensorrt-llm``:
    the old ``async_request_trt_llm``'s, see ``triton``)."""
    if cfg.trt:
        return json.dumps(trt_payload(req.prompt, req.expected_output_len, cfg.ignore_eos,
                                      cfg.sampling, cfg.extra_body)).encode()
    if cfg.chat:
        payload: dict[str, Any] = {
            "model": model,
            "messages": [{"role": "user", "content": [{"type": "text", "text": req.prompt}]}],
            "max_completion_tokens": req.expected_output_len,
            "stream": True, "stream_options": {"include_usage": True}}
    else:
        payload = {"model": model, "prompt": req.prompt, "repetition_penalty": 1.0,
                   "max_tokens": req.expected_output_len, "logprobs": cfg.logprobs,
                   "stream": True, "stream_options": {"include_usage": True}}
    if cfg.ignore_eos:
        payload["ignore_eos"] = True
    payload.update(cfg.sampling)
    payload.update(cfg.extra_body)
    return json.dumps(payload).encode()


async def resolve_model(cfg: BenchConfig) -> tuple[str, str]:
    """(model_id, name sent in requests); asks /v1/models when --model is absent.

    ``--backend tensorrt-llm``: the name is the model of the endpoint path (Triton has no
    /v1/models, and the body names no model); ``--model`` (a tokenizer's id or folder, as
    in vLLM's old script) only names the model in the result."""
    if cfg.trt:
        name = model_from_endpoint(cfg.endpoint) or "ensemble"
        return cfg.model or name, name
    if cfg.model:
        return cfg.model, cfg.served_model_name or cfg.model
    url = cfg.base_url + "/v1/models"
    try:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as s:
            async with s.get(url, headers=cfg.headers) as r:
                r.raise_for_status()
                data = (await r.json())["data"]
    except (aiohttp.ClientError, asyncio.TimeoutError, KeyError, ValueError) as exc:
        raise BenchUsageError(f"no --model and {url} failed: {exc}") from None
    if not data:
        raise BenchUsageError(f"no model served at {url}")
    return data[0].get("root") or data[0]["id"], data[0]["id"]


class Progress:
    def __init__(self, sink: BenchSink | None, total: int, clock: tuple[float, float]):
        self.sink, self.total, self.clock = sink, total, clock
        self.done = self.failed = 0
        self.start = perf_counter()
        self.last = 0.0
        self.window: deque[tuple[float, int]] = deque()
        self.ttfts: deque[float] = deque(maxlen=1000)
        self.collected: list[RequestRecord] = []

    def on_done(self, rec: RequestRecord) -> None:
        self.collected.append(rec)
        if rec.error_kind == "cancelled":
            return
        self.done += 1
        if rec.success:
            self.ttfts.append(rec.ttft)
            self.window.append((rec.end_time, rec.output_tokens or len(rec.chunk_times)))
        else:
            self.failed += 1
        if self.sink is not None:
            self.sink.on_request(rec)
            now = perf_counter()
            if now - self.last >= 0.25 or self.done == self.total:
                self.emit(now)

    def snapshot(self, now: float) -> dict[str, Any]:
        while self.window and self.window[0][0] < now - 5.0:
            self.window.popleft()
        span = min(5.0, max(now - self.start, 1e-9))
        t = sorted(self.ttfts)
        return {"done": self.done, "total": self.total, "failed": self.failed,
                "elapsed_s": now - self.start,
                "output_tokens_per_s": sum(n for _, n in self.window) / span,
                "ttft_p50_ms": percentile(t, 50, True) * 1000,
                "ttft_p99_ms": percentile(t, 99, True) * 1000, "clock": self.clock}

    def emit(self, now: float | None = None) -> None:
        now = perf_counter() if now is None else now
        self.last = now
        if self.sink is not None:
            self.sink.on_progress(self.done, self.total, self.snapshot(now))


def client_health(records: list[RequestRecord], stats: list[ExecStats], duration: float,
                  median_itl_ms: float) -> dict[str, Any]:
    lags = sorted(r.send_lag for r in records)
    loop_lag = sorted(x for s in stats for x in s.loop_lag)
    cpu_s = sum(s.cpu_s for s in stats)
    n = max(len(stats), 1)
    util = cpu_s / (duration * n) if duration > 0 else 0.0
    thr = 10.0 if median_itl_ms <= 0 else min(10.0, max(1.0, median_itl_ms / 4))
    ms = lambda v: v * 1000  # noqa: E731
    h = {"num_workers": n,
         "send_lag_ms": {"p50": ms(percentile(lags, 50, True)), "p99": ms(percentile(lags, 99, True)),
                         "max": ms(lags[-1]) if lags else 0.0},
         "loop_lag_ms": {"p50": ms(percentile(loop_lag, 50, True)),
                         "p99": ms(percentile(loop_lag, 99, True)),
                         "max": ms(loop_lag[-1]) if loop_lag else 0.0},
         "cpu_s": cpu_s, "cpu_util": util,
         "event_loop": sorted({s.event_loop for s in stats if s.event_loop}),
         "cpu_util_per_worker": [s.cpu_s / duration if duration > 0 else 0.0 for s in stats],
         "lag_threshold_ms": thr}
    reasons = []
    if h["send_lag_ms"]["p99"] > thr:
        reasons.append(f"p99 send lag {h['send_lag_ms']['p99']:.1f} ms > {thr:.1f} ms: "
                       "requests left later than scheduled")
    if h["loop_lag_ms"]["p99"] > thr:
        reasons.append(f"p99 event-loop lag {h['loop_lag_ms']['p99']:.1f} ms > {thr:.1f} ms: "
                       "arrival stamps may be late by that much")
    if util > 0.9:
        reasons.append(f"client CPU {util:.0%} of {n} worker(s): the client is CPU-bound")
    h["client_bottleneck"] = bool(reasons)
    h["client_warnings"] = reasons
    return h


async def _ready_check(cfg: BenchConfig, body: bytes) -> None:
    deadline = perf_counter() + cfg_ready_timeout(cfg)
    async with StreamClient(cfg.api_url, cfg.headers, cfg.stream_kind, 1, 60.0) as c:
        while True:
            rec = await c.send(RequestRecord(index=-1, warmup=True), body)
            if rec.success:
                return
            if perf_counter() > deadline:
                raise BenchUsageError(f"endpoint not ready: {rec.error}")
            await asyncio.sleep(1.0)


def cfg_ready_timeout(cfg: BenchConfig) -> float:
    return float(cfg.ready_check_timeout_sec or 0)


async def _count_missing(records: list[RequestRecord], tok) -> dict[str, int]:
    texts = list({r.generated_text for r in records if r.success and not r.output_tokens})
    if not texts:
        return {}
    if isinstance(tok, LocalTokenizer):
        return {t: tok.count(t) for t in texts}
    ids = await tok.encode(texts, add_special_tokens=False)
    return {t: len(i) for t, i in zip(texts, ids)}


async def run_bench(config: BenchConfig, sink: BenchSink | None = None,
                    cancel: asyncio.Event | None = None, dataset: Dataset | None = None
                    ) -> BenchResult:
    """Run one benchmark; see the module docstring.  ``dataset`` skips sampling (sweeps)."""
    cfg = config
    clock = (time.time(), perf_counter())
    model_id, model_name = await resolve_model(cfg)
    tok = await open_tokenizer(cfg, model_name)
    try:
        ds = dataset or await load_dataset(cfg, tok)
        if dataset is None and isinstance(tok, LocalTokenizer) and not cfg.trt and \
                cfg.dataset_name in ("random", "prefix_repetition"):
            server_tok = ServerTokenizer(cfg.base_url, model_name, cfg.headers)
            try:
                ds = await align_to_server(ds, server_tok)
            finally:
                await server_tok.close()
        reqs = ds.requests
        if not reqs:
            raise BenchUsageError("the dataset produced no requests")
        bodies = [build_body(cfg, r, model_name) for r in reqs]
        records = [RequestRecord(index=i, request_id=r.request_id, prompt_len=r.prompt_len,
                                 expected_output_len=r.expected_output_len)
                   for i, r in enumerate(reqs)]
        offsets = arrival_offsets(len(reqs), cfg.request_rate, cfg.burstiness, cfg.seed,
                                  cfg.ramp_up_strategy, cfg.ramp_up_start_rps, cfg.ramp_up_end_rps)
        if cfg_ready_timeout(cfg) > 0:
            await _ready_check(cfg, bodies[0])
        spec = LoadSpec(cfg.api_url, cfg.headers, cfg.stream_kind, cfg.request_timeout,
                        cfg.read_timeout, records, bodies, offsets, cfg.max_concurrency,
                        cfg.num_warmups, bodies[0], cfg.save_detailed)
        progress = Progress(sink, len(records), clock)
        if sink is not None and hasattr(sink, "on_start"):
            sink.on_start({"total": len(records), "tokenizer_source": ds.tokenizer_source,
                           "prompt_salt": ds.prompt_salt, "clock": clock})
        if cfg.num_workers > 1:
            stats = await run_workers(spec, cfg.num_workers, progress.on_done, cancel)
            back = {r.index: r for r in progress.collected}  # pickled copies from workers
            records = [back.get(r.index, r) for r in records]
        else:
            stats = [await execute(spec, progress.on_done, cancel)]
        progress.emit()
        cancelled = cancel is not None and cancel.is_set()
        measured = [r for r in records if r.send_time > 0 and r.error_kind != "cancelled"]
        t_start = min(s.start for s in stats if s.start) if any(s.start for s in stats) else 0.0
        duration = max((s.end for s in stats), default=0.0) - t_start
        if duration <= 0:
            duration = 1e-9
        counts = await _count_missing(measured, tok)
        m = calculate_metrics(measured, duration, cfg.metric_percentiles, cfg.goodput,
                              counts.__getitem__ if counts else None)
    finally:
        await tok.close()
    health = client_health(measured, stats, duration, m.itl.median)
    warnings = list(ds.notes)
    if m.completed == 0:
        warnings.append("All requests failed.")
    if m.short_outputs:
        warnings.append(f"{m.short_outputs} of {m.completed} requests returned fewer tokens "
                        "than asked (ignore_eos not honoured?)")
    if m.output_tokens_counted:
        warnings.append(f"{m.output_tokens_counted} responses had no usage: output tokens "
                        f"counted with {tok.source}")
    if any(s.warmup_failed for s in stats):
        warnings.append(f"{sum(s.warmup_failed for s in stats)} warm-up requests failed: "
                        f"{[e for s in stats for e in s.warmup_errors][:1]}")
    warnings += health["client_warnings"]
    if cancelled:
        warnings.append(f"cancelled: {len(measured)} of {len(records)} requests measured")
    errors_by_kind: dict[str, int] = {}
    for r in measured:
        if not r.success:
            errors_by_kind[r.error_kind] = errors_by_kind.get(r.error_kind, 0) + 1
    extras = {"tokenizer_source": ds.tokenizer_source, "prompt_salt": ds.prompt_salt,
              "dataset_name": cfg.dataset_name, "num_workers": cfg.num_workers,
              "cancelled": cancelled, "not_sent": len(records) - len(measured),
              "errors_by_kind": errors_by_kind, "warnings": warnings, "client": health,
              "clock": {"time": clock[0], "perf_counter": clock[1]},
              "short_outputs": m.short_outputs}
    res = result_json(cfg, m, measured, duration, model_id=model_id,
                      tokenizer_id=cfg.tokenizer or model_id, extras=extras)
    path = save_result(cfg, res)
    return BenchResult(cfg, res, records, m, format_summary(res, cfg.metric_percentiles),
                       format_errors(measured), health, warnings, cancelled, path, clock)


__all__ = ["BenchResult", "BenchSink", "run_bench", "build_body", "client_health",
           "resolve_model"]
