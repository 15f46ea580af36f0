"""``advise``: every finding of a run, recorded or live, and the run's bottleneck (reads only).

Engine rules run over the engine's signals joined with the busiest GPU's (a rule such as
"GPU under-used while requests run" reads both); GPU rules run per GPU, each finding naming
its GPU. The bottleneck is the classification rule (compute-, memory-, KV-, launch-bound,
under-filled) that fired longest, or ``None``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from iejtui.advisor.catalog import RULES
from iejtui.advisor.evaluate import evaluate
from iejtui.advisor.model import SEVERITY_RANK, Finding, Rule
from iejtui.advisor.run_inputs import RunInputs

BOTTLENECKS = {"compute-bound": "compute-bound", "memory-bound": "memory-bandwidth-bound decode",
               "kv-bound": "KV-bound", "kv-bound-queue": "KV-bound", "launch-bound": "launch/host-bound",
               "launch-bound-profile": "launch/host-bound",
               "under-filled": "under-filled GPU"}


def advise_inputs(inp: RunInputs, rules: Sequence[Rule] = RULES) -> list[Finding]:
    """Findings of ``rules`` over one run's inputs, most severe first."""
    t_end = inp.window[1]
    found: list[Finding] = []
    engine_rules = [r for r in rules if r.scope == "engine"]
    gpu_rules = [r for r in rules if r.scope == "gpu"]
    if inp.engine:
        found += evaluate(engine_rules, inp.engine, argv=inp.argv, t_end=t_end)
    for uuid, gsig in inp.gpus.items():
        joined = {**inp.engine, **gsig}  # GPU rules may read engine gauges (running) too
        for f in evaluate(gpu_rules, joined, argv=inp.argv, t_end=t_end):
            f.message = f"GPU {inp.gpu_names.get(uuid, uuid)}: {f.message}"
            f.observed["gpu"] = uuid  # type: ignore[assignment]
            found.append(f)
    found = shadow(found, {r.id: r.family for r in rules})
    found.sort(key=lambda f: (-SEVERITY_RANK[f.severity], f.start, f.rule))
    return found


def shadow(findings: list[Finding], families: dict[str, str]) -> list[Finding]:
    """One finding per family and overlapping episode (and GPU): the most severe, then the
    longest held; the others are dropped (Alertmanager calls this inhibition)."""
    def held(f: Finding) -> float:
        return (f.end if f.end is not None else f.start) - f.start
    ranked = sorted(findings, key=lambda f: (-SEVERITY_RANK[f.severity], -held(f)))
    kept: list[Finding] = []
    for f in ranked:
        fam = families.get(f.rule)
        gpu = f.observed.get("gpu")
        if fam and any(families.get(k.rule) == fam and k.observed.get("gpu") == gpu
                       and k.start <= (f.end or float("inf")) and f.start <= (k.end or float("inf")) for k in kept):
            continue
        kept.append(f)
    return kept


def bottleneck(findings: Sequence[Finding | dict]) -> dict[str, Any] | None:
    """The classification that fired longest (firing time summed over episodes and GPUs);
    findings as ``Finding`` objects or their JSON (stored findings)."""
    held: dict[str, float] = {}
    for f in findings:
        d = f.as_json() if isinstance(f, Finding) else f
        if d.get("rule") in BOTTLENECKS and d.get("fired_at") is not None:
            end = d["end"] if d.get("end") is not None else d["fired_at"]
            kind = BOTTLENECKS[d["rule"]]
            held[kind] = held.get(kind, 0.0) + max(0.0, end - d["start"])
    if not held:
        return None
    name = max(held, key=held.get)  # type: ignore[arg-type]
    return {"kind": name, "seconds": round(held[name], 1)}


def throttled_seconds(inp: RunInputs) -> float:
    """Seconds any GPU of the run spent throttled (power or heat) while kernels ran ≥ 50 %."""
    from iejtui.advisor.evaluate import value_at
    worst = 0.0
    for g in inp.gpus.values():
        busy = g.get("kernel_active_pct")
        secs = 0.0
        for key in ("throttle_power", "throttle_thermal"):
            ts, vs = g.get(key, ([], []))
            for a, b, v in zip(ts, ts[1:], vs):
                k = value_at(busy, a, 5.0) if busy else None
                if v >= 1 and k is not None and k >= 50:
                    secs += b - a
        worst = max(worst, secs)
    return worst


def run_validity(inp: RunInputs) -> dict[str, Any] | None:
    """The bench run's validity verdict (``None`` for other runs)."""
    from iejtui.advisor.validity import validity
    if inp.run.get("kind") != "bench":
        return None
    ls = inp.engine.get("length_share_pct")
    return validity(inp.run.get("summary") or {}, bench_argv=inp.run.get("argv") or [], engine_run=inp.engine_run,
                    window=inp.window, engine_counter=inp.generation_counter, throttled_s=throttled_seconds(inp),
                    engine_length_share_pct=ls[1][-1] if ls and ls[1] else None)


def advise_json(inp: RunInputs, findings: Sequence[Finding]) -> dict[str, Any]:
    run = inp.run
    return {"run": {"id": run["id"], "name": run.get("name"), "kind": run.get("kind"),
                    "window": list(inp.window), "ended": bool(run.get("ended_at")),
                    "engine_run": (inp.engine_run or {}).get("id"),
                    "gpus": sorted(inp.gpus)},
            "bottleneck": bottleneck(findings),
            "validity": run_validity(inp),
            "signals": sorted({*inp.engine, *(k for g in inp.gpus.values() for k in g)}),
            "findings": [f.as_json() for f in findings]}
