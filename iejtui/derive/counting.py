"""Where a run's counting begins: what an engine had already served at its first sample.

An engine run's token and request totals are increases from its first stored sample to its
last (``iejtui.derive.counters``). The service stores that first sample at readiness,
before it reports the engine ``ready``: for an engine it launched, vLLM's counters are
created at 0 at start, so nothing is missed. An attached engine (or a launched one that
served requests before the service saw it ready) already has non-zero counters then;
those requests are not the run's, and the run says where its counting began.

Pure: samples in, figures out.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterable, Mapping
from typing import Any

from iejtui.derive.metric_map import EngineMetricMap

__all__ = ["TRAFFIC_KEYS", "served_before", "describe", "from_facts"]

#: The counters that say an engine served traffic (tokens, requests).
TRAFFIC_KEYS = ("generation_tokens", "prompt_tokens", "request_success")


def served_before(samples: Iterable[tuple[str, float]], mmap: EngineMetricMap) -> dict[str, float]:
    """The traffic counters of one scrape that are above zero: canonical key → reading,
    summed over label sets (finish reasons, engines). ``samples`` are (name, value) pairs;
    the first alias of a key present in them is used. Empty: the engine served nothing yet."""
    by_name: dict[str, float] = {}
    for name, value in samples:
        if math.isfinite(value):
            by_name[name] = by_name.get(name, 0.0) + value
    out = {}
    for key in TRAFFIC_KEYS:
        name = next((n for n in mmap.names(key) if n in by_name), None)
        if name is not None and by_name[name] > 0:
            out[key] = by_name[name]
    return out


_WORDS = {"generation_tokens": "generated tokens", "prompt_tokens": "prompt tokens",
          "request_success": "finished requests"}


def from_facts(facts: Mapping[str, Any]) -> dict[str, Any] | None:
    """A run's ``facts`` (``counting_from`` = the time, ``counting_since``, ``served_before``)
    as ``describe`` takes them; None when the run was counted from its start."""
    ts = facts.get("counting_from")
    if not isinstance(ts, (int, float)):
        return None
    return {"ts": ts, "since": facts.get("counting_since") or "attach", "served_before": facts.get("served_before")}


def describe(counting_from: Mapping[str, Any]) -> str:
    """One line for a run's ``facts.counting_from`` (``runs show``, the export, the event):
    "from attach at 10:02:11 (the engine had already served 1,234 generated tokens, ...)"."""
    at = time.strftime("%H:%M:%S", time.localtime(float(counting_from.get("ts") or 0)))
    seen = counting_from.get("served_before") or {}
    what = ", ".join(f"{float(v):,.0f} {_WORDS.get(k, k)}" for k, v in seen.items())
    return (f"from {counting_from.get('since', 'attach')} at {at}"
            + (f" (the engine had already served {what}; not counted in this run)" if what else ""))
