"""Thinned reads for the screens: ``read_thinned`` (the store's ``Reader.series_thinned``)
and ``ThinGetter``, the ``SeriesGetter`` over its result.

The reduction itself (one value per time bucket, exact window ends) lives in
``iejtui/store/thinned.py``: it reads the store's tables with the codec's column layout,
which nothing outside the store knows.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from iejtui.derive.series import Series, labels_match
from iejtui.store import Reader
from iejtui.store.thinned import HOWS

__all__ = ["HOWS", "ThinGetter", "read_thinned"]


def read_thinned(reader: Reader, run_id: int, names: Iterable[str], t0: float, t1: float, points: int,
                 source: str | None = None, how: Mapping[str, str] | None = None) -> list[tuple[str, Series]]:
    """Series ``names`` of ``run_id`` over ``[t0, t1]`` reduced to ~``points`` buckets
    (see ``Reader.series_thinned``)."""
    return reader.series_thinned(run_id, names, t0, t1, points, source, how)


class ThinGetter:
    """A ``SeriesGetter`` over a thinned read (names must have been read up front)."""

    def __init__(self, found: list[tuple[str, Series]]):
        self.by_name: dict[str, list[Series]] = {}
        for name, series in found:
            if series[1]:
                self.by_name.setdefault(name, []).append(series)

    def __call__(self, name: str, labels_filter: Mapping[str, str] | None = None) -> list[Series]:
        return [s for s in self.by_name.get(name, ()) if labels_match(s[0], labels_filter)]

    def newest(self) -> float | None:
        return max((s[1][-1] for ss in self.by_name.values() for s in ss), default=None)
