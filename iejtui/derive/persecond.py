"""Per-second rate series for the block bootstrap (pure).

* ``bench_rates``: a benchmark's output tokens and finished requests in 1-second bins
  from the first send to the last completion, from each stored request's chunk times. A
  request's output tokens are spread evenly over its chunks (a chunk may carry several
  tokens); a request counts as finished in the bin of its last token. A trailing partial
  bin is dropped (it would read low) unless it is the only one, then it is scaled to a
  whole second.
* ``counter_rates``: a stored counter's per-interval rates (reset-aware increase between
  consecutive scrapes / their spacing, ~1 s at the default scrape interval), summed over
  its label sets scraped at the same instants (one value per scrape).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

__all__ = ["bench_rates", "counter_rates", "busy"]


def bench_rates(requests: Sequence[Mapping[str, Any]]) -> tuple[list[float], list[float]]:
    """(output tok/s per second, finished requests per second) of a bench run's successful
    requests (``t_sent``, ``e2el``, ``output_tokens``, ``chunk_times`` offsets from ``t_sent``)."""
    ok = [r for r in requests if r.get("ok") and r.get("t_sent") is not None and r.get("e2el") is not None]
    if not ok:
        return [], []
    t0 = min(r["t_sent"] for r in ok)
    t1 = max(r["t_sent"] + r["e2el"] for r in ok)
    span = t1 - t0
    whole = int(math.floor(span))
    nb = max(whole, 1)
    scale = 1.0 / span if whole == 0 and span > 0 else 1.0
    toks = [0.0] * nb
    done = [0.0] * nb
    for r in ok:
        chunks = r.get("chunk_times") or [r["e2el"]]
        per = (r.get("output_tokens") or len(chunks)) / len(chunks)
        for c in chunks:
            b = int(r["t_sent"] + c - t0)
            if b < nb:
                toks[b] += per
        b = int(r["t_sent"] + r["e2el"] - t0)
        if b < nb:
            done[b] += 1.0
    if scale != 1.0:  # the whole benchmark took under a second: one bin, as a rate
        toks, done = [sum(toks) * scale], [sum(done) * scale]
    return toks, done


def counter_rates(series: Sequence[tuple[Sequence[float], Sequence[float]]]) -> tuple[list[float], list[float]]:
    """(scrape times, summed per-interval rates) of a counter stored as one or more series."""
    total: dict[float, float] = {}
    for ts, vs in series:
        pairs = [(t, v) for t, v in zip(ts, vs) if math.isfinite(v)]
        for (ta, va), (tb, vb) in zip(pairs, pairs[1:]):
            if tb <= ta:
                continue
            inc = vb - va if vb >= va else vb  # a reset: the counter restarted from 0
            key = round(tb, 3)
            total[key] = total.get(key, 0.0) + inc / (tb - ta)
    keys = sorted(total)
    return keys, [total[k] for k in keys]


def busy(ts: Sequence[float], rates: Sequence[float]) -> set[float]:
    """The instants whose rate is above 0 (an engine's busy seconds)."""
    return {t for t, v in zip(ts, rates) if v > 0}
