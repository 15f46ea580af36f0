"""What the advisor says now, for the dashboard (pure over stored events).

The service stores each finding as ``advisor.firing`` then ``advisor.resolved`` events of its
run (``iejtui.service.advising``); a finding fires now when its latest event is a firing one
and its run is still live. One line each, most severe first: the dashboard's advisor strip;
the full list (why and knob) opens with a key.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from iejtui.advisor.model import SEVERITY_RANK
from iejtui.advisor.text import knob_text

MARK = {"critical": "✗", "warning": "!", "info": "·"}


@dataclass(frozen=True, slots=True)
class AdviceLine:
    run_id: int
    rule: str
    severity: str
    title: str
    message: str
    knob: str  # "--max-num-seqs 256 → 64  (note)" or ""
    why: str
    since: float

    def short(self) -> str:
        """The strip's line: mark, run, title, the message, the value to try."""
        k = f"  [{self.knob.split('  (')[0]}]" if "→" in self.knob else ""
        return f"{MARK[self.severity]} r{self.run_id} {self.title}: {self.message}{k}"


def firing_now(events: Iterable[dict[str, Any]], live_runs: Sequence[int]) -> tuple[AdviceLine, ...]:
    """Findings whose latest event is ``advisor.firing``, on runs still live."""
    latest: dict[tuple, tuple[str, dict[str, Any]]] = {}
    live = set(live_runs)
    for ev in events:
        kind = ev.get("kind")
        if kind not in ("advisor.firing", "advisor.resolved") or ev.get("run_id") not in live:
            continue
        data = ev.get("data") or {}
        f = data.get("finding") if isinstance(data, dict) else None
        if not isinstance(f, dict) or "rule" not in f:
            continue
        latest[(ev["run_id"], f["rule"], f.get("start"), data.get("gpu"))] = (kind, f)
    out = [AdviceLine(run_id=key[0], rule=f["rule"], severity=f.get("severity", "info"),
                      title=f.get("title") or f["rule"], message=f.get("message") or "",
                      knob=knob_text(f.get("knob")), why=f.get("why") or "", since=f.get("fired_at") or f["start"])
           for key, (kind, f) in latest.items() if kind == "advisor.firing"]
    out.sort(key=lambda a: (-SEVERITY_RANK.get(a.severity, 0), a.since))
    return tuple(out)


def detail_text(lines: Sequence[AdviceLine]) -> str:
    """The full list: each finding with its knob and why (the modal's body)."""
    if not lines:
        return "Nothing fires now. `iejtui advise RUN` replays the rules over any run."
    out = []
    for a in lines:
        out += [f"{MARK[a.severity]} {a.severity.upper()}  r{a.run_id}  {a.title}  ({a.rule})", f"  {a.message}"]
        if a.knob:
            out.append(f"  knob: {a.knob}")
        out += [f"  why: {a.why}", ""]
    return "\n".join(out).rstrip()


RUN_SECTION = "What the advisor saw"


def run_advice_lines(result: dict[str, Any] | None) -> list[str]:
    """A run's ``run_advice`` in full (the run view's ``a``): the same lines ``runs show`` and
    ``iejtui advise`` print (verdict, bottleneck, each finding with its window, message, knob,
    why), headed; empty when the run has no signals to advise on."""
    from iejtui.advisor.text import result_lines
    if not result:
        return []
    if result.get("source") == "none":
        return [RUN_SECTION, "  " + str(result.get("note") or "")]
    if not result.get("signals"):
        return []
    head = RUN_SECTION + (" (as found live)" if result.get("source") == "live" else " (replayed)")
    return [head, *result_lines(result, indent="  ")]


def run_advice_short(result: dict[str, Any] | None, limit: int = 4) -> list[str]:
    """The run view's section: a heading with the bench verdict and the bottleneck, then one
    line per finding, most severe first (severity, rule, window, the knob with a value to
    try), at most ``limit``; the rest and each finding's why are behind ``a``."""
    from iejtui.advisor.text import SEV, span_text
    if not result:
        return []
    if result.get("source") == "none":
        return [f"{RUN_SECTION}: {result.get('note') or ''}"]
    if not result.get("signals"):
        return []
    head = [RUN_SECTION + (" (live)" if result.get("source") == "live" else "")]
    v = result.get("validity")
    if v is not None:
        head.append("benchmark " + ("valid" if v["valid"] else "INVALID: " + "; ".join(v["invalid_reasons"])[:60])
                    + (f" ({len(v['caveats'])} caveat(s))" if v.get("caveats") else ""))
    b = result.get("bottleneck")
    head.append(f"bottleneck: {b['kind']} ({b['seconds']:.0f} s)" if b else "bottleneck: none classified")
    findings = result.get("findings") or []
    ended = bool((result.get("run") or {}).get("ended"))
    out = [" · ".join(head)]
    for f in findings[:limit]:
        k = f.get("knob") or {}
        knob = f"  {k['flag']} {k.get('current') or ''}" + (f" → {k['suggested']}" if k.get("suggested") else "") if k else ""
        out.append(f"  {SEV.get(f['severity'], f['severity']):<8}  {f['rule']}  {span_text(f, ended)}{knob}")
    if not findings:
        out.append("  no findings")
    more = len(findings) - limit
    out.append(f"  … {more} more; a: all of them with message, knob and why" if more > 0
               else "  a: each finding's message and why" if findings else "")
    return [ln for ln in out if ln]
