"""The read interface the store offers to derive code, and helpers on top of it.

``SeriesGetter`` is the whole contract: ``get(name, labels_filter)`` returns
every stored series of that metric name whose labels include all
``labels_filter`` items, as ``(labels, ts, values)`` with ``ts`` Unix seconds
ascending. Names are the *sample* names as exposed on the wire: counters with
their ``_total`` suffix, histograms as ``<base>_bucket`` (label ``le``, a string
such as ``"0.5"`` or ``"+Inf"``), ``<base>_sum`` and ``<base>_count``.

Helpers here assemble histogram snapshots from those three series and resolve
alias lists (first name that has data wins).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Protocol

from iejtui.derive.hist_columns import HistColumns
from iejtui.derive.histograms import HistSnapshot

__all__ = [
    "LabelKey",
    "Series",
    "SeriesGetter",
    "first_present",
    "get_series",
    "histogram_columns",
    "histogram_series",
    "label_key",
    "labels_match",
]

Series = tuple[dict[str, str], list[float], list[float]]
LabelKey = tuple[tuple[str, str], ...]


class SeriesGetter(Protocol):
    """``get(name, labels_filter)`` → ``[(labels, ts, values), ...]`` (see module doc)."""

    def __call__(
        self, name: str, labels_filter: Mapping[str, str] | None = None, /
    ) -> list[Series]: ...


def label_key(labels: Mapping[str, str], drop: Sequence[str] = ()) -> LabelKey:
    """Hashable, order-independent key of a label set, without the ``drop`` names."""
    return tuple(sorted((k, v) for k, v in labels.items() if k not in drop))


def labels_match(labels: Mapping[str, str], labels_filter: Mapping[str, str] | None) -> bool:
    """Loose match: every filter label that the series *carries* must be equal.

    Used for info metrics such as ``vllm:cache_config_info`` which lack some of
    the labels (``model_name``) that the caller filters the other series on.
    """
    if not labels_filter:
        return True
    return all(labels[k] == v for k, v in labels_filter.items() if k in labels)


def get_series(
    get: SeriesGetter, name: str, labels_filter: Mapping[str, str] | None = None
) -> list[Series]:
    """``get(name, labels_filter)``, tolerating a store that keeps counters by
    family name: when nothing is stored under ``foo_total``, ``foo`` is tried."""
    found = get(name, dict(labels_filter) if labels_filter else None)
    if not found and name.endswith("_total"):
        found = get(name[: -len("_total")], dict(labels_filter) if labels_filter else None)
    return found


def first_present(
    get: SeriesGetter,
    names: Sequence[str],
    labels_filter: Mapping[str, str] | None = None,
    histogram: bool = False,
) -> tuple[str, list[Series]] | None:
    """The first of ``names`` that has stored series, with those series.

    With ``histogram=True`` the names are histogram base names and presence is
    checked on ``<base>_count``. ``None`` when no alias is stored.
    """
    for name in names:
        probe = name + "_count" if histogram else name
        found = get_series(get, probe, labels_filter)
        if found:
            return name, found
    return None


def _parse_le(raw: str) -> float | None:
    try:
        return float(raw)
    except (TypeError, ValueError):
        return None


def histogram_columns(
    get: SeriesGetter,
    base: str,
    labels_filter: Mapping[str, str] | None = None,
    count_series: list[Series] | None = None,
) -> dict[LabelKey, HistColumns]:
    """Histogram ``base`` column-wise, one ``HistColumns`` per label set (``le`` removed).

    A scrape counts where the ``_count`` and every bucket of that label set
    have a finite value; ``_sum`` is NaN where it is missing (the mean is then
    unavailable). Returns ``{}`` when the histogram is not stored.
    ``count_series``: the ``<base>_count`` series when already fetched.
    """
    flt = dict(labels_filter) if labels_filter else None
    if count_series is None:
        count_series = get(base + "_count", flt)
    if not count_series:
        return {}
    buckets: dict[LabelKey, dict[float, tuple[list[float], list[float]]]] = {}
    for labels, ts, values in get(base + "_bucket", flt):
        le = _parse_le(labels.get("le", ""))
        if le is not None:
            buckets.setdefault(label_key(labels, ("le",)), {})[le] = (ts, values)
    sums = {label_key(labels): (ts, values) for labels, ts, values in get(base + "_sum", flt)}

    out: dict[LabelKey, HistColumns] = {}
    for labels, ts, values in count_series:
        key = label_key(labels)
        per_le = buckets.get(key)
        if not per_le:
            continue
        les = sorted(per_le)
        cols = [per_le[le] for le in les]
        sum_ts, sum_vs = sums.get(key, ([], []))
        if sum_ts != ts:
            sum_at = dict(zip(sum_ts, sum_vs))
            sum_vs = [sum_at.get(t, math.nan) for t in ts]
        if all(col[0] == ts for col in cols):
            # Fast path: one scrape writes every series of a histogram at once.
            columns = [col[1] for col in cols]
        else:
            maps = [dict(zip(*col)) for col in cols]
            columns = [[m.get(t, math.nan) for t in ts] for m in maps]
        hc = HistColumns.from_rows(ts, les, columns, sum_vs, values)
        if len(hc):
            out[key] = hc
    return out


def histogram_series(
    get: SeriesGetter, base: str, labels_filter: Mapping[str, str] | None = None
) -> dict[LabelKey, list[HistSnapshot]]:
    """Like ``histogram_columns`` but as ``HistSnapshot`` lists (for plots:
    ``quantile_series``, ``merge_series``). O(scrapes × buckets)."""
    return {k: hc.snapshots() for k, hc in histogram_columns(get, base, labels_filter).items()}
