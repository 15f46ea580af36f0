"""Is a benchmark's figure worth quoting? One verdict per bench run (pure).

A bench run is **invalid** when what it measured is not the engine: the client was the
bottleneck (the numbers work's client-bound verdict when the run carries one, else the load
generator's own ``client_bottleneck`` flag — never a second detector), the engine restarted or
crashed during the run, or the GPU was throttled while busy. It carries **caveats** when a
figure is weaker than it looks: a p99 from fewer than 100 requests, a warm-up inside the
measured window (steady state not reached, when the run says so), or requests cut short of
the tokens they asked for.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from iejtui.advisor.knobs import flag_value
from iejtui.derive import counters

MIN_FOR_P99 = 100
# A bench run's stored summary is the load generator's result: its own figures at the top,
# iejtui's extras (client health, short outputs) under "iejtui"; either place is read.


def _client_bound(summary: Mapping[str, Any]) -> tuple[bool, list[str]]:
    verdict = ((summary.get("bench") or {}).get("verdict") if isinstance(summary.get("bench"), Mapping)
               else None) or summary.get("verdict")
    if isinstance(verdict, Mapping) and "client_bound" in verdict:
        return bool(verdict["client_bound"]), list(verdict.get("reasons") or [])
    client = summary.get("client") or (summary.get("iejtui") or {}).get("client") or {}
    return bool(client.get("client_bottleneck")), list(client.get("client_warnings") or [])


def cut_share_pct(summary: Mapping[str, Any], bench_argv: Sequence[str] | None,
                  engine_length_share_pct: float | None) -> float | None:
    """Share of completed requests cut short of their max_tokens. With ``--ignore-eos`` every
    short answer is a cut (nothing else stops it early); without, a short answer may be an
    EOS, so the share is bounded by the engine's own length-finished share."""
    done = summary.get("completed") or 0
    short = summary.get("short_outputs", (summary.get("iejtui") or {}).get("short_outputs"))
    if not done or short is None:
        return None
    share = 100.0 * short / done
    if flag_value(bench_argv, "--ignore-eos") == "on":
        return share
    return min(share, engine_length_share_pct) if engine_length_share_pct is not None else None


def validity(summary: Mapping[str, Any] | None, *, bench_argv: Sequence[str] | None = None,
             engine_run: Mapping[str, Any] | None = None, window: tuple[float, float] | None = None,
             engine_counter: tuple[list[float], list[float]] | None = None,
             throttled_s: float = 0.0, engine_length_share_pct: float | None = None) -> dict[str, Any]:
    """``{"valid", "invalid_reasons", "caveats"}`` of one bench run.

    ``engine_counter``: the target engine's generated-token counter (a reset inside the
    window is a restart); ``throttled_s``: seconds a GPU spent throttled while busy."""
    s = summary or {}
    invalid: list[str] = []
    caveats: list[str] = []
    bound, why = _client_bound(s)
    if bound:
        invalid.append("client-bound: the load generator, not the engine, set the pace"
                       + (f" ({why[0]})" if why else ""))
    if window and engine_counter and engine_counter[0]:
        n = counters.resets(engine_counter[0], engine_counter[1], window[0], window[1])
        if n:
            invalid.append(f"the engine restarted {n} time(s) during the run (its counters reset)")
    if window and engine_run and engine_run.get("ended_at") and window[0] <= engine_run["ended_at"] < window[1]:
        invalid.append(f"the engine ended ({engine_run.get('status')}) before the benchmark did")
    if throttled_s >= 1.0:
        invalid.append(f"a GPU was throttled for {throttled_s:.0f} s while busy: clocks below rated")
    done = s.get("completed")
    if done is not None and done < MIN_FOR_P99:
        caveats.append(f"p99 from {done} requests (< {MIN_FOR_P99}): the tail is one or two requests")
    steady = ((s.get("bench") or {}).get("steady") if isinstance(s.get("bench"), Mapping) else None) or s.get("steady")
    if isinstance(steady, Mapping) and steady.get("reached") is False:
        caveats.append("no steady state: warm-up is inside the measured window")
    cut = cut_share_pct(s, bench_argv, engine_length_share_pct)
    if cut:
        caveats.append(f"{cut:.0f} % of requests were cut short of their max_tokens")
    return {"valid": not invalid, "invalid_reasons": invalid, "caveats": caveats}
