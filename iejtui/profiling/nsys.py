"""``nsys stats --report cuda_gpu_kern_sum --format csv`` output → the summary's kernel table.

Pure. The format is Nsight Systems' documented one (Post-Collection Analysis Guide,
https://docs.nvidia.com/nsight-systems/AnalysisGuide/index.html, "cuda_gpu_kern_sum[:nvtx-name]
[:base|:mangled] – CUDA GPU Kernel Summary"): one row per kernel with the columns
``Time (%)``, ``Total Time (ns)``, ``Instances``, ``Avg (ns)``, ``Med (ns)``, ``Min (ns)``,
``Max (ns)``, ``StdDev (ns)``, ``Name``; ``--timeunit`` changes the unit in the headers
(``(us)``, ``(ms)``, ``(s)``), which the parser reads back. ``nsys stats`` may print banner
lines (``Processing [...]``, ``** CUDA GPU Kernel Summary (cuda_gpu_kern_sum):``) before the
CSV; they are skipped up to the header row.

Untested against a real nsys here (no nsys on the CPU box): the tests feed CSV written from
that documented layout. ``Time (%)`` is the share of *kernel* time (not of the window): the
rows keep it as ``kernel_share`` and ``share`` is of the profiled window when one is given.
"""

from __future__ import annotations

import csv
import io
import re
from typing import Any

__all__ = ["KERN_SUM_REPORT", "parse_kern_sum"]

KERN_SUM_REPORT = "cuda_gpu_kern_sum"
_UNIT_US = {"ns": 1e-3, "us": 1.0, "ms": 1e3, "s": 1e6}
_HEAD_RE = re.compile(r"^\s*(.*?)\s*\((ns|us|ms|s|%)\)\s*$")


def parse_kern_sum(text: str, window_us: float | None = None) -> list[dict[str, Any]]:
    """Rows ``{"name", "time_us", "instances", "avg_us", "kernel_share", "share"}``, heaviest
    first. ``ValueError`` when no ``cuda_gpu_kern_sum`` header row is found."""
    lines = text.splitlines()
    start = next((i for i, ln in enumerate(lines)
                  if "Total Time" in ln and "Name" in ln and "Instances" in ln), None)
    if start is None:
        raise ValueError("no cuda_gpu_kern_sum CSV header (Time (%), Total Time, Instances, ..., Name)")
    reader = csv.reader(io.StringIO("\n".join(lines[start:])))
    header = next(reader)
    cols: dict[str, tuple[int, str | None]] = {}
    for i, h in enumerate(header):
        m = _HEAD_RE.match(h)
        key, unit = (m.group(1), m.group(2)) if m else (h.strip(), None)
        cols[key] = (i, unit)
    if "Total Time" not in cols or "Name" not in cols:
        raise ValueError(f"cuda_gpu_kern_sum CSV without Total Time/Name columns: {header}")
    ti, tunit = cols["Total Time"]
    scale = _UNIT_US.get(tunit or "ns", 1e-3)
    rows: list[dict[str, Any]] = []
    for rec in reader:
        if len(rec) < len(header) or not rec[ti].strip():
            continue
        try:
            total = float(rec[ti].replace(",", "")) * scale
        except ValueError:
            continue
        row: dict[str, Any] = {"name": rec[cols["Name"][0]], "time_us": round(total, 3)}
        if "Instances" in cols:
            row["instances"] = int(float(rec[cols["Instances"][0]].replace(",", "")))
        if "Avg" in cols:
            i, unit = cols["Avg"]
            row["avg_us"] = float(rec[i].replace(",", "")) * _UNIT_US.get(unit or "ns", 1e-3)
        if "Time" in cols:
            row["kernel_share"] = float(rec[cols["Time"][0]]) / 100.0
        row["share"] = (total / window_us) if window_us else row.get("kernel_share", 0.0)
        rows.append(row)
    rows.sort(key=lambda r: -r["time_us"])
    return rows
