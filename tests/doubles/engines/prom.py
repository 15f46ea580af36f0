"""A small Prometheus text-format writer for the fake engines.

It writes what ``prometheus_client`` writes (``# HELP``/``# TYPE`` headers, counters with
``_total``, histograms as cumulative ``_bucket{le=...}`` plus ``_sum``/``_count``, floats
as Go prints them: ``1.0``, ``+Inf``) without its process-global registry, so several
fakes can live in one test process. Labelled families have no sample until a label set is
first used, exactly like ``prometheus_client`` (SGLang's lazily created counters depend on
that). ``multiprocess=True`` mimics ``MultiProcessCollector`` output (SGLang sets
``PROMETHEUS_MULTIPROC_DIR``): help text ``Multiprocess metric``.
"""

from __future__ import annotations

import math
from bisect import bisect_left
from collections.abc import Iterable, Mapping

from prometheus_client.utils import floatToGoString

LabelKey = tuple[tuple[str, str], ...]


def fmt_value(v: float) -> str:
    """A float as ``prometheus_client`` writes it (Go style: ``1.0``, ``+Inf``, ``1e+09``)."""
    return floatToGoString(v)


def _key(labels: Mapping[str, object] | None) -> LabelKey:
    return tuple((k, str(v)) for k, v in (labels or {}).items())


def _fmt_labels(key: LabelKey) -> str:
    if not key:
        return ""
    inner = ",".join(f'{k}="{v}"' for k, v in key)
    return "{" + inner + "}"


class Family:
    def __init__(self, name: str, kind: str, doc: str, buckets: Iterable[float] = ()) -> None:
        self.name, self.kind, self.doc = name, kind, doc
        self.buckets = [float(b) for b in buckets]
        if self.buckets and self.buckets[-1] != math.inf:
            self.buckets.append(math.inf)
        self.values: dict[LabelKey, float] = {}
        self.hist: dict[LabelKey, list[float]] = {}  # per-bucket counts, then sum

    # counters and gauges
    def inc(self, amount: float = 1.0, labels: Mapping[str, object] | None = None) -> None:
        key = _key(labels)
        self.values[key] = self.values.get(key, 0.0) + amount

    def set(self, value: float, labels: Mapping[str, object] | None = None) -> None:
        self.values[_key(labels)] = float(value)

    def get(self, labels: Mapping[str, object] | None = None) -> float:
        return self.values.get(_key(labels), 0.0)

    # histograms
    def observe(self, value: float, labels: Mapping[str, object] | None = None, n: int = 1,
                total: float | None = None) -> None:
        """``n`` observations of ``value`` (``total``: what to add to ``_sum``, default
        ``value * n``; SGLang's ITL adds the whole interval once for n tokens)."""
        row = self.hist.setdefault(_key(labels), [0.0] * (len(self.buckets) + 1))
        row[bisect_left(self.buckets, value)] += n
        row[-1] += value * n if total is None else total

    def render(self, help_text: str | None = None) -> list[str]:
        if not self.values and not self.hist:
            return []
        head = self.name + ("_total" if self.kind == "counter" else "")
        out = [f"# HELP {head} {help_text or self.doc}", f"# TYPE {head} {self.kind}"]
        if self.kind == "histogram":
            for key, row in self.hist.items():
                acc = 0.0
                for le, cnt in zip(self.buckets, row):
                    acc += cnt
                    out.append(f"{self.name}_bucket{_fmt_labels(key + (('le', fmt_value(le)),))} "
                               f"{fmt_value(acc)}")
                out.append(f"{self.name}_count{_fmt_labels(key)} {fmt_value(acc)}")
                out.append(f"{self.name}_sum{_fmt_labels(key)} {fmt_value(row[-1])}")
            return out
        for key, v in self.values.items():
            out.append(f"{head}{_fmt_labels(key)} {fmt_value(v)}")
        return out


class Registry:
    """Families in creation order; ``render()`` gives the exposition page."""

    def __init__(self, multiprocess: bool = False) -> None:
        self.families: dict[str, Family] = {}
        self.multiprocess = multiprocess

    def _add(self, name: str, kind: str, doc: str, buckets: Iterable[float] = ()) -> Family:
        fam = self.families.get(name)
        if fam is None:
            fam = self.families[name] = Family(name, kind, doc, buckets)
        return fam

    def counter(self, name: str, doc: str = "") -> Family:
        """A counter; ``name`` without ``_total`` (it is appended on the wire)."""
        return self._add(name[:-6] if name.endswith("_total") else name, "counter", doc)

    def gauge(self, name: str, doc: str = "") -> Family:
        return self._add(name, "gauge", doc)

    def histogram(self, name: str, buckets: Iterable[float], doc: str = "") -> Family:
        return self._add(name, "histogram", doc, buckets)

    def render(self) -> str:
        lines: list[str] = []
        for fam in self.families.values():
            lines += fam.render("Multiprocess metric" if self.multiprocess else None)
        return "\n".join(lines) + ("\n" if lines else "")
