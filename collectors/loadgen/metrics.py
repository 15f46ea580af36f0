"""Pure metric maths, reproducing vLLM 0.32's ``calculate_metrics`` and its reports.

* TTFT, E2EL: per successful request; TPOT = (E2EL - TTFT) / (output_tokens - 1) for
  requests with more than one output token (a 1-token request has TPOT 0 for goodput
  only); ITL: every gap between consecutive token chunks, pooled over requests.
* output tokens: ``usage.completion_tokens``; when the server sent none, a tokenizer
  count of the generated text (``count_tokens``), else 1 (vLLM without a tokenizer).
* input tokens: ``usage.prompt_tokens`` when sent, else the dataset's prompt length.
* throughputs divide by the benchmark duration (first dispatch to last completion);
  failed requests are excluded from every distribution and numerator.
* goodput: successful requests whose every chosen SLO (ms) is met, per second.
* statistics: mean, median, population std and numpy's default ("linear")
  percentiles, written here without numpy (``percentile``); an empty list gives 0,
  as ``np.mean(values or 0)`` does in vLLM.
* peak output tokens/s and peak concurrency: 1-second buckets from the first send,
  one token per chunk, as vLLM does.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from .client import RequestRecord


def percentile(values: Sequence[float], p: float, presorted: bool = False) -> float:
    """``numpy.percentile(values, p)`` with the default linear method (0 if empty)."""
    if not values:
        return 0.0
    a = values if presorted else sorted(values)
    n = len(a)
    virtual = (p / 100.0) * (n - 1)
    lo = math.floor(virtual)
    lo = min(max(lo, 0), n - 1)
    hi = min(lo + 1, n - 1)
    g = virtual - lo
    x, y = a[lo], a[hi]
    diff = y - x
    # numpy's _lerp: a + d*t, computed from the upper end when t >= 0.5
    return (y - diff * (1 - g)) if g >= 0.5 else (x + diff * g)


def mean(values: Sequence[float]) -> float:
    return math.fsum(values) / len(values) if values else 0.0


def median(values: Sequence[float], presorted: bool = False) -> float:
    if not values:
        return 0.0
    a = values if presorted else sorted(values)
    n = len(a)
    return a[n // 2] if n % 2 else (a[n // 2 - 1] + a[n // 2]) / 2.0


def std(values: Sequence[float]) -> float:
    """Population standard deviation (numpy's ddof=0)."""
    if not values:
        return 0.0
    m = mean(values)
    return math.sqrt(math.fsum((v - m) ** 2 for v in values) / len(values))


@dataclass
class Stat:
    mean: float
    median: float
    std: float
    percentiles: list[tuple[float, float]]


def stat_ms(values_s: Sequence[float], pcts: Sequence[float]) -> Stat:
    """mean/median/std/percentiles of seconds, in milliseconds."""
    a = sorted(values_s)
    return Stat(mean(a) * 1000, median(a, True) * 1000, std(a) * 1000,
                [(p, percentile(a, p, True) * 1000) for p in pcts])


@dataclass
class BenchmarkMetrics:
    completed: int
    failed: int
    total_input: int
    total_output: int
    request_throughput: float
    request_goodput: float
    output_throughput: float
    total_token_throughput: float
    ttft: Stat
    tpot: Stat
    itl: Stat
    e2el: Stat
    max_output_tokens_per_s: float
    max_concurrent_requests: int
    rtfx: float = 0.0
    output_lens: list[int] = field(default_factory=list)  # per record, 0 when failed
    good_completed: int = 0
    short_outputs: int = 0  # successful requests with fewer tokens than asked
    output_tokens_counted: int = 0  # requests whose count did not come from usage


def peak_buckets(records: Sequence[RequestRecord]) -> tuple[float, int]:
    """vLLM's max output tokens/s and concurrent requests in 1-second buckets."""
    ok = [r for r in records if r.success]
    if not ok:
        return 0.0, 0
    t0 = min(r.send_time for r in ok)
    t_end = max(r.send_time + r.latency for r in ok)
    nb = int(math.ceil(t_end - t0)) + 1
    toks = [0] * nb
    conc = [0] * (nb + 1)
    for r in ok:
        # vLLM rebuilds token times as start + ttft + cumulative ITLs: the chunk times
        for t in r.chunk_times:
            b = int(t - t0)
            if 0 <= b < nb:
                toks[b] += 1
        for s in range(int(r.send_time - t0), int(r.send_time + r.latency - t0) + 1):
            conc[s] += 1
    return float(max(toks)), int(max(conc))


def calculate_metrics(records: Sequence[RequestRecord], dur_s: float,
                      selected_percentiles: Sequence[float], goodput: dict[str, float],
                      count_tokens: Callable[[str], int] | None = None) -> BenchmarkMetrics:
    """vLLM's ``calculate_metrics`` over our request records (warm-ups excluded)."""
    output_lens: list[int] = []
    total_input = completed = good = short = counted = 0
    itls: list[float] = []
    tpots: list[float] = []
    all_tpots: list[float] = []
    ttfts: list[float] = []
    e2els: list[float] = []
    for r in records:
        if not r.success:
            output_lens.append(0)
            continue
        n_out = r.output_tokens
        if not n_out:
            counted += 1
            n_out = count_tokens(r.generated_text) if count_tokens else 1
        output_lens.append(n_out)
        total_input += r.prompt_len
        tpot = 0.0
        if n_out > 1:
            tpot = (r.latency - r.ttft) / (n_out - 1)
            tpots.append(tpot)
        all_tpots.append(tpot)
        itls.extend(r.itl)
        ttfts.append(r.ttft)
        e2els.append(r.latency)
        completed += 1
        if r.expected_output_len and n_out < r.expected_output_len:
            short += 1
    if goodput:
        columns, slos = [], []
        for name, values in (("ttft", ttfts), ("tpot", all_tpots), ("e2el", e2els)):
            if name in goodput:
                columns.append(values)
                slos.append(goodput[name] / 1000.0)
        for row in zip(*columns):
            if all(s >= v for s, v in zip(slos, row)):
                good += 1
    peak_tok, peak_conc = peak_buckets(records)
    total_output = sum(output_lens)
    return BenchmarkMetrics(
        completed=completed, failed=sum(1 for r in records if not r.success),
        total_input=total_input, total_output=total_output,
        request_throughput=completed / dur_s, request_goodput=good / dur_s,
        output_throughput=total_output / dur_s,
        total_token_throughput=(total_input + total_output) / dur_s,
        ttft=stat_ms(ttfts, selected_percentiles), tpot=stat_ms(tpots, selected_percentiles),
        itl=stat_ms(itls, selected_percentiles), e2el=stat_ms(e2els, selected_percentiles),
        max_output_tokens_per_s=peak_tok, max_concurrent_requests=peak_conc,
        output_lens=output_lens, good_completed=good, short_outputs=short,
        output_tokens_counted=counted)


def p_word(p: float) -> str:
    return str(int(p)) if int(p) == p else str(p)


# (attribute, printed name, section header) in vLLM's order
_METRIC_SECTIONS = (
    ("ttft", "TTFT", "Time to First Token"),
    ("tpot", "TPOT", "Time per Output Token (excl. 1st token)"),
    ("itl", "ITL", "Inter-token Latency"),
    ("e2el", "E2EL", "End-to-end Latency"),
    ("client_queue_time", "Client Queue Time", "Client-side Queueing"),
    ("e2el_including_client_queue", "E2EL incl. Client Queue",
     "Queue-inclusive End-to-end Latency"),
)


def metric_stats(m: BenchmarkMetrics, records: Sequence[RequestRecord], selected: Sequence[str],
                 pcts: Sequence[float], max_concurrency: int | None, request_rate: float
                 ) -> list[tuple[str, str, str, Stat]]:
    """The statistic blocks vLLM prints and saves, in order, for the selected metrics."""
    ok = [r for r in records if r.success]
    extra: dict[str, Stat] = {}
    if max_concurrency is not None:
        extra["client_queue_time"] = stat_ms([r.queue_time for r in ok], pcts)
        if not math.isinf(request_rate):
            extra["e2el_including_client_queue"] = stat_ms(
                [r.latency + r.queue_time for r in ok], pcts)
    out = []
    for attr, name, header in _METRIC_SECTIONS:
        st = getattr(m, attr, None) if attr in ("ttft", "tpot", "itl", "e2el") else extra.get(attr)
        if st is not None and attr in selected:
            out.append((attr, name, header, st))
    return out


#: Percentiles of the stored figures (metrics.json, ``runs show``, exports).
STORED_PERCENTILES = (50.0, 90.0, 99.0)


def _latency_s(st: Stat, count: int) -> dict[str, float | None]:
    """``{p50, p90, p99, mean, count}`` in seconds; with no observation every figure is
    ``None`` and count 0 (not vLLM's 0 ms, which reads as a measurement)."""
    if not count:
        return {"p50": None, "p90": None, "p99": None, "mean": None, "count": 0.0}
    pct = {p: v for p, v in st.percentiles}
    return {"p50": pct[50.0] / 1000.0, "p90": pct[90.0] / 1000.0, "p99": pct[99.0] / 1000.0,
            "mean": st.mean / 1000.0, "count": float(count)}


def stored_request_figures(rows: Sequence[dict], duration_s: float | None = None,
                           goodput_req_s: float | None = None) -> dict:
    """A benchmark's client figures from its stored requests (journal rows: ``t_sent`` wall
    clock, ``ttft``/``e2el`` seconds, ``prompt_tokens``, ``output_tokens``, ``ok``,
    ``error`` "kind: message", ``chunk_times`` offsets from ``t_sent``), by
    ``calculate_metrics`` itself, so they are the figures the benchmark printed.

    Throughputs divide by ``duration_s``, the duration the benchmark measured (first
    dispatch to its last worker's end, stored in its result); without it, by the span of
    the stored requests (first send to last completion of a successful request).
    ``goodput_req_s`` is the benchmark's own (its SLOs are its arguments). A request
    without a usage count counts 1 output token, as in ``calculate_metrics``.
    """
    if not rows:
        return {"window": None, "duration_s": None, "duration_from": None, "requests": None, "errors": {},
                "tokens": {"generated": None, "prompt": None},
                "throughput": {k: None for k in ("output_tok_s", "total_tok_s", "requests_per_s", "goodput_req_s",
                                                 "output_tok_s_peak", "concurrency_peak")},
                "latency_s": {k: _latency_s(Stat(0, 0, 0, []), 0) for k in ("ttft", "tpot", "itl", "e2e")}}
    t_first = min(float(r["t_sent"]) for r in rows)
    recs = []
    for i, r in enumerate(rows):
        send = float(r["t_sent"]) - t_first  # relative: float32 chunk offsets keep their precision
        recs.append(RequestRecord(
            index=int(r.get("idx", i)), send_time=send, success=bool(r.get("ok")),
            ttft=float(r.get("ttft") or 0.0), latency=float(r.get("e2el") or 0.0),
            chunk_times=[send + c for c in (r.get("chunk_times") or [])],
            output_tokens=int(r.get("output_tokens") or 0), prompt_len=int(r.get("prompt_tokens") or 0)))
    ok = [r for r in recs if r.success]
    span = max((r.send_time + r.latency for r in ok), default=0.0) - min((r.send_time for r in ok), default=0.0)
    dur, dur_from = (duration_s, "bench") if duration_s and duration_s > 0 else (span, "requests")
    m = calculate_metrics(recs, dur if dur > 0 else 1.0, STORED_PERCENTILES, {})
    per_s = (lambda x: x / dur) if dur > 0 else (lambda x: None)
    errors: dict[str, int] = {}
    for r in rows:
        if not r.get("ok"):
            kind = str(r.get("error") or "other").split(":", 1)[0].strip() or "other"
            errors[kind] = errors.get(kind, 0) + 1
    n_tpot = sum(1 for r, n in zip(recs, m.output_lens) if r.success and n > 1)
    return {
        "window": [t_first, t_first + max((r.send_time + r.latency for r in recs), default=0.0)],
        "duration_s": dur if dur > 0 else None, "duration_from": dur_from,
        "requests": {"total": len(recs), "ok": m.completed, "failed": m.failed},
        "errors": errors,
        "tokens": {"generated": float(m.total_output), "prompt": float(m.total_input)},
        "throughput": {
            "output_tok_s": per_s(m.total_output), "total_tok_s": per_s(m.total_input + m.total_output),
            "requests_per_s": per_s(m.completed), "goodput_req_s": goodput_req_s,
            "output_tok_s_peak": m.max_output_tokens_per_s if ok else None,
            "concurrency_peak": float(m.max_concurrent_requests) if ok else None,
        },
        "latency_s": {"ttft": _latency_s(m.ttft, m.completed), "tpot": _latency_s(m.tpot, n_tpot),
                      "itl": _latency_s(m.itl, sum(len(r.itl) for r in ok)), "e2e": _latency_s(m.e2el, m.completed)},
    }
