"""An in-memory ``SeriesGetter`` over collected frames (for tests and demos without SQLite).

``MemStore.add(frame)`` keeps every sample by name and label set; calling the store as
``get(name, labels_filter)`` answers like ``iejtui.summary.store_getter`` does, so the
canonical figures (``iejtui.derive.engine.engine_figures``) can be computed straight from
what an adapter's ``collect`` returned.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from collectors.records import Frame


class MemStore:
    def __init__(self, frames: Iterable[Frame] = ()) -> None:
        self.data: dict[str, dict[tuple, tuple[dict, list[float], list[float]]]] = {}
        for f in frames:
            self.add(f)

    def add(self, frame: Frame | None) -> None:
        if frame is None:
            return
        for s in frame.samples:
            labels, ts, vs = self.data.setdefault(s.name, {}).setdefault(s.labels, (dict(s.labels), [], []))
            if ts and frame.ts <= ts[-1]:  # keep time order (frames of a batch come sorted)
                continue
            ts.append(frame.ts)
            vs.append(float(s.value))

    def names(self) -> set[str]:
        return set(self.data)

    def __call__(self, name: str, labels_filter: Mapping[str, str] | None = None, /):
        out = []
        for labels, ts, vs in self.data.get(name, {}).values():
            if labels_filter and any(labels.get(k) != v for k, v in labels_filter.items() if k in labels):
                continue
            out.append((labels, list(ts), list(vs)))
        return out
