"""One supervised engine: its run, process, log, startup phase, readiness and scrape state."""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from collectors.engines import UnknownEngineKind, get_adapter, later_phase
from collectors.records import Event
from iejtui.errors import UserError
from iejtui.redact import redact_known, redact_url
from iejtui.service.procs import PidRecord
from iejtui.store.vocab import FINAL, RunStatus

LOG_TAIL_LINES = 50


def adapter_for(kind: str):
    """The adapter of an engine kind; an unknown kind is the user's error (one line)."""
    try:
        return get_adapter(kind)
    except UnknownEngineKind as exc:
        raise UserError(str(exc)) from None


@dataclass
class EngineHandle:
    run_id: int
    name: str
    kind: str
    url: str | None
    owned: bool
    status: str = RunStatus.STARTING
    phase: str = "launching"
    pid: PidRecord | None = None
    ready_timeout: float = 900.0
    stop_timeout: float = 30.0
    started_at: float = field(default_factory=time.time)
    facts: dict[str, Any] = field(default_factory=dict)
    secrets: list[str] = field(default_factory=list)
    fingerprints: dict | None = None  # the run's salted secret hashes (logs.save_fingerprints)
    tree_at: float = 0.0  # when the descendant tree was last recorded
    log_offset: int = 0
    log_lines: deque = field(default_factory=lambda: deque(maxlen=400))
    error_lines: deque = field(default_factory=lambda: deque(maxlen=20))
    stopping: bool = False
    stop_reason: str | None = None
    scrape_error: str | None = None   # the current scrape failure, None while scrapes succeed
    last_scrape_ok: float | None = None
    last_probe: float = 0.0
    gone_since: float | None = None  # the engine pid vanished before its exit status was written
    warnings: list[str] = field(default_factory=list)
    latest_frames: dict[str, Any] = field(default_factory=dict)  # newest frame per source (the metrics endpoint)
    resumed: bool = False  # watched again after a service restart: its run's counting began earlier
    profiling: str | None = None  # "torch" / "nsys": launched ready to profile (iejtui.service.profiling)

    def __post_init__(self) -> None:
        self.adapter = get_adapter(self.kind)

    @property
    def final(self) -> bool:
        return self.status in FINAL

    def public(self) -> dict[str, Any]:
        """The engine as `engine list --json` and the API show it."""
        return {
            "name": self.name, "kind": self.kind, "status": self.status, "phase": self.phase,
            "url": redact_url(self.url), "pid": self.pid.pid if self.pid else None,
            "pgid": self.pid.pgid if self.pid else None, "run_id": self.run_id, "owned": self.owned,
            "started_at": self.started_at, "facts": self.facts, "scrape_error": self.scrape_error,
            "last_scrape_ok": self.last_scrape_ok, "warnings": self.warnings,
            "error_lines": list(self.error_lines) if self.status in (RunStatus.CRASHED, RunStatus.FAILED) else [],
        }

    # ---- log tailing -------------------------------------------------------------------
    def read_log(self, max_bytes: int) -> list[Event]:
        """Read new log lines, rotate the file when it is too large; return phase/fact events."""
        if not self.pid:
            return []
        path = Path(self.pid.log_path)
        try:
            size = path.stat().st_size
        except OSError:
            return []
        if size < self.log_offset:  # truncated by a rotation
            self.log_offset = 0
        events: list[Event] = []
        if size > self.log_offset:
            with open(path, "rb") as f:
                f.seek(self.log_offset)
                data = f.read(min(size - self.log_offset, 4 * 1024 * 1024))
            cut = data.rfind(b"\n") + 1
            if cut == 0 and len(data) < 64 * 1024:
                return events  # wait for the rest of the line
            self.log_offset += cut or len(data)
            for raw in (data[:cut] if cut else data).splitlines():
                events.extend(self._on_line(raw.decode("utf-8", "replace")))
        if size > max_bytes and self.log_offset >= size:
            self._rotate(path)
        return events

    def _rotate(self, path: Path) -> None:
        """copytruncate: the engine appends (O_APPEND) and keeps its descriptor."""
        rotated = path.with_name(path.name + ".1")
        try:
            with open(path, "rb") as src, open(rotated, "wb") as dst:
                while block := src.read(1 << 20):
                    dst.write(block)
            with open(path, "r+b") as f:
                f.truncate(0)
            self.log_offset = 0
        except OSError:
            pass

    # Facts worth keeping on the run (startup facts); the periodic stats line is not one.
    _TRANSIENT_FACTS = {"stats", "ready", "server_start", "graph_capture_start", "load_start", "error"}

    def mask(self, line: str) -> str:
        """A log line with the run's secrets masked: by value (known to the service that
        launched it) and by fingerprint (all a re-adopting service knows). The wrapper
        already masks the log file; this is the second line of defence."""
        return redact_known(line, self.secrets, self.fingerprints)

    def _on_line(self, line: str) -> list[Event]:
        line = self.mask(line.rstrip("\r"))
        self.log_lines.append(line)
        fact = self.adapter.parse_log_line(line)
        if fact is None:
            return []
        events = []
        if fact.kind == "error":
            self.error_lines.append(str(fact.value))
        elif fact.kind not in self._TRANSIENT_FACTS:
            self.facts[fact.kind] = fact.value
            if fact.kind == "model_loaded" and fact.data:
                self.facts["model_memory_gib"] = fact.data.get("gib")
        if fact.phase and self.status == RunStatus.STARTING:
            new = later_phase(self.phase, fact.phase)
            if new != self.phase and new != "ready":
                self.phase = new
                events.append(Event(time.time(), "phase", f"{self.name}: {new}", data={"phase": new}))
        return events

    def log_tail(self, n: int = LOG_TAIL_LINES) -> str:
        return "\n".join(list(self.log_lines)[-n:])


def model_of(argv: list[str]) -> str | None:
    """The model a command line serves (--served-model-name, --model, or `serve MODEL`)."""
    for flag in ("--served-model-name", "--model", "--model-path"):
        if flag in argv[:-1]:
            return argv[argv.index(flag) + 1]
        for a in argv:
            if a.startswith(flag + "="):
                return a.split("=", 1)[1]
    if len(argv) > 2 and argv[1] == "serve" and not argv[2].startswith("-"):
        return argv[2]
    return None
