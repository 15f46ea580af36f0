"""The advisor's data: rules, their conditions and knobs, and the findings they produce.

A rule is data, not code: it names the canonical signals it reads (``iejtui.advisor.signals``),
the conditions that must all hold at an evaluation tick, how long they must hold (``for_s``,
Prometheus' ``for:``), a severity, a message template over the observed figures, the knob to
turn and one line of why. ``iejtui.advisor.evaluate`` runs them over any run, live or
recorded; nothing here reads SQLite or draws anything.
"""

from __future__ import annotations

import math
import operator
from dataclasses import dataclass, field, replace
from typing import Any, Callable

SEVERITIES = ("info", "warning", "critical")
SEVERITY_RANK = {s: i for i, s in enumerate(SEVERITIES)}
OPS: dict[str, Callable[[float, float], bool]] = {
    ">": operator.gt, ">=": operator.ge, "<": operator.lt, "<=": operator.le}
#: Rule states, Prometheus' words (``inactive`` is never stored: it is the absence of a finding).
STATES = ("pending", "firing", "resolved")


@dataclass(frozen=True)
class Cond:
    """``signal op threshold``, e.g. ``Cond("kv_usage_pct", ">=", 90)``. A tick where the
    signal has no value makes the condition false (an absent series never fires a rule)."""

    signal: str
    op: str
    threshold: float

    def holds(self, value: float | None) -> bool:
        return value is not None and math.isfinite(value) and OPS[self.op](value, self.threshold)

    def text(self) -> str:
        return f"{self.signal} {self.op} {self.threshold:g}"


@dataclass(frozen=True)
class Knob:
    """What to change: a flag of the engine's command line (``--max-num-seqs``) or an env
    var; ``suggest`` names a function of ``iejtui.advisor.knobs.SUGGEST`` that derives a value
    to try from the current one and the observed figures (``None``: no value can be derived,
    the knob is named only). ``default`` is what the engine uses when the flag is absent,
    when it is a fixed, documented value (else the current value reads "engine default")."""

    flag: str
    suggest: str | None = None
    default: str | None = None
    note: str = ""


@dataclass(frozen=True)
class Rule:
    id: str
    title: str
    conds: tuple[Cond, ...]  # all must hold; the first is the primary (its peak is reported)
    for_s: float
    severity: str
    message: str  # formatted with {value} (the primary's mean over the episode), {peak}, {threshold},
    # and each other signal's reading at the peak tick by name
    why: str
    source: str  # the peer a rule comes from ("vllmstat", "llm-d") or "iejtui"
    knob: Knob | tuple[Knob, ...] | None = None  # alternatives: see iejtui.advisor.knobs.pick
    scope: str = "engine"  # engine | gpu | bench: which runs it applies to
    peak: str = "max"  # how the primary signal's extreme is taken: max | min
    enabled: bool = True
    context: tuple[str, ...] = ()  # signals read for the message only (absent: shown as "?")
    family: str = ""  # rules saying the same thing at other thresholds: one finding shows per episode

    def __post_init__(self) -> None:
        if self.severity not in SEVERITIES:
            raise ValueError(f"rule {self.id}: severity {self.severity!r} is not one of {SEVERITIES}")
        if not self.conds:
            raise ValueError(f"rule {self.id}: no condition")
        for c in self.conds:
            if c.op not in OPS:
                raise ValueError(f"rule {self.id}: operator {c.op!r} is not one of {list(OPS)}")

    @property
    def primary(self) -> Cond:
        return self.conds[0]

    @property
    def signals(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(c.signal for c in self.conds))

    def with_threshold(self, signal: str, value: float) -> "Rule":
        """The rule with the threshold of its condition on ``signal`` replaced."""
        if signal not in self.signals:
            raise KeyError(signal)
        return replace(self, conds=tuple(replace(c, threshold=value) if c.signal == signal else c
                                         for c in self.conds))


@dataclass
class Finding:
    """One episode of a rule: from the first tick its conditions held (``start``) through
    firing (``fired_at``, once they held ``for_s``) to the first tick they stopped holding
    (``end``, ``None`` while still active). ``peak`` is the primary signal's extreme over the
    episode; ``value`` its latest reading."""

    rule: str
    severity: str
    state: str
    start: float
    fired_at: float | None = None
    end: float | None = None
    peak: float | None = None
    value: float | None = None
    message: str = ""
    why: str = ""
    source: str = "iejtui"
    knob: dict[str, Any] | None = None
    title: str = ""
    observed: dict[str, float] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        return {"rule": self.rule, "title": self.title, "severity": self.severity, "state": self.state,
                "start": self.start, "fired_at": self.fired_at, "end": self.end, "peak": self.peak,
                "value": self.value, "message": self.message, "knob": self.knob, "why": self.why,
                "source": self.source}
