"""The "What the advisor saw" section of exports and day logs (markdown, pure).

Every text that came from a run (messages carry figures only, but a knob's current value is
read from the run's argv) is escaped with ``mdsafe``: no raw HTML reaches the markdown.
"""

from __future__ import annotations

from typing import Any

from iejtui.advisor.text import SEV, clock, knob_text
from iejtui.journal.mdsafe import code, esc, table


def advice_markdown(result: dict[str, Any] | None, heading: str = "####") -> str:
    """The section's markdown ("" when the run has nothing for the advisor to read)."""
    if not result or not result.get("signals"):
        return ""
    out = [f"{heading} What the advisor saw", ""]
    v = result.get("validity")
    if v is not None:
        out.append(f"- Benchmark: **{'valid' if v['valid'] else 'invalid'}**")
        out += [f"  - invalid: {esc(w)}" for w in v["invalid_reasons"]]
        out += [f"  - caveat: {esc(w)}" for w in v["caveats"]]
    b = result.get("bottleneck")
    out.append(f"- Bottleneck: {esc(b['kind'])} ({b['seconds']:.0f} s)" if b else "- Bottleneck: none classified")
    out.append("")
    if not result["findings"]:
        out += [f"No findings ({len(result['signals'])} signals read).", ""]
        return "\n".join(out)
    ended = bool(result["run"].get("ended"))
    rows = []
    for f in result["findings"]:
        until = "run end" if (f["state"] == "firing" and ended) else ("now" if f["state"] == "firing" else clock(f["end"]))
        rows.append([SEV[f["severity"]], code(f["rule"], table=True), f"{clock(f['start'])}–{until}",
                     esc(f["message"]), code(knob_text(f.get("knob")), table=True) if f.get("knob") else "",
                     esc(f["why"])])
    out += [table(["Severity", "Rule", "When", "What", "Knob", "Why"], rows), ""]
    return "\n".join(out)
