"""The service's answers, typed for readers and type checkers (``TypedDict``: at run time they
stay the plain dicts the API sends, so ``--json`` prints them unchanged and the dashboard
reads them as before). ``total=False`` where the service adds keys over time."""

from __future__ import annotations

from typing import Any, TypedDict


class EngineInfo(TypedDict, total=False):
    """GET /engines, /engines/{name}; POST /engines, /engines/{name}/stop."""
    name: str
    kind: str
    status: str  # starting, ready, crashed, failed, stopped, interrupted
    phase: str
    url: str  # redacted: userinfo and tokens masked
    pid: int | None
    pgid: int | None
    run_id: int
    owned: bool
    started_at: float
    facts: dict[str, Any]
    scrape_error: str | None
    last_scrape_ok: float | None
    warnings: list[str]
    error_lines: list[str]
    advisor: list[dict[str, Any]]  # GET /engines: findings firing on it now ({rule, severity, title})


class EngineLog(TypedDict):
    """GET /engines/{name}/log?lines=N."""
    lines: list[str]
    path: str | None


class BenchInfo(TypedDict, total=False):
    """GET /benches, /benches/{run_id}; POST /benches, /benches/{run_id}/cancel."""
    run_id: int
    name: str
    engine: str | None
    status: str
    progress: dict[str, Any]
    started_at: float
    reason: str | None
    warnings: list[str]
    summary_text: str
    result_file: str | None


class ProfileInfo(TypedDict, total=False):
    """POST /profiles, GET /profiles/{run_id}: a profile run (``profile``: its window, files, summary)."""
    run_id: int
    name: str
    engine: str
    seconds: float
    status: str
    reason: str | None
    profile: dict[str, Any] | None


class StatusReply(TypedDict, total=False):
    """GET /status: the service, its live engines, write and journal-check problems, GPUs."""
    service: dict[str, Any]
    engines: list[EngineInfo]
    write_error: str | None
    journal_check: dict[str, Any] | None
    gpus: Any
    advisor: dict[str, Any]  # {"firing": [{run_id, rule, severity, title, message, knob, since}], "cost_ms"}


class Stopping(TypedDict):
    """POST /service/stop."""
    stopping: bool
    pid: int


class RecordingInfo(TypedDict, total=False):
    """POST /recordings (run_id, name, engines); POST /recordings/{run_id}/stop (run_id, status)."""
    run_id: int
    name: str
    engines: list[str]
    status: str


class ImportInfo(TypedDict, total=False):
    """POST /imports: the imported run and how much it holds."""
    run_id: int
    name: str
    ticks: int
    samples: int
    instance: str
    engines: list[str]
    gpus: list[str]
    query: str


class DeletedRuns(TypedDict, total=False):
    """POST /runs/delete (``iejtui.store.deletion``, ``iejtui.runfiles``)."""
    deleted: list[dict[str, Any]]  # {"id", "kind", "name"} per run gone
    taken_along: list[int]          # of those, the ones not named (--with-children)
    ticks: int
    requests: int
    events: int
    files: int                      # files and folders removed from the runtime folder
    bytes: int                      # their size


class TagsInfo(TypedDict, total=False):
    """POST /runs/{run_id}/tags."""
    id: int
    tags: list[str]
    day: int | None


# A matrix's progress (iejtui.matrix.state.progress_view): many keys, read by the CLI's
# `matrix status` and the dashboard; kept a plain mapping here.
MatrixProgress = dict[str, Any]
