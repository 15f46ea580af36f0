"""The same charts in a terminal: plotext, returned as text (the TUI draws the string).

``render_term(charts, panel, width, height)`` is a pure function of its inputs: plotext's
global figure is cleared before and after, and colours are off unless asked for (the TUI
can pass ``color=True`` and turn the ANSI escapes into styled text).
"""

from __future__ import annotations

from iejtui.charts.data import PANEL_TITLES, PANELS, RunCharts

_MARKER = "braille"
_PLAIN_MARKERS = ("•", "+", "x")


def render_term(charts: RunCharts, panel: str = "throughput", width: int = 80, height: int = 16,
                color: bool = False) -> str:
    if panel not in PANELS:
        raise ValueError(f"unknown panel {panel!r}: one of {', '.join(PANELS)}")
    import plotext as plt
    lines = [ln for ln in charts.panels.get(panel) or [] if ln.x]
    title = f"{charts.title} · {PANEL_TITLES[panel]}"
    if not lines:
        note = charts.notes.get(panel, "no data")
        return f"{title}\n  ({note})"
    fig = plt.figure  # plotext 6 keeps one master figure: reset it before and after
    fig.clear()
    try:
        fig.plot_size(max(width, 20), max(height, 5))
        fig.theme("default" if color else "colorless")
        for i, ln in enumerate(lines):
            # Without colour, the second line gets its own marker (and no joins) to stay distinct.
            plain = not color and i > 0
            sig = fig.signal(ln.x, ln.y, marker=_PLAIN_MARKERS[(i - 1) % len(_PLAIN_MARKERS)] if plain else _MARKER)
            sig.label(ln.label)
            if not plain:
                sig.lines()
            fig.draw(sig)
        fig.title(title)
        fig.label("s since start", axis=0)
        if panel in ("kv", "gpu"):
            fig.ruler(1).lim(0, 100)
        else:
            fig.ruler(1).lim(0, None)
        text = fig.build().string(colorless=not color)
    finally:
        fig.clear()
    return text.rstrip("\n")


def render_term_all(charts: RunCharts, width: int = 80, height: int = 12, color: bool = False) -> str:
    """All four panels one under the other."""
    return "\n".join(render_term(charts, p, width, height, color) for p in PANELS)
