"""The "What the advisor saw" section of exports and day logs (markdown, pure).

Every text that came from a run (messages carry figures only, but a knob's current value is
read from the run's argv) is escaped with ``mdsafe``: no raw HTML reaches the markdown.
"""

from __future__ import annotations

from typing import Any

from iejtui.advisor.text import SEV, clock, knob_text
from iejtui.journal.mdsafe import code, esc, table


def advice_markdown(result: dict[str, Any] | None, heading: str = "####",
                    title: str = "What the advisor saw") -> str:
    """The section's markdown ("" when the run has nothing for the advisor to read; a run too
    long to replay here says how to)."""
    if result and result.get("source") == "none" and result.get("note"):
        return "\n".join([f"{heading} {esc(title)}", "", esc(result["note"]), ""])
    if not result or not result.get("signals"):
        return ""
    out = [f"{heading} {esc(title)}", ""]
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


def day_advice(entries: list[dict[str, Any]]) -> str:
    """LOG.md's generated "What the advisor saw": one sub-section per run that has findings
    or a verdict (a quiet run is one line)."""
    out, quiet = [], []
    for e in entries:
        adv = e.get("advisor")
        if not adv:
            continue
        if not adv.get("findings") and not adv.get("validity") and adv.get("source") != "none":
            quiet.append(f"r{e['id']}")
            continue
        out.append(advice_markdown(adv, "###", f"r{e['id']} {e.get('name') or ''}".strip()))
    if quiet:
        out.append(f"No findings for {', '.join(quiet)}.")
    return "\n".join(out).strip() or "_No run of this day was advised yet._"


def todo_knobs(entries: list[dict[str, Any]]) -> list[str]:
    """TODO.md items from the advisor: each warning or critical finding that names a value to
    try, once per run and flag."""
    items, seen = [], set()
    for e in entries:
        for f in (e.get("advisor") or {}).get("findings") or []:
            k = f.get("knob") or {}
            if f.get("severity") == "info" or not k.get("suggested") or (e["id"], k["flag"]) in seen:
                continue
            seen.add((e["id"], k["flag"]))
            items.append(f"- [ ] r{e['id']}: try {code(k['flag'] + ' ' + str(k['suggested']))} "
                         f"({esc(f.get('title') or f['rule'])}: {esc(f.get('message'), limit=160)})")
    return items
