"""Steady state of a benchmark: did throughput and concurrency settle, and the figures then.

Read from the bench's own request rows (``t_sent``, ``e2el``, per-chunk offsets), so it
works for any target, scraped or not.

The rule (``RULE``, printed with the result):

* the span from the first send to the last response is cut into bins of ``bin_s``
  (1 s; span / 300 for runs over 5 minutes); a trailing partial bin is dropped;
* per bin: output tok/s (each chunk carries its request's output tokens / chunks) and the
  mean number of requests in flight (time-weighted);
* **warm-up** ends at the first bin whose tok/s and in-flight are both ≥ 90 % of the
  medians of the bins from it to the end; **cool-down** (the drain) starts after the last
  bin whose tok/s and in-flight are both ≥ 90 % of the medians of the bins from the
  warm-up's end up to it;
* the bins in between are the steady window; it is **reached** when it holds ≥ 3 bins and
  its first and second halves differ by ≤ 20 % in mean tok/s and in mean in-flight (no
  trend: a queue that keeps growing, throughput that keeps falling, is not steady).

Figures over the steady window count the requests sent and finished inside it (latency)
and every chunk inside it (tok/s); the whole-run figures use every request and the whole
span, so the two sit side by side (``figures``).
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Mapping, Sequence
from typing import Any

from iejtui.derive.client_server import client_figures

__all__ = ["MIN_BINS", "RULE", "SETTLE", "DRIFT", "bin_width", "bins", "steady_bins", "steady_state",
           "window_figures"]

SETTLE = 0.9  # a bin is in steady state when ≥ 90 % of the medians
DRIFT = 0.2  # halves of the steady window may differ by ≤ 20 %
MIN_BINS = 3
RULE = ("{bin:g} s bins from the first send; warm-up = bins before the first whose output tok/s and "
        "requests in flight are both >= 90% of the medians of the bins from it to the end; cool-down = "
        "bins after the last such bin; steady when >= 3 bins remain and their halves differ by <= 20% "
        "in tok/s and in flight")


def _end(r: Mapping[str, Any]) -> float:
    if r.get("e2el") is not None:
        return r["t_sent"] + r["e2el"]
    ct = r.get("chunk_times") or []
    return r["t_sent"] + (ct[-1] if ct else 0.0)


def bin_width(span_s: float) -> float:
    """1 s up to 5 minutes of span, then span / 300 (at most 300 bins)."""
    return 1.0 if span_s <= 300.0 else span_s / 300.0


def bins(rows: Sequence[Mapping[str, Any]], t0: float, width: float, n: int) -> tuple[list[float], list[float]]:
    """``(tok/s, mean in flight)`` per bin ``[t0 + k·width, t0 + (k+1)·width)``, ``k < n``."""
    tok = [0.0] * n
    busy = [0.0] * n
    t_end = t0 + n * width
    for r in rows:
        s, e = r["t_sent"], _end(r)
        ct = r.get("chunk_times") or []
        if r.get("ok") and ct:
            per = (r.get("output_tokens") or len(ct)) / len(ct)
            for c in ct:
                k = math.floor((s + c - t0) / width)
                if 0 <= k < n:
                    tok[k] += per
        lo, hi = max(s, t0), min(e, t_end)
        if hi <= lo:
            continue
        k0, k1 = int((lo - t0) // width), min(int((hi - t0) // width), n - 1)
        for k in range(k0, k1 + 1):
            b0 = t0 + k * width
            busy[k] += max(0.0, min(hi, b0 + width) - max(lo, b0))
    return [x / width for x in tok], [x / width for x in busy]


def _ok(tok: Sequence[float], fl: Sequence[float], k: int, lo: int, hi: int) -> bool:
    return (tok[k] >= SETTLE * statistics.median(tok[lo:hi])
            and fl[k] >= SETTLE * statistics.median(fl[lo:hi]))


def steady_bins(tok: Sequence[float], flight: Sequence[float]) -> tuple[int, int] | None:
    """``(first, last)`` steady bin indices by the module rule; ``None`` when no bin
    qualifies (an idle run)."""
    n = len(tok)
    start = next((k for k in range(n) if _ok(tok, flight, k, k, n) and tok[k] > 0), None)
    if start is None:
        return None
    end = next(j for j in range(n - 1, start - 1, -1) if _ok(tok, flight, j, start, j + 1))
    return start, end


def _drift(values: Sequence[float]) -> float:
    """Relative difference of the means of the first and second halves (middle bin out)."""
    h = len(values) // 2
    a, b = statistics.fmean(values[:h]), statistics.fmean(values[len(values) - h:])
    top = max(abs(a), abs(b))
    return abs(b - a) / top if top > 0 else 0.0


def window_figures(rows: Sequence[Mapping[str, Any]], t0: float, t1: float, whole: bool = False) -> dict[str, Any]:
    """Output tok/s, requests/s, mean in flight and client TTFT/ITL/e2e over ``[t0, t1]``:
    latency from the requests sent and finished inside (every request when ``whole``)."""
    dur = t1 - t0
    inside = rows if whole else [r for r in rows if r["t_sent"] >= t0 and _end(r) <= t1]
    tokens = busy = 0.0
    for r in rows:
        ct = r.get("chunk_times") or []
        if r.get("ok") and ct:
            per = (r.get("output_tokens") or len(ct)) / len(ct)
            tokens += per * sum(1 for c in ct if t0 <= r["t_sent"] + c <= t1)
        busy += max(0.0, min(_end(r), t1) - max(r["t_sent"], t0))
    done = sum(1 for r in rows if r.get("ok") and t0 <= _end(r) <= t1)
    lat = client_figures(inside)
    return {"t0": t0, "t1": t1, "duration_s": dur, "output_tok_s": tokens / dur if dur > 0 else None,
            "requests_per_s": done / dur if dur > 0 else None, "mean_in_flight": busy / dur if dur > 0 else None,
            "requests": len(inside),
            **{f"{k}_{p}_ms": lat[k][f"{p}_ms"] for k in ("ttft", "itl", "e2e") for p in ("p50", "p99")}}


def steady_state(rows: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """The bench's steady state (see the module doc)::

        {"rule": str, "bin_s": float, "reached": bool, "why": str,
         "window": [t0, t1] | None, "warmup_s": float | None, "cooldown_s": float | None,
         "bins": {"tok_s": [...], "in_flight": [...]},
         "figures": {"whole": {...}, "steady": {...} | None}}
    """
    out: dict[str, Any] = {"rule": RULE.format(bin=1.0), "bin_s": 1.0, "reached": False, "why": "",
                           "window": None, "warmup_s": None, "cooldown_s": None,
                           "bins": {"tok_s": [], "in_flight": []}, "figures": {"whole": None, "steady": None}}
    if not rows:
        out["why"] = "no requests"
        return out
    t0 = min(r["t_sent"] for r in rows)
    t1 = max(_end(r) for r in rows)
    width = bin_width(t1 - t0)
    n = int((t1 - t0) // width)
    out["rule"], out["bin_s"] = RULE.format(bin=round(width, 3)), width
    out["figures"]["whole"] = window_figures(rows, t0, t1, whole=True)
    tok, fl = bins(rows, t0, width, n)
    out["bins"] = {"tok_s": tok, "in_flight": fl}
    if n < MIN_BINS:
        out["why"] = f"too short: {t1 - t0:.1f} s holds fewer than {MIN_BINS} bins of {width:g} s"
        return out
    found = steady_bins(tok, fl)
    if found is None:
        out["why"] = "no bin carried output tokens"
        return out
    a, b = found
    w0, w1 = t0 + a * width, t0 + (b + 1) * width
    out["window"], out["warmup_s"], out["cooldown_s"] = [w0, w1], w0 - t0, t1 - w1
    out["figures"]["steady"] = window_figures(rows, w0, w1)
    kept = b - a + 1
    if kept < MIN_BINS:
        out["why"] = f"only {kept} steady bin(s) of {width:g} s (need {MIN_BINS})"
        return out
    d_tok, d_fl = _drift(tok[a:b + 1]), _drift(fl[a:b + 1])
    if d_tok > DRIFT or d_fl > DRIFT:
        what = "tok/s" if d_tok > DRIFT else "requests in flight"
        out["why"] = (f"not settled: {what} differs by {max(d_tok, d_fl):.0%} between the halves of the "
                      f"{kept}-bin window (> {DRIFT:.0%})")
        return out
    out["reached"] = True
    out["why"] = f"steady from +{w0 - t0:.1f} s to +{w1 - t0:.1f} s ({kept} bins)"
    return out
