"""The knob a finding names: the flag's current value, read from the run's command line,
and a value to try, derived from what was observed (pure).

The command line is the one the journal stored (secrets already masked), as a list of
strings. ``flag_value`` understands ``--flag value``, ``--flag=value``, boolean flags
(present → ``"on"``) and their ``--no-`` negation (→ ``"off"``), and vLLM's spelling
freedom (``--max_num_seqs`` is ``--max-num-seqs``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any, Callable

from iejtui.advisor.model import Knob


def _norm(flag: str) -> str:
    return "--" + flag.lstrip("-").replace("_", "-")


def flag_value(argv: Sequence[str] | None, flag: str) -> str | None:
    """The last value ``flag`` takes on ``argv`` (later flags win, as argparse does), or
    ``None`` when it is not there."""
    want, neg = _norm(flag), "--no-" + _norm(flag)[2:]
    found: str | None = None
    args = list(argv or [])
    for i, a in enumerate(args):
        if not a.startswith("--"):
            continue
        name, eq, val = a.partition("=")
        name = _norm(name)
        if name == want:
            if eq:
                found = val
            elif i + 1 < len(args) and not args[i + 1].startswith("--"):
                found = args[i + 1]
            else:
                found = "on"
        elif name == neg:
            found = "off"
    return found


def _pow2_at_least(x: float) -> int:
    return 1 << max(0, math.ceil(math.log2(max(1.0, x))))


def _num(text: str | None) -> float | None:
    try:
        return float(text) if text is not None else None
    except ValueError:
        return None


def _lower_seqs(current: str | None, seen: Mapping[str, float]) -> str | None:
    """Preempting: fewer sequences than ran when the KV cache overflowed (¾ of the peak)."""
    peak = seen.get("running")
    if not peak or peak <= 1:
        return None  # one sequence at a time already: the KV cache itself is too small
    return str(max(1, int(0.75 * peak)))


def _raise_seqs(current: str | None, seen: Mapping[str, float]) -> str | None:
    """Queueing: room for what was asked at once (running + waiting at their peaks),
    rounded up to a power of two; only when that is above the current value, and never
    while the KV cache was full (then the queue waits for blocks, not for slots)."""
    if (seen.get("kv_usage_pct") or 0) >= 90:
        return None
    demand = (seen.get("running") or 0) + (seen.get("waiting") or 0)
    if demand <= 0:
        return None
    target = _pow2_at_least(demand)
    cur = _num(current)
    return str(target) if cur is None or target > cur else None


def _raise_gpu_mem(current: str | None, seen: Mapping[str, float]) -> str | None:
    cur = _num(current)
    cur = 0.9 if cur is None else cur
    return f"{min(0.95, round(cur + 0.05, 2)):g}" if cur < 0.95 else None


def _double(current: str | None, seen: Mapping[str, float]) -> str | None:
    cur = _num(current)
    return str(int(cur * 2)) if cur else None


SUGGEST: dict[str, Callable[[str | None, Mapping[str, float]], str | None]] = {
    "lower_seqs": _lower_seqs,
    "raise_seqs": _raise_seqs,
    "raise_gpu_mem": _raise_gpu_mem,
    "double": _double,
    "remove": lambda current, seen: "remove the flag" if current not in (None, "off") else None,
    "enable": lambda current, seen: "on" if current in (None, "off") else None,
}


def pick(knob: Knob | tuple[Knob, ...] | None, argv: Sequence[str] | None) -> Knob | None:
    """Of alternative knobs, the first whose flag the command line sets, else the first."""
    if knob is None or isinstance(knob, Knob):
        return knob
    return next((k for k in knob if flag_value(argv, k.flag) is not None), knob[0] if knob else None)


def knob_json(knob: Knob | tuple[Knob, ...] | None, argv: Sequence[str] | None,
              seen: Mapping[str, float]) -> dict[str, Any] | None:
    """``{"flag", "current", "suggested", "note"}`` for a finding (``None`` without a knob).
    ``current`` is the value on the command line, else the engine's documented default,
    else ``"engine default"``. Alternatives: the one the command line already uses wins
    (a KV cache sized by ``--num-gpu-blocks-override`` is grown there, not by memory share)."""
    knob = pick(knob, argv)
    if knob is None:
        return None
    cur = flag_value(argv, knob.flag) if knob.flag.startswith("--") else None
    shown = cur if cur is not None else (knob.default or "engine default")
    fn = SUGGEST.get(knob.suggest or "")
    suggested = fn(cur if cur is not None else knob.default, seen) if fn else None
    return {"flag": knob.flag, "current": shown, "suggested": suggested, "note": knob.note}
