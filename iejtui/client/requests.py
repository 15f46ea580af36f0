"""The control API's request bodies as dataclasses, shared by the client and the API.

Decisions:
- The client builds one of these and sends ``to_json()``; the API parses the body it got with
  ``from_json()``, which first runs the checks of ``iejtui.client.validate`` on the raw dict
  (same messages, same 400s as before) and then fills the typed fields.
- ``to_json()`` leaves out fields that are None: every handler reads its body with
  ``.get()``, so a missing key and a null one meant the same thing already.
- Keys a request does not name travel in ``extra`` untouched (the dashboard sends more than
  the handlers read; the engine profile resolver reads some of them).
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any, ClassVar, Mapping

from iejtui.client import validate


@dataclass
class _Body:
    """A JSON object body with named fields; unknown keys ride along in ``extra``."""

    check: ClassVar[Any] = None
    extra: dict[str, Any] = field(default_factory=dict, kw_only=True)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]):
        if cls.check is not None:
            cls.check(data)
        names = [f.name for f in fields(cls) if f.name != "extra"]
        known = {n: data[n] for n in names if n in data}
        return cls(**known, extra={k: v for k, v in data.items() if k not in names})

    def to_json(self) -> dict[str, Any]:
        out = dict(self.extra)
        for f in fields(self):
            if f.name != "extra" and getattr(self, f.name) is not None:
                out[f.name] = getattr(self, f.name)
        return out


@dataclass
class EngineRequest(_Body):
    """POST /engines: start a profile or an ad-hoc command line, or (``attach``) adopt a URL."""

    check: ClassVar[Any] = staticmethod(validate.engine_request)
    name: str | None = None
    profile: str | None = None
    kind: str | None = None
    argv: list[str] | None = None
    env: dict[str, str] | None = None
    cwd: str | None = None
    url: str | None = None
    attach: bool | None = None
    profiling: bool | None = None  # launch ready to profile (vLLM --profiler-config; iejtui.profiling.launch)


@dataclass
class BenchRequest(_Body):
    """POST /benches: load-generator flags against an engine (or a ``--base-url`` in argv)."""

    check: ClassVar[Any] = staticmethod(validate.bench_request)
    engine: str | None = None
    argv: list[str] | None = None
    name: str | None = None
    cwd: str | None = None
    # --find-max-load: a load search for the named SLO (iejtui.service.bench_search)
    find_max_load: bool | None = None
    slo: str | None = None
    tolerance: str | None = None
    probe_seconds: float | None = None
    # --profile: the engine's profiler over the measured window (iejtui.service.profiling)
    profile: bool | None = None
    profile_seconds: float | None = None


@dataclass
class ProfileRequest(_Body):
    """POST /profiles: a profiler window of ``seconds`` on a running engine (a ``profile`` run)."""

    check: ClassVar[Any] = staticmethod(validate.profile_request)
    engine: str | None = None
    seconds: float | None = None
    name: str | None = None


@dataclass
class RecordingRequest(_Body):
    """POST /recordings: a named window of samples, open-ended or ``duration`` seconds."""

    check: ClassVar[Any] = staticmethod(validate.recording_request)
    name: str | None = None
    duration: float | None = None


@dataclass
class ImportRequest(_Body):
    """POST /imports: one Prometheus instance's window (Unix seconds) as an imported run."""

    check: ClassVar[Any] = staticmethod(validate.import_request)
    prometheus: str | None = None
    instance: str | None = None
    start: float | None = None
    end: float | None = None
    engine: str | None = None
    name: str | None = None

    # "from" is a Python keyword: the fields are start/end, the wire keys from/to
    _WIRE: ClassVar[dict[str, str]] = {"from": "start", "to": "end"}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]):
        cls.check(data)
        renamed = {cls._WIRE.get(k, k): v for k, v in data.items()}
        names = [f.name for f in fields(cls) if f.name != "extra"]
        return cls(**{n: renamed[n] for n in names if n in renamed},
                   extra={k: v for k, v in renamed.items() if k not in names})

    def to_json(self) -> dict[str, Any]:
        back = {v: k for k, v in self._WIRE.items()}
        return {back.get(k, k): v for k, v in super().to_json().items()}


@dataclass
class MatrixRequest(_Body):
    """POST /matrices: run a matrix file (``fresh``: forget done cells; ``retry_failed``)."""

    check: ClassVar[Any] = staticmethod(validate.matrix_request)
    file: str | None = None
    fresh: bool | None = None
    retry_failed: bool | None = None


@dataclass
class StopRequest(_Body):
    """POST /service/stop: stop the service (``keep_engines``: leave its engines running)."""

    check: ClassVar[Any] = staticmethod(validate.stop_request)
    keep_engines: bool | None = None


@dataclass
class DeleteRequest(_Body):
    """POST /runs/delete: delete runs, with the runs that belong to them (``with_children``),
    even ones written into a day log (``force``); the rules: ``iejtui.store.deletion``."""

    check: ClassVar[Any] = staticmethod(validate.delete_request)
    ids: list[int] | None = None
    with_children: bool | None = None
    force: bool | None = None


@dataclass
class TagRequest(_Body):
    """POST /runs/{id}/tags: tags to add and remove, and the day log they belong to."""

    add: list[str] | None = None
    remove: list[str] | None = None
    day: int | None = None
