"""The braille plotter and the panel gauges (pure functions under iejtui/ui/widgets)."""
from __future__ import annotations

from iejtui.ui.widgets.braille import BLANK, nice_top, render
from iejtui.ui.widgets.panels import bar


def _dots(grid):
    return sum(bin(ord(ch) - 0x2800).count("1") for row in grid for ch, _ in row if ch != BLANK)


def test_flat_line_fills_one_row_of_dots():
    ts = [float(t) for t in range(0, 101)]
    grid = render([(ts, [50.0] * len(ts))], 0.0, 100.0, 100.0, 20, 4)
    assert len(grid) == 4 and all(len(r) == 20 for r in grid)
    rows_with_ink = [i for i, r in enumerate(grid) if any(ch != BLANK for ch, _ in r)]
    assert len(rows_with_ink) == 1
    assert all(k == 0 for row in grid for ch, k in row if ch != BLANK)
    assert _dots(grid) == 40  # one dot per pixel column


def test_gaps_stay_gaps():
    ts = [float(t) for t in range(0, 20)] + [float(t) for t in range(80, 100)]
    grid = render([(ts, [10.0] * len(ts))], 0.0, 100.0, 100.0, 50, 2)
    middle = [ch for row in grid for ch, _ in row[15:35]]
    assert all(ch == BLANK for ch in middle)


def test_lines_keep_their_owner_and_the_first_stays_on_top():
    ts = [0.0, 10.0]
    grid = render([(ts, [5.0, 5.0]), (ts, [5.0, 5.0]), (ts, [95.0, 95.0])], 0.0, 10.0, 100.0, 10, 4)
    owners = {k for row in grid for ch, k in row if ch != BLANK}
    assert owners == {0, 2}


def test_values_are_clipped_and_nothing_breaks_on_empty_input():
    grid = render([([0.0, 1.0], [-5.0, 1e9])], 0.0, 1.0, 10.0, 4, 2)
    assert _dots(grid) > 0
    assert render([], 0.0, 1.0, 1.0, 3, 2) == [[(BLANK, -1)] * 3] * 2
    assert render([([1.0], [1.0])], 5.0, 5.0, 1.0, 3, 1) == [[(BLANK, -1)] * 3]


def test_nice_top_and_bars():
    assert [nice_top(v) for v in (0, 0.7, 93.0, 436.0, 1000.0, 2380.0)] == [1.0, 1.0, 100.0, 500.0, 1000.0, 2500.0]
    assert bar(0.0, 4) == "····" and bar(1.0, 4) == "████" and bar(0.5, 4) == "██··"
    assert len(bar(0.33, 7)) == 7
