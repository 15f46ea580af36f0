"""Throughput–latency curves of a matrix workload (SVG through matplotlib's Agg backend).

One figure per workload, two panels sharing the x axis (output tokens/s): TTFT p50 and
TPOT p50 (ms). One line per variant through its load points in order, each point labelled
with its load point; error bars are ± one standard deviation over repetitions.

``render_pareto_svg``: the Pareto frontiers of a workload's cells (``derive.pareto``),
dominated cells marked and kept off the frontier line.
"""

from __future__ import annotations

import io
from typing import Any

from iejtui.charts.svg import _RC

COLORS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#17becf")
MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*")


def curves(groups: list[dict[str, Any]], workload: str, loads: list[str]) -> dict[str, list[dict[str, Any]]]:
    """Per variant, its measured groups of ``workload`` in load-point order (pure)."""
    out: dict[str, list[dict[str, Any]]] = {}
    order = {lp: i for i, lp in enumerate(loads)}
    for g in groups:
        if g["workload"] == workload and g.get("output_tok_s") is not None:
            out.setdefault(g["variant"], []).append(g)
    for v in out:
        out[v].sort(key=lambda g: order.get(g["load"], 0))
    return out


def render_workload_svg(title: str, groups: list[dict[str, Any]], workload: str, loads: list[str]) -> str | None:
    """The SVG text of one workload's curves; None when nothing was measured."""
    data = curves(groups, workload, loads)
    if not data:
        return None
    import matplotlib
    matplotlib.use("Agg", force=False)
    from matplotlib.figure import Figure
    with matplotlib.rc_context(_RC):
        fig = Figure(figsize=(9.0, 3.6))
        axes = fig.subplots(1, 2, sharex=True)
        for ax, (key, label) in zip(axes, (("ttft_p50_ms", "TTFT p50 (ms)"), ("tpot_p50_ms", "TPOT p50 (ms)"))):
            for i, (variant, gs) in enumerate(data.items()):
                pts = [(g["output_tok_s"], g.get(key), g.get("output_tok_s_sd"), g.get(f"{key}_sd"), g["load"])
                       for g in gs if g.get(key) is not None]
                if not pts:
                    continue
                xs, ys = [p[0] for p in pts], [p[1] for p in pts]
                color = COLORS[i % len(COLORS)]
                ax.errorbar(xs, ys, xerr=[p[2] or 0 for p in pts], yerr=[p[3] or 0 for p in pts], color=color,
                            marker=MARKERS[i % len(MARKERS)], markersize=5, linewidth=1.4, capsize=2, label=variant)
                for x, y, *_, lp in pts:
                    ax.annotate(lp, (x, y), textcoords="offset points", xytext=(4, 4), fontsize=7, color=color)
            ax.set_title(label, loc="left", fontsize=9)
            ax.set_xlabel("output throughput (tok/s)")
            tops = [(g.get(key) or 0) + (g.get(f"{key}_sd") or 0) for gs in data.values() for g in gs]
            rights = [g["output_tok_s"] + (g.get("output_tok_s_sd") or 0) for gs in data.values() for g in gs]
            ax.set_ylim(0, max(tops, default=1.0) * 1.18 or 1.0)
            ax.set_xlim(0, max(rights, default=1.0) * 1.12 or 1.0)
        axes[0].legend(loc="upper left", fontsize=8, frameon=True, framealpha=0.8, edgecolor="none")
        fig.suptitle(title, x=0.01, ha="left", fontsize=10, fontweight="bold")
        fig.tight_layout()
        buf = io.StringIO()
        fig.savefig(buf, format="svg", metadata={"Date": None, "Creator": "iejtui"})
    return buf.getvalue()


def pareto_points(groups: list[dict[str, Any]], workload: str) -> list[dict[str, Any]]:
    """The measured groups of ``workload`` as Pareto items labelled ``variant · load`` (pure)."""
    return [{**g, "label": f"{g['variant']} · {g['load']}"} for g in groups
            if g["workload"] == workload and g.get("n") and g.get("output_tok_s") is not None]


def render_pareto_svg(title: str, groups: list[dict[str, Any]], workload: str) -> str | None:
    """Pareto frontiers of one workload's cells (``render_frontiers_svg``)."""
    return render_frontiers_svg(title, pareto_points(groups, workload))


def render_frontiers_svg(title: str, items: list[dict[str, Any]]) -> str | None:
    """Pareto frontiers of ``items`` (dicts with ``label`` and figure keys), one panel per
    axis pair that has data (``derive.pareto.PAIRS``): frontier points filled and joined by
    a step line, dominated points grey crosses kept off it (each an SVG group
    ``id="dominated-N"``, frontier points ``id="frontier-N"``). None when nothing has data."""
    from iejtui.derive.pareto import AXIS_TITLES, frontiers
    fronts = frontiers(items)
    if not fronts:
        return None
    import matplotlib
    matplotlib.use("Agg", force=False)
    from matplotlib.figure import Figure
    cols = 2 if len(fronts) > 1 else 1
    rows = (len(fronts) + cols - 1) // cols
    with matplotlib.rc_context(_RC):
        fig = Figure(figsize=(4.6 * cols, 3.3 * rows))
        axes = fig.subplots(rows, cols, squeeze=False).ravel()
        k = 0
        for ax, f in zip(axes, fronts):
            front = f.front
            ax.step([p.x for p in front], [p.y for p in front], where="post", color=COLORS[0], linewidth=1.2,
                    label="frontier")
            for p in f.points:
                k += 1
                if p.dominated:
                    (h,) = ax.plot([p.x], [p.y], linestyle="none", marker="x", markersize=6, color="#999999")
                    h.set_gid(f"dominated-{k}")
                else:
                    (h,) = ax.plot([p.x], [p.y], linestyle="none", marker="o", markersize=6, color=COLORS[0])
                    h.set_gid(f"frontier-{k}")
                ax.annotate(p.label + (" (dominated)" if p.dominated else ""), (p.x, p.y),
                            textcoords="offset points", xytext=(4, 4), fontsize=7,
                            color="#777777" if p.dominated else COLORS[0])
            if f.dominated:
                ax.plot([], [], linestyle="none", marker="x", color="#999999", label="dominated")
            ax.set_xlabel(AXIS_TITLES[f.x_key])
            ax.set_ylabel(AXIS_TITLES[f.y_key] + " (lower is better)")
            ax.set_xlim(0, max(p.x for p in f.points) * 1.2 or 1.0)
            ax.set_ylim(0, max(p.y for p in f.points) * 1.2 or 1.0)
            ax.legend(loc="upper left", fontsize=7, frameon=True, framealpha=0.8, edgecolor="none")
        for ax in axes[len(fronts):]:
            ax.set_visible(False)
        fig.suptitle(title, x=0.01, ha="left", fontsize=10, fontweight="bold")
        fig.tight_layout()
        buf = io.StringIO()
        fig.savefig(buf, format="svg", metadata={"Date": None, "Creator": "iejtui"})
    return buf.getvalue()
