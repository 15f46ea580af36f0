"""Reading engine logs for people: tail, follow, secrets masked."""

from __future__ import annotations

import json
import time
from collections import deque
from pathlib import Path
from typing import Iterator

from iejtui.paths import JournalPaths
from iejtui.redact import redact_by_fingerprints


def fingerprints_path(paths: JournalPaths, run_id: int) -> Path:
    return paths.runtime / "redact" / f"{run_id}.json"


def save_fingerprints(paths: JournalPaths, run_id: int, record: dict) -> None:
    folder = paths.runtime / "redact"
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    p = fingerprints_path(paths, run_id)
    p.write_text(json.dumps(record))
    p.chmod(0o600)


def _record(paths: JournalPaths, run_id: int) -> dict | None:
    try:
        return json.loads(fingerprints_path(paths, run_id).read_text())
    except (OSError, ValueError):
        return None


def load_fingerprints(paths: JournalPaths, run_id: int) -> dict | None:
    """The run's fingerprint record, None when it has none (or it cannot be read)."""
    return _record(paths, run_id)


def read_tail(paths: JournalPaths, run: dict, n: int) -> list[str]:
    rec = _record(paths, run["id"])
    path = Path(run["log_path"])
    lines: deque[str] = deque(maxlen=n)
    for p in (path.with_name(path.name + ".1"), path):
        try:
            with open(p, "rb") as f:
                for raw in f:
                    lines.append(raw.decode("utf-8", "replace").rstrip("\n"))
        except OSError:
            continue
    return [redact_by_fingerprints(ln, rec) for ln in lines]


def follow_log(paths: JournalPaths, run: dict, poll: float = 0.25) -> Iterator[str]:
    """Yield new lines as the engine writes them (survives copytruncate rotation)."""
    rec = _record(paths, run["id"])
    path = Path(run["log_path"])
    offset = path.stat().st_size if path.exists() else 0
    buf = b""
    while True:
        try:
            size = path.stat().st_size
        except OSError:
            size = 0
        if size < offset:
            offset = 0
        if size > offset:
            with open(path, "rb") as f:
                f.seek(offset)
                data = f.read(size - offset)
            offset = size
            buf += data
            *complete, buf = buf.split(b"\n")
            for raw in complete:
                yield redact_by_fingerprints(raw.decode("utf-8", "replace"), rec)
        else:
            time.sleep(poll)
