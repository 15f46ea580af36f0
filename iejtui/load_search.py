"""A load search's result (``iejtui bench --find-max-load``): its summary, as text and markdown (pure).

The search run (kind ``search``) stores ``summary = {"search": {...}}``: the SLO and how
it is judged, the tolerance, the probes (one bench run each: rate, verdict, p99s), the
bracket [last pass, first fail] and the highest load meeting the SLO (the bracket's lower
end). ``runs show`` prints ``search_text``; exports print ``search_markdown``.
"""

from __future__ import annotations

from typing import Any

DEFAULT_TOLERANCE = "10%"
DEFAULT_PROBE_SECONDS = 30.0
JUDGE = "per run, MLPerf server-scenario rule: p99 of each limited latency ≤ its limit, no failed request"


def probe_row(run_id: int, rate: float, num_prompts: int, result: dict[str, Any] | None,
              passed: bool | None, why: str) -> dict[str, Any]:
    r = result or {}
    return {"run_id": run_id, "request_rate": rate, "num_prompts": num_prompts, "passed": passed, "why": why,
            "completed": r.get("completed"), "failed": r.get("failed"),
            "request_throughput": r.get("request_throughput"), "output_throughput": r.get("output_throughput"),
            "p99_ttft_ms": r.get("p99_ttft_ms"), "p99_tpot_ms": r.get("p99_tpot_ms"),
            "p99_e2el_ms": r.get("p99_e2el_ms")}


def search_summary(slo: dict[str, Any], tolerance: str, probe_seconds: float, probes: list[dict[str, Any]],
                   good: float | None, bad: float | None, converged: bool, stopped: str) -> dict[str, Any]:
    return {"slo": slo, "judge": JUDGE, "tolerance": tolerance, "probe_seconds": probe_seconds,
            "max_load_rps": good, "bracket": [good, bad], "converged": converged, "stopped": stopped,
            "probes": probes}


def _n(v: Any, digits: int = 1) -> str:
    return "—" if v is None else f"{v:,.{digits}f}"


def headline(s: dict[str, Any]) -> str:
    good, bad = s["bracket"]
    name = s["slo"]["name"]
    if good is None:
        return f"no probed load meets SLO {name} (lowest probed: {_n(bad, 3)} req/s)"
    if bad is None:
        return f"highest load meeting SLO {name}: ≥ {good:.3f} req/s (no probe failed)"
    return (f"highest load meeting SLO {name}: {good:.3f} req/s (bracket [{good:.3f}, {bad:.3f}] req/s"
            + ("" if s["converged"] else ", not within tolerance") + ")")


def _limits(slo: dict[str, Any]) -> str:
    return ", ".join(f"p99 {k[:-3].upper()} ≤ {slo[k]:g} ms" for k in ("ttft_ms", "tpot_ms", "e2el_ms")
                     if slo.get(k) is not None)


def _rows(s: dict[str, Any]) -> list[list[str]]:
    rows = []
    for p in sorted(s["probes"], key=lambda p: p["request_rate"]):
        verdict = "—" if p["passed"] is None else ("pass" if p["passed"] else "FAIL")
        rows.append([f"r{p['run_id']}", f"{p['request_rate']:.3f}", str(p["num_prompts"]), verdict,
                     _n(p["request_throughput"], 2), _n(p["output_throughput"], 0), _n(p["p99_ttft_ms"]),
                     _n(p["p99_tpot_ms"], 2), _n(p["p99_e2el_ms"], 0)])
    return rows


HEAD = ["run", "rate req/s", "requests", "SLO", "req/s", "out tok/s", "TTFT p99", "TPOT p99", "E2E p99"]


def search_text(s: dict[str, Any]) -> str:
    """The search for a terminal: headline, SLO, tolerance, probes table, bracket."""
    slo = s["slo"]
    lines = [headline(s),
             f"  SLO {slo['name']}: {_limits(slo)}" + (f"  ({slo['source']})" if slo.get("source") else ""),
             f"  judged {s['judge']}",
             f"  tolerance: stop when {s['tolerance']}; each probe ≈ {s['probe_seconds']:g} s of requests",
             f"  bracket [last pass, first fail]: [{_n(s['bracket'][0], 3)}, {_n(s['bracket'][1], 3)}] req/s"]
    if s.get("stopped"):
        lines.append(f"  stopped: {s['stopped']}")
    rows = _rows(s)
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(HEAD)]
    lines.append("  " + "  ".join(h.rjust(w) for h, w in zip(HEAD, widths)))
    lines += ["  " + "  ".join(c.rjust(w) for c, w in zip(r, widths)) for r in rows]
    return "\n".join(lines)


def search_markdown(s: dict[str, Any], esc, code, table) -> str:
    """The search for an export (``esc``/``code``/``table`` from ``iejtui.journal.mdsafe``)."""
    slo = s["slo"]
    out = [f"**Load search:** {esc(headline(s))}", "",
           f"- **SLO** {code(slo['name'])}: {esc(_limits(slo))}" + (f" ({esc(slo['source'])})" if slo.get("source") else ""),
           f"- **Judged** {esc(s['judge'])}",
           f"- **Tolerance** stop when {esc(s['tolerance'])}; each probe ≈ {s['probe_seconds']:g} s of requests",
           f"- **Bracket** [last pass, first fail]: [{_n(s['bracket'][0], 3)}, {_n(s['bracket'][1], 3)}] req/s"]
    if s.get("stopped"):
        out.append(f"- **Stopped** {esc(s['stopped'])}")
    out += ["", table(HEAD, [[esc(c) for c in r] for r in _rows(s)]), ""]
    return "\n".join(out)
