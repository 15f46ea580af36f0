"""Client and server side by side: a benchmark's own timings next to the engine's histograms.

A benchmark measures latency at the client (``requests`` rows: TTFT, chunk gaps, e2e);
the engine measures it too (vLLM's ``time_to_first_token``, ``inter_token_latency``,
``e2e_request_latency``, ``request_queue_time`` histograms). Putting the two over the same
window tells how much of what the client saw is the server, and how much is network +
client overhead.

Decisions:

* **The server window encloses the bench.** The engine is scraped (1 Hz), not watched per
  request, so the window runs from the last scrape at or before the bench's first send to
  the first scrape at or after its last response (``enclosing_window``): every bench
  request is in it, plus whatever else the engine served in those margins (at most one
  scrape interval each side). ``window_covers_bench`` is false when no scrape followed the
  bench yet (a summary read right after it ended): the last requests may then be missing.
  Server and client request counts are both reported, so stray traffic shows.
* **A percentile from buckets is an interval.** ``server_figure`` gives the PromQL-style
  interpolated value *and* the bucket holding it (``bucket_ms = [lower, upper]``); the text
  says "between 10 and 20 ms", "< 10 ms" for the first bucket, "> 80000 ms" for ``+Inf``.
  Means (Δsum / Δcount) are exact, so the mean difference is the sharpest overhead figure.
* **Network + client overhead** = client − server: exact for means
  (``overhead_mean_ms``), an interval for p50 (``overhead_p50_ms = [client p50 − upper,
  client p50 − lower]``).
* **Queue-time share** = Σ queue time / Σ e2e time of the window (``_sum`` deltas, exact:
  vLLM's request-phase buckets start at 0.3 s, so bucketed queue times say little).
* **The verdict** (``verdict``; the advisor reads it) is a stable dict::

      {"client_bound": bool, "reasons": [str, ...], "signals": {...}}

  ``client_bound`` is true when any reason holds; each reason names its signal and value:
  the load generator's ``client_bottleneck`` flag (its own ``client_warnings``: p99 send
  lag or p99 event-loop lag above its threshold, client CPU > 90 %), and the divergence
  rule: client p50 TTFT above the server's p50 bucket upper bound by more than 20 % *and*
  by more than that bucket's width (the resolution of the server figure).
  ``signals`` holds the numbers looked at (``client_bottleneck``, ``send_lag_p99_ms``,
  ``loop_lag_p99_ms``, ``lag_threshold_ms``, ``client_cpu_util``,
  ``ttft_client_p50_ms``, ``ttft_server_p50_bucket_ms``, ``server_compared``).

Units: milliseconds in every ``*_ms`` key, seconds in windows (Unix time).
"""

from __future__ import annotations

import math
from bisect import bisect_left, bisect_right
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from collectors.loadgen.metrics import percentile
from iejtui.derive.histograms import HistSnapshot, bucket_bounds, merge, quantile, snapshot_mean
from iejtui.derive.metric_map import EngineMetricMap
from iejtui.derive.series import SeriesGetter, first_present, histogram_columns

__all__ = ["DIVERGENCE_FACTOR", "SERVER_KEYS", "bench_span", "bucket_text", "client_figures",
           "compare", "enclosing_window", "server_figure", "server_figures", "verdict"]

#: Server histograms read, by canonical key (see ``metric_map``).
SERVER_KEYS = ("ttft", "itl", "e2e", "queue")
#: Client figures compared with the server's (the queue is server-only).
COMPARED = ("ttft", "itl", "e2e")
#: Client p50 TTFT above the server's p50 bucket upper bound by more than this factor...
DIVERGENCE_FACTOR = 1.2
# ...and by more than the bucket's width, is "suspicious" (see the module doc).


def bench_span(rows: Sequence[Mapping[str, Any]]) -> tuple[float, float] | None:
    """``(first send, last response)`` of a bench's request rows (Unix s); ``None`` if none.
    A failed request ends at its last chunk (or its send when it had none)."""
    if not rows:
        return None
    t0 = min(r["t_sent"] for r in rows)
    t1 = max(_end(r) for r in rows)
    return t0, t1


def _end(r: Mapping[str, Any]) -> float:
    if r.get("e2el") is not None:
        return r["t_sent"] + r["e2el"]
    ct = r.get("chunk_times") or []
    return r["t_sent"] + (ct[-1] if ct else 0.0)


def enclosing_window(scrapes: Sequence[float], t0: float, t1: float) -> tuple[float, float, bool] | None:
    """``(a, b, covers)``: the last scrape ``<= t0`` (else the first one) and the first
    scrape ``>= t1`` (else the last one); ``covers`` when both enclose ``[t0, t1]``.
    ``scrapes`` ascending. ``None`` with fewer than two scrapes between ``a`` and ``b``."""
    if len(scrapes) < 2:
        return None
    i = bisect_right(scrapes, t0) - 1
    j = bisect_left(scrapes, t1)
    covers = i >= 0 and j < len(scrapes)
    i, j = max(i, 0), min(j, len(scrapes) - 1)
    if j <= i:
        return None
    return scrapes[i], scrapes[j], covers


def bucket_text(bucket_ms: Sequence[float] | None) -> str:
    """"between 10 and 20 ms", "< 10 ms" (first bucket), "> 80000 ms" (``+Inf``), "n/a"."""
    if not bucket_ms:
        return "n/a"
    lo, hi = bucket_ms
    if hi is None or math.isinf(hi):
        return f"> {lo:g} ms"
    if lo is None or lo <= 0:
        return f"< {hi:g} ms"
    return f"between {lo:g} and {hi:g} ms"


def _ms(v: float | None) -> float | None:
    return None if v is None or not math.isfinite(v) else v * 1000.0


def _bucket_ms(b: tuple[float, float] | None) -> list[float | None] | None:
    if b is None:
        return None
    return [b[0] * 1000.0 if math.isfinite(b[0]) else None, b[1] * 1000.0 if math.isfinite(b[1]) else None]


def server_figure(delta: HistSnapshot | None, metric: str | None = None) -> dict[str, Any]:
    """Figures of one window delta (seconds buckets): ``count``, ``mean_ms``, ``sum_s``,
    ``p50`` / ``p99`` as ``{"ms", "bucket_ms", "text"}`` (``None`` without observations)."""
    out: dict[str, Any] = {"metric": metric, "count": 0.0, "mean_ms": None, "sum_s": None,
                           "p50": None, "p99": None}
    if delta is None or not delta.count > 0:
        if delta is not None:
            out["count"] = max(delta.count, 0.0)
        return out
    out["count"] = delta.count
    out["mean_ms"] = _ms(snapshot_mean(delta))
    out["sum_s"] = delta.sum if math.isfinite(delta.sum) else None
    for q, key in ((0.5, "p50"), (0.99, "p99")):
        b = _bucket_ms(bucket_bounds(q, delta.buckets))
        out[key] = {"ms": _ms(quantile(q, delta.buckets)), "bucket_ms": b, "text": bucket_text(b)}
    return out


def server_figures(get: SeriesGetter, mmap: EngineMetricMap, a: float, b: float,
                   labels_filter: Mapping[str, str] | None = None) -> dict[str, dict[str, Any] | None]:
    """``server_figure`` of each of ``SERVER_KEYS`` over scrapes ``[a, b]``, engines
    merged bucket-wise; ``None`` for a histogram the engine does not export (or whose
    engines' layouts differ)."""
    out: dict[str, dict[str, Any] | None] = {}
    for key in SERVER_KEYS:
        hit = first_present(get, mmap.names(key), labels_filter, histogram=True)
        if hit is None:
            out[key] = None
            continue
        cols = histogram_columns(get, hit[0], labels_filter, count_series=hit[1])
        parts = [d for d in (hc.window_delta(a, b) for hc in cols.values()) if d is not None]
        try:
            delta = merge(parts) if parts else None
        except ValueError:
            out[key] = None
            continue
        out[key] = server_figure(delta, hit[0])
    return out


def client_figures(rows: Iterable[Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
    """TTFT, ITL (gaps between streamed chunks, pooled) and e2e of the successful rows:
    ``{"count", "mean_ms", "p50_ms", "p99_ms"}`` each (numpy-linear percentiles, the load
    generator's own); ``None`` figures when empty."""
    ttft: list[float] = []
    itl: list[float] = []
    e2e: list[float] = []
    for r in rows:
        if not r.get("ok"):
            continue
        if r.get("ttft") is not None:
            ttft.append(r["ttft"])
        if r.get("e2el") is not None:
            e2e.append(r["e2el"])
        ct = r.get("chunk_times") or []
        itl.extend(y - x for x, y in zip(ct, ct[1:]))
    return {"ttft": _stats(ttft), "itl": _stats(itl), "e2e": _stats(e2e)}


def _stats(values: list[float]) -> dict[str, Any]:
    if not values:
        return {"count": 0, "mean_ms": None, "p50_ms": None, "p99_ms": None}
    a = sorted(values)
    return {"count": len(a), "mean_ms": math.fsum(a) / len(a) * 1000.0,
            "p50_ms": percentile(a, 50, True) * 1000.0, "p99_ms": percentile(a, 99, True) * 1000.0}


def compare(client: Mapping[str, Mapping[str, Any]],
            server: Mapping[str, Mapping[str, Any] | None]) -> dict[str, Any]:
    """Per compared figure: client and server p50/p99/mean and the network + client
    overhead (exact for means, an interval for p50); plus ``queue_share`` (0–1)."""
    rows: dict[str, Any] = {}
    for key in COMPARED:
        c, s = client.get(key) or {}, server.get(key) or {}
        sp50, sp99 = s.get("p50") or {}, s.get("p99") or {}
        row = {"client_p50_ms": c.get("p50_ms"), "client_p99_ms": c.get("p99_ms"),
               "client_mean_ms": c.get("mean_ms"), "client_count": c.get("count"),
               "server_p50_ms": sp50.get("ms"), "server_p50_bucket_ms": sp50.get("bucket_ms"),
               "server_p99_ms": sp99.get("ms"), "server_p99_bucket_ms": sp99.get("bucket_ms"),
               "server_mean_ms": s.get("mean_ms"), "server_count": s.get("count"),
               "overhead_mean_ms": None, "overhead_p50_ms": None}
        if row["client_mean_ms"] is not None and row["server_mean_ms"] is not None:
            row["overhead_mean_ms"] = row["client_mean_ms"] - row["server_mean_ms"]
        b = row["server_p50_bucket_ms"]
        if row["client_p50_ms"] is not None and b:
            lo = -math.inf if b[0] is None else b[0]
            hi = math.inf if b[1] is None else b[1]
            row["overhead_p50_ms"] = [_finite_or_none(row["client_p50_ms"] - hi),
                                      _finite_or_none(row["client_p50_ms"] - lo)]
        rows[key] = row
    queue, e2e = server.get("queue") or {}, server.get("e2e") or {}
    share = None
    if queue.get("sum_s") is not None and e2e.get("sum_s"):
        share = queue["sum_s"] / e2e["sum_s"]
    return {"figures": rows, "queue_share": share}


def _finite_or_none(v: float) -> float | None:
    return v if math.isfinite(v) else None


def _client_health(result: Mapping[str, Any] | None) -> dict[str, Any]:
    """The load generator's self-measurement of a bench result (a sweep: every point's,
    the worst of each figure, every warning)."""
    if not isinstance(result, Mapping):
        return {}
    points = result.get("sweep") if isinstance(result.get("sweep"), list) else [result]
    healths = [((p or {}).get("iejtui") or {}).get("client") or {} for p in points if isinstance(p, Mapping)]
    healths = [h for h in healths if h]
    if not healths:
        return {}

    def worst(path: tuple[str, ...]) -> float | None:
        vals = []
        for h in healths:
            v: Any = h
            for k in path:
                v = v.get(k) if isinstance(v, Mapping) else None
            if isinstance(v, (int, float)):
                vals.append(float(v))
        return max(vals) if vals else None

    return {"client_bottleneck": any(h.get("client_bottleneck") for h in healths),
            "client_warnings": [w for h in healths for w in (h.get("client_warnings") or [])],
            "send_lag_p99_ms": worst(("send_lag_ms", "p99")), "loop_lag_p99_ms": worst(("loop_lag_ms", "p99")),
            "lag_threshold_ms": min((float(h["lag_threshold_ms"]) for h in healths
                                     if isinstance(h.get("lag_threshold_ms"), (int, float))), default=None),
            "client_cpu_util": worst(("cpu_util",))}


def verdict(result: Mapping[str, Any] | None, client: Mapping[str, Mapping[str, Any]],
            server: Mapping[str, Mapping[str, Any] | None] | None) -> dict[str, Any]:
    """Whether the bench measured its client more than the server (see the module doc for
    the dict and the rules). ``result``: the bench run's stored result (vLLM JSON with the
    load generator's ``iejtui.client`` block); ``server=None``: no engine figures."""
    health = _client_health(result)
    reasons: list[str] = []
    if health.get("client_bottleneck"):
        reasons += [f"load generator: {w}" for w in health["client_warnings"]] or \
            ["load generator: client_bottleneck flag set"]
    c_p50 = ((client.get("ttft") or {}).get("p50_ms"))
    s_p50 = ((server or {}).get("ttft") or {}).get("p50") or {}
    bucket = s_p50.get("bucket_ms")
    if c_p50 is not None and bucket and bucket[1] is not None:
        lo = bucket[0] or 0.0
        hi = bucket[1]
        width = hi - lo
        if c_p50 > hi * DIVERGENCE_FACTOR and c_p50 - hi > width:
            reasons.append(
                f"client p50 TTFT {c_p50:.1f} ms vs server p50 {bucket_text(bucket)}: above the bucket's "
                f"upper bound by {c_p50 - hi:.1f} ms (> 20% and > the {width:g} ms bucket width): "
                "network + client overhead")
    signals = {"client_bottleneck": bool(health.get("client_bottleneck")),
               "send_lag_p99_ms": health.get("send_lag_p99_ms"), "loop_lag_p99_ms": health.get("loop_lag_p99_ms"),
               "lag_threshold_ms": health.get("lag_threshold_ms"), "client_cpu_util": health.get("client_cpu_util"),
               "ttft_client_p50_ms": c_p50, "ttft_server_p50_bucket_ms": bucket,
               "server_compared": bool(bucket)}
    return {"client_bound": bool(reasons), "reasons": reasons, "signals": signals}
