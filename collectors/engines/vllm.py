"""vLLM (V1 engine, ``vllm serve`` / ``python -m vllm.entrypoints.openai.api_server``).

Facts from reference/engine-telemetry.md section 1: ``/health`` answers 200 once ready and
503 once the engine core is dead; the port is bound but not listening while the model
loads, so a probe gets "connection refused" until then. ``--disable-log-stats`` removes
every ``vllm:*`` metric. Data parallel (``--data-parallel-size N``) gives one series per
``engine`` label; the scraper keeps that label and merging happens in ``iejtui.derive``.

Startup phase each recognised line moves to (see ``base.PHASES``):

=============================================================  ===============
banner ``vLLM server version`` / logo / ``Initializing ... engine``  launching
``Starting to load model``, ``Loading weights took``                 loading weights
``Model loading took``, ``torch.compile``, ``Memory profiling``,
``Available KV cache memory`` (CPU: ``Explicitly set (X/Y) GiB for
KV cache``), ``KV cache size``, ``Maximum concurrency``, ``# GPU
blocks``                                                             kv cache
``Capturing CUDA graphs``, ``Graph capturing finished``, ``init
engine (...) took``, ``Starting vLLM server on``, uvicorn startup    warm-up
``Application startup complete.``                                    ready
=============================================================  ===============
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any


from collectors.engines.base import (
    KV_CACHE,
    LAUNCHING,
    LOADING,
    READY,
    WARMUP,
    EngineAdapter,
    LogFact,
    ReadyState,
    flag_value,
    has_flag,
)
from collectors.records import Frame, Sample

_NUM = r"([\d.]+)"
_VERSION_RES = (
    re.compile(r"vLLM server version (\S+?),? serving model (.+?)\s*$"),
    re.compile(r"vLLM (?:API )?server version (\S+)"),
)
_LOGO_VERSION_RE = re.compile(r"█\s+version\s+(\S+)\s*$")
_LOGO_MODEL_RE = re.compile(r"█\s+model\s+(.+?)\s*$")
_INIT_RE = re.compile(r"Initializing an? (?:V1 )?LLM engine \(v([^)]+)\)(?:.*? model='([^']*)')?")
_LOAD_START_RE = re.compile(r"Starting to load model (.+?)\.{3}")
_WEIGHTS_RE = re.compile(r"Loading weights took " + _NUM + r" ?s")
_MODEL_LOAD_RE = re.compile(r"Model loading took " + _NUM + r" ?GiB(?: memory)? and "
                            + _NUM + r" ?s")
_OLD_MODEL_LOAD_RE = re.compile(r"Loading model weights took " + _NUM + r" ?GB")
_COMPILE_RE = re.compile(r"torch\.compile takes " + _NUM + r" ?s in total")
_PROFILE_RE = re.compile(r"Memory profiling takes " + _NUM + r" ?s")
_KV_MEM_RE = re.compile(r"Available KV cache memory: " + _NUM + r" ?GiB")
_CPU_KV_MEM_RE = re.compile(r"Explicitly set \(" + _NUM + r"/[\d.]+\) GiB for KV cache")
_KV_SIZE_RE = re.compile(r"(\w[\w +]*) KV cache size: ([\d,]+) tokens")
_CONCURRENCY_RE = re.compile(r"Maximum concurrency for ([\d,]+) tokens per request: ([\d.]+)x")
_BLOCKS_RE = re.compile(r"# (\w+) blocks: (\d+), # (\w+) blocks: (\d+)")
_GRAPH_RE = re.compile(r"Graph capturing finished in " + _NUM + r" secs?(?:, took "
                       + _NUM + r" GiB)?")
_INIT_ENGINE_RE = re.compile(r"init engine \(profile, create kv cache, warmup model\) took "
                             + _NUM + r" ?s")
_SERVER_START_RE = re.compile(r"Starting vLLM (?:API )?server(?: \d+)? on (\S+)")
_STATS_HEAD_RE = re.compile(r"(?:Engine (\d+)|(\d+) Engines Aggregated): (?=Avg prompt)")
_STATS_FIELD_RE = re.compile(r"([A-Za-z][A-Za-z ]*?): ([\d.]+|n/a) ?(%|tokens/s|reqs)?(?:,|$)")
_STATS_KEYS = {
    "Avg prompt throughput": "prompt_tps", "Avg generation throughput": "generation_tps",
    "Running": "running", "Waiting": "waiting", "Deferred": "deferred",
    "Preemptions": "preemptions", "KV cache usage": "kv_usage",
    "Prefix cache hit rate": "prefix_hit_rate",
    "External prefix cache hit rate": "external_prefix_hit_rate",
    "MM cache hit rate": "mm_hit_rate",
}


def _num(text: str) -> float:
    return float(text.replace(",", ""))


def parse_stats(message: str) -> dict[str, Any] | None:
    """Fields of the periodic ``Engine 000: Avg prompt throughput: ...`` line. Percentages
    become fractions (``kv_usage`` 0-1, like the metric); ``n/a`` becomes None."""
    start = message.find("Avg prompt throughput:")
    if start < 0:
        return None
    out: dict[str, Any] = {"engine": None}  # None: the pre-V1 line names no engine
    if head := _STATS_HEAD_RE.search(message):  # "Engine 000" -> "0", like the engine label
        out["engine"] = str(int(head.group(1))) if head.group(1) else "aggregated"
        if head.group(2):
            out["engines"] = int(head.group(2))
    for key, raw, unit in _STATS_FIELD_RE.findall(message[start:]):
        key = key.strip()
        if key.endswith(" KV cache usage"):  # "GPU KV cache usage", "CPU KV cache usage"
            out["device"], key = key[: -len(" KV cache usage")], "KV cache usage"
        name = _STATS_KEYS.get(key, re.sub(r"\W+", "_", key.lower()))
        value: float | int | None = None if raw == "n/a" else float(raw)
        if value is not None and unit == "%":
            value /= 100
        elif value is not None and (unit == "reqs" or name == "preemptions"):
            value = int(value)
        out[name] = value
    return out


class VLLMAdapter(EngineAdapter):
    kind = "vllm"
    version_path = "/version"
    default_port = 8000
    health_path = "/health"
    metrics_path = "/metrics"
    tls_flags = ("--ssl-certfile", "--ssl-keyfile")

    def build_env(self, env: Mapping[str, str]) -> dict[str, str]:
        out = super().build_env(env)
        out.setdefault("PYTHONUNBUFFERED", "1")  # error lines reach the log before a death
        return out

    def launch_warnings(self, argv: Sequence[str],
                        env: Mapping[str, str] | None = None) -> list[str]:
        warnings = super().launch_warnings(argv, env)
        if has_flag(argv, "--disable-log-stats", "--disable_log_stats"):
            warnings.append("--disable-log-stats is set: vLLM then builds no stat loggers, so "
                            "/metrics has no vllm:* series (no KV usage, token rates or "
                            "latencies) and the periodic stats log line disappears; kept "
                            "because you asked for it")
        dp = flag_value(argv, "--data-parallel-size", "-dp")
        api = flag_value(argv, "--api-server-count")
        if (dp and dp.isdigit() and int(dp) > 1) or (api and api.isdigit() and int(api) > 1):
            warnings.append("several API server processes: vLLM switches prometheus_client to "
                            "multiprocess mode (no process_* series, periodic stats log off); "
                            "engine series carry one engine label per data-parallel rank")
        return warnings

    def default_url(self, argv: Sequence[str]) -> str | None:
        if flag_value(argv, "--uds") is not None:
            return None  # a unix socket: no TCP URL to derive
        return super().default_url(argv)

    def classify_health(self, status: int, body: bytes) -> ReadyState:
        if status == 503:  # vLLM only listens once ready, so 503 means EngineDeadError
            return ReadyState("dead", "vLLM /health 503: the engine core is dead", status)
        return super().classify_health(status, body)

    def parse_message(self, level: str | None, message: str) -> LogFact | None:
        m = message
        if "Avg prompt throughput" in m:
            stats = parse_stats(m)
            return None if stats is None else LogFact(
                "stats", stats.get("generation_tps"), None, data=stats)
        if "KV cache" in m or "concurrency" in m or " blocks: " in m:
            return _kv_fact(m)
        if "version" in m:
            for rx in _VERSION_RES:
                if hit := rx.search(m):
                    model = hit.group(2) if hit.re.groups > 1 else None
                    return LogFact("version", hit.group(1), LAUNCHING,
                                   data={"model": model} if model else None)
            if hit := _LOGO_VERSION_RE.search(m):
                return LogFact("version", hit.group(1), LAUNCHING)
        if "█" in m and (hit := _LOGO_MODEL_RE.search(m)):
            return LogFact("model", hit.group(1), LAUNCHING)
        if "took" in m or "takes" in m or "finished" in m:
            return _timing_fact(m)
        if hit := _INIT_RE.search(m):
            return LogFact("engine_config", hit.group(1), LAUNCHING,
                           data={"model": hit.group(2)} if hit.group(2) else None)
        if hit := _LOAD_START_RE.search(m):
            return LogFact("load_start", hit.group(1), LOADING)
        if "Capturing CUDA graph" in m or "Capturing cudagraph" in m:
            return LogFact("graph_capture_start", None, WARMUP)
        if hit := _SERVER_START_RE.search(m):
            return LogFact("server_start", hit.group(1), WARMUP)
        if m.startswith(("Started server process", "Waiting for application startup")):
            return LogFact("server_start", None, WARMUP)
        if m.startswith("Application startup complete"):
            return LogFact("ready", True, READY)
        return None


def _kv_fact(m: str) -> LogFact | None:
    size, conc = _KV_SIZE_RE.search(m), _CONCURRENCY_RE.search(m)
    if size:  # 0.32 prints size and concurrency on one line, older releases on two
        data: dict[str, Any] = {"device": size.group(1)}
        if conc:
            data.update(tokens_per_request=int(_num(conc.group(1))),
                        max_concurrency=float(conc.group(2)))
        return LogFact("kv_cache_tokens", int(_num(size.group(2))), KV_CACHE, data=data)
    if conc:
        return LogFact("max_concurrency", float(conc.group(2)), KV_CACHE,
                       data={"tokens_per_request": int(_num(conc.group(1)))})
    if hit := _KV_MEM_RE.search(m) or _CPU_KV_MEM_RE.search(m):  # CPU builds: the latter
        return LogFact("kv_cache_memory_gib", float(hit.group(1)), KV_CACHE)
    if hit := _BLOCKS_RE.search(m):  # 0.4-0.6: "# GPU blocks: 2048, # CPU blocks: 512"
        return LogFact("kv_blocks", int(hit.group(2)), KV_CACHE,
                       data={hit.group(1).lower(): int(hit.group(2)),
                             hit.group(3).lower(): int(hit.group(4))})
    return None


def _timing_fact(m: str) -> LogFact | None:
    if hit := _MODEL_LOAD_RE.search(m):
        gib, secs = float(hit.group(1)), float(hit.group(2))
        return LogFact("model_loaded", secs, KV_CACHE, data={"gib": gib, "seconds": secs})
    if hit := _OLD_MODEL_LOAD_RE.search(m):
        return LogFact("model_loaded", None, KV_CACHE, data={"gib": float(hit.group(1))})
    if hit := _WEIGHTS_RE.search(m):
        return LogFact("weights_loaded", float(hit.group(1)), LOADING)
    if hit := _COMPILE_RE.search(m):
        return LogFact("compile", float(hit.group(1)), KV_CACHE)
    if hit := _PROFILE_RE.search(m):
        return LogFact("memory_profiling", float(hit.group(1)), KV_CACHE)
    if hit := _GRAPH_RE.search(m):
        return LogFact("graph_capture", float(hit.group(1)), WARMUP,
                       data={"gib": float(hit.group(2))} if hit.group(2) else None)
    if hit := _INIT_ENGINE_RE.search(m):
        return LogFact("init_engine", float(hit.group(1)), WARMUP)
    return None


def kv_capacity_tokens(samples: Frame | Iterable[Sample]) -> dict[str, int]:
    """KV-cache capacity in tokens per ``engine`` label, from ``vllm:cache_config_info``:
    its ``kv_cache_size_tokens`` label when present (exact for hybrid models), else
    ``num_gpu_blocks x block_size``. Engines whose config is not known yet are absent."""
    if isinstance(samples, Frame):
        samples = samples.samples
    out: dict[str, int] = {}
    for s in samples:
        if s.name != "vllm:cache_config_info":
            continue
        labels = dict(s.labels)
        engine = labels.get("engine", "")
        try:
            if (size := labels.get("kv_cache_size_tokens", "")).isdigit():
                out[engine] = int(size)
            else:
                out[engine] = int(labels["num_gpu_blocks"]) * int(labels["block_size"])
        except (KeyError, ValueError):
            continue  # "None" before the engine has sized its cache
    return out
