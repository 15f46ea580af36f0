"""Rules over signals, with Prometheus' alert semantics (pure).

At each evaluation tick (the primary signal's samples) a rule's conditions either all hold
or not. Holding → the rule is *pending* from that tick; held for ``for_s`` → *firing*; not
holding → a pending rule goes back to inactive (Prometheus drops it, so do we) and a firing
one is *resolved* at that tick. A signal without a reading within ``STALE_S`` of the tick
makes its condition false, as an absent series does in PromQL.

``RuleTracker.step`` is the one state machine: the service feeds it tick by tick (live), and
``evaluate`` feeds it a whole recorded run (replay), so a run recorded before a rule existed
is advised by the same code later.
"""

from __future__ import annotations

import math
import string
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from iejtui.advisor.knobs import knob_json
from iejtui.advisor.model import SEVERITY_RANK, Finding, Rule
from iejtui.advisor.signals import Signal, value_at

STALE_S = 3.0  # a reading older than this (3 missed 1 Hz scrapes) is no reading


class _Fmt(string.Formatter):
    """``str.format`` that shows a missing or non-finite figure as ``?`` whatever its spec."""

    def get_value(self, key, args, kwargs):
        return kwargs.get(key) if isinstance(key, str) else super().get_value(key, args, kwargs)

    def format_field(self, value, format_spec):
        if value is None or (isinstance(value, float) and not math.isfinite(value)):
            return "?"
        return super().format_field(value, format_spec)


_FMT = _Fmt()


class RuleTracker:
    """One rule's state across ticks: inactive → pending → firing → resolved."""

    def __init__(self, rule: Rule, argv: Sequence[str] | None = None):
        self.rule = rule
        self.argv = list(argv or [])
        self.active: Finding | None = None
        self.done: list[Finding] = []
        self._best: dict[str, float | None] = {}
        self._seen: dict[str, float] = {}
        self._sum, self._n = 0.0, 0  # the primary signal over the episode: its mean is the message's {value}

    def _better(self, v: float, than: float | None) -> bool:
        return than is None or (v > than if self.rule.peak == "max" else v < than)

    def step(self, t: float, values: Mapping[str, float | None]) -> str | None:
        """Advance to tick ``t`` with the signals' readings; returns the transition
        (``pending``, ``firing``, ``resolved``, ``dropped``) or ``None``."""
        r = self.rule
        holds = all(c.holds(values.get(c.signal)) for c in r.conds)
        f = self.active
        if not holds:
            if f is None:
                return None
            self.active = None
            if f.state == "pending":
                return "dropped"
            f.state, f.end = "resolved", t
            self._finish(f)
            self.done.append(f)
            return "resolved"
        v = values.get(r.primary.signal)
        if f is None:
            f = self.active = Finding(rule=r.id, severity=r.severity, state="pending", start=t,
                                      why=r.why, source=r.source, title=r.title)
            self._best, self._seen = {}, {}
            self._sum, self._n = 0.0, 0
        f.value = v
        if v is not None:
            self._sum, self._n = self._sum + v, self._n + 1
        if v is not None and self._better(v, f.peak):
            f.peak = v
            self._best = dict(values)
        for name in (*r.signals, *r.context):  # peaks of every signal, for the knob
            x = values.get(name)
            if x is not None and (name not in self._seen or x > self._seen[name]):
                self._seen[name] = x
        if f.state == "pending" and t - f.start >= r.for_s:
            f.state, f.fired_at = "firing", t
            self._finish(f)
            return "firing"
        if f.state == "firing":
            self._finish(f)
        return None

    def _finish(self, f: Finding) -> None:
        """Message and knob from the readings at the peak tick (peaks of each signal for the knob)."""
        r = self.rule
        mean = self._sum / self._n if self._n else f.value
        fields: dict[str, Any] = {**self._best, "value": mean, "peak": f.peak,
                                  "threshold": r.primary.threshold}
        f.message = _FMT.format(r.message, **fields)
        f.knob = knob_json(r.knob, self.argv, self._seen)
        f.observed = {k: v for k, v in self._seen.items() if v is not None}

    def close(self, t_end: float) -> list[Finding]:
        """Findings of the whole run: the resolved ones and one still firing at ``t_end``
        (kept ``firing``, its ``end`` the run's end). A pending one never fired: left out."""
        out = list(self.done)
        if self.active is not None and self.active.state == "firing":
            self.active.end = t_end
            out.append(self.active)
        return out


def stale_limit(sig: Signal) -> float:
    """How old a reading of ``sig`` may be at a tick: ``STALE_S``, or 1.5 sampling intervals
    for a slower series (the GPU's 5 s tier)."""
    ts = sig[0]
    if len(ts) < 3:
        return STALE_S
    gaps = sorted(b - a for a, b in zip(ts, ts[1:]))
    return max(STALE_S, 1.5 * gaps[len(gaps) // 2])


def ticks_of(rule: Rule, signals: Mapping[str, Signal]) -> list[float]:
    """Evaluation ticks of ``rule``: its primary signal's timestamps."""
    sig = signals.get(rule.primary.signal)
    return list(sig[0]) if sig else []


def evaluate(rules: Iterable[Rule], signals: Mapping[str, Signal], *, argv: Sequence[str] | None = None,
             t_end: float | None = None) -> list[Finding]:
    """Every finding of ``rules`` over a recorded run's ``signals``, most severe first, then
    by start. Rules whose signals the run lacks are skipped (silent, not failed)."""
    found: list[Finding] = []
    for rule in rules:
        if not rule.enabled or any(c.signal not in signals for c in rule.conds):
            continue
        tr = RuleTracker(rule, argv)
        ticks = ticks_of(rule, signals)
        names = [n for n in (*rule.signals, *rule.context) if n in signals]
        stale = {n: stale_limit(signals[n]) for n in names}
        for t in ticks:
            tr.step(t, {n: value_at(signals[n], t, stale[n]) for n in names})
        found += tr.close(t_end if t_end is not None else (ticks[-1] if ticks else 0.0))
    found.sort(key=lambda f: (-SEVERITY_RANK[f.severity], f.start, f.rule))
    return found
