"""Pareto frontiers: throughput (higher is better) against a cost (lower is better) (pure).

A point ``p`` *dominates* ``q`` when ``p`` is at least as good on both axes and strictly
better on one (``p.x ≥ q.x``, ``p.y ≤ q.y``, not both equal). The frontier is every point
no other point dominates; dominated points are kept (drawn and listed as dominated) but
never joined into the frontier line, unlike a peer that draws its curve through every
measured point. Two identical points do not dominate each other: both stay on the
frontier (a tie). A point with a missing or non-finite coordinate is left out and named
in ``missing``.

Axes (``PAIRS``): output tok/s and output tok/s per GPU, each against p99 TTFT and p99
ITL; output tok/s against $ per 1M output tokens and against J per token where a price
or an energy reading exists. Keys are those of a matrix group or a run's figures.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

__all__ = ["PAIRS", "AXIS_TITLES", "Point", "Frontier", "dominates", "frontier", "frontiers"]

#: (x key, y key): x higher is better, y lower is better.
PAIRS: tuple[tuple[str, str], ...] = (
    ("output_tok_s", "ttft_p99_ms"),
    ("output_tok_s", "itl_p99_ms"),
    ("output_tok_s_per_gpu", "ttft_p99_ms"),
    ("output_tok_s_per_gpu", "itl_p99_ms"),
    ("output_tok_s", "usd_per_1m_output"),
    ("output_tok_s", "joules_per_token"),
)
AXIS_TITLES = {
    "output_tok_s": "output throughput (tok/s)",
    "output_tok_s_per_gpu": "output throughput per GPU (tok/s/GPU)",
    "ttft_p99_ms": "TTFT p99 (ms)",
    "itl_p99_ms": "ITL p99 (ms)",
    "usd_per_1m_output": "$ per 1M output tokens",
    "joules_per_token": "J per output token",
}


@dataclass(frozen=True)
class Point:
    label: str
    x: float
    y: float
    dominated: bool = False
    dominated_by: str | None = None  # the label of one point that dominates it


@dataclass(frozen=True)
class Frontier:
    x_key: str
    y_key: str
    points: tuple[Point, ...]  # every usable point, frontier ones first by x
    missing: tuple[str, ...]  # labels left out (a coordinate was missing)

    @property
    def front(self) -> list[Point]:
        """The frontier, by increasing throughput (a step line joins them)."""
        return [p for p in self.points if not p.dominated]

    @property
    def dominated(self) -> list[Point]:
        return [p for p in self.points if p.dominated]


def dominates(p: tuple[float, float], q: tuple[float, float]) -> bool:
    """Whether ``p = (x, y)`` dominates ``q`` (x higher is better, y lower is better)."""
    return p[0] >= q[0] and p[1] <= q[1] and (p[0] > q[0] or p[1] < q[1])


def _ok(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def frontier(points: Sequence[tuple[str, float | None, float | None]], x_key: str = "x",
             y_key: str = "y") -> Frontier:
    """The frontier of ``(label, x, y)`` points (O(n²): a matrix has tens of points)."""
    usable = [(lab, float(x), float(y)) for lab, x, y in points if _ok(x) and _ok(y)]
    missing = tuple(lab for lab, x, y in points if not (_ok(x) and _ok(y)))
    out = []
    for lab, x, y in usable:
        by = next((l2 for l2, x2, y2 in usable if dominates((x2, y2), (x, y))), None)
        out.append(Point(lab, x, y, by is not None, by))
    out.sort(key=lambda p: (p.dominated, p.x, p.y))
    return Frontier(x_key, y_key, tuple(out), missing)


def frontiers(items: Sequence[Mapping[str, Any]], label: str = "label",
              pairs: Sequence[tuple[str, str]] = PAIRS) -> list[Frontier]:
    """A frontier per axis pair that at least one item has both coordinates of."""
    out = []
    for xk, yk in pairs:
        f = frontier([(str(it.get(label)), it.get(xk), it.get(yk)) for it in items], xk, yk)
        if f.points:
            out.append(f)
    return out
