"""A bench run's ``server``, ``verdict`` and ``steady`` blocks, read from journal.db.

``bench_sections(reader, run)`` returns the three keys ``run_summary`` puts in a bench
run's ``bench`` section (the maths is in ``iejtui.derive.client_server`` and
``iejtui.derive.steady``; the dicts are documented there):

* ``server``: the parent engine run's histograms over the bench window next to the
  client's figures (``available`` false, with ``why``, when the bench had no engine run
  or the engine stored no histograms then). Keys: ``available``, ``why``, ``engine_run``,
  ``window`` ([first, last] scrape used), ``window_covers_bench``, ``metrics`` (per
  histogram key ``ttft``/``itl``/``e2e``/``queue``: ``server_figure``'s dict or ``None``),
  ``figures`` (per ``ttft``/``itl``/``e2e``: client and server p50/p99/mean, the server
  p50/p99 buckets, ``overhead_mean_ms``, ``overhead_p50_ms``), ``queue_share`` (0–1);
* ``verdict``: ``{"client_bound", "reasons", "signals"}``, read by the advisor;
* ``steady``: whether throughput and concurrency settled, and the figures over the
  steady window beside the whole run's.

``bench_lines(section)`` renders them as the few lines ``runs show``, the export and the
bench result view print (plain text, no markup).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from iejtui.derive import client_server as cs
from iejtui.derive.engine import scrape_times
from iejtui.derive.metric_map import metric_map_for
from iejtui.derive.series import labels_match
from iejtui.derive.steady import steady_state

__all__ = ["bench_lines", "bench_sections"]

_MARGIN_S = 30.0  # scrapes read around the bench window (the enclosing ones lie within)


def _getter(reader, run_id: int, t0: float, t1: float):
    def get(name: str, labels_filter=None):
        return [(sd.labels, sd.ts, sd.values) for sd in reader.series(run_id, name, None, t0, t1)
                if labels_match(sd.labels, labels_filter)]
    return get


def _server(reader, run: Mapping[str, Any], rows: list[dict], client: dict) -> dict[str, Any]:
    """The ``server`` block: the engine's figures over the window enclosing the bench."""
    out: dict[str, Any] = {"available": False, "why": None, "engine_run": run.get("parent_id"),
                           "window": None, "window_covers_bench": False, "metrics": None,
                           "figures": None, "queue_share": None}
    parent = reader.run(run["parent_id"]) if run.get("parent_id") else None
    if parent is None:
        out["why"] = "no engine run: the bench targeted a URL iejtui does not scrape"
        return out
    span = cs.bench_span(rows) or (run["started_at"], run.get("ended_at") or run["started_at"])
    mmap = metric_map_for(parent.get("engine_kind") or "vllm")
    if mmap is None:
        out["why"] = f"engine kind {parent.get('engine_kind')!r} has no metric map"
        return out
    get = _getter(reader, parent["id"], span[0] - _MARGIN_S, span[1] + _MARGIN_S)
    win = cs.enclosing_window(scrape_times(get, mmap, None), *span)
    if win is None:
        out["why"] = f"engine run {parent['id']} has fewer than two scrapes around the bench"
        return out
    a, b, covers = win
    server = cs.server_figures(get, mmap, a, b)
    out.update(window=[a, b], window_covers_bench=covers,
               metrics={k: v for k, v in server.items()})
    if not any(v and v.get("count") for v in server.values()):
        out["why"] = f"engine run {parent['id']} recorded no latency observations in the bench window"
        return out
    out["available"] = True
    out.update(cs.compare(client, server))
    return out


def bench_sections(reader, run: Mapping[str, Any]) -> dict[str, Any]:
    """``{"server", "verdict", "steady"}`` of a bench run (see the module doc)."""
    rows = reader.requests(run["id"])
    client = cs.client_figures(rows)
    server = _server(reader, run, rows, client)
    result = run.get("summary") if isinstance(run.get("summary"), Mapping) else None
    v = cs.verdict(result, client, server["metrics"] if server.get("available") else None)
    return {"server": server, "verdict": v, "steady": steady_state(rows)}


def _f(v: float | None, digits: int = 1) -> str:
    return "-" if v is None else f"{v:.{digits}f}"


def bench_lines(section: Mapping[str, Any] | None) -> list[str]:
    """Plain-text lines for the client vs server table, the verdict and the steady state."""
    if not section:
        return []
    lines: list[str] = []
    server = section.get("server") or {}
    if server:
        if server.get("available"):
            lines.append("client vs server (ms; server percentiles from buckets, overhead = "
                         "network + client overhead)")
            lines.append(f"  {'':<5} {'client p50':>10} {'server p50':>10}  {'server p50 bucket':<24}"
                         f" {'client p99':>10} {'server p99':>10} {'overhead (mean)':>15}")
            for key, row in (server.get("figures") or {}).items():
                lines.append(f"  {key.upper():<5} {_f(row['client_p50_ms']):>10} {_f(row['server_p50_ms']):>10}  "
                             f"{cs.bucket_text(row['server_p50_bucket_ms']):<24} {_f(row['client_p99_ms']):>10} "
                             f"{_f(row['server_p99_ms']):>10} {_f(row['overhead_mean_ms']):>15}")
            share = server.get("queue_share")
            lines.append(f"  queue-time share {'-' if share is None else f'{share:.1%}'} of server e2e"
                         + ("" if server.get("window_covers_bench") else
                            "  (no scrape after the bench yet: server figures may miss its last requests)"))
        else:
            lines.append(f"client vs server: server figures unavailable ({server.get('why')})")
    v = section.get("verdict") or {}
    if v:
        lines.append("client-bound: " + ("YES" if v.get("client_bound") else "no"))
        lines += [f"  - {r}" for r in v.get("reasons") or []]
    st = section.get("steady") or {}
    if st:
        lines.append(f"steady state: {'reached' if st.get('reached') else 'not reached'} ({st.get('why')})")
        lines.append(f"  rule: {st.get('rule')}")
        figs = st.get("figures") or {}
        whole, steady = figs.get("whole"), figs.get("steady")
        if whole:
            lines.append(f"  {'':<8} {'tok/s':>8} {'req/s':>7} {'in flight':>9} {'TTFT p50':>9} {'ITL p50':>8}"
                         f" {'e2e p99':>8}")
            for label, f in (("whole", whole), ("steady", steady)):
                if f:
                    lines.append(f"  {label:<8} {_f(f['output_tok_s']):>8} {_f(f['requests_per_s'], 2):>7} "
                                 f"{_f(f['mean_in_flight']):>9} {_f(f['ttft_p50_ms']):>9} {_f(f['itl_p50_ms']):>8} "
                                 f"{_f(f['e2e_p99_ms']):>8}")
    return lines
