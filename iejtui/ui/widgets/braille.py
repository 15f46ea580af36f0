"""A small braille line plotter (pure Python, no Textual): 2×4 dots per terminal cell.

Why not plotext: plotext 6.1 takes 30–80 ms to build one small plot (measured here), and
the dashboard redraws four every second within a budget of ~15 ms of CPU per second for
the whole TUI. This draws the same braille lines in well under a millisecond per plot.

``render(lines, t0, t1, y_top, width, height)`` returns ``height`` rows of ``width`` cells
``(char, series)``; ``series`` is the index of the line that owns the cell (the widget
colours it from the theme) or -1 for an empty cell. Points further apart in time than a
few sampling intervals are not joined: gaps in the data stay gaps on screen.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

BLANK = " "
_BASE = 0x2800
# dot bit for (x % 2, y % 4), y counted from the top of the cell
_DOT = ((0x01, 0x02, 0x04, 0x40), (0x08, 0x10, 0x20, 0x80))

Series = tuple[Sequence[float], Sequence[float]]


def nice_top(value: float) -> float:
    """The smallest 1, 2, 2.5 or 5 × 10^k at or above ``value`` (axis top)."""
    if not value or value <= 0 or not math.isfinite(value):
        return 1.0
    exp = math.floor(math.log10(value))
    for m in (1.0, 2.0, 2.5, 5.0, 10.0):
        top = m * 10 ** exp
        if top >= value * 0.999:
            return top
    return 10 ** (exp + 1)


def _gap_limit(ts: Sequence[float], t0: float, t1: float, width: int) -> float:
    diffs = sorted(b - a for a, b in zip(ts, ts[1:]) if b > a)
    typical = diffs[len(diffs) // 2] if diffs else (t1 - t0)
    return max(4.0 * typical, 2.0 * (t1 - t0) / max(1, 2 * width))


def render(lines: Sequence[Series], t0: float, t1: float, y_top: float, width: int,
           height: int) -> list[list[tuple[str, int]]]:
    """Rasterise ``lines`` into ``height`` × ``width`` braille cells (see module doc)."""
    w_px, h_px = 2 * width, 4 * height
    bits = [[0] * width for _ in range(height)]
    owner = [[-1] * width for _ in range(height)]
    if width <= 0 or height <= 0 or t1 <= t0 or y_top <= 0:
        return [[(BLANK, -1)] * max(width, 0) for _ in range(max(height, 0))]
    sx = (w_px - 1) / (t1 - t0)
    sy = (h_px - 1) / y_top

    def dot(x: int, y: int, k: int) -> None:
        if 0 <= x < w_px and 0 <= y < h_px:
            cy, cx = y >> 2, x >> 1
            bits[cy][cx] |= _DOT[x & 1][y & 3]
            owner[cy][cx] = k

    # draw the first line last, so it stays on top where lines cross
    for k in range(len(lines) - 1, -1, -1):
        ts, vs = lines[k]
        if not ts:
            continue
        limit = _gap_limit(ts, t0, t1, width)
        prev = None
        for t, v in zip(ts, vs):
            if not math.isfinite(v) or t < t0 or t > t1:
                prev = None
                continue
            x = round((t - t0) * sx)
            y = h_px - 1 - round(min(max(v, 0.0), y_top) * sy)
            if prev is not None and t - prev[0] <= limit:
                _segment(prev[1], prev[2], x, y, k, dot)
            else:
                dot(x, y, k)
            prev = (t, x, y)
    return [[(chr(_BASE + b) if b else BLANK, owner[r][c]) for c, b in enumerate(row)]
            for r, row in enumerate(bits)]


def _segment(x0: int, y0: int, x1: int, y1: int, k: int, dot) -> None:
    """Bresenham between two dots (both ends drawn)."""
    dx, dy = abs(x1 - x0), -abs(y1 - y0)
    sx = 1 if x0 < x1 else -1
    sy = 1 if y0 < y1 else -1
    err = dx + dy
    while True:
        dot(x0, y0, k)
        if x0 == x1 and y0 == y1:
            return
        e2 = 2 * err
        if e2 >= dy:
            err += dy
            x0 += sx
        if e2 <= dx:
            err += dx
            y0 += sy
