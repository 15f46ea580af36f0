"""Triton Inference Server (``tritonserver``; read from the 2.51 server in the
``nvidia-pytriton`` 0.7.0 wheel and Triton's HTTP/REST protocol docs).

* Three listeners: HTTP/REST (``--http-port``, default 8000; the engine URL), gRPC
  (``--grpc-port``, 8001) and Prometheus metrics (``--metrics-port``, 8002, at
  ``/metrics``). All bind ``0.0.0.0`` unless ``--http-address``/``--grpc-address``/
  ``--metrics-address`` say otherwise (``launch_warnings`` says so). The metrics URL of an
  engine launched here comes from its argv; an attached one is assumed on Triton's default
  8002 on the same host.
* Readiness: ``GET /v2/health/ready`` answers 200 once the server is up and (strict
  readiness, the default) every model is ready, 400 before; then the model list
  (``POST /v2/repository/index``) and each model's ``GET /v2/models/NAME/ready`` -- the
  probe is ready only when every model in the index is, and names them in
  ``ReadyState.models`` (the per-model rows). Version: ``GET /v2`` ``{"version": "2.51.0"}``.
* Log lines (glog): ``I1207 02:46:30.628186 17530 model_lifecycle.cc:839] "successfully
  loaded 'ensemble'"`` -- severity letter I/W/E/F, date, time, thread, source, quoted text.
  Phases: ``loading: NAME:1`` (launching -> loading weights, i.e. loading models) ->
  ``successfully loaded 'NAME'`` (warm-up: models ready, servers starting) ->
  ``Started HTTPService`` / ``Started GRPCInferenceService`` / ``Started Metrics
  Service`` (warm-up) -> ready on the probe. ``failed to load 'NAME' ...: <why>`` and every
  E/F line explain a death, except two a CPU box prints at every start
  (``CudaDriverHelper has not been initialized.``, ``Failed to initialize NVML``).
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Mapping, Sequence
from dataclasses import replace

import aiohttp

from collectors.engines.base import (LOADING, WARMUP, EngineAdapter, LogFact, ReadyState,
                                     clean_line, flag_value, is_error_message, url_for)

DEFAULT_HTTP_PORT, DEFAULT_METRICS_PORT = 8000, 8002
_GLOG_RE = re.compile(r"^(?P<sev>[IWEF])\d{4} \d\d:\d\d:\d\d\.\d+\s+\d+\s+[\w.<>-]+:\d+\]\s?(?P<msg>.*)$")
_SEVERITY = {"I": "INFO", "W": "WARNING", "E": "ERROR", "F": "CRITICAL"}
_LOADING_RE = re.compile(r"^loading: ([^:]+):(\d+)")
_LOADED_RE = re.compile(r"^successfully loaded '([^']+)'")
_FAILED_RE = re.compile(r"^failed to load '([^']+)'")
_STARTED_RE = re.compile(r"^Started (HTTPService|GRPCInferenceService|Metrics Service) at (\S+)")
# printed at every start on a machine without a GPU; they explain nothing
_CPU_BOX_NOISE = ("CudaDriverHelper has not been initialized", "Failed to initialize NVML",
                  "Error: Failed to initialize NVML")


def split_glog(line: str) -> tuple[str | None, str]:
    """``(level, message)`` of a Triton glog line (its quotes removed); ``(None, line)``
    for anything else (a table row, a Python stub's own print)."""
    line = clean_line(line)
    m = _GLOG_RE.match(line)
    if not m:
        return None, line
    msg = m.group("msg")
    if len(msg) >= 2 and msg[0] == '"' and msg[-1] == '"':
        msg = msg[1:-1]
    return _SEVERITY[m.group("sev")], msg


class TritonAdapter(EngineAdapter):
    kind = "triton"
    default_port = DEFAULT_HTTP_PORT
    health_path = "/v2/health/ready"
    metrics_path = "/metrics"
    host_flags = ("--http-address",)
    port_flags = ("--http-port",)
    version_path = "/v2"
    probe_timeout_s = 3.0

    def __init__(self) -> None:
        self._metrics: dict[str, str] = {}  # engine URL -> metrics URL, for engines launched here

    # where it listens ------------------------------------------------------------------
    def default_url(self, argv: Sequence[str]) -> str | None:
        url = super().default_url(argv)
        if url is not None:
            self._metrics[url] = self.metrics_url_from_argv(argv)
        return url

    @staticmethod
    def metrics_url_from_argv(argv: Sequence[str]) -> str:
        """The metrics listener ``--metrics-address``/``--metrics-port`` name (Triton's
        defaults: the HTTP address, port 8002)."""
        host = flag_value(argv, "--metrics-address") or flag_value(argv, "--http-address")
        try:
            port = int(flag_value(argv, "--metrics-port") or DEFAULT_METRICS_PORT)
        except ValueError:
            port = DEFAULT_METRICS_PORT
        return url_for(host, port) + "/metrics"

    def metrics_url(self, base_url: str) -> str | None:
        base = base_url.rstrip("/")
        if base in self._metrics:
            return self._metrics[base]
        m = re.match(r"^(https?://[^/]+?)(?::\d+)?$", base)
        host = m.group(1) if m else base
        return f"{host}:{DEFAULT_METRICS_PORT}/metrics"

    def launch_warnings(self, argv: Sequence[str], env: Mapping[str, str] | None = None) -> list[str]:
        warnings = super().launch_warnings(argv, env)
        for flag in ("--http-address", "--grpc-address", "--metrics-address"):
            value = flag_value(argv, flag)
            if flag == "--metrics-address" and value is None:
                value = flag_value(argv, "--http-address")  # Triton's default for it
            if value is None or value in ("0.0.0.0", "::", "[::]"):
                warnings.append(f"{flag} is {value or '0.0.0.0 (the default)'}: Triton listens on every "
                                f"interface; pass {flag} 127.0.0.1 to keep it on this machine")
        return warnings

    # readiness ---------------------------------------------------------------------------
    def classify_health(self, status: int, body: bytes) -> ReadyState:
        if status == 400:  # not ready yet (or a model failed to load with --exit-on-error=false)
            return ReadyState("loading", "HTTP 400 from /v2/health/ready (models not ready)", status)
        return super().classify_health(status, body)

    async def probe_ready(self, session: aiohttp.ClientSession, url: str, *,
                          timeout_s: float | None = None,
                          headers: Mapping[str, str] | None = None) -> ReadyState:
        """As the base (server ready, its version), then every model of the repository
        index ready: the models are named in ``ReadyState.models``."""
        state = await super().probe_ready(session, url, timeout_s=timeout_s, headers=headers)
        if not state.ready:
            return state
        base = url.rstrip("/")
        try:
            async with asyncio.timeout(timeout_s or self.probe_timeout_s):
                async with session.post(base + "/v2/repository/index", json={}, headers=headers) as resp:
                    index = await resp.json(content_type=None) if resp.status == 200 else None
                if not isinstance(index, list):
                    return ReadyState("loading", "no model repository index yet")
                models = []
                for entry in index:
                    if not isinstance(entry, dict) or not entry.get("name"):
                        continue
                    name, version = str(entry["name"]), str(entry.get("version") or "")
                    path = f"/v2/models/{name}" + (f"/versions/{version}" if version else "") + "/ready"
                    async with session.get(base + path, headers=headers) as resp:
                        ready = resp.status == 200
                    models.append({"name": name, "version": version,
                                   "state": "READY" if ready else str(entry.get("state") or "UNAVAILABLE"),
                                   "reason": str(entry.get("reason") or "")})
        except (TimeoutError, aiohttp.ClientError, OSError, ValueError) as exc:
            return ReadyState("loading", f"model readiness: {type(exc).__name__}: {exc}")
        waiting = [m["name"] for m in models if m["state"] != "READY"]
        if waiting:
            return ReadyState("loading", "models not ready: " + ", ".join(waiting), state.status)
        if not models:
            return ReadyState("loading", "no model in the repository index yet", state.status)
        return replace(state, models=tuple(models))

    # logs ------------------------------------------------------------------------------------
    def parse_log_line(self, line: str) -> LogFact | None:
        level, message = split_glog(line)
        fact = self.parse_message(level, message)
        if fact is None and is_error_message(level, message) and not message.startswith(_CPU_BOX_NOISE):
            fact = LogFact("error", message.strip(), level="error", data={"line": clean_line(line)})
        return fact

    def parse_message(self, level: str | None, message: str) -> LogFact | None:
        m = message.strip()
        if hit := _LOADED_RE.match(m):
            return LogFact("model_ready", hit.group(1), WARMUP)
        if (hit := _FAILED_RE.match(m)) and level != "INFO":  # the INFO twin repeats the ERROR one, without why
            return LogFact("error", m, level="error", data={"model": hit.group(1)})
        if level is None and m.startswith("error: "):  # main.cc's last words: "error: creating server: ..."
            if m.endswith("failed to load all models"):
                return LogFact("load_failed", m)  # the model's own "failed to load" line says why
            return LogFact("error", m, level="error")
        if hit := _LOADING_RE.match(m):
            return LogFact("model_loading", hit.group(1), LOADING, data={"version": hit.group(2)})
        if hit := _STARTED_RE.match(m):
            what = {"HTTPService": "http", "GRPCInferenceService": "grpc", "Metrics Service": "metrics"}
            return LogFact(f"{what[hit.group(1)]}_listen", hit.group(2), WARMUP)
        return None
