"""The advisor live: the same ``RuleTracker`` state machines as a replay, fed only the ticks
that arrived since the last evaluation (pure; the service reads the inputs and stores the
transitions).

Each live run keeps one tracker per rule and signal set (``engine``, or a GPU's UUID), so a
rule is pending or firing across evaluations exactly as it would be in one pass over the
recorded run: ``advise`` afterwards finds the same episodes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from iejtui.advisor.evaluate import RuleTracker, stale_limit, value_at
from iejtui.advisor.model import SEVERITY_RANK, Finding, Rule
from iejtui.advisor.run_inputs import RunInputs


@dataclass
class Transition:
    run_id: int
    kind: str  # firing | resolved
    finding: Finding
    gpu: str | None = None


@dataclass
class _RunState:
    trackers: dict[tuple[str, str], RuleTracker] = field(default_factory=dict)  # (key, rule id)
    last_t: dict[tuple[str, str], float] = field(default_factory=dict)


class LiveAdvisor:
    def __init__(self, rules: Sequence[Rule]):
        self.rules = [r for r in rules if r.enabled]
        self._runs: dict[int, _RunState] = {}

    def update(self, run_id: int, inp: RunInputs) -> list[Transition]:
        """Step every rule over the ticks of ``inp`` newer than the last ones seen."""
        st = self._runs.setdefault(run_id, _RunState())
        out: list[Transition] = []
        sets = [("engine", inp.engine, "engine")] if inp.engine else []
        sets += [(uuid, {**inp.engine, **g}, "gpu") for uuid, g in inp.gpus.items()]
        for key, signals, scope in sets:
            for rule in self.rules:
                if rule.scope != scope or any(c.signal not in signals for c in rule.conds):
                    continue
                tk = (key, rule.id)
                tr = st.trackers.get(tk)
                if tr is None:
                    tr = st.trackers[tk] = RuleTracker(rule, inp.argv)
                names = [n for n in (*rule.signals, *rule.context) if n in signals]
                stale = {n: stale_limit(signals[n]) for n in names}
                last = st.last_t.get(tk, float("-inf"))
                for t in signals[rule.primary.signal][0]:
                    if t <= last:
                        continue
                    kind = tr.step(t, {n: value_at(signals[n], t, stale[n]) for n in names})
                    last = t
                    if kind in ("firing", "resolved"):
                        f = tr.done[-1] if kind == "resolved" else tr.active
                        gpu = None if key == "engine" else key
                        if gpu and not f.message.startswith("GPU "):
                            f.message = f"GPU {inp.gpu_names.get(gpu, gpu)}: {f.message}"
                        out.append(Transition(run_id, kind, f, gpu))
                st.last_t[tk] = last
        return out

    def firing(self, run_id: int | None = None) -> list[tuple[int, Finding]]:
        """Findings firing now, most severe first (for the dashboard and ``status``)."""
        out = [(rid, tr.active) for rid, st in self._runs.items() if run_id in (None, rid)
               for tr in st.trackers.values() if tr.active is not None and tr.active.state == "firing"]
        out.sort(key=lambda x: (-SEVERITY_RANK[x[1].severity], x[1].start))
        return out

    def run_ids(self) -> list[int]:
        return list(self._runs)

    def forget(self, run_id: int) -> list[Finding]:
        """Drop a run that ended; returns the findings still firing at its end."""
        st = self._runs.pop(run_id, None)
        if st is None:
            return []
        return [tr.active for tr in st.trackers.values() if tr.active is not None and tr.active.state == "firing"]
