"""SGLang (``python -m sglang.launch_server`` / ``sglang serve``; reference §3.1, read
from the 0.5.23 wheel).

* Metrics exist only with ``--enable-metrics`` (``build_argv`` adds it) at ``/metrics`` on
  the API port (default 30000), all named ``sglang:*``, in prometheus_client multiprocess
  form. Scheduler gauges (running, queue, ``token_usage``, ``gen_throughput``...) are
  refreshed at each prefill batch and every ``--decode-log-interval`` (40) decode steps,
  and while idle when the running count went stale or every 30 s, so a gauge can lag the
  truth by up to 40 steps; token counters and latency histograms are written by the
  tokenizer process when a request finishes (tokens) or a chunk arrives (TTFT/ITL).
  Counters such as ``sglang:cached_tokens_total`` and ``sglang:num_retracted_requests_total``
  only appear after their first increment (the canonical map reads them as zero until).
* The server listens while loading: ``/health`` answers 503 while the status is
  *Starting*, then runs a 1-token generation and answers 200 after about a second, or 503
  when the scheduler stops answering (20 s). Ready marker line:
  ``The server is fired up and ready to roll!`` (uvicorn's "Application startup complete"
  comes earlier, before the warm-up request, so it is not "ready" here).
* Log lines are ``[2025-11-26 14:00:00 TP0] message``; ``--decode-log-interval`` decode steps
  print ``Decode batch, #running-req: N, #token: N, token usage: 0.xx, ..., gen throughput
  (token/s): X, #queue-req: N``.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Mapping, Sequence
from dataclasses import replace

import aiohttp

from collectors.engines.base import (KV_CACHE, LAUNCHING, LOADING, READY, WARMUP, EngineAdapter,
                                     LogFact, ReadyState, has_flag)

_PREFIX_RE = re.compile(r"^\[\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(?:\.\d+)?(?: [A-Z]+\d+)*\]\s*")
_NUM = r"([\d.]+)"
_KV_RE = re.compile(r"KV Cache is allocated\. (?:dtype: [^,]+, )?#tokens: (\d+), "
                    r"(?:K size: " + _NUM + r" GB, V size: " + _NUM + r" GB|KV size: " + _NUM + " GB)")
_POOL_RE = re.compile(r"max_total_num_tokens=(\d+), chunked_prefill_size=(-?\d+), "
                      r"max_prefill_tokens=(\d+), max_running_requests=(\d+), context_len=(\d+)")
_WEIGHT_END_RE = re.compile(r"Load weight end\. (?:elapsed=" + _NUM + r" s, )?type=(\w+).*?"
                            r"mem usage=" + _NUM + " GB")
_BATCH_RE = re.compile(r"(#[\w-]+|[a-z][a-z ]*(?:\(token/s\))?): ([\d.]+|True|False)")
_STATS_KEYS = {"#running-req": "running", "#queue-req": "waiting", "#token": "tokens",
               "token usage": "kv_usage", "gen throughput (token/s)": "generation_tps",
               "input throughput (token/s)": "prompt_tps", "#new-seq": "new_seqs",
               "#new-token": "new_tokens", "#cached-token": "cached_tokens",
               "accept len": "accept_len", "accept rate": "accept_rate"}
_VERSION_RE = re.compile(r"sglang(?: version|==| v)\s*:?\s*(\d[\w.+-]*)", re.I)


def parse_batch_line(message: str) -> dict[str, float] | None:
    """Fields of ``Decode batch, ...`` / ``Prefill batch, ...`` (usage as a 0-1 fraction)."""
    kind = "decode" if message.startswith("Decode batch") else (
        "prefill" if message.startswith("Prefill batch") else None)
    if kind is None:
        return None
    out: dict[str, float] = {}
    for key, raw in _BATCH_RE.findall(message):
        name = _STATS_KEYS.get(key.strip())
        if name and raw not in ("True", "False"):
            out[name] = float(raw)
    out["batch"] = 1.0 if kind == "decode" else 0.0
    return out


class SGLangAdapter(EngineAdapter):
    kind = "sglang"
    default_port = 30000
    health_path = "/health"
    metrics_path = "/metrics"
    tls_flags = ("--ssl-certfile",)
    probe_timeout_s = 3.0  # /health runs a 1-token generation and answers after >= 1 s

    def build_argv(self, argv: Sequence[str]) -> list[str]:
        argv = list(argv)
        if not has_flag(argv, "--enable-metrics"):
            argv.append("--enable-metrics")
        return argv

    def build_env(self, env: Mapping[str, str]) -> dict[str, str]:
        out = super().build_env(env)
        out.setdefault("PYTHONUNBUFFERED", "1")
        return out

    def launch_warnings(self, argv: Sequence[str], env: Mapping[str, str] | None = None) -> list[str]:
        warnings = super().launch_warnings(argv, env)
        if has_flag(argv, "--enable-metrics-for-all-schedulers"):
            warnings.append("--enable-metrics-for-all-schedulers: every TP rank reports the same "
                            "requests under its own tp_rank label; iejtui sums gauges over labels, "
                            "so running/waiting read as (TP size) x the truth")
        return warnings

    def classify_health(self, status: int, body: bytes) -> ReadyState:
        if status == 503:  # Starting (or, once up, a scheduler that stopped answering)
            return ReadyState("loading", "HTTP 503 (starting, or the health generation failed)",
                              status)
        return super().classify_health(status, body)

    async def probe_ready(self, session: aiohttp.ClientSession, url: str, *,
                          timeout_s: float | None = None,
                          headers: Mapping[str, str] | None = None) -> ReadyState:
        """As the base, plus the version from ``/server_info`` (``/get_server_info`` before 0.5)."""
        state = await super().probe_ready(session, url, timeout_s=timeout_s, headers=headers)
        if not state.ready:
            return state
        for path in ("/server_info", "/get_server_info"):
            try:
                async with asyncio.timeout(timeout_s or self.probe_timeout_s):
                    async with session.get(url.rstrip("/") + path, headers=headers) as resp:
                        if resp.status != 200:
                            continue
                        version = (await resp.json(content_type=None)).get("version")
            except (TimeoutError, aiohttp.ClientError, OSError, ValueError, AttributeError):
                return state
            return replace(state, version=str(version)) if version else state
        return state

    def parse_log_line(self, line: str) -> LogFact | None:
        return super().parse_log_line(_PREFIX_RE.sub("", line.lstrip()))

    def parse_message(self, level: str | None, message: str) -> LogFact | None:
        m = message.strip()
        if m.startswith(("Decode batch", "Prefill batch")):
            stats = parse_batch_line(m)
            return LogFact("stats", stats.get("generation_tps"), None, data=stats)
        if "fired up and ready to roll" in m:
            return LogFact("ready", True, READY)
        if hit := _KV_RE.search(m):
            gb = [float(g) for g in hit.groups()[1:] if g]
            return LogFact("kv_cache_tokens", int(hit.group(1)), KV_CACHE,
                           data={"gib": round(sum(gb) * 1e9 / 2**30, 3)})
        if hit := _POOL_RE.search(m):
            return LogFact("max_total_num_tokens", int(hit.group(1)), KV_CACHE, data={
                "chunked_prefill_size": int(hit.group(2)), "max_prefill_tokens": int(hit.group(3)),
                "max_running_requests": int(hit.group(4)), "context_len": int(hit.group(5))})
        if m.startswith("Load weight begin"):
            return LogFact("load_start", None, LOADING)
        if hit := _WEIGHT_END_RE.search(m):
            return LogFact("model_loaded", float(hit.group(1)) if hit.group(1) else None, KV_CACHE,
                           data={"gib": float(hit.group(3)), "model_class": hit.group(2)})
        if m.startswith("Capture") and "graph begin" in m:
            return LogFact("graph_capture_start", None, WARMUP)
        if m.startswith(("Started server process", "Waiting for application startup",
                         "Application startup complete", "Uvicorn running on")):
            return LogFact("server_start", None, WARMUP)
        if m.startswith("server_args="):
            return LogFact("server_args", None, LAUNCHING)
        if hit := _VERSION_RE.search(m):
            return LogFact("version", hit.group(1), LAUNCHING)
        return None
