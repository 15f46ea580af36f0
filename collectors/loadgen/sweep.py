"""Sweeps: a throughput-latency curve over concurrencies or rates, or an SLO search.

* ``--sweep-concurrency 1,4,16``: closed loop (infinite rate) at each concurrency;
* ``--sweep-rate 1,2,4``: open loop (Gamma/Poisson arrivals) at each rate;
* ``--sweep-slo-search``: the highest ``--request-rate`` whose SLO attainment (share of
  attempted requests meeting every ``--goodput`` SLO) is at least ``--slo-attainment``:
  the rate doubles from ``--request-rate`` (1 req/s if infinite) until a point fails,
  then 4 bisection steps between the last passing and the first failing rate.
* ``iejtui bench --find-max-load`` walks the same bracket (``next_rate``) with a stated
  ``Tolerance`` instead of a fixed 4 steps, going down too when the first rate fails; each
  probe is its own bench run (the service drives them) judged the MLPerf way
  (``judge_p99``: every limit's p99 over the run).

Each point is a full ``run_bench`` with a fresh prompt salt, so no point rides the
prefix cache warmed by the previous one.  A list sweep stops early on saturation (the
output throughput grew less than ``--saturation-gain`` over the best point so far) or
on an SLO breach (when ``--goodput`` is given).
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

from .config import BenchConfig
from .runner import BenchResult, BenchSink, run_bench


@dataclass
class SweepResult:
    points: list[BenchResult] = field(default_factory=list)
    stopped: str = ""  # why the sweep ended before its list did ("" if it did not)
    best_rate: float | None = None  # SLO search: highest passing rate

    def curve(self) -> list[dict[str, Any]]:
        return [curve_point(p) for p in self.points]


def attainment(r: BenchResult) -> float | None:
    if not r.config.goodput:
        return None
    attempted = r.metrics.completed + r.metrics.failed
    return r.metrics.good_completed / attempted if attempted else 0.0


def curve_point(r: BenchResult) -> dict[str, Any]:
    res = r.result
    return {"max_concurrency": r.config.max_concurrency,
            "request_rate": r.config.request_rate,
            "request_throughput": res["request_throughput"],
            "output_throughput": res["output_throughput"],
            "median_ttft_ms": r.metrics.ttft.median, "p99_ttft_ms": _p99(r.metrics.ttft),
            "median_tpot_ms": r.metrics.tpot.median, "median_itl_ms": r.metrics.itl.median,
            "median_e2el_ms": r.metrics.e2el.median, "failed": r.metrics.failed,
            "slo_attainment": attainment(r), "client_bottleneck": r.client_bottleneck}


def _p99(st) -> float:
    for p, v in st.percentiles:
        if p == 99:
            return v
    return st.percentiles[-1][1] if st.percentiles else 0.0


def format_curve(sweep: SweepResult) -> str:
    head = (f"{'conc':>6} {'rate':>8} {'req/s':>8} {'out tok/s':>10} {'TTFT p50':>9} "
            f"{'TTFT p99':>9} {'TPOT p50':>9} {'ITL p50':>8} {'SLO ok':>7}")
    lines = ["{s:{c}^{n}}".format(s=" Throughput-latency curve ", n=len(head), c="="), head]
    for c in sweep.curve():
        att = "" if c["slo_attainment"] is None else f"{c['slo_attainment']:.0%}"
        rate = "inf" if math.isinf(c["request_rate"]) else f"{c['request_rate']:.2f}"
        lines.append(f"{c['max_concurrency'] or '-':>6} {rate:>8} {c['request_throughput']:>8.2f} "
                     f"{c['output_throughput']:>10.1f} {c['median_ttft_ms']:>9.1f} "
                     f"{c['p99_ttft_ms']:>9.1f} {c['median_tpot_ms']:>9.2f} "
                     f"{c['median_itl_ms']:>8.2f} {att:>7}"
                     + ("  (client-bound)" if c["client_bottleneck"] else ""))
    if sweep.stopped:
        lines.append(f"stopped early: {sweep.stopped}")
    if sweep.best_rate is not None:
        lines.append(f"highest rate meeting the SLOs: {sweep.best_rate:.3f} req/s")
    return "\n".join(lines)


def _passes(r: BenchResult, target: float) -> bool:
    a = attainment(r)
    return a is None or a >= target


async def run_sweep(cfg: BenchConfig, sink: BenchSink | None = None,
                    cancel: asyncio.Event | None = None,
                    on_point: Callable[[BenchResult], None] | None = None) -> SweepResult:
    out = SweepResult()

    async def point(c: BenchConfig) -> BenchResult:
        r = await run_bench(c, sink, cancel)
        out.points.append(r)
        if on_point is not None:
            on_point(r)
        return r

    if cfg.sweep_slo_search:
        return await _slo_search(cfg, point, out, cancel)
    if cfg.sweep_concurrency:
        configs = [replace(cfg, max_concurrency=c, request_rate=math.inf)
                   for c in cfg.sweep_concurrency]
    else:
        configs = [replace(cfg, request_rate=r) for r in cfg.sweep_rate]
    best = 0.0
    for i, c in enumerate(configs):
        if cancel is not None and cancel.is_set():
            out.stopped = "cancelled"
            break
        r = await point(c)
        thr = r.metrics.output_throughput
        if not _passes(r, cfg.slo_attainment):
            if i < len(configs) - 1:
                out.stopped = f"SLO breach ({attainment(r):.0%} < {cfg.slo_attainment:.0%})"
            break
        if i > 0 and thr < best * (1 + cfg.saturation_gain):
            if i < len(configs) - 1:
                out.stopped = (f"saturation: {thr:.1f} tok/s is less than "
                               f"{cfg.saturation_gain:.0%} above {best:.1f}")
            break
        best = max(best, thr)
    return out


async def _slo_search(cfg: BenchConfig, point, out: SweepResult,
                      cancel: asyncio.Event | None) -> SweepResult:
    start = cfg.request_rate if math.isfinite(cfg.request_rate) else 1.0
    probes: list[tuple[float, bool]] = []
    rate = start
    while len(probes) < 12 + 4:
        nxt = next_rate(probes, start, None, max_bisections=4, descend=False)
        if nxt is None or (cancel is not None and cancel.is_set()) or (len(probes) >= 12 and bracket(probes)[1] is None):
            break  # (12: the doubling phase's length)
        rate = nxt
        r = await point(replace(cfg, request_rate=rate, sweep_slo_search=False))
        probes.append((rate, _passes(r, cfg.slo_attainment)))
    good, _ = bracket(probes)
    out.best_rate = good
    out.points.sort(key=lambda p: p.config.request_rate)
    if good is None:
        out.stopped = f"even {rate:.3f} req/s misses the SLOs"
    return out


# ---- the load search's bracket (pure) ------------------------------------------------------

@dataclass(frozen=True)
class Tolerance:
    """When a search may stop: the bracket [last pass, first fail] is at most ``value`` req/s
    wide, or (``relative``) at most ``value`` × its lower end."""

    value: float
    relative: bool

    def met(self, good: float, bad: float) -> bool:
        return bad - good <= (self.value * good if self.relative else self.value) + 1e-12

    def text(self) -> str:
        if self.relative:
            return f"the bracket [last pass, first fail] is at most {self.value:.0%} of its lower end wide"
        return f"the bracket [last pass, first fail] is at most {self.value:g} req/s wide"


def parse_tolerance(text: str) -> Tolerance:
    """``"10%"`` (relative width) or ``"0.5"`` (req/s); raises ``BenchUsageError``."""
    from .config import BenchUsageError
    t = str(text).strip()
    try:
        v = float(t[:-1]) / 100.0 if t.endswith("%") else float(t)
    except ValueError:
        raise BenchUsageError(f"--tolerance {text!r}: give req/s (0.5) or a relative width (10%)") from None
    if not (v > 0 and math.isfinite(v)):
        raise BenchUsageError(f"--tolerance {text!r} must be greater than 0")
    return Tolerance(v, t.endswith("%"))


def bracket(probes: list[tuple[float, bool]]) -> tuple[float | None, float | None]:
    """(highest passing rate, lowest failing rate above it) of ``(rate, passed)`` probes.
    A failure below a pass (noise) does not close the bracket; the pass stands."""
    good = max((r for r, ok in probes if ok), default=None)
    bad = min((r for r, ok in probes if not ok and (good is None or r > good)), default=None)
    return good, bad


def next_rate(probes: list[tuple[float, bool]], start: float, tolerance: Tolerance | None,
              max_bisections: int | None = None, descend: bool = True,
              floor: float = 1 / 64) -> float | None:
    """The next request rate to probe after ``probes`` (in the order made), or None when the
    search is over (pure).

    Double from ``start`` while every probe passes; when the first fails, halve (``descend``;
    down to ``floor`` × ``start``, then give up); once a pass and a fail above it exist,
    bisect until ``tolerance`` holds (or ``max_bisections`` bisections were made)."""
    if not probes:
        return start
    good, bad = bracket(probes)
    if good is None:
        low = min(r for r, _ in probes)
        return low / 2 if descend and low / 2 >= start * floor else None
    if bad is None:
        return good * 2
    if tolerance is not None and tolerance.met(good, bad):
        return None
    if max_bisections is not None:
        seen_pass = seen_fail = False
        made = 0
        for _, ok in probes:
            if seen_pass and seen_fail:
                made += 1
            seen_pass, seen_fail = seen_pass or ok, seen_fail or not ok
        if made >= max_bisections:
            return None
    return (good + bad) / 2


#: The figures a probe needs to be judged (appended to every probe's flags).
JUDGE_FLAGS = ["--percentile-metrics", "ttft,tpot,itl,e2el", "--metric-percentiles", "50,90,99"]


def judge_p99(result: dict[str, Any], slo: dict[str, Any]) -> tuple[bool, str]:
    """MLPerf's server-scenario rule for one run (pure): the 99th percentile of each limited
    latency (``ttft_ms``, ``tpot_ms``, ``e2el_ms`` of ``slo``) is at most its limit. A run
    with a failed request, or none completed, fails: a server that drops requests does not
    meet a latency target. Returns (passed, why in one line)."""
    if not result.get("completed"):
        return False, "no request completed"
    if result.get("failed"):
        return False, f"{result['failed']} request(s) failed"
    why = []
    for k in ("ttft", "tpot", "e2el"):
        limit = slo.get(f"{k}_ms")
        if limit is None:
            continue
        v = result.get(f"p99_{k}_ms")
        if v is None:
            return False, f"p99 {k.upper()} not measured"
        why.append(f"p99 {k.upper()} {v:.1f} {'≤' if v <= limit else '>'} {limit:g} ms")
    return all("≤" in w for w in why), ", ".join(why)
