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
_CHARS = [BLANK] + [chr(_BASE + b) for b in range(1, 256)]


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
    """Rasterise ``lines`` into ``height`` × ``width`` braille cells (see module doc).

    Per line, points are first reduced to pixel columns (first, last, lowest and highest
    dot of each), then each column is drawn as one vertical span joined to its neighbour:
    the work is O(points + pixels), whatever the number of points per column.
    """
    if width <= 0 or height <= 0 or t1 <= t0 or y_top <= 0:
        return [[(BLANK, -1)] * max(width, 0) for _ in range(max(height, 0))]
    w_px, h_px = 2 * width, 4 * height
    bits = [[0] * width for _ in range(height)]
    owner = [[-1] * width for _ in range(height)]
    sx = (w_px - 1) / (t1 - t0)
    sy = (h_px - 1) / y_top
    bottom = h_px - 1

    def span(x: int, ya: int, yb: int, k: int) -> None:
        if ya > yb:
            ya, yb = yb, ya
        cx, bit_col = x >> 1, _DOT[x & 1]
        for y in range(max(ya, 0), min(yb, bottom) + 1):
            cy = y >> 2
            bits[cy][cx] |= bit_col[y & 3]
            owner[cy][cx] = k

    # draw the first line last, so it stays on top where lines cross
    for k in range(len(lines) - 1, -1, -1):
        ts, vs = lines[k]
        if not ts:
            continue
        limit = _gap_limit(ts, t0, t1, width)
        cols: list[list] = []  # [x, first y, last y, min y, max y, first t, last t]
        for t, v in zip(ts, vs):
            if t < t0 or t > t1 or v != v or v in (math.inf, -math.inf):
                cols.append(None)  # a break in the line
                continue
            x = round((t - t0) * sx)
            y = bottom - round((y_top if v > y_top else (0.0 if v < 0.0 else v)) * sy)
            c = cols[-1] if cols else None
            if c is not None and c[0] == x and t - c[6] <= limit:
                c[2] = y
                c[3] = y if y < c[3] else c[3]
                c[4] = y if y > c[4] else c[4]
                c[6] = t
            else:
                cols.append([x, y, y, y, y, t, t])
        prev = None
        for c in cols:
            if c is None:
                prev = None
                continue
            x = c[0]
            if 0 <= x < w_px:
                span(x, c[3], c[4], k)
            if prev is not None and c[5] - prev[6] <= limit:
                if x - prev[0] <= 1:  # neighbours: join with a vertical step in this column
                    if 0 <= x < w_px:
                        span(x, prev[2], c[1], k)
                else:
                    _segment(prev[0], prev[2], x, c[1], k, w_px, bits, owner, bottom)
            prev = c
    return [list(zip([_CHARS[b] for b in row], orow)) for row, orow in zip(bits, owner)]


def _segment(x0: int, y0: int, x1: int, y1: int, k: int, w_px: int, bits, owner, bottom: int) -> None:
    """Bresenham between two dots further apart than one column (both ends drawn)."""
    dx, dy = abs(x1 - x0), -abs(y1 - y0)
    sx = 1 if x0 < x1 else -1
    sy = 1 if y0 < y1 else -1
    err = dx + dy
    while True:
        if 0 <= x0 < w_px and 0 <= y0 <= bottom:
            cy, cx = y0 >> 2, x0 >> 1
            bits[cy][cx] |= _DOT[x0 & 1][y0 & 3]
            owner[cy][cx] = k
        if x0 == x1 and y0 == y1:
            return
        e2 = 2 * err
        if e2 >= dy:
            err += dy
            x0 += sx
        if e2 <= dx:
            err += dx
            y0 += sy
