"""A Pareto frontier in a terminal: plotext, returned as text (the TUI draws the string).

Frontier points are joined (a step line through them by throughput) and drawn ``●``;
dominated points are ``x`` and stay off the line; a legend under the plot names both
sets. Pure apart from plotext's global figure, cleared before and after (as ``term.py``).
"""

from __future__ import annotations

from iejtui.derive.pareto import AXIS_TITLES, Frontier


def _steps(xs: list[float], ys: list[float]) -> tuple[list[float], list[float]]:
    sx, sy = [], []
    for i, (x, y) in enumerate(zip(xs, ys)):
        if i:
            sx.append(x)
            sy.append(ys[i - 1])
        sx.append(x)
        sy.append(y)
    return sx, sy


def render_pareto_term(f: Frontier, width: int = 80, height: int = 18, color: bool = False,
                       title: str = "") -> str:
    head = title or f"Pareto: {AXIS_TITLES.get(f.x_key, f.x_key)} vs {AXIS_TITLES.get(f.y_key, f.y_key)}"
    if not f.points:
        return f"{head}\n  (no run has both figures)"
    import plotext as plt
    fig = plt.figure
    fig.clear()
    try:
        fig.plot_size(max(width, 30), max(height - 2, 6))
        fig.theme("default" if color else "colorless")
        front, dom = f.front, f.dominated
        sx, sy = _steps([p.x for p in front], [p.y for p in front])
        line = fig.signal(sx, sy, marker="braille")
        line.lines()
        fig.draw(line)
        fig.draw(fig.signal([p.x for p in front], [p.y for p in front], marker="●"))
        if dom:
            fig.draw(fig.signal([p.x for p in dom], [p.y for p in dom], marker="x"))
        fig.title(head)
        fig.label(AXIS_TITLES.get(f.x_key, f.x_key), axis=0)
        fig.ruler(1).lim(0, None)
        text = fig.build().string(colorless=not color).rstrip("\n")
    finally:
        fig.clear()
    legend = ["● frontier: " + ", ".join(p.label for p in front)]
    if f.dominated:
        legend.append("x dominated: " + ", ".join(f"{p.label} (by {p.dominated_by})" for p in f.dominated))
    if f.missing:
        legend.append("not drawn (a figure missing): " + ", ".join(f.missing))
    return text + "\n" + "\n".join(legend)
