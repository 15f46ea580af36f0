"""SVG charts without a GUI: matplotlib's Agg/SVG backend, deterministic output.

``render_svg(charts)`` returns the SVG text of a run's four panels stacked on one time
axis. Text stays text (``svg.fonttype = none``: small, searchable, XML-escaped by
matplotlib); math parsing is off so a ``$`` in a run or model name is drawn as is.
"""

from __future__ import annotations

import io

from iejtui.charts.data import PANEL_TITLES, PANELS, RunCharts

_RC = {
    "svg.fonttype": "none",
    "svg.hashsalt": "iejtui",
    "text.parse_math": False,
    "font.size": 9,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "figure.dpi": 100,
}
COLORS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd")


def _fig_time_unit(duration_s: float) -> tuple[float, str]:
    if duration_s > 3 * 3600:
        return 3600.0, "h"
    if duration_s > 600:
        return 60.0, "min"
    return 1.0, "s"


def render_svg(charts: RunCharts, panels: tuple[str, ...] = PANELS, width_in: float = 9.0,
               fmt: str = "svg") -> str | bytes:
    """The SVG text of ``charts`` (pure apart from matplotlib's own state, kept local);
    ``fmt="png"`` gives PNG bytes of the same figure instead (previews)."""
    import matplotlib
    matplotlib.use("Agg", force=False)
    from matplotlib.figure import Figure

    with matplotlib.rc_context(_RC):
        fig = Figure(figsize=(width_in, 1.9 * len(panels) + 0.6))
        axes = fig.subplots(len(panels), 1, sharex=True, squeeze=False)[:, 0]
        div, unit = _fig_time_unit(charts.duration_s)
        for ax, p in zip(axes, panels):
            ax.set_title(PANEL_TITLES[p], loc="left", fontsize=9)
            lines = charts.panels.get(p) or []
            for i, ln in enumerate(lines):
                if ln.x:
                    ax.plot([x / div for x in ln.x], ln.y, label=ln.label, color=COLORS[i % len(COLORS)],
                            linewidth=1.2)
            if any(ln.x for ln in lines):
                ax.legend(loc="best", fontsize=8, frameon=True, framealpha=0.8, edgecolor="none")
                ax.set_ylim(bottom=0)
                top = max((max(ln.y) for ln in lines if ln.y), default=0.0)
                if p == "gpu" or (p == "kv" and top >= 20):
                    ax.set_ylim(0, 105)
                elif p == "kv":  # a barely used cache: zoom in, the legend gives the peak
                    ax.set_ylim(0, max(top * 1.25, 1.0))
            else:
                ax.text(0.5, 0.5, charts.notes.get(p, "no data"), transform=ax.transAxes,
                        ha="center", va="center", color="#777777", fontsize=9)
                ax.set_yticks([])
        axes[-1].set_xlabel(f"time since run start ({unit})")
        first = min((ln.x[0] for lines in charts.panels.values() for ln in lines if ln.x), default=0.0)
        axes[0].set_xlim(first / div, max(charts.duration_s, first + 1e-9) / div)
        fig.suptitle(charts.title, x=0.01, ha="left", fontsize=10, fontweight="bold")
        fig.tight_layout()
        if fmt == "png":
            raw = io.BytesIO()
            fig.savefig(raw, format="png", dpi=90)
            return raw.getvalue()
        buf = io.StringIO()
        fig.savefig(buf, format="svg", metadata={"Date": None, "Creator": "iejtui"})
    return buf.getvalue()
