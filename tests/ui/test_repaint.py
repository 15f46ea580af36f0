"""Panels and plots repaint only the rows that changed, and what they show is always current.

At 1 Hz most figures move but borders, steady rows and a plot's axis do not; Textual
re-renders a widget line by line (borders, padding, filters), so repainting only the
changed rows halves the compositor's share of a refresh (tests/perf/tui_overhead.py).
The risk of such an optimisation is a stale row: these tests check both sides.
"""

from __future__ import annotations

from textual.app import App

from iejtui.ui.widgets.panels import FieldGrid
from iejtui.ui.widgets.time_plot import TimePlot
from iejtui.viewmodel.models import Field, Line, Plot


class Host(App):
    def compose(self):
        yield FieldGrid(id="grid")
        yield TimePlot("tokens", id="plot")


def _text(widget) -> list[str]:
    return [strip.text for strip in widget.render_lines(widget.outer_size.region)]


def _fields(gen: str, level: str = "") -> list[Field]:
    return [Field("gen", gen, level), Field("KV", "12 %", bar=0.12), Field("TTFT", "p50 40 ms")]


async def test_field_grid_repaints_changed_rows_only_and_shows_them():
    app = Host()
    async with app.run_test(size=(30, 12)) as pilot:
        grid = app.query_one(FieldGrid)
        grid.set_fields(_fields("100 tok/s"))
        await pilot.pause()
        assert any("100 tok/s" in line for line in _text(grid))
        grid.set_fields(_fields("250 tok/s"))
        dirty = set(grid._styles_cache._dirty_lines)
        assert dirty == {1}, dirty  # the first content row, under the top border: nothing else
        await pilot.pause()
        shown = _text(grid)
        assert any("250 tok/s" in line for line in shown) and not any("100 tok/s" in line for line in shown)
        # the same text in another colour is a change too (a figure turning "bad")
        grid.set_fields(_fields("250 tok/s", "bad"))
        assert set(grid._styles_cache._dirty_lines) == {1}
        await pilot.pause()
        strip = grid.render_lines(grid.outer_size.region)[1]
        colours = {seg.style.color for seg in strip if seg.text.strip() == "250 tok/s" and seg.style}
        assert colours and None not in colours
        # a wider value realigns every row: all repainted
        grid.set_fields(_fields("12,345 tok/s"))
        assert set(grid._styles_cache._dirty_lines) >= {1, 2, 3}
        await pilot.pause()
        assert any("12,345 tok/s" in line for line in _text(grid))


async def test_time_plot_repaints_the_rows_that_moved():
    app = Host()
    async with app.run_test(size=(40, 14)) as pilot:
        plot = app.query_one(TimePlot)

        def view(values):
            ts = tuple(float(t) for t in range(len(values)))
            return Plot("tokens", "tokens/s", "tok/s", 0.0, 60.0, (Line("gen", ts, tuple(values)),))
        plot.show(view([50.0] * 30 + [80.0]), live_edge=False)
        await pilot.pause()
        before = _text(plot)
        plot.show(view([50.0] * 30 + [80.0] * 6), live_edge=False)  # the burst goes on: same scale
        dirty = set(plot._styles_cache._dirty_lines)
        axis_row = plot.outer_size.height - 2  # under the lines, over the bottom border
        assert dirty and dirty < set(range(1, axis_row)), dirty  # borders and the time axis kept
        await pilot.pause()
        after = _text(plot)
        changed = {y for y, (a, b) in enumerate(zip(before, after)) if a != b}
        assert changed and changed <= dirty  # every row that differs was repainted
