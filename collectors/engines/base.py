"""What iejtui needs to know about one kind of inference engine.

An adapter is stateless: launch hygiene (``build_argv``, ``build_env``,
``launch_warnings``), where the engine listens (``default_url``), how to tell it is ready
(``probe_ready``), which metric families are worth storing (``keep_family``) and what its
log lines mean (``parse_log_line``, ``explain_death``). One module per engine kind
subclasses ``EngineAdapter`` and registers an instance in ``collectors.engines``.

Startup phases run ``launching -> loading weights -> kv cache -> warm-up -> ready``; a
``LogFact`` names the phase its line moves the engine into and ``later_phase`` keeps the
progression monotonic (a late or repeated line never moves it back).
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, ClassVar

import aiohttp

LAUNCHING, LOADING, KV_CACHE, WARMUP, READY = (
    "launching", "loading weights", "kv cache", "warm-up", "ready")
PHASES = (LAUNCHING, LOADING, KV_CACHE, WARMUP, READY)

# process_* series worth storing: memory and CPU of the API server, start time (restarts)
PROCESS_FAMILIES = frozenset({
    "process_resident_memory_bytes", "process_cpu_seconds_total", "process_start_time_seconds",
})
_WILDCARD_HOSTS = {"", "0.0.0.0", "::", "[::]", "*"}


def later_phase(current: str | None, new: str | None) -> str | None:
    """The later of two phases (unknown names never win)."""
    if new not in PHASES:
        return current
    if current not in PHASES:
        return new
    return new if PHASES.index(new) > PHASES.index(current) else current


@dataclass(frozen=True, slots=True)
class LogFact:
    """Something a log line says: ``kind`` (e.g. ``kv_cache_tokens``), its main ``value``,
    the startup ``phase`` it moves the engine into (None: no move) and extra ``data``."""

    kind: str
    value: Any = None
    phase: str | None = None
    level: str = "info"
    data: dict[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class ReadyState:
    """Result of one readiness probe: ``loading`` (not up yet, keep polling), ``ready``,
    ``dead`` (the engine says it is broken) or ``error`` (something else answered)."""

    state: str
    detail: str = ""
    status: int | None = None
    version: str | None = None  # the engine's version when the probe learnt it
    models: tuple = ()  # per-model rows ({name, version, state, reason}) where the probe lists them (Triton)

    @property
    def ready(self) -> bool:
        return self.state == "ready"


# --------------------------------------------------------------------------- log lines

_ANSI_RE = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
_PREFIX_RE = re.compile(
    r"(?:\((?P<proc>[^()\s]+)(?: pid=\d+)?\)\s+)?"
    r"(?:(?P<level>DEBUG|INFO|WARNING|WARN|ERROR|CRITICAL)"
    r"(?::\s+| \d\d-\d\d \d\d:\d\d:\d\d(?:[.,]\d+)? \[?[\w./<>-]+:\d+\] ?))?"
)
_EXC_RE = re.compile(
    r"(?:[A-Za-z_]\w*\.)*(?:[A-Z]\w*(?:Error|Exception|Exit|Interrupt)|Error|Exception)(?::|$)"
)
_TRACEBACK_NOISE = re.compile(
    r"Traceback \(most recent call last\)|During handling of|The above exception|\s|\^|$"
)
_ARGPARSE_ERR_RE = re.compile(r"[\w./ -]+: error: ")


def clean_line(line: str) -> str:
    """The line without ANSI colour codes and trailing whitespace."""
    return _ANSI_RE.sub("", line).rstrip()


def split_log_line(line: str) -> tuple[str | None, str | None, str]:
    """``(process, level, message)`` of a Python-logging style line.

    Understands vLLM's ``(EngineCore_DP0 pid=7) INFO 11-26 14:00:01 [core.py:92] msg``,
    the older ``INFO 11-27 02:01:37 api_server.py:585] msg`` and uvicorn's ``INFO:     msg``.
    """
    line = clean_line(line)
    m = _PREFIX_RE.match(line)
    return m.group("proc"), m.group("level"), line[m.end():]


def is_error_message(level: str | None, message: str) -> bool:
    """Whether a message explains a failure: an exception's summary line (the last line of
    a traceback), an ERROR/CRITICAL record that is not traceback body, an argparse error."""
    if _TRACEBACK_NOISE.match(message):
        return False
    if level in ("ERROR", "CRITICAL"):
        return True
    if level in (None, "WARNING", "WARN") and _EXC_RE.match(message):
        return True
    return level is None and (_ARGPARSE_ERR_RE.match(message) is not None
                              or message.startswith(("Error:", "ERROR:", "FATAL", "Fatal")))


# --------------------------------------------------------------------------- argv helpers


def flag_value(argv: Sequence[str], *names: str) -> str | None:
    """Value of the last ``--name VALUE`` or ``--name=VALUE`` in argv (argparse: last wins)."""
    found = None
    for i, arg in enumerate(argv):
        for name in names:
            if arg == name and i + 1 < len(argv):
                found = argv[i + 1]
            elif arg.startswith(name + "="):
                found = arg[len(name) + 1:]
    return found


def has_flag(argv: Sequence[str], *names: str) -> bool:
    return any(a in names or a.split("=", 1)[0] in names for a in argv)


def url_for(host: str | None, port: int, scheme: str = "http") -> str:
    """``scheme://host:port`` reachable from this machine (wildcard binds -> loopback)."""
    host = (host or "").strip()
    if host in _WILDCARD_HOSTS:
        host = "127.0.0.1"
    elif ":" in host and not host.startswith("["):
        host = f"[{host}]"  # an IPv6 literal
    return f"{scheme}://{host}:{port}"


# --------------------------------------------------------------------------- adapter


class EngineAdapter:
    """Base adapter: sensible defaults for a Python HTTP server exporting Prometheus text."""

    kind: ClassVar[str] = ""
    default_port: ClassVar[int | None] = None  # None: no URL unless argv names a port
    health_path: ClassVar[str] = "/health"
    metrics_path: ClassVar[str | None] = "/metrics"  # None: the engine exports no metrics
    host_flags: ClassVar[tuple[str, ...]] = ("--host",)
    port_flags: ClassVar[tuple[str, ...]] = ("--port",)
    tls_flags: ClassVar[tuple[str, ...]] = ()  # any of these in argv -> https
    drop_env: ClassVar[tuple[str, ...]] = ("PROMETHEUS_MULTIPROC_DIR",)
    probe_timeout_s: ClassVar[float] = 2.0
    version_path: ClassVar[str | None] = None  # asked once ready for the engine's version
    version_key: ClassVar[str] = "version"

    # launch hygiene ---------------------------------------------------------------------
    def build_argv(self, argv: Sequence[str]) -> list[str]:
        """The command line to launch. The base adds and removes nothing."""
        return list(argv)

    def build_env(self, env: Mapping[str, str]) -> dict[str, str]:
        """The child's environment: a copy without variables that corrupt its telemetry
        (a leaked ``PROMETHEUS_MULTIPROC_DIR`` makes prometheus_client read stale files)."""
        return {k: v for k, v in env.items() if k not in self.drop_env}

    def launch_warnings(self, argv: Sequence[str],
                        env: Mapping[str, str] | None = None) -> list[str]:
        """Human-readable warnings about a launch that will hurt what iejtui can record
        (``env``: the environment before ``build_env``)."""
        return [f"{k} removed from the engine's environment: a stale multiprocess directory "
                "makes its metrics wrong" for k in self.drop_env if k in (env or {})]

    # where it listens ----------------------------------------------------------------------
    def default_url(self, argv: Sequence[str]) -> str | None:
        """``http://host:port`` derived from argv, or None when it cannot be known."""
        raw_port = flag_value(argv, *self.port_flags)
        if raw_port is None:
            if self.default_port is None:
                return None
            port = self.default_port
        else:
            try:
                port = int(raw_port)
            except ValueError:
                return None
            if not 0 < port < 65536:
                return None  # port 0 means "any free port": unknowable from argv
        scheme = "https" if self.tls_flags and has_flag(argv, *self.tls_flags) else "http"
        return url_for(flag_value(argv, *self.host_flags), port, scheme)

    def metrics_url(self, base_url: str) -> str | None:
        return None if self.metrics_path is None else base_url.rstrip("/") + self.metrics_path

    def health_url(self, base_url: str) -> str:
        return base_url.rstrip("/") + self.health_path

    # readiness ------------------------------------------------------------------------------
    def classify_health(self, status: int, body: bytes) -> ReadyState:
        """Map the health endpoint's answer to a state (503 usually means still loading)."""
        if status == 200:
            return ReadyState("ready", "", status)
        if status == 503:
            return ReadyState("loading", "HTTP 503 (starting)", status)
        return ReadyState("error", f"HTTP {status} from {self.health_path}", status)

    async def probe_ready(self, session: aiohttp.ClientSession, url: str, *,
                          timeout_s: float | None = None,
                          headers: Mapping[str, str] | None = None) -> ReadyState:
        """One bounded GET of the health endpoint. Connection refused, reset or a timeout
        while the engine loads is normal and reads as ``loading``."""
        try:
            async with asyncio.timeout(timeout_s or self.probe_timeout_s):
                async with session.get(self.health_url(url), headers=headers,
                                       allow_redirects=False) as resp:
                    state = self.classify_health(resp.status, await resp.content.read(4096))
        except TimeoutError:
            return ReadyState("loading", "health check timed out")
        except aiohttp.ClientConnectorDNSError as e:
            return ReadyState("error", f"cannot resolve host: {e.os_error}")
        except aiohttp.ClientConnectorError as e:
            if isinstance(e.os_error, ConnectionRefusedError):
                return ReadyState("loading", "connection refused (not listening yet)")
            return ReadyState("loading", f"cannot connect: {e.os_error}")
        except (aiohttp.ClientError, OSError) as e:
            return ReadyState("loading", f"{type(e).__name__}: {e}")
        if not state.ready or not self.version_path:
            return state
        try:  # the engine's version, once ready (best effort)
            async with asyncio.timeout(timeout_s or self.probe_timeout_s):
                async with session.get(url.rstrip("/") + self.version_path, headers=headers) as resp:
                    version = (await resp.json(content_type=None)).get(self.version_key)
        except (TimeoutError, aiohttp.ClientError, OSError, ValueError, AttributeError):
            return state
        return replace(state, version=str(version)) if version else state

    # metrics ---------------------------------------------------------------------------------
    async def collect(self, scraper, base_url: str):
        """One collection of this engine's telemetry: a ``ScrapeResult`` (frame + events).

        The service calls this once per interval and never twice at once. The default
        scrapes the Prometheus page; an engine with another protocol (TRT-LLM's JSON
        iteration queue) overrides it."""
        url = self.metrics_url(base_url)
        return await scraper.scrape(url, keep=self.keep_family, source="engine")

    def keep_family(self, name: str) -> bool:
        """Whether a metric family is worth storing: drop HTTP-server, Python GC and most
        process families (noise for inference work); keep everything else."""
        if name.startswith("process_"):
            return name in PROCESS_FAMILIES
        return not name.startswith(("http_", "python_"))

    # logs -------------------------------------------------------------------------------------
    def parse_message(self, level: str | None, message: str) -> LogFact | None:
        """Engine-specific facts in one message (prefix already removed). Override."""
        return None

    def parse_log_line(self, line: str) -> LogFact | None:
        """The fact a log line states, an ``error`` fact for lines explaining a failure,
        or None."""
        proc, level, message = split_log_line(line)
        fact = self.parse_message(level, message)
        if fact is None and is_error_message(level, message):
            fact = LogFact("error", message.strip(), level="error",
                           data={"proc": proc, "line": clean_line(line)})
        return fact

    def explain_death(self, lines: Iterable[str], limit: int = 12) -> list[str]:
        """The engine's own lines that explain why it died (exception summaries, ERROR
        records), oldest first, duplicates removed, at most ``limit`` (the last ones)."""
        seen: set[str] = set()
        out: list[str] = []
        for line in lines:
            fact = self.parse_log_line(line)
            if fact is not None and fact.kind == "error" and fact.value not in seen:
                seen.add(fact.value)
                out.append(clean_line(line))
        return out[-limit:]
