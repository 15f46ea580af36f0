"""What the advisor saw in a run, for ``runs show``, the run view and exports (reads only).

The service stores each finding as it fires and resolves (``advisor.firing`` /
``advisor.resolved`` events, ``iejtui.service.advising``); those are read back first: cheap
for any run length, and exactly what was said live. A run without them (recorded before the
advisor, imported, or the service was not running it) is replayed when it is short enough
(``MAX_REPLAY_S``); a longer one says how to replay it (``iejtui advise rN``), since a replay
reads every sample of the run. A bench run's validity verdict is always computed (its window
is short), and the service stores it in the run's summary when the bench ends
(``bench_verdict``, under ``summary["iejtui"]["validity"]``): the Benchmarks screen and
``runs show`` read it from there instead of reading the window again.
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
#: event level of a firing finding → its severity (``iejtui.service.advising.LEVEL`` reversed)
SEVERITY_OF_LEVEL = {"error": "critical", "warning": "warning", "info": "info"}
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


def bench_verdict(reader, run: dict[str, Any]) -> dict[str, Any] | None:
    """The validity verdict of a finished bench run, computed from its window (``None``: not
    a single benchmark with a result — a sweep's points are runs of their own — or its
    window could not be read: a verdict is optional, a broken series must not lose the run)."""
    summary = run.get("summary")
    if run.get("kind") != "bench" or not isinstance(summary, dict) or "sweep" in summary:
        return None
    try:
        return run_validity(read_inputs(reader, run))
    except Exception:  # noqa: BLE001
        return None


def stored_verdict(run: dict[str, Any]) -> dict[str, Any] | None:
    """The verdict the service stored with a bench run's result, if it did."""
    summary = run.get("summary")
    extra = summary.get("iejtui") if isinstance(summary, dict) else None
    v = extra.get("validity") if isinstance(extra, dict) else None
    return v if isinstance(v, dict) and "valid" in v else None


def with_verdict(summary: dict[str, Any], verdict: dict[str, Any]) -> dict[str, Any]:
    """``summary`` carrying ``verdict`` under ``"iejtui"`` (pure)."""
    extra = summary.get("iejtui") if isinstance(summary.get("iejtui"), dict) else {}
    return {**summary, "iejtui": {**extra, "validity": verdict}}


def run_advice(reader, run: dict[str, Any], rules: Sequence[Rule] = RULES,
               max_replay_s: float = MAX_REPLAY_S) -> dict[str, Any]:
    """``advise``'s result for a run plus ``source``: ``live`` (stored findings), ``replay``,
    or ``none`` (too long to replay here: ``note`` says how)."""
    stored = stored_findings(reader, run["id"])
    t0, t1 = run_window(run)
    if stored:
        verdict = stored_verdict(run)
        if verdict is None and run.get("kind") == "bench":
            verdict = run_validity(read_inputs(reader, run))
        head = {"id": run["id"], "name": run.get("name"), "kind": run.get("kind"), "window": [t0, t1],
                "ended": bool(run.get("ended_at"))}
        return {"run": head, "source": "live", "validity": verdict,
                "bottleneck": bottleneck(stored), "signals": ["(stored)"], "findings": stored}
    if t1 - t0 > max_replay_s:
        return {"run": {"id": run["id"], "name": run.get("name"), "kind": run.get("kind"), "window": [t0, t1],
                        "ended": bool(run.get("ended_at"))},
                "source": "none", "validity": None, "bottleneck": None, "signals": [], "findings": [],
                "note": f"no stored findings; replay with `iejtui advise r{run['id']}` (reads the whole run)"}
    inp = read_inputs(reader, run)
    judged = for_run(rules, run, t1 - t0)
    return {**advise_json(inp, advise_inputs(inp, judged)), "source": "replay"}
