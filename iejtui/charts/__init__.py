"""Charts of a run's key series: data (from journal.db), SVG (matplotlib Agg), terminal (plotext).

No Textual here: the TUI calls ``render_term`` and draws the string it returns.
"""

from iejtui.charts.data import PANELS, Line, RunCharts, run_chart_data

__all__ = ["PANELS", "Line", "RunCharts", "run_chart_data", "render_svg", "render_term"]


def render_svg(charts: RunCharts, **kw) -> str:
    from iejtui.charts.svg import render_svg as _r
    return _r(charts, **kw)


def render_term(charts: RunCharts, panel: str = "throughput", width: int = 80, height: int = 16,
                color: bool = False) -> str:
    from iejtui.charts.term import render_term as _r
    return _r(charts, panel, width, height, color)
