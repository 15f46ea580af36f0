"""Writing a matrix's ``benchmarks/NAME/`` entry: results.json, README.md, per workload an
SVG of its throughput curves and one of its Pareto frontiers, and its row in
benchmarks/README.md. Called by the service after each variant and at the end of a grid,
and by ``iejtui matrix report`` (from journal.db, read-only)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from iejtui.journal.mdsafe import slug
from iejtui.matrix.charts import render_pareto_svg, render_workload_svg
from iejtui.matrix.report import headline, render_readme
from iejtui.matrix.results import collect


def config_cost(config) -> dict[str, Any]:
    """iejtui.toml's ``[cost]`` (validated like the matrix file's; a broken one reads as empty)."""
    raw = (getattr(config, "raw", None) or {}).get("cost")
    if not raw:
        return {}
    from iejtui.errors import UserError
    from iejtui.matrix.parse import _Locator, parse_cost
    path = config.path or Path("iejtui.toml")
    try:
        return parse_cost(_Locator(path, path.read_text() if config.path else ""), raw, "iejtui.toml [cost]")
    except (UserError, OSError):
        return {}


def _write(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def write_entry(root: Path, reader, run: dict[str, Any], cost: dict[str, Any] | None = None) -> Path:
    """(Re)write benchmarks/NAME/ for matrix run ``run``; returns the folder."""
    res = collect(reader, run, cost)
    try:
        res["file_rel"] = str(Path(res["file"]).relative_to(Path(root).resolve()))
    except ValueError:
        res["file_rel"] = res["file"]
    dest = Path(root) / "benchmarks" / res["name"]
    dest.mkdir(parents=True, exist_ok=True)
    charts: dict[str, str] = {}
    for w in res["workloads"]:
        svg = render_workload_svg(f"{res['name']} · {w['name']}: {w['shape']}", res["groups"], w["name"], w["loads"])
        fname = f"chart-{slug(w['name']) or 'workload'}.svg"
        if svg:
            _write(dest / fname, svg)
            charts[w["name"]] = fname
        else:
            (dest / fname).unlink(missing_ok=True)
    paretos: dict[str, str] = {}
    for w in res["workloads"]:
        svg = render_pareto_svg(f"{res['name']} · {w['name']}: Pareto frontiers", res["groups"], w["name"])
        fname = f"pareto-{slug(w['name']) or 'workload'}.svg"
        if svg:
            _write(dest / fname, svg)
            paretos[w["name"]] = fname
        else:
            (dest / fname).unlink(missing_ok=True)
    _write(dest / "results.json", json.dumps(res, indent=1, default=str) + "\n")
    _write(dest / "README.md", render_readme(res, charts, paretos) + "\n")
    from iejtui.journal import index
    ver = (res.get("versions") or {}).get("engine")
    index.write_bench_row(Path(root), res["name"], res["date"], f"{res['engine']['kind']} {ver or ''}".strip()
                          + " (matrix)", res["hardware"]["label"], headline(res))
    return dest
