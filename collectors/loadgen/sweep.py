"""Sweeps: a throughput-latency curve over concurrencies or rates, or an SLO search.

* ``--sweep-concurrency 1,4,16``: closed loop (infinite rate) at each concurrency;
* ``--sweep-rate 1,2,4``: open loop (Gamma/Poisson arrivals) at each rate;
* ``--sweep-slo-search``: the highest ``--request-rate`` whose SLO attainment (share of
  attempted requests meeting every ``--goodput`` SLO) is at least ``--slo-attainment``:
  the rate doubles from ``--request-rate`` (1 req/s if infinite) until a point fails,
  then 4 bisection steps between the last passing and the first failing rate.

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
    rate = cfg.request_rate if math.isfinite(cfg.request_rate) else 1.0
    good, bad = None, None
    for _ in range(12):  # doubling phase
        if cancel is not None and cancel.is_set():
            break
        r = await point(replace(cfg, request_rate=rate, sweep_slo_search=False))
        if _passes(r, cfg.slo_attainment):
            good = rate
            rate *= 2
        else:
            bad = rate
            break
    if good is not None and bad is not None:
        for _ in range(4):  # bisection phase
            if cancel is not None and cancel.is_set():
                break
            mid = (good + bad) / 2
            r = await point(replace(cfg, request_rate=mid, sweep_slo_search=False))
            if _passes(r, cfg.slo_attainment):
                good = mid
            else:
                bad = mid
    out.best_rate = good
    out.points.sort(key=lambda p: p.config.request_rate)
    if good is None:
        out.stopped = f"even {rate:.3f} req/s misses the SLOs"
    return out
