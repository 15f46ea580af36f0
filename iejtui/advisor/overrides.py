"""User overrides of the rules, from iejtui.toml's ``[advisor.rules.ID]`` tables (pure).

    [advisor.rules.kv-saturated]
    threshold = 95          # the primary condition's threshold
    for = "2m"              # seconds, or "30s" / "5m" / "1h"
    severity = "critical"
    [advisor.rules.prefix-hit-low]
    enabled = false
    [advisor.rules.launch-bound.thresholds]
    kernel_active_pct = 70  # any other condition's threshold, by its signal

An unknown rule id, key, signal or severity is refused with one line naming it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

from iejtui.advisor.model import SEVERITIES, Rule
from iejtui.errors import UserError

_KEYS = {"threshold", "thresholds", "for", "severity", "enabled"}
_UNITS = {"s": 1.0, "m": 60.0, "h": 3600.0}


def parse_duration(raw: Any, where: str) -> float:
    """Seconds from a number or ``"90s"``/``"5m"``/``"1h"``; ≥ 0."""
    if isinstance(raw, bool):
        raise UserError(f"{where}: expected seconds or a duration like \"5m\", got {raw!r}")
    if isinstance(raw, (int, float)):
        secs = float(raw)
    elif isinstance(raw, str) and (m := re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smh]?)\s*", raw)):
        secs = float(m.group(1)) * _UNITS[m.group(2) or "s"]
    else:
        raise UserError(f"{where}: expected seconds or a duration like \"5m\", got {raw!r}")
    if secs < 0:
        raise UserError(f"{where}: a duration cannot be negative")
    return secs


def _number(raw: Any, where: str) -> float:
    if isinstance(raw, bool) or not isinstance(raw, (int, float)):
        raise UserError(f"{where}: expected a number, got {raw!r}")
    return float(raw)


def apply_overrides(rules: Sequence[Rule], table: Mapping[str, Any] | None) -> tuple[Rule, ...]:
    """``rules`` with the user's ``[advisor.rules]`` table applied."""
    if not table:
        return tuple(rules)
    by_id = {r.id: r for r in rules}
    for rid, over in table.items():
        where = f"[advisor.rules.{rid}]"
        if rid not in by_id:
            raise UserError(f"{where}: no such rule (iejtui advise --rules lists them)")
        if not isinstance(over, Mapping):
            raise UserError(f"{where}: expected a table")
        bad = set(over) - _KEYS
        if bad:
            raise UserError(f"{where}: unknown key {sorted(bad)[0]!r} (one of {sorted(_KEYS)})")
        r = by_id[rid]
        if "threshold" in over:
            r = r.with_threshold(r.primary.signal, _number(over["threshold"], f"{where} threshold"))
        for sig, val in (over.get("thresholds") or {}).items():
            if sig not in r.signals:
                raise UserError(f"{where}.thresholds: the rule reads no signal {sig!r} (it reads {list(r.signals)})")
            r = r.with_threshold(sig, _number(val, f"{where}.thresholds.{sig}"))
        if "for" in over:
            r = replace(r, for_s=parse_duration(over["for"], f"{where} for"))
        if "severity" in over:
            if over["severity"] not in SEVERITIES:
                raise UserError(f"{where} severity: {over['severity']!r} is not one of {list(SEVERITIES)}")
            r = replace(r, severity=over["severity"])
        if "enabled" in over:
            if not isinstance(over["enabled"], bool):
                raise UserError(f"{where} enabled: expected true or false")
            r = replace(r, enabled=over["enabled"])
        by_id[rid] = r
    return tuple(by_id[r.id] for r in rules)


def with_durations(rules: Sequence[Rule], for_s: float) -> tuple[Rule, ...]:
    """Every rule with the same ``for:`` (tests and short demos: the peers' 5–30 min would
    let a test pass without testing anything)."""
    return tuple(replace(r, for_s=for_s) for r in rules)


BENCH_FOR_SHARE = 0.25
BENCH_FOR_MIN_S = 2.0


def for_run(rules: Sequence[Rule], run: dict[str, Any], window_s: float) -> tuple[Rule, ...]:
    """Rules as they judge a recorded bench run: each ``for:`` at most a quarter of the
    bench's duration (≥ 2 s). A benchmark is short and controlled; with the peers' minutes a
    20 s bench could never hold a rule long enough, and what it provoked would go unsaid."""
    if run.get("kind") != "bench" or window_s <= 0:
        return tuple(rules)
    cap = max(BENCH_FOR_MIN_S, BENCH_FOR_SHARE * window_s)
    return tuple(replace(r, for_s=min(r.for_s, cap)) for r in rules)
