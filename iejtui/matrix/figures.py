"""Per-cell figures, their aggregation over repetitions, and the best variant per SLO (pure).

A cell's figures come from its bench result (the `vllm bench serve` JSON: throughputs and
latency percentiles over the successful requests) and its stored requests (goodput for
every SLO: vLLM's definition, requests meeting every limit of the SLO per second of the
benchmark). Repetitions of a (variant, workload, load point) are averaged; ``sd`` is the
sample standard deviation (None with one repetition).
"""

from __future__ import annotations

import statistics
from typing import Any, Iterable

from iejtui.values import finite as _f

# Figures averaged over repetitions (keys of a cell's ``figures``).
AVERAGED = ("output_tok_s", "total_tok_s", "request_s", "ttft_p50_ms", "ttft_p99_ms", "tpot_p50_ms", "tpot_p99_ms",
            "itl_p50_ms", "itl_p99_ms", "e2el_p50_ms", "e2el_p99_ms", "duration_s", "usd_per_1m_output",
            "joules_per_token", "kv_peak_tokens", "kv_peak_pct", "mem_headroom_bytes", "mem_headroom_pct",
            "completed", "failed", "output_tokens", "output_tok_s_per_gpu")


def _pct(result: dict, metric: str, p: str) -> float | None:
    if p == "50":
        v = _f(result.get(f"p50_{metric}_ms"))
        return v if v is not None else _f(result.get(f"median_{metric}_ms"))
    return _f(result.get(f"p{p}_{metric}_ms"))


def meets(req: dict[str, Any], slo: dict[str, Any]) -> bool:
    """Whether one successful request met every limit of ``slo`` (ms limits; vLLM's rule:
    a one-token request has TPOT 0)."""
    if not req.get("ok") or req.get("ttft") is None or req.get("e2el") is None:
        return False
    n = req.get("output_tokens") or 0
    tpot = (req["e2el"] - req["ttft"]) / (n - 1) if n > 1 else 0.0
    checks = (("ttft_ms", req["ttft"]), ("tpot_ms", tpot), ("e2el_ms", req["e2el"]))
    return all(slo.get(k) is None or v * 1000.0 <= slo[k] for k, v in checks)


def goodput(requests: list[dict[str, Any]], slo: dict[str, Any], duration_s: float | None) -> tuple[float | None, float | None]:
    """(requests meeting ``slo`` per second, % of all requests meeting it)."""
    if not requests or not duration_s or duration_s <= 0:
        return None, None
    good = sum(1 for r in requests if meets(r, slo))
    return good / duration_s, 100.0 * good / len(requests)


def cell_figures(result: dict[str, Any], requests: list[dict[str, Any]], slos: list[dict[str, Any]]) -> dict[str, Any]:
    """The figures of one finished cell from its bench result and stored requests."""
    dur = _f(result.get("duration"))
    out: dict[str, Any] = {
        "output_tok_s": _f(result.get("output_throughput")),
        "total_tok_s": _f(result.get("total_token_throughput")),
        "request_s": _f(result.get("request_throughput")),
        "duration_s": dur, "completed": _f(result.get("completed")), "failed": _f(result.get("failed")),
        "output_tokens": _f(result.get("total_output_tokens")),
    }
    for m in ("ttft", "tpot", "itl", "e2el"):
        for p in ("50", "99"):
            out[f"{m}_p{p}_ms"] = _pct(result, m, p)
    out["goodput"], out["attainment_pct"] = {}, {}
    for s in slos:
        out["goodput"][s["name"]], out["attainment_pct"][s["name"]] = goodput(requests, s, dur)
    return out


def mean_sd(values: Iterable[float | None]) -> tuple[float | None, float | None, int]:
    vs = [v for v in values if v is not None]
    if not vs:
        return None, None, 0
    return statistics.fmean(vs), (statistics.stdev(vs) if len(vs) > 1 else None), len(vs)


def aggregate(cells: list[dict[str, Any]], slos: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One group per (variant, workload, load) over its ``done`` cells, in first-seen order.

    ``cells``: results.json cells (``variant``, ``workload``, ``load``, ``status``, ``figures``).
    """
    groups: dict[tuple, list[dict]] = {}
    status: dict[tuple, list[str]] = {}
    for c in cells:
        k = (c["variant"], c["workload"], c["load"])
        groups.setdefault(k, [])
        status.setdefault(k, []).append(c["status"])
        if c["status"] == "done" and c.get("figures"):
            groups[k].append(c["figures"])
    out = []
    for (v, w, lp), figs in groups.items():
        g: dict[str, Any] = {"variant": v, "workload": w, "load": lp, "n": len(figs),
                             "cells": len(status[(v, w, lp)]), "statuses": status[(v, w, lp)]}
        for key in AVERAGED:
            g[key], g[f"{key}_sd"], _ = mean_sd(f.get(key) for f in figs)
        g["goodput"], g["goodput_sd"], g["attainment_pct"] = {}, {}, {}
        for s in slos:
            g["goodput"][s["name"]], g["goodput_sd"][s["name"]], _ = mean_sd(
                (f.get("goodput") or {}).get(s["name"]) for f in figs)
            g["attainment_pct"][s["name"]] = mean_sd((f.get("attainment_pct") or {}).get(s["name"]) for f in figs)[0]
        out.append(g)
    return out


def best_per_slo(groups: list[dict[str, Any]], slos: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per workload: the highest-throughput group overall, and per SLO the group with the
    highest goodput (ties: higher output throughput). ``variant`` is None when no group
    measured anything (or, for an SLO, none met it)."""
    out = []
    for w in dict.fromkeys(g["workload"] for g in groups):
        mine = [g for g in groups if g["workload"] == w and g.get("output_tok_s") is not None]
        top = max(mine, key=lambda g: g["output_tok_s"], default=None)
        out.append({"workload": w, "slo": None, "variant": top and top["variant"], "load": top and top["load"],
                    "output_tok_s": top and top["output_tok_s"], "goodput": None})
        for s in slos:
            cands = [g for g in mine if (g["goodput"].get(s["name"]) or 0) > 0]
            b = max(cands, key=lambda g: (g["goodput"][s["name"]], g["output_tok_s"]), default=None)
            out.append({"workload": w, "slo": s["name"], "variant": b and b["variant"], "load": b and b["load"],
                        "output_tok_s": b and b["output_tok_s"], "goodput": b and b["goodput"][s["name"]],
                        "attainment_pct": b and b["attainment_pct"].get(s["name"])})
    return out
