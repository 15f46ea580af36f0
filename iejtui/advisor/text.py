"""``advise`` results as plain text lines (pure): what ``iejtui advise`` and ``runs show``
print. Times are local clock times; a finding still firing says so, or, for an ended run,
that it lasted until the run ended."""

from __future__ import annotations

import time
from typing import Any

SEV = {"critical": "CRITICAL", "warning": "WARNING", "info": "info"}


def clock(ts: float | None) -> str:
    return time.strftime("%H:%M:%S", time.localtime(ts)) if ts else "…"


def knob_text(k: dict[str, Any] | None) -> str:
    if not k:
        return ""
    arrow = f" → {k['suggested']}" if k.get("suggested") else ""
    note = f"  ({k['note']})" if k.get("note") else ""
    return f"{k['flag']} {k['current']}{arrow}{note}"


def span_text(f: dict[str, Any], ended: bool) -> str:
    still = " (until the run ended)" if ended else " (still firing)"
    return f"{clock(f['start'])}–{clock(f['end'])}" + (still if f["state"] == "firing" else "")


def result_lines(result: dict[str, Any], indent: str = "") -> list[str]:
    """Verdict, bottleneck and one block per finding (severity, rule, window; message; knob;
    why)."""
    run = result["run"]
    out: list[str] = []
    v = result.get("validity")
    if v is not None:
        out.append("benchmark: " + ("valid" if v["valid"] else "INVALID"))
        out += [f"  invalid: {why}" for why in v["invalid_reasons"]]
        out += [f"  caveat: {why}" for why in v["caveats"]]
    b = result.get("bottleneck")
    out.append(f"bottleneck: {b['kind']} ({b['seconds']:.0f} s)" if b else "bottleneck: none classified")
    if not result["signals"]:
        out.append("no signals recorded for this run: nothing to advise on")
    elif not result["findings"]:
        out.append(f"no findings ({len(result['signals'])} signals read)")
    for f in result["findings"]:
        out.append(f"{SEV[f['severity']]:<8}  {f['rule']}  {span_text(f, bool(run.get('ended')))}")
        out.append(f"          {f['message']}")
        if f.get("knob"):
            out.append(f"          knob: {knob_text(f['knob'])}")
        out.append(f"          why: {f['why']}  [{f['source']}]")
    return [indent + line for line in out]
