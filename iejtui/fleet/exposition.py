"""Pure: the service's newest samples as Prometheus metric families (prometheus_client).

Each sample carries the timestamp at which the service took it, so Prometheus stores the
service's own sample times and a window imported back matches the journal exactly. A
source that stops being sampled simply stops producing newer samples (a reader judges
staleness by the sample times, as the local dashboard does).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric

from iejtui.derive.engine import _capacities
from iejtui.derive.metric_map import EngineMetricMap
from iejtui.derive.series import Series, SeriesGetter, first_present, get_series
from iejtui.fleet import names as N
from iejtui.redact import redact_text

HOST_LABELS = ("gpu", "UUID", "device", "modelName", "Hostname")


def frames_getter(frames: Iterable[Any]) -> SeriesGetter:
    """A ``SeriesGetter`` over a few frames (one sample per series: the newest scrape)."""
    table: dict[str, list[Series]] = {}
    for f in frames:
        for s in f.samples:
            table.setdefault(s.name, []).append((dict(s.labels), [f.ts], [float(s.value)]))

    def get(name: str, flt: Mapping[str, str] | None = None, /) -> list[Series]:
        return [x for x in table.get(name, []) if not flt or all(x[0].get(k) == v for k, v in flt.items())]
    return get


def gpu_families(gpus: list[dict[str, Any]], hostname: str) -> list[Metric]:
    """One family per DCGM field; ``gpus``: ``{"static": {...}, "values": {name: value}, "ts": t}``."""
    fams: dict[str, GaugeMetricFamily] = {}

    def fam(field: str) -> GaugeMetricFamily:
        if field not in fams:
            fams[field] = GaugeMetricFamily(N.PREFIX + field, f"iejtui GPU sample, DCGM field {field} (DCGM units)",
                                            labels=HOST_LABELS)
        return fams[field]

    for g in gpus:
        st, vals, ts = g["static"], g["values"], g.get("ts")
        idx = str(st.get("index", ""))
        labels = [idx, str(st.get("uuid", "")), f"nvidia{idx}", str(st.get("name", "")), hostname]
        for name, field in N.GPU_EXPORT.items():
            v = vals.get(name)
            if v is None or not math.isfinite(v):
                continue
            t = g.get("ts_of", {}).get(name, ts)
            fam(field).add_metric(labels, N.to_dcgm_value(name, v), timestamp=t)
        total, used = vals.get("gpu.mem_total"), vals.get("gpu.mem_used")
        if total is not None and used is not None:
            free = (total - used - (vals.get("gpu.mem_reserved") or 0.0)) / (1024 * 1024)
            fam(N.FB_FREE).add_metric(labels, free, timestamp=ts)
    return list(fams.values())


def label_value(value: object) -> str:
    """A label value taken from an engine or a run, as the endpoint shows it: a path is
    reduced to its last component (``/home/alice/models/llama-8b`` -> ``llama-8b``; an
    HF id ``org/model`` -> ``model``), secrets masked. The endpoint has no auth, so the
    layout of someone's home directory, or a token, must not be readable from it."""
    s = redact_text(str(value))
    if "/" in s:
        s = s.rstrip("/").rsplit("/", 1)[-1] or s
    return s


def _relabel(labels: Mapping[str, str], mmap: EngineMetricMap, ident: Mapping[str, str],
             drop: Iterable[str] = ()) -> dict[str, str]:
    out = {}
    for k, v in labels.items():
        if k in drop or k == "le":
            continue
        if k == mmap.engine_label:
            k = "engine"
        elif k == mmap.reason_label:
            k = "finished_reason"
        elif k in ident:  # never let an engine label shadow ours
            k = "exported_" + k
        out[k] = label_value(v)
    out.update(ident)
    return out


class _Families:
    """Label sets differ between series of one family; prometheus_client wants them fixed
    per family, so samples are gathered first and the family is built at the end."""

    def __init__(self):
        self.rows: dict[str, tuple[str, list]] = {}

    def add(self, name: str, typ: str, labels: dict[str, str], value, ts: float | None) -> None:
        self.rows.setdefault(name, (typ, []))[1].append((labels, value, ts))

    def families(self) -> list[Metric]:
        out: list[Metric] = []
        for name, (typ, rows) in self.rows.items():
            keys = sorted({k for labels, _, _ in rows for k in labels})
            doc = f"iejtui canonical engine figure ({name.removeprefix(N.E)})"
            if typ == "counter":
                fam = CounterMetricFamily(name, doc, labels=keys)
            elif typ == "histogram":
                fam = HistogramMetricFamily(name, doc, labels=keys)
            else:
                fam = GaugeMetricFamily(name, doc, labels=keys)
            for labels, value, ts in rows:
                lv = [labels.get(k, "") for k in keys]
                if typ == "histogram":
                    buckets, total = value
                    fam.add_metric(lv, buckets, total, timestamp=ts)
                else:
                    fam.add_metric(lv, value, timestamp=ts)
            out.append(fam)
        return out


def _fmt_le(le: float) -> str:
    return "+Inf" if le == math.inf else repr(float(le))


def engine_samples(get: SeriesGetter, mmap: EngineMetricMap, ident: Mapping[str, str], out: _Families) -> None:
    """Canonical counters, gauges and histograms of one engine from its newest scrape."""
    def last(series: Series) -> tuple[float, float] | None:
        _, ts, vs = series
        return (ts[-1], vs[-1]) if ts and math.isfinite(vs[-1]) else None

    # counters (prefix hits pair with the queries of the same alias position: same unit)
    for key, fam in N.ENGINE_COUNTERS.items():
        if key in ("prefix_cache_hits", "prefix_cache_queries"):
            continue
        names = mmap.names(key)
        flt = dict(mmap.computed_prompt_filter) if key == "prompt_tokens_by_source" else None
        hit = first_present(get, names, flt)
        if hit is None:
            continue
        for series in hit[1]:
            if (p := last(series)) is not None:
                out.add(fam, "counter", _relabel(series[0], mmap, ident, drop=flt or ()), p[1], p[0])
    hits_names = mmap.names("prefix_cache_hits")
    for i, qname in enumerate(mmap.names("prefix_cache_queries")):
        queries = get_series(get, qname)
        if not queries:
            continue
        hname = hits_names[i] if i < len(hits_names) else None
        hits = get_series(get, hname) if hname else []
        if not hits and not (hname and "prefix_cache_hits" in mmap.zero_when_absent):
            break
        for series in queries:
            if (p := last(series)) is not None:
                out.add(N.ENGINE_COUNTERS["prefix_cache_queries"], "counter", _relabel(series[0], mmap, ident), p[1], p[0])
        for series in hits or [(s[0], s[1], [0.0] * len(s[1])) for s in queries]:
            if (p := last(series)) is not None:
                out.add(N.ENGINE_COUNTERS["prefix_cache_hits"], "counter", _relabel(series[0], mmap, ident), p[1], p[0])
        break
    # gauges
    for key in ("running", "waiting", "kv_usage"):
        hit = first_present(get, mmap.names(key))
        for series in hit[1] if hit else ():
            if (p := last(series)) is not None:
                v = p[1] * (mmap.kv_usage_scale / 100.0) if key == "kv_usage" else p[1]
                out.add(N.ENGINE_GAUGES[key], "gauge", _relabel(series[0], mmap, ident), v, p[0])
    caps = _capacities(get, mmap, None, math.inf)
    if caps:
        presence = first_present(get, mmap.names("running")) or first_present(get, mmap.names("kv_usage"))
        ts = presence[1][0][1][-1] if presence and presence[1][0][1] else None
        for eng, cap in caps.items():
            labels = dict(ident) | ({"engine": str(eng)} if eng is not None else {})
            out.add(N.ENGINE_GAUGES["kv_capacity_tokens"], "gauge", labels, cap, ts)
    # histograms
    for key, fam in N.ENGINE_HISTOGRAMS.items():
        hit = first_present(get, mmap.names(key), histogram=True)
        if hit is None:
            continue
        base = hit[0]
        buckets: dict[tuple, dict[float, tuple[float, float]]] = {}
        for labels, ts, vs in get(base + "_bucket", None):
            try:
                le = float(labels.get("le", "nan"))
            except ValueError:
                continue
            if ts and not math.isnan(le) and math.isfinite(vs[-1]):
                key_l = tuple(sorted((k, v) for k, v in labels.items() if k != "le"))
                buckets.setdefault(key_l, {})[le] = (ts[-1], vs[-1])
        sums = {tuple(sorted(lab.items())): (ts[-1], vs[-1]) for lab, ts, vs in get(base + "_sum", None) if ts}
        for key_l, per_le in buckets.items():
            if math.inf not in per_le:
                continue
            les = sorted(per_le)
            ts = per_le[math.inf][0]
            s = sums.get(key_l, (ts, math.nan))[1]
            rows = [(_fmt_le(le), per_le[le][1]) for le in les]
            out.add(fam, "histogram", _relabel(dict(key_l), mmap, ident), (rows, s), ts)


def engine_families(engines: list[dict[str, Any]]) -> list[Metric]:
    """``engines``: ``{"name", "kind", "run_id", "mmap", "get"}`` (``get`` over its newest frames)."""
    out = _Families()
    for e in engines:
        if e.get("mmap") is None:
            continue
        ident = {N.ENGINE_NAME_LABEL: e["name"], N.ENGINE_KIND_LABEL: e["kind"] or "", N.RUN_ID_LABEL: str(e["run_id"])}
        engine_samples(e["get"], e["mmap"], ident, out)
    return out.families()


def info_families(runs: list[dict[str, Any]], hostname: str, version: str) -> list[Metric]:
    """``iejtui_run_info`` per active run (id, name, kind, status, tags) and ``iejtui_service_info``."""
    keys = ["run_id", "run_name", "run_kind", "status", "tags", N.ENGINE_NAME_LABEL, "engine_kind", "model"]
    runs_f = GaugeMetricFamily(N.RUN_INFO, "an active run of this iejtui service (value 1)", labels=keys)
    for r in runs:
        runs_f.add_metric([str(r["id"]), redact_text(r["name"]), r["kind"], r["status"],
                           redact_text(",".join(r.get("tags") or [])), r.get("engine_name") or "",
                           r.get("engine_kind") or "", label_value(r.get("model") or "")[:200]], 1.0)
    svc = GaugeMetricFamily(N.SERVICE_INFO, "this iejtui service (value 1)", labels=["Hostname", "version"])
    svc.add_metric([hostname, version], 1.0)
    return [runs_f, svc]


