"""iejtui.toml: engine profiles, service settings, SLOs. Every error names file, line and fix."""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from iejtui.errors import UserError

ENGINE_KINDS = ("vllm", "trtllm", "sglang", "llamacpp", "triton", "openai")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")  # a name the environment can hold: no '=', no NUL


@dataclass
class EngineProfile:
    name: str
    kind: str
    argv: list[str] = field(default_factory=list)
    url: str | None = None
    env: dict[str, str] = field(default_factory=dict)
    cwd: str | None = None
    ready_timeout: float = 900.0
    stop_timeout: float = 30.0


@dataclass
class ServiceSettings:
    scrape_interval: float = 1.0
    gpu_interval: float = 1.0
    metrics_listen: str | None = None
    log_max_bytes: int = 20 * 1024 * 1024


@dataclass
class Config:
    path: Path | None
    service: ServiceSettings = field(default_factory=ServiceSettings)
    engines: dict[str, EngineProfile] = field(default_factory=dict)
    raw: dict[str, Any] = field(default_factory=dict)

    def profile(self, name: str) -> EngineProfile:
        try:
            return self.engines[name]
        except KeyError:
            known = ", ".join(sorted(self.engines)) or "none defined"
            where = self.path or "iejtui.toml"
            raise UserError(f"unknown engine profile {name!r} (profiles in {where}: {known}); "
                            f"add [engines.{name}] there or pass --kind and a command after --") from None


def validate_name(name: str, what: str = "engine name") -> str:
    if not _NAME.match(name):
        raise UserError(f"invalid {what} {name!r}: use letters, digits, '.', '_' or '-' (at most 64)")
    return name


def _line_of(text: str, needle: str) -> int | None:
    for i, line in enumerate(text.splitlines(), 1):
        if needle in line:
            return i
    return None


def _fail(path: Path, text: str, table: str, msg: str) -> UserError:
    line = _line_of(text, f"[{table}]") if table else None
    where = f"{path}:{line}" if line else str(path)
    return UserError(f"{where}: {msg}")


_PROFILE_KEYS = {"kind", "argv", "url", "env", "cwd", "ready_timeout", "stop_timeout", "description"}
_SERVICE_KEYS = {"scrape_interval", "gpu_interval", "metrics_listen", "log_max_bytes"}
_TOP_KEYS = {"engines", "service", "slo", "cost", "journal", "advisor"}


def _engine(path: Path, text: str, name: str, spec: Any) -> EngineProfile:
    table = f"engines.{name}"
    if not isinstance(spec, dict):
        raise _fail(path, text, "", f"engines.{name} must be a table ([engines.{name}])")
    if not _NAME.match(name):
        raise _fail(path, text, table, f"profile name {name!r}: use letters, digits, '.', '_' or '-'")
    unknown = set(spec) - _PROFILE_KEYS
    if unknown:
        raise _fail(path, text, table, f"unknown key(s) {', '.join(sorted(unknown))} in [{table}] "
                                       f"(known: {', '.join(sorted(_PROFILE_KEYS))})")
    kind = spec.get("kind")
    if kind not in ENGINE_KINDS:
        raise _fail(path, text, table, f"[{table}] kind = {kind!r}: must be one of {', '.join(ENGINE_KINDS)}")
    argv = spec.get("argv", [])
    if isinstance(argv, str):
        raise _fail(path, text, table, f"[{table}] argv must be a list of strings, not a shell string "
                                       f"(write argv = [\"vllm\", \"serve\", ...])")
    if not isinstance(argv, list) or not all(isinstance(a, (str, int, float)) for a in argv):
        raise _fail(path, text, table, f"[{table}] argv must be a list of strings")
    if not argv and kind != "openai" and not spec.get("url"):
        raise _fail(path, text, table, f"[{table}] needs argv (a command to launch) or url (an engine to attach)")
    env = spec.get("env", {})
    if not isinstance(env, dict) or not all(isinstance(v, (str, int, float)) for v in env.values()):
        raise _fail(path, text, table, f"[{table}] env must be a table of strings, e.g. env = {{ X = \"1\" }}")
    bad_env = [k for k in env if not ENV_NAME.match(k)]
    if bad_env:
        raise _fail(path, text, table, f"[{table}] env name {bad_env[0]!r} is not a variable name "
                                       f"(letters, digits and _, not starting with a digit; no '=')")
    url = spec.get("url")
    if url is not None and (not isinstance(url, str) or not url.startswith(("http://", "https://"))):
        raise _fail(path, text, table, f"[{table}] url must start with http:// or https://")
    if spec.get("cwd") is not None and not isinstance(spec["cwd"], str):
        raise _fail(path, text, table, f"[{table}] cwd must be a string (a folder path)")
    for key in ("ready_timeout", "stop_timeout"):
        if key in spec and (not isinstance(spec[key], (int, float)) or spec[key] <= 0):
            raise _fail(path, text, table, f"[{table}] {key} must be a positive number of seconds")
    return EngineProfile(
        name=name, kind=kind, argv=[str(a) for a in argv], url=url,
        env={str(k): str(v) for k, v in env.items()}, cwd=spec.get("cwd"),
        ready_timeout=float(spec.get("ready_timeout", 900.0)), stop_timeout=float(spec.get("stop_timeout", 30.0)),
    )


def _service(path: Path, text: str, spec: Any) -> ServiceSettings:
    if not isinstance(spec, dict):
        raise _fail(path, text, "", "service must be a table ([service])")
    unknown = set(spec) - _SERVICE_KEYS
    if unknown:
        raise _fail(path, text, "service", f"unknown key(s) {', '.join(sorted(unknown))} in [service] "
                                           f"(known: {', '.join(sorted(_SERVICE_KEYS))})")
    s = ServiceSettings()
    for key in ("scrape_interval", "gpu_interval"):
        if key in spec:
            v = spec[key]
            if not isinstance(v, (int, float)) or not 0.1 <= v <= 3600:
                raise _fail(path, text, "service", f"[service] {key} = {v!r}: must be seconds between 0.1 and 3600")
            setattr(s, key, float(v))
    if "metrics_listen" in spec:
        v = spec["metrics_listen"]
        if not isinstance(v, (str, int)) or isinstance(v, bool):
            raise _fail(path, text, "service", f"[service] metrics_listen = {v!r}: must be a string "
                                               f"\"ADDR:PORT\" (or a port number)")
        s.metrics_listen = str(v)
    if "log_max_bytes" in spec:
        v = spec["log_max_bytes"]
        if not isinstance(v, int) or isinstance(v, bool) or v < 1:
            raise _fail(path, text, "service", f"[service] log_max_bytes = {v!r}: must be a positive "
                                               f"integer number of bytes (e.g. log_max_bytes = 20971520)")
        s.log_max_bytes = v
    return s


def load_config(path: Path) -> Config:
    """Parse and validate iejtui.toml; a missing file is an empty config."""
    if not path.exists():
        return Config(path=None)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise UserError(f"{path}: cannot read: {exc}") from None
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        m = re.search(r"\(at line (\d+), column (\d+)\)", str(exc))
        msg = re.sub(r"\s*\(at line \d+, column \d+\)", "", str(exc))
        where = f"{path}:{m.group(1)}:{m.group(2)}" if m else str(path)
        raise UserError(f"{where}: invalid TOML: {msg}") from None
    unknown = set(raw) - _TOP_KEYS
    if unknown:
        raise UserError(f"{path}: unknown top-level key(s) {', '.join(sorted(unknown))} "
                        f"(known: {', '.join(sorted(_TOP_KEYS))})")
    engines_raw = raw.get("engines", {})
    if not isinstance(engines_raw, dict):
        raise _fail(path, text, "", "engines must be a table of profiles ([engines.NAME])")
    engines = {name: _engine(path, text, name, spec) for name, spec in engines_raw.items()}
    service = _service(path, text, raw.get("service", {}))
    _advisor(path, text, raw.get("advisor"))
    return Config(path=path, service=service, engines=engines, raw=raw)


def _advisor(path: Path, text: str, spec: Any) -> None:
    """``[advisor.rules.ID]`` overrides: checked here so a typo fails at load, not mid-run."""
    if spec is None:
        return
    if not isinstance(spec, dict) or set(spec) - {"rules"}:
        raise _fail(path, text, "advisor", "[advisor] holds only rule overrides: [advisor.rules.ID] tables")
    from iejtui.advisor.catalog import RULES
    from iejtui.advisor.overrides import apply_overrides
    try:
        apply_overrides(RULES, spec.get("rules") or {})
    except UserError as exc:
        raise UserError(f"{path}: {exc}") from None


def advisor_rules(config: Config):
    """The advisor's rules with this journal's overrides applied."""
    from iejtui.advisor.catalog import RULES
    from iejtui.advisor.overrides import apply_overrides
    return apply_overrides(RULES, ((config.raw or {}).get("advisor") or {}).get("rules") or {})
