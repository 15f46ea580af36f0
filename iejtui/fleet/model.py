"""Pure: Prometheus query results -> hosts, their GPUs (``GpuPanel``), engines (``EnginePanel``
with ``EngineFigures`` computed by ``iejtui.derive.engine``) and runs.

Nothing here talks HTTP: ``iejtui.fleet.view`` asks the queries and hands their JSON here,
so the maths is unit-tested with plain dicts. A host is a Prometheus ``instance``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from iejtui.derive.engine import engine_figures
from iejtui.derive.metric_map import VLLM, EngineMetricMap
from iejtui.derive.series import Series, SeriesGetter, first_present, get_series
from iejtui.fleet import names as N
from iejtui.viewmodel.gpu import gpu_panels
from iejtui.viewmodel.models import EnginePanel, GpuPanel

Row = tuple[str, dict[str, str], list[float], list[float]]  # name, labels (no __name__), ts, values

_NAME_OK = re.compile(r"^[A-Za-z_:][A-Za-z0-9_:]*$")


# ---- PromQL text ------------------------------------------------------------------------
def name_regex(names: Iterable[str]) -> str:
    out = sorted(set(names))
    for n in out:
        if not _NAME_OK.match(n):
            raise ValueError(f"not a metric name: {n!r}")
    return "|".join(out)


def quote_regex(values: Iterable[str]) -> str:
    """Exact-match alternation of label values, escaped for a PromQL string."""
    return "|".join(re.escape(v).replace("\\", "\\\\").replace('"', '\\"') for v in sorted(set(values)))


def selector(names: Iterable[str], instances: Iterable[str] | None = None, extra: str = "") -> str:
    parts = [f'__name__=~"{name_regex(names)}"']
    if instances is not None:
        insts = sorted(set(instances))
        if len(insts) == 1:
            parts.append('instance="' + insts[0].replace("\\", "\\\\").replace('"', '\\"') + '"')
        else:
            parts.append(f'instance=~"{quote_regex(insts)}"')
    if extra:
        parts.append(extra)
    return "{" + ",".join(parts) + "}"


# ---- results ----------------------------------------------------------------------------
def parse_result(data: Mapping[str, Any]) -> list[Row]:
    """A vector or matrix result as rows; non-numeric values are NaN."""
    rows: list[Row] = []
    for s in data.get("result") or []:
        labels = dict(s.get("metric") or {})
        name = labels.pop("__name__", "")
        points = s.get("values") or ([s["value"]] if "value" in s else [])
        ts, vs = [], []
        for t, v in points:
            try:
                val = float(v)
            except (TypeError, ValueError):
                val = math.nan
            ts.append(float(t))
            vs.append(val)
        rows.append((name, labels, ts, vs))
    return rows


def at_time(rows: list[Row], t: float) -> list[Row]:
    """An instant vector's points placed exactly at the evaluation time ``t``."""
    return [(n, lab, [t] * len(ts), vs) for n, lab, ts, vs in rows]


def getter(rows: Iterable[Row]) -> SeriesGetter:
    """A ``SeriesGetter`` over rows (several rows of one series are merged in time order)."""
    table: dict[str, dict[tuple, tuple[dict, dict[float, float]]]] = {}
    for name, labels, ts, vs in rows:
        key = tuple(sorted(labels.items()))
        entry = table.setdefault(name, {}).setdefault(key, (labels, {}))
        entry[1].update(zip(ts, vs))
    flat: dict[str, list[Series]] = {}
    for name, by in table.items():
        lst = []
        for labels, pts in by.values():
            ks = sorted(pts)
            lst.append((labels, ks, [pts[k] for k in ks]))
        flat[name] = lst

    def get(name: str, flt: Mapping[str, str] | None = None, /) -> list[Series]:
        return [x for x in flat.get(name, []) if not flt or all(x[0].get(k) == v for k, v in flt.items())]
    return get


# ---- the model --------------------------------------------------------------------------
@dataclass(frozen=True)
class FleetEngine:
    instance: str
    name: str
    kind: str | None
    run_id: int | None
    names: str  # "iejtui" (canonical names from an iejtui service) or "vllm" (a scraped vLLM)
    panel: EnginePanel
    totals: dict[str, float] = field(default_factory=dict)  # newest counter readings


@dataclass(frozen=True)
class FleetHost:
    instance: str
    job: str | None
    up: bool | None
    hostname: str | None
    iejtui: bool  # an iejtui service exports it (else: DCGM exporter / vLLM scraped directly)
    gpus: tuple[GpuPanel, ...] = ()
    engines: tuple[FleetEngine, ...] = ()
    runs: tuple[dict[str, Any], ...] = ()
    newest: float | None = None


@dataclass(frozen=True)
class FleetSnapshot:
    url: str
    t: float
    window_s: float
    hosts: tuple[FleetHost, ...]
    total_hosts: int
    offset: int = 0
    error: str | None = None  # "Prometheus unreachable ..." / "query failed ..."
    load: dict[str, Any] = field(default_factory=dict)
    refresh_s: float | None = None


def discover(count_rows: list[Row], up_rows: list[Row]) -> list[dict[str, Any]]:
    """Hosts: instances with GPU or engine series, plus targets of the same jobs that are down."""
    hosts: dict[str, dict[str, Any]] = {}
    for _, labels, _, _ in count_rows:
        inst = labels.get("instance")
        if inst:
            hosts.setdefault(inst, {"instance": inst, "job": labels.get("job"), "up": None})
    jobs = {h["job"] for h in hosts.values()}
    for _, labels, _, vs in up_rows:
        inst = labels.get("instance")
        if not inst or not vs:
            continue
        if inst in hosts:
            hosts[inst]["up"] = vs[-1] == 1.0
        elif labels.get("job") in jobs and vs[-1] != 1.0:
            hosts[inst] = {"instance": inst, "job": labels.get("job"), "up": False}
    return [hosts[k] for k in sorted(hosts)]


def gpu_rows_to_panels(rows: list[Row], fresh: Mapping[str, float], t: float, interval_s: float) -> list[GpuPanel]:
    """GPU panels of one host from its DCGM-named series (latest values) and per-UUID sample time."""
    static: dict[str, dict[str, Any]] = {}
    conv: list[Row] = []
    for name, labels, ts, vs in rows:
        uuid = labels.get("UUID") or labels.get("uuid") or labels.get("gpu", "")
        st = static.setdefault(uuid, {"uuid": uuid})
        if labels.get("gpu", "").isdigit():
            st["index"] = int(labels["gpu"])
        st["name"] = labels.get("modelName") or st.get("name")
        hit = N.from_dcgm(name, vs[-1]) if vs else None
        if hit is None:
            continue
        at = fresh.get(uuid, ts[-1] if ts else t)
        conv.append((hit[0], {"uuid": uuid}, [at], [hit[1]]))
    ordered = sorted(static.values(), key=lambda g: (g.get("index", 1 << 30), g["uuid"]))
    return gpu_panels(ordered, getter(conv), t - interval_s, t, live=True, interval_s=interval_s)


def _engine_key(labels: Mapping[str, str]) -> str:
    return labels.get(N.ENGINE_NAME_LABEL) or labels.get("job") or "engine"


def _run_no(labels: Mapping[str, str]) -> int:
    r = labels.get(N.RUN_ID_LABEL, "")
    return int(r) if r.isdigit() else -1


def engine_groups(rows: Iterable[Row]) -> dict[str, list[Row]]:
    """Engine series by engine; of an engine restarted (a new run) only the newest run's."""
    out: dict[str, list[Row]] = {}
    for row in rows:
        if row[0] in (N.RUN_INFO, N.SERVICE_INFO):
            continue
        out.setdefault(_engine_key(row[1]), []).append(row)
    for key, lst in out.items():
        newest = max(_run_no(r[1]) for r in lst)
        out[key] = [r for r in lst if _run_no(r[1]) == newest]
    return out


def _totals(get: SeriesGetter, mmap: EngineMetricMap) -> dict[str, float]:
    out = {}
    for key in ("generation_tokens", "prompt_tokens", "request_success", "preemptions"):
        hit = first_present(get, mmap.names(key))
        if hit:
            vals = [vs[-1] for _, _, vs in hit[1] if vs and math.isfinite(vs[-1])]
            if vals:
                out[key] = math.fsum(vals)
    return out


def engine_from_rows(instance: str, name: str, rows: list[Row], runs: list[dict[str, Any]], t0: float, t1: float,
                     newest: float | None, stale_s: float) -> FleetEngine:
    """One engine's panel over ``[t0, t1]`` from its series at ``t0`` and ``t1`` (and in between)."""
    names = {r[0] for r in rows}
    mmap = N.engine_map(names)
    get = getter(rows)
    figs = engine_figures(get, t0, t1, mmap)
    labels = rows[0][1] if rows else {}
    run_id = labels.get(N.RUN_ID_LABEL)
    run = next((r for r in runs if str(r.get("run_id")) == str(run_id)), {}) if run_id else {}
    model = run.get("model") or next((r[1].get("model_name") for r in rows if r[1].get("model_name")), None)
    kind = labels.get(N.ENGINE_KIND_LABEL) or (mmap.kind if mmap is VLLM else None)
    stale = newest if newest is not None and t1 - newest > stale_s else None
    panel = EnginePanel(
        run_id=int(run_id) if run_id and run_id.isdigit() else 0, name=name, engine_kind=kind,
        status=run.get("status") or "ready", phase=None, model=model, url=None, started_at=t0, ended_at=None,
        reason=None, newest=newest, stale_since=stale, rate_window_s=t1 - t0, latency_window_s=t1 - t0,
        figures=figs, latency=figs)
    return FleetEngine(instance=instance, name=name, kind=kind, run_id=panel.run_id or None,
                       names="iejtui" if mmap is N.CANONICAL else "vllm", panel=panel, totals=_totals(get, mmap))


def runs_from_rows(rows: Iterable[Row]) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {}
    for name, labels, _, _ in rows:
        if name != N.RUN_INFO:
            continue
        r = {k: labels.get(k) for k in ("run_id", "run_name", "run_kind", "status", N.ENGINE_NAME_LABEL,
                                        "engine_kind", "model")}
        r["tags"] = [t for t in (labels.get("tags") or "").split(",") if t]
        out.setdefault(labels.get("instance", ""), []).append(r)
    for lst in out.values():
        lst.sort(key=lambda r: int(r["run_id"]) if (r["run_id"] or "").isdigit() else 0)
    return out


def hostnames(rows: Iterable[Row]) -> dict[str, str]:
    out = {}
    for name, labels, _, _ in rows:
        if labels.get("Hostname") and labels.get("instance"):
            out.setdefault(labels["instance"], labels["Hostname"])
    return out


def by_instance(rows: Iterable[Row]) -> dict[str, list[Row]]:
    out: dict[str, list[Row]] = {}
    for row in rows:
        out.setdefault(row[1].get("instance", ""), []).append(row)
    return out


def to_json(snap: FleetSnapshot) -> dict[str, Any]:
    def clean(x):
        if isinstance(x, float) and not math.isfinite(x):
            return None
        if isinstance(x, dict):
            return {str(k): clean(v) for k, v in x.items()}
        if isinstance(x, (list, tuple, set, frozenset)):
            return [clean(v) for v in x]
        return x
    return clean(asdict(snap))
