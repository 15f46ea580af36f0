"""TensorRT-LLM ``trtllm-serve`` (reference/engine-telemetry.md §2).

**Launch.** ``build_argv`` makes sure per-iteration statistics are on: without a config
flag it writes ``enable_iter_perf_stats: true`` to a small YAML file (content-addressed,
``trtllm-options-<hash>.yaml`` under ``$XDG_RUNTIME_DIR/iejtui`` or ``/tmp/iejtui-<uid>``,
mode 0700) and passes ``--extra_llm_api_options FILE`` (the spelling every release knows);
with the user's own ``--extra_llm_api_options``/``--config`` file lacking the key, it passes
a copy with the key appended; an explicit ``false`` is kept and warned about.

**Which telemetry (a deliberate choice).** The default profile turns on iteration stats
*only*, not ``return_perf_metrics``. Iteration records are the one source every release
and both backends have (running/waiting, KV blocks, context tokens, iteration latency),
and with ``return_perf_metrics`` on as well, releases before NVIDIA/TensorRT-LLM PR #13405
start a collector that drains the same queue, so ``GET /metrics`` loses most records (up to
always ``[]``, aibrix#2004). Who wants TTFT/TPOT/e2e histograms sets
``return_perf_metrics: true`` in their own YAML: ``collect`` then also scrapes
``/prometheus/metrics`` (names with ``trtllm_`` or, up to ~1.2, without a prefix; probed
once, re-probed every minute while it answers 404) and the canonical map prefers its
families; JSON records keep being read when they still come.

**Collection.** ``GET /metrics`` drains a queue and may wait 2 s for records (older releases
keep the answer open while iterations keep coming), so it runs as one background request
per engine (one consumer, timeout 30 s), never blocking the service's 1 Hz tick: ``collect``
starts it, waits ``json_grace_s`` for a quick answer, and otherwise picks the result up at a
later tick. Every record of a batch is stored: one frame per iteration (source
``engine-iter``, time stamps rebuilt from ``iterLatencyMS`` since the PyTorch backend sends
``timestamp: ""``) holding the state after it (``trtllm:num_requests_running`` = active
minus completed, ``_waiting``, KV utilization, so peaks are exact) and its batch
(``trtllm:iter``, ``_latency_ms``, ``_context_tokens``, ``_context_requests``,
``_generation_requests``; per rank too, labelled ``attention_dp_rank``, under attention
data parallelism; sealed, ~7 bytes an iteration: ~2.5 MB/h at 100 iterations/s); and one
summary frame (source ``engine``) with KV capacity = ``maxNumBlocks x tokensPerBlock``,
block reuse, and counters iejtui accumulates
over all records (``trtllm:context_tokens_total``; ``trtllm:generation_tokens_total`` =
decode steps x tokens per step, so each request's first token, made by its context step,
is not counted; KV reuse; an iteration-latency histogram; ``trtllm:missed_iterations_total``
for gaps in ``iter``). An empty batch is normal; after an iteration with nothing left
running or queued it reads as idle (zeros). Readiness: ``/health`` (the server only listens
once the model is loaded, so 503 means the executor failed).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import re
import tempfile
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import aiohttp

from collectors.engines.base import (KV_CACHE, LAUNCHING, LOADING, READY, WARMUP, EngineAdapter,
                                     LogFact, ReadyState, flag_value)
from collectors.engines.trtllm_iter import IterState, absorb, idle_frame, summary_samples
from collectors.prometheus import ScrapeResult
from collectors.records import Event, Frame, Sample

CONFIG_FLAGS = ("--extra_llm_api_options", "--config")
ITER_KEY = "enable_iter_perf_stats"
DEFAULT_OPTIONS = (f"# written by iejtui: per-iteration statistics for GET /metrics\n{ITER_KEY}: true\n")
_KEY_RE = re.compile(r"^(\w+)\s*:\s*(\S*)", re.M)
_NUM = r"([\d.]+)"
_LOG_RES = [  # (regex, fact kind, phase, value group)
    (re.compile(r"TensorRT-LLM version: (\S+)"), "version", LAUNCHING),
    (re.compile(r"max_seq_len=(\d+), max_num_requests=(\d+), max_num_tokens=(\d+)"), "max_seq_len",
     LOADING),
    (re.compile(r"Memory usage when calculating max tokens in paged kv cache: total: " + _NUM +
                r" GiB, available: " + _NUM), "kv_memory_available_gib", KV_CACHE),
    (re.compile(r"Number of blocks in KV cache primary pool: (\d+)"), "kv_blocks", KV_CACHE),
    (re.compile(r"Number of tokens per block: (\d+)"), "kv_tokens_per_block", KV_CACHE),
    (re.compile(r"Allocated " + _NUM + r" GiB for max tokens in paged KV cache \((\d+)\)"),
     "kv_cache_memory_gib", KV_CACHE),
    (re.compile(r"tokens per block=(\d+), primary blocks=(\d+)"), "kv_tokens_per_block", KV_CACHE),
    (re.compile(r"Started background iteration stats collector"), "iter_stats_collector", WARMUP),
    (re.compile(r"^(?:Started server process|Waiting for application startup)"), "server_start",
     WARMUP),
    (re.compile(r"^Application startup complete"), "ready", READY),
]


def options_dir() -> Path:
    base = os.environ.get("XDG_RUNTIME_DIR") or tempfile.gettempdir()
    d = Path(base) / ("iejtui" if os.environ.get("XDG_RUNTIME_DIR") else f"iejtui-{os.getuid()}")
    d.mkdir(mode=0o700, parents=True, exist_ok=True)
    return d


def write_options(text: str) -> str:
    path = options_dir() / f"trtllm-options-{hashlib.sha256(text.encode()).hexdigest()[:12]}.yaml"
    if not path.exists() or path.read_text(encoding="utf-8") != text:
        tmp = path.with_suffix(".tmp")
        tmp.write_text(text, encoding="utf-8")
        tmp.replace(path)
    return str(path)


def yaml_flag(text: str, key: str) -> bool | None:
    """A top-level boolean in an LLM-API YAML file (None: absent or not a plain boolean)."""
    for k, v in _KEY_RE.findall(text):
        if k == key:
            return {"true": True, "false": False}.get(v.strip("'\"").lower())
    return None


def _replace_flag(argv: Sequence[str], value: str) -> list[str]:
    out = list(argv)
    for i, a in enumerate(out):
        if a in CONFIG_FLAGS and i + 1 < len(out):
            out[i + 1] = value
        elif a.split("=", 1)[0] in CONFIG_FLAGS:
            out[i] = a.split("=", 1)[0] + "=" + value
    return out


class TrtllmAdapter(EngineAdapter):
    """``kind = "trtllm"``. A profile needs nothing TRT-LLM-specific::

        [engines.trt]
        kind = "trtllm"
        argv = ["trtllm-serve", "/models/llama-3.1-8b", "--port", "8000"]

    iejtui appends ``--extra_llm_api_options <generated>.yaml`` turning on
    ``enable_iter_perf_stats`` only (JSON ``/metrics``: state, KV, tokens). For TTFT/TPOT/e2e
    histograms add your own YAML with ``return_perf_metrics: true`` (iejtui adds the
    iteration-stats key to a copy of it): on releases before NVIDIA/TensorRT-LLM#13405 the
    two options together drain one queue, so the JSON records thin out and the state comes
    from ``/prometheus/metrics`` instead (see the module doc).
    """

    kind = "trtllm"
    version_path = "/version"
    default_port = 8000
    health_path = "/health"
    metrics_path = "/metrics"
    prometheus_path = "/prometheus/metrics"
    json_timeout_s = 30.0  # the server may wait 2 s per record: far above that
    json_grace_s = 0.3  # how long collect waits for a quick answer before moving on
    slow_s = 8.0  # an unanswered /metrics older than this gets an event
    max_bytes = 32 * 1024 * 1024

    def __init__(self) -> None:
        self._states: dict[tuple[int, str], IterState] = {}

    # launch ---------------------------------------------------------------------------------
    def build_argv(self, argv: Sequence[str]) -> list[str]:
        argv = list(argv)
        cfg = flag_value(argv, *CONFIG_FLAGS)
        if cfg is None:
            return argv + ["--extra_llm_api_options", write_options(DEFAULT_OPTIONS)]
        try:
            text = Path(cfg).expanduser().read_text(encoding="utf-8")
        except OSError:
            return argv  # launch_warnings says so; the engine itself will complain
        if re.search(rf"^{ITER_KEY}\s*:", text, re.M):
            return argv
        merged = text.rstrip("\n") + f"\n# added by iejtui (from {cfg})\n{ITER_KEY}: true\n"
        return _replace_flag(argv, write_options(merged))

    def launch_warnings(self, argv: Sequence[str], env: Mapping[str, str] | None = None) -> list[str]:
        warnings = super().launch_warnings(argv, env)
        cfg = flag_value(argv, *CONFIG_FLAGS)
        try:
            text = Path(cfg).expanduser().read_text(encoding="utf-8") if cfg else ""
        except OSError as e:
            return warnings + [f"cannot read the LLM-API options file {cfg}: {e.strerror}"]
        if yaml_flag(text, ITER_KEY) is False:
            warnings.append(f"{ITER_KEY}: false in {cfg}: GET /metrics will stay empty (no "
                            "running/waiting, KV or iteration figures); kept because you asked")
        if yaml_flag(text, "return_perf_metrics") and yaml_flag(text, ITER_KEY) is not False:
            warnings.append("return_perf_metrics and iteration stats are both on: releases "
                            "before the fix of NVIDIA/TensorRT-LLM#13405 drain the stats queue "
                            "into /prometheus/metrics, so GET /metrics loses records; iejtui then "
                            "reads the Prometheus families")
        return warnings

    # readiness ------------------------------------------------------------------------------
    def classify_health(self, status: int, body: bytes) -> ReadyState:
        if status == 503:  # it listens only once loaded: 503 is the executor saying it failed
            return ReadyState("dead", "trtllm-serve /health 503: " + (
                body.decode("utf-8", "replace").strip()[:200] or "LLM is unavailable"), status)
        return super().classify_health(status, body)

    # collection -----------------------------------------------------------------------------
    def _state(self, scraper: Any, base_url: str) -> IterState:
        now = time.monotonic()
        for key in [k for k, s in self._states.items() if now - s.used > 600 and s.task is None]:
            del self._states[key]
        st = self._states.setdefault((id(scraper), base_url.rstrip("/")), IterState())
        st.used = now
        return st

    async def _drain(self, scraper: Any, url: str) -> tuple[float, float, list | None, str | None]:
        t0 = time.time()
        try:
            session = await scraper.session()
            async with asyncio.timeout(self.json_timeout_s):
                async with session.get(url, allow_redirects=False,
                                       headers={"Accept": "application/json"}) as resp:
                    body = await resp.content.read(self.max_bytes + 1)
                    if resp.status != 200:
                        return t0, time.time(), None, f"HTTP {resp.status}"
            if len(body) > self.max_bytes:
                return t0, time.time(), None, f"answer larger than {self.max_bytes} bytes"
            data = json.loads(body)
            if not isinstance(data, list):
                return t0, time.time(), None, "answer is not a JSON list"
            return t0, time.time(), data, None
        except TimeoutError:
            return t0, time.time(), None, f"no answer in {self.json_timeout_s:g} s"
        except aiohttp.ClientConnectorError as e:
            why = "refused" if isinstance(e.os_error, ConnectionRefusedError) else "connect"
            return t0, time.time(), None, f"cannot connect ({why}): {e.os_error.strerror or e.os_error}"
        except (aiohttp.ClientError, OSError, ValueError, RuntimeError) as e:
            return t0, time.time(), None, f"{type(e).__name__}: {e}"

    async def collect(self, scraper: Any, base_url: str) -> ScrapeResult:
        st, base, t_start = self._state(scraper, base_url), base_url.rstrip("/"), time.perf_counter()
        samples: list[Sample] = []
        events: list[Event] = []
        ts, error = time.time(), None
        if st.prom != "no" or time.time() - st.prom_checked > 60:
            res = await scraper.scrape(base + self.prometheus_path, keep=self.keep_family,
                                       source="engine")
            if res.ok:
                st.prom, ts, samples = "yes", res.frame.ts, list(res.frame.samples)
            elif res.status == 404:
                st.prom, st.prom_checked = "no", time.time()
            else:
                events += res.events
        url = base + (self.metrics_path or "/metrics")
        if st.task is None:
            st.task, st.since, st.slow_reported = asyncio.create_task(self._drain(scraper, url)), time.time(), False
            await asyncio.wait([st.task], timeout=self.json_grace_s)
        frames: list[Frame] = []
        batch: list | None = None
        if st.task.done():
            task, st.task = st.task, None
            if task.cancelled() or task.exception() is not None:
                t0 = t1 = time.time()
                err = "cancelled" if task.cancelled() else f"{type(task.exception()).__name__}: {task.exception()}"
            else:
                t0, t1, batch, err = task.result()
            if err is not None:
                error = err
                if st.failing != err:
                    events.append(Event(time.time(), "scrape_failed", f"{url}: {err}", "error",
                                        {"url": url, "reason": "json_metrics"}))
                st.failing = err
            else:
                if st.failing is not None:
                    events.append(Event(time.time(), "scrape_recovered",
                                        f"{url}: iteration stats read again", "info", {"url": url}))
                st.failing = None
                frames, ev = absorb(st, batch, t1, waited=t1 - t0 >= 1.9)
                events += ev
                ts = max(ts, t1)
        elif time.time() - st.since > self.slow_s and not st.slow_reported:
            st.slow_reported = True
            events.append(Event(time.time(), "scrape_slow", f"{url} has not answered for "
                                f"{time.time() - st.since:.0f} s: releases before ~1.1 answer only after "
                                "2 s without iterations (NVIDIA/TensorRT-LLM#4926); iteration "
                                "records arrive once the engine pauses", "warning", {"url": url}))
        if batch is not None:  # the server's own collector (v2+ Prometheus) drains the queue too
            stolen = any(s.name.startswith("trtllm_kv_cache_") for s in samples)
            samples += summary_samples(st, len(batch))
            if (idle := idle_frame(st, ts, len(batch), queue_ours=not stolen)) is not None:
                frames.append(idle)
        frame = Frame("engine", ts, samples) if samples else None
        return ScrapeResult(url, frame, events, time.perf_counter() - t_start,
                            error=None if frame is not None else error, frames=frames)

    # logs -------------------------------------------------------------------------------------
    def parse_message(self, level: str | None, message: str) -> LogFact | None:
        for rx, kind, phase in _LOG_RES:
            if hit := rx.search(message):
                if kind == "ready":
                    return LogFact("ready", True, READY)
                if kind in ("server_start", "iter_stats_collector"):
                    return LogFact(kind, None, phase)
                if kind == "max_seq_len":
                    return LogFact(kind, int(hit.group(1)), phase, data={
                        "max_num_requests": int(hit.group(2)), "max_num_tokens": int(hit.group(3))})
                if kind == "kv_cache_memory_gib":
                    return LogFact("kv_cache_tokens", int(hit.group(2)), phase,
                                   data={"gib": float(hit.group(1))})
                if kind == "kv_tokens_per_block" and hit.re.groups == 2:
                    return LogFact("kv_blocks", int(hit.group(2)), phase,
                                   data={"tokens_per_block": int(hit.group(1))})
                if kind == "kv_memory_available_gib":
                    return LogFact(kind, float(hit.group(2)), phase, data={"total_gib": float(hit.group(1))})
                value = hit.group(1)
                return LogFact(kind, value if kind == "version" else int(value), phase)
        return None

    def parse_log_line(self, line: str) -> LogFact | None:
        # "[11/26/2025-14:00:00] [TRT-LLM] [I] msg", "[TensorRT-LLM][INFO] msg", "INFO:     msg"
        stripped = re.sub(r"^(?:\[[\d/:-]+\]\s*)?(?:\[TRT-LLM\]\s*(?:\[RANK \d+\]\s*)?\[([IWE])\]\s*|"
                          r"\[TensorRT-LLM\]\[(INFO|WARNING|ERROR)\]\s*)", _level_prefix, line)
        return super().parse_log_line(stripped)


def _level_prefix(m: re.Match) -> str:
    code = m.group(1) or m.group(2) or ""
    return {"I": "", "INFO": "", "W": "WARNING: ", "WARNING": "WARNING: ", "E": "ERROR: ",
            "ERROR": "ERROR: "}.get(code, "")
