"""Checking control-API request bodies before anything is created (pure functions).

Decisions: every POST body and query parameter is type-checked here, at the top of its
handler, before the service resolves a profile, creates a run row or launches a process;
a bad field is a ``UserError`` (HTTP 400, one line naming the field and what it must be).
Fields the handlers do not read are left alone (the dashboard sends extra ones). Strings
that reach ``execve`` (argv, env, cwd) may not hold NUL, and env names must be variable
names (no ``=``), because ``subprocess`` raises on those only after the run row exists.
"""

from __future__ import annotations

from typing import Any, Mapping

from iejtui.config import ENGINE_KINDS, ENV_NAME, validate_name
from iejtui.errors import UserError

_MISSING = object()


def _str(data: Mapping[str, Any], key: str, required: bool = False, nul_ok: bool = True) -> str | None:
    v = data.get(key, _MISSING)
    if v is _MISSING or v is None:
        if required:
            raise UserError(f"{key} is required (a string)")
        return None
    if not isinstance(v, str):
        raise UserError(f"{key} must be a string, not {type(v).__name__}")
    if not nul_ok and "\0" in v:
        raise UserError(f"{key} must not contain a NUL character")
    return v


def _bool(data: Mapping[str, Any], key: str) -> None:
    v = data.get(key)
    if v is not None and not isinstance(v, bool):
        raise UserError(f"{key} must be true or false, not {v!r}")


def _argv(data: Mapping[str, Any], key: str = "argv", non_empty: bool = True) -> None:
    v = data.get(key)
    if v is None:
        return
    if not isinstance(v, list) or not all(isinstance(a, str) for a in v):
        raise UserError(f"{key} must be a list of strings, e.g. [\"vllm\", \"serve\", \"MODEL\"]")
    if non_empty and not v:
        raise UserError(f"{key} must not be empty: give the command to launch")
    if any("\0" in a for a in v):
        raise UserError(f"{key} must not contain a NUL character")


def _name(data: Mapping[str, Any], key: str, what: str) -> None:
    v = _str(data, key)
    if v is not None:
        validate_name(v, what)


def engine_request(data: Mapping[str, Any]) -> None:
    """POST /v1/engines: start a profile, an ad-hoc command line, or attach to a URL."""
    _name(data, "name", "engine name")
    _name(data, "profile", "profile name")
    if not data.get("name") and not data.get("profile"):
        raise UserError("name is required (the engine's name, letters, digits, '.', '_' or '-')")
    kind = data.get("kind")
    if kind is not None and kind not in ENGINE_KINDS:
        raise UserError(f"unknown engine kind {kind!r}: use one of {', '.join(ENGINE_KINDS)}")
    _bool(data, "attach")
    _bool(data, "profiling")
    _argv(data)
    env = data.get("env")
    if env is not None:
        if not isinstance(env, dict) or not all(isinstance(v, str) for v in env.values()):
            raise UserError("env must be an object of strings, e.g. {\"CUDA_VISIBLE_DEVICES\": \"0\"}")
        for k, v in env.items():
            if not ENV_NAME.match(k):
                raise UserError(f"env name {k!r} is not a variable name (letters, digits and _, "
                                f"not starting with a digit; no '=')")
            if "\0" in v:
                raise UserError(f"env {k} must not contain a NUL character")
    _str(data, "cwd", nul_ok=False)
    url = _str(data, "url", required=bool(data.get("attach")))
    if url is not None and data.get("attach") and not url.startswith(("http://", "https://")):
        raise UserError(f"invalid URL {url!r}: give the engine's base URL, e.g. http://127.0.0.1:8000")


def bench_request(data: Mapping[str, Any]) -> None:
    """POST /v1/benches: load-generator flags, the target engine, the run's name and cwd."""
    _argv(data, non_empty=False)
    _str(data, "engine")
    _str(data, "name")
    _str(data, "cwd", nul_ok=False)
    _bool(data, "find_max_load")
    _str(data, "slo")
    _str(data, "tolerance")
    d = data.get("probe_seconds")
    if d is not None and (isinstance(d, bool) or not isinstance(d, (int, float)) or not d > 0):
        raise UserError(f"probe_seconds must be a positive number of seconds, not {d!r}")
    _bool(data, "profile")
    ps = data.get("profile_seconds")
    if ps is not None and (isinstance(ps, bool) or not isinstance(ps, (int, float)) or not ps > 0):
        raise UserError(f"profile_seconds must be a positive number of seconds, not {ps!r}")
    if ps is not None and not data.get("profile"):
        raise UserError("profile_seconds needs profile (--profile)")
    if data.get("profile") and not data.get("engine"):
        raise UserError("--profile needs --engine: only an engine iejtui launched with profiling can be profiled")
    if data.get("profile") and data.get("find_max_load"):
        raise UserError("--profile and --find-max-load do not mix: profile one bench run")
    if not data.get("find_max_load") and any(data.get(k) is not None for k in ("slo", "tolerance", "probe_seconds")):
        raise UserError("slo, tolerance and probe_seconds belong to a load search: set find_max_load")


def profile_request(data: Mapping[str, Any]) -> None:
    """POST /v1/profiles: the engine's name and a window of seconds (> 0, at most an hour)."""
    _name(data, "engine", "engine name")
    if not data.get("engine"):
        raise UserError("engine is required (the name of a running engine of this journal)")
    _name(data, "name", "profile run name")
    d = data.get("seconds")
    if isinstance(d, bool) or not isinstance(d, (int, float)) or not 0 < d <= 3600:
        raise UserError(f"seconds must be a number of seconds between 0 and 3600, not {d!r}")


def recording_request(data: Mapping[str, Any]) -> None:
    """POST /v1/recordings: a name and an optional duration in seconds (> 0)."""
    _name(data, "name", "recording name")
    d = data.get("duration")
    if d is not None and (isinstance(d, bool) or not isinstance(d, (int, float)) or not d > 0):
        raise UserError(f"duration must be a positive number of seconds, not {d!r}")


def matrix_request(data: Mapping[str, Any]) -> None:
    """POST /v1/matrices: the matrix file and the fresh / retry_failed flags."""
    _str(data, "file", required=True, nul_ok=False)
    _bool(data, "fresh")
    _bool(data, "retry_failed")


def import_request(data: Mapping[str, Any]) -> None:
    """POST /v1/imports: Prometheus URL, instance, window (Unix seconds), engine and name."""
    _str(data, "prometheus", required=True)
    _str(data, "instance", required=True)
    _str(data, "engine")
    _str(data, "name")
    for key in ("from", "to"):
        v = data.get(key)
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            raise UserError(f"{key} must be a number (Unix seconds), not {v!r}")


def delete_request(data: Mapping[str, Any]) -> None:
    """POST /v1/runs/delete: ids is a non-empty list of run ids; the flags are booleans."""
    ids = data.get("ids")
    if not isinstance(ids, list) or not ids or not all(isinstance(i, int) and not isinstance(i, bool) for i in ids):
        raise UserError(f"ids must be a non-empty list of run ids (integers), not {ids!r}")
    _bool(data, "with_children")
    _bool(data, "force")


def stop_request(data: Mapping[str, Any]) -> None:
    """POST /v1/service/stop: keep_engines is a boolean."""
    _bool(data, "keep_engines")


def log_lines(query: Mapping[str, str], default: int = 50) -> int:
    """``?lines=N`` of the log route: a whole number >= 0."""
    raw = query.get("lines")
    if raw is None:
        return default
    try:
        n = int(raw)
    except ValueError:
        raise UserError(f"lines must be a whole number >= 0, not {raw!r}") from None
    if n < 0:
        raise UserError(f"lines must be a whole number >= 0, not {n}")
    return n
