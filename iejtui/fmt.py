"""Plain-text formatting shared by the CLI, exports and the TUI (pure functions)."""

from __future__ import annotations

import time
from typing import Any, Iterable, Sequence


def duration(seconds: float | None, style: str = "compact") -> str:
    """The one duration formatter, in the three styles its callers print (each caller's text
    is kept exactly):

    - ``compact`` (CLI, journal, exports): ``45s``, ``1m05s``, ``2h03m``, ``3d04h``; ``—`` for None;
    - ``spoken`` (the TUI's windows and run lengths): ``10 s``, ``5 min``, ``1 h 30 min``, ``3 d``;
      seconds up to 119 (``90 s``, not ``1 min``), hours up to 47 (``36 h``), then days;
    - ``axis`` (a plot's left edge, ``-5m``): ``90s``, ``5m``, ``2h``; seconds up to 119,
      minutes up to 119, then whole hours (no days: plots span hours).

    All round to whole seconds first (half to even, as ``round``).
    """
    if seconds is None:
        return "—"
    s = int(round(seconds))
    if style == "spoken":
        if s < 120:
            return f"{s} s"
        if s < 3600:
            return f"{s // 60} min"
        if s < 172800:
            h, m = divmod(s // 60, 60)
            return f"{h} h" + (f" {m} min" if m else "")
        return f"{s // 86400} d" + (f" {s % 86400 // 3600} h" if s % 86400 >= 3600 else "")
    if style == "axis":
        if s < 120:
            return f"{s}s"
        if s < 7200:
            return f"{s // 60}m"
        return f"{s // 3600}h"
    if style != "compact":
        raise ValueError(f"unknown duration style {style!r}")
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    if s < 86400:
        return f"{s // 3600}h{(s % 3600) // 60:02d}m"
    return f"{s // 86400}d{(s % 86400) // 3600:02d}h"


def clock(ts: float | None, with_date: bool = False) -> str:
    if ts is None:
        return "—"
    fmt = "%Y-%m-%d %H:%M:%S" if with_date else "%H:%M:%S"
    return time.strftime(fmt, time.localtime(ts))


def size(n: float | None, unit: str = "B") -> str:
    if n is None:
        return "—"
    for prefix in ("", "Ki", "Mi", "Gi", "Ti"):
        if abs(n) < 1024 or prefix == "Ti":
            return f"{n:.0f} {prefix}{unit}" if prefix == "" else f"{n:.1f} {prefix}{unit}"
        n /= 1024
    return f"{n:.1f} Ti{unit}"


def num(x: float | None, digits: int = 1, unit: str = "") -> str:
    if x is None:
        return "—"
    if abs(x) >= 10000:
        text = f"{x:,.0f}"
    else:
        text = f"{x:.{digits}f}"
    return f"{text}{(' ' + unit) if unit else ''}"


def ms(seconds: float | None) -> str:
    return "—" if seconds is None else (f"{seconds * 1000:.1f} ms" if seconds < 10 else f"{seconds:.2f} s")


def table(headers: Sequence[str], rows: Iterable[Sequence[Any]], right: set[int] | None = None) -> str:
    """A fixed-width text table; ``right`` holds the indices of right-aligned columns."""
    rows = [["—" if c is None else str(c) for c in r] for r in rows]
    widths = [len(h) for h in headers]
    for r in rows:
        for i, c in enumerate(r):
            widths[i] = max(widths[i], len(c))
    right = right or set()

    def line(cells):
        return "  ".join(c.rjust(widths[i]) if i in right else c.ljust(widths[i]) for i, c in enumerate(cells)).rstrip()

    return "\n".join([line(headers)] + [line(r) for r in rows])
