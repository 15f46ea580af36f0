"""Record NVML calls to JSON lines, and serve a recording back faithfully.

File format (one JSON object per line, optionally gzip-compressed, ``.gz``):

* ``{"meta": {...}}``: first line; pynvml version, host, start time.
* ``{"t": mono_s, "tick": now}``: the collector started a tick stamped ``now`` (Unix s).
* ``{"t": mono_s, "call": name, "args": [...], "us": cost_us, "ok": value}``: a call and
  its answer, or ``"err": code`` instead of ``"ok"`` when it raised (``code`` is the NVML
  return code, or ``"LibraryMismatch"`` for ``pynvml.NVMLLibraryMismatchError``).

Replay (``ReplayNvml``) keeps one queue per (call, args) and answers each call with the
next recorded answer for the same call and arguments, raising the same ``pynvml`` error
subclass when the recording holds an error (NotSupported stays NotSupported). A call the
recording never saw, or one asked more often than recorded, raises ``ReplayMismatch``.
The last-timestamp argument of ``samples`` is not part of its key: it is derived from the
previous answer, so order alone identifies the answer (and rebasing stays possible).

Time: replay is tick-driven. Each ``tick_time(now)`` (the collector calls it once per tick)
returns the next recorded tick instant and ignores ``now``; the recorded calls of that tick
follow. A driver that calls ``collector.tick`` once a second (the service's scheduler)
therefore replays a 1 Hz recording in real time; ``delays()`` gives the recorded spacing
for a driver that wants the original pacing exactly, and ``replay_ticks`` runs it as fast
as possible (tests, perf). ``rebase_to`` shifts every served wall-clock value (tick
instants, driver sample and field timestamps) so the first tick lands at that Unix time.
When the ticks run out, ``tick_time`` raises ``ReplayFinished``.
"""

from __future__ import annotations

import gzip
import json
import os
import socket
import threading
import time
from collections import deque
from collections.abc import Iterator
from itertools import pairwise
from pathlib import Path
from typing import IO, Any

import pynvml

from .gpu_backend import BACKEND_CALLS, NvmlBackend, error_code


class ReplayMismatch(LookupError):
    """The collector asked something the recording cannot answer."""


class ReplayFinished(EOFError):
    """No recorded tick is left."""


def _open(path: Path, mode: str) -> IO[str]:
    if str(path).endswith(".gz"):
        return gzip.open(path, mode + "t", encoding="utf-8")  # type: ignore[return-value]
    return open(path, mode, encoding="utf-8")


def _key_args(call: str, args: list[Any]) -> list[Any]:
    return args[:2] if call == "samples" else args


def _key(call: str, args: list[Any]) -> str:
    return call + json.dumps(_key_args(call, list(args)), separators=(",", ":"))


def _binding_version() -> str | None:
    try:
        from importlib.metadata import version

        return version("nvidia-ml-py")
    except Exception:  # noqa: BLE001 - metadata only
        return None


def rebuild_error(code: int | str) -> BaseException:
    """The exception a recorded error code stands for (same pynvml subclass)."""
    if code == "LibraryMismatch":
        return pynvml.NVMLLibraryMismatchError("recorded NVMLLibraryMismatchError")
    if isinstance(code, int):
        return pynvml.NVMLError(code)
    return RuntimeError(f"recorded non-NVML error {code}")


class RecordingNvml:
    """Wraps a backend and writes every call, its arguments and answer to JSON lines."""

    def __init__(self, inner: NvmlBackend, path: str | os.PathLike[str]) -> None:
        self.inner = inner
        self.path = Path(path)
        self._lock = threading.Lock()
        self._f = _open(self.path, "w")
        meta = {
            "format": "iejtui-nvml-trace/1",
            "pynvml": _binding_version(),
            "host": socket.gethostname(),
            "started": time.time(),
        }
        self._write({"meta": meta})

    def _write(self, obj: dict[str, Any]) -> None:
        line = json.dumps(obj, separators=(",", ":"))
        with self._lock:
            if self._f is not None:
                self._f.write(line + "\n")

    def tick_time(self, now: float) -> float:
        now = self.inner.tick_time(now)
        self._write({"t": round(time.monotonic(), 6), "tick": now})
        return now

    def _call(self, name: str, *args: Any) -> Any:
        t = time.monotonic()
        t0 = time.perf_counter()
        rec: dict[str, Any] = {"t": round(t, 6), "call": name, "args": list(args)}
        try:
            value = getattr(self.inner, name)(*args)
        except Exception as exc:
            rec["us"] = round((time.perf_counter() - t0) * 1e6, 1)
            rec["err"] = error_code(exc)
            self._write(rec)
            raise
        rec["us"] = round((time.perf_counter() - t0) * 1e6, 1)
        rec["ok"] = value
        self._write(rec)
        return value

    def flush(self) -> None:
        with self._lock:
            if self._f is not None:
                self._f.flush()

    def close(self) -> None:
        with self._lock:
            if self._f is not None:
                self._f.close()
                self._f = None

    def shutdown(self) -> None:
        try:
            self._call("shutdown")
        finally:
            self.close()


def _forwarder(name: str) -> Any:
    def call(self: RecordingNvml, *args: Any) -> Any:
        return self._call(name, *args)

    call.__name__ = name
    return call


for _name in BACKEND_CALLS:
    if _name != "shutdown":
        setattr(RecordingNvml, _name, _forwarder(_name))


def read_trace(path: str | os.PathLike[str]) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """(meta, records) of a recording."""
    meta: dict[str, Any] = {}
    records: list[dict[str, Any]] = []
    with _open(Path(path), "r") as f:
        for line in f:
            line = line.strip()
            if not line:
                continue
            obj = json.loads(line)
            if "meta" in obj:
                meta = obj["meta"]
            else:
                records.append(obj)
    return meta, records


class ReplayNvml:
    """Serves a recording made by ``RecordingNvml`` (see the module docstring)."""

    def __init__(self, path: str | os.PathLike[str], rebase_to: float | None = None) -> None:
        self.path = Path(path)
        self.meta, records = read_trace(path)
        self.ticks: list[float] = [r["tick"] for r in records if "tick" in r]
        self._tick_mono: list[float] = [r["t"] for r in records if "tick" in r]
        self._queues: dict[str, deque[dict[str, Any]]] = {}
        for r in records:
            if "call" in r:
                self._queues.setdefault(_key(r["call"], r["args"]), deque()).append(r)
        first = self.ticks[0] if self.ticks else 0.0
        self.offset = (rebase_to - first) if rebase_to is not None else 0.0
        self._pos = 0
        self._lock = threading.Lock()

    def delays(self) -> list[float]:
        """Recorded seconds between consecutive ticks."""
        t = self._tick_mono
        return [b - a for a, b in pairwise(t)]

    def remaining(self) -> int:
        """Recorded answers not yet served."""
        return sum(len(q) for q in self._queues.values())

    @property
    def ticks_left(self) -> int:
        return len(self.ticks) - self._pos

    def tick_time(self, now: float) -> float:
        with self._lock:
            if self._pos >= len(self.ticks):
                raise ReplayFinished(f"{self.path.name}: all {len(self.ticks)} ticks replayed")
            t = self.ticks[self._pos]
            self._pos += 1
        return t + self.offset

    def _serve(self, name: str, *args: Any) -> Any:
        key = _key(name, list(args))
        with self._lock:
            q = self._queues.get(key)
            if not q:
                raise ReplayMismatch(f"no recorded answer left for {name}{tuple(args)}")
            rec = q.popleft()
        if "err" in rec:
            raise rebuild_error(rec["err"])
        return self._shift(name, rec["ok"])

    def _shift(self, name: str, value: Any) -> Any:
        if not self.offset:
            return value
        off_us = round(self.offset * 1e6)
        if name == "samples":
            return [[ts + off_us, v] for ts, v in value]
        if name == "field_values":
            return [[f, s, r, v, ts + off_us if ts else ts] for f, s, r, v, ts in value]
        return value


def _server(name: str) -> Any:
    def call(self: ReplayNvml, *args: Any) -> Any:
        return self._serve(name, *args)

    call.__name__ = name
    return call


for _name in BACKEND_CALLS:
    setattr(ReplayNvml, _name, _server(_name))


def replay_ticks(collector: Any, replay: ReplayNvml) -> Iterator[tuple[float, list, list]]:
    """Drive ``collector`` (already opened on ``replay``) through every recorded tick,
    as fast as possible: yields ``(tick_time, frames, events)``."""
    while replay.ticks_left:
        nxt = replay.ticks[replay._pos] + replay.offset
        frames, events = collector.tick(nxt)
        yield nxt, frames, events
