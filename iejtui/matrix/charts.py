"""Throughput–latency curves of a matrix workload (SVG through matplotlib's Agg backend).

One figure per workload, two panels sharing the x axis (output tokens/s): TTFT p50 and
TPOT p50 (ms). One line per variant through its load points in order, each point labelled
with its load point; error bars are ± one standard deviation over repetitions.
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
