"""What the advisor saw in a run, for ``runs show``, the run view and exports (reads only).

The service stores each finding as it fires and resolves (``advisor.firing`` /
``advisor.resolved`` events, ``iejtui.service.advising``); those are read back first: cheap
for any run length, and exactly what was said live. A run without them (recorded before the
advisor, imported, or the service was not running it) is replayed when it is short enough
(``MAX_REPLAY_S``); a longer one says how to replay it (``iejtui advise rN``), since a replay
reads every sample of the run. A bench run's validity verdict is always computed (its window
is short).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from iejtui.advisor.advise import advise_inputs, advise_json, bottleneck, run_validity
from iejtui.advisor.catalog import RULES
from iejtui.advisor.model import SEVERITY_RANK, Rule
from iejtui.advisor.overrides import for_run
from iejtui.advisor.run_inputs import read_inputs, run_window

KINDS = ("advisor.firing", "advisor.resolved")
MAX_REPLAY_S = 2 * 3600.0


def stored_findings(reader, run_id: int) -> list[dict[str, Any]]:
    """The findings the service stored for a run: one per episode, its latest state."""
    by_key: dict[tuple, dict[str, Any]] = {}
    for ev in reader.events_of_kinds(run_id, KINDS):
        f = (ev.get("data") or {}).get("finding")
        if not isinstance(f, dict) or "rule" not in f:
            continue
        key = (f["rule"], f.get("start"), (ev.get("data") or {}).get("gpu"))
        by_key[key] = {**by_key.get(key, {}), **f}
    out = list(by_key.values())
    out.sort(key=lambda f: (-SEVERITY_RANK.get(f.get("severity"), 0), f.get("start") or 0, f["rule"]))
    return out


def run_advice(reader, run: dict[str, Any], rules: Sequence[Rule] = RULES,
               max_replay_s: float = MAX_REPLAY_S) -> dict[str, Any]:
    """``advise``'s result for a run plus ``source``: ``live`` (stored findings), ``replay``,
    or ``none`` (too long to replay here: ``note`` says how)."""
    stored = stored_findings(reader, run["id"])
    t0, t1 = run_window(run)
    if stored:
        inp = read_inputs(reader, run) if run.get("kind") == "bench" else None
        head = {"id": run["id"], "name": run.get("name"), "kind": run.get("kind"), "window": [t0, t1],
                "ended": bool(run.get("ended_at"))}
        return {"run": head, "source": "live", "validity": run_validity(inp) if inp else None,
                "bottleneck": bottleneck(stored), "signals": ["(stored)"], "findings": stored}
    if t1 - t0 > max_replay_s:
        return {"run": {"id": run["id"], "name": run.get("name"), "kind": run.get("kind"), "window": [t0, t1],
                        "ended": bool(run.get("ended_at"))},
                "source": "none", "validity": None, "bottleneck": None, "signals": [], "findings": [],
                "note": f"no stored findings; replay with `iejtui advise r{run['id']}` (reads the whole run)"}
    inp = read_inputs(reader, run)
    judged = for_run(rules, run, t1 - t0)
    return {**advise_json(inp, advise_inputs(inp, judged)), "source": "replay"}
