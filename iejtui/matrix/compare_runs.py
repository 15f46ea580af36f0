"""``iejtui compare r12 r14 [r15…]``: runs side by side with confidence intervals.

Two or more runs of one kind. Each run after the first is compared with the first; every
difference is *later run − first run*.

* **Bench runs**: from each stored request (successful ones; warm-ups are never stored):
  TTFT, TPOT, E2EL p50/p99 (bootstrap over requests), ITL p50/p99 (bootstrap over whole
  requests, their gaps pooled) and the output tok/s and finished req/s means of the
  per-second series (circular block bootstrap: ``derive.persecond``).
* **Engine runs**: the per-scrape rates of the engine's own counters (generated and
  prompt tok/s, finished req/s) over the run's busy seconds (generation rate above 0),
  block bootstrap. Server-side latencies are bucketed histograms, not samples: left out.
* **Multiple comparisons**: Bonferroni over every interval printed (figures × compared
  pairs): each at ``1 − 0.05/m``, so all hold together with 95 % confidence. The JSON's
  ``ci95_lo``/``ci95_hi`` are those simultaneous 95 % intervals.

Bench runs also get their Pareto frontiers (``derive.pareto``: output tok/s, and per GPU
of the engine measured where it had GPUs, against p99 TTFT and p99 ITL, the figures each
run reports), in the JSON (``pareto``) and, with
``--pareto FILE.svg``, as an SVG.

Reading is done through a ``Reader`` passed in; everything else is pure.
"""

from __future__ import annotations

import re
from typing import Any

from iejtui.derive import persecond
from iejtui.derive import stats as st
from iejtui.errors import UserError

RUN_REF = re.compile(r"^[rR](\d+)$")
#: Resamples per interval (Bonferroni pushes quantiles to ~0.25 %: 4000 keeps ~10 beyond them).
N_BOOT = 4000

# (figure, unit, sample key, statistic)
BENCH_FIGURES: tuple[tuple[str, str, str, str], ...] = (
    ("TTFT p50", "ms", "ttft", "p50"), ("TTFT p99", "ms", "ttft", "p99"),
    ("TPOT p50", "ms", "tpot", "p50"), ("TPOT p99", "ms", "tpot", "p99"),
    ("ITL p50", "ms", "itl", "p50"), ("ITL p99", "ms", "itl", "p99"),
    ("E2EL p50", "ms", "e2el", "p50"), ("E2EL p99", "ms", "e2el", "p99"),
    ("output tok/s", "tok/s", "tok_s", "mean"), ("requests/s", "req/s", "req_s", "mean"),
)
# engine figures name canonical counters (``derive.metric_map``), resolved per engine kind
ENGINE_FIGURES: tuple[tuple[str, str, str, str], ...] = (
    ("generation tok/s (busy seconds)", "tok/s", "generation_tokens", "mean"),
    ("prompt tok/s (busy seconds)", "tok/s", "prompt_tokens", "mean"),
    ("requests finished/s (busy seconds)", "req/s", "request_success", "mean"),
)
COMPARABLE = ("bench", "engine")


def is_run_ref(text: str) -> bool:
    return bool(RUN_REF.match(text))


def check_refs(refs: list[str]) -> None:
    """Either every argument is a run (``rN``) or none is; runs need at least two."""
    kinds = {is_run_ref(r) for r in refs}
    if len(kinds) > 1:
        raise UserError("compare either runs (r12 r14 …) or benchmarks/ entries by name, not both: "
                        + " ".join(refs))
    if kinds == {True} and len(refs) < 2:
        raise UserError(f"compare needs at least two runs (got {refs[0]}): iejtui compare r12 r14")


def load_runs(reader, refs: list[str]) -> list[dict[str, Any]]:
    """The runs named ``rN``, all of one comparable kind (one-line errors otherwise)."""
    runs = []
    for ref in refs:
        run = reader.run(int(RUN_REF.match(ref).group(1)))
        if run is None:
            raise UserError(f"no run {ref} in this journal: see `iejtui runs`")
        if run["kind"] not in COMPARABLE:
            raise UserError(f"{ref} is a {run['kind']} run: compare takes bench runs or engine runs")
        runs.append(run)
    kinds = {r["kind"] for r in runs}
    if len(kinds) > 1:
        raise UserError("compare takes runs of one kind: " + ", ".join(f"r{r['id']} is {r['kind']}" for r in runs))
    if len({r["id"] for r in runs}) < len(runs):
        raise UserError("a run is named twice: " + " ".join(refs))
    return runs


def bench_samples(requests: list[dict[str, Any]]) -> dict[str, Any]:
    """Per-request samples (ms) and per-second series of one bench run (pure)."""
    ok = [r for r in requests if r.get("ok") and r.get("ttft") is not None and r.get("e2el") is not None]
    tpot, itl = [], []
    for r in ok:
        n = r.get("output_tokens") or 0
        if n > 1:
            tpot.append((r["e2el"] - r["ttft"]) / (n - 1) * 1000.0)
        ct = r.get("chunk_times") or []
        itl.append([(ct[i] - ct[i - 1]) * 1000.0 for i in range(1, len(ct))])
    tok_s, req_s = persecond.bench_rates(ok)
    return {"ttft": [r["ttft"] * 1000.0 for r in ok], "e2el": [r["e2el"] * 1000.0 for r in ok], "tpot": tpot,
            "itl": itl, "tok_s": tok_s, "req_s": req_s, "n": len(ok)}


def engine_samples(series_of: dict[str, list[tuple[list[float], list[float]]]]) -> dict[str, Any]:
    """Per-scrape rates of an engine run's counters over its busy seconds (pure).

    ``series_of``: canonical counter key (``generation_tokens``…) → its stored series as
    ``(ts, values)``."""
    rates = {name: persecond.counter_rates(s) for name, s in series_of.items()}
    gen_ts, gen = rates.get("generation_tokens", ([], []))
    keep = persecond.busy(gen_ts, gen)
    out: dict[str, Any] = {}
    for name, (ts, vs) in rates.items():
        out[name] = [v for t, v in zip(ts, vs) if t in keep]
    out["n"] = len(keep)
    return out


def _interval(kind: str, key: str, stat: str, a: dict, b: dict, level: float, seed: int, n_boot: int):
    xa, xb = a.get(key) or [], b.get(key) or []
    if kind == "engine" or key in ("tok_s", "req_s"):
        return st.block_bootstrap_diff(xa, xb, level, seed, n_boot), len(xa), len(xb)
    if key == "itl":
        return (st.cluster_bootstrap_diff(xa, xb, stat, level, seed, n_boot),
                sum(len(g) for g in xa), sum(len(g) for g in xb))
    return st.bootstrap_diff(xa, xb, stat, level, seed, n_boot), len(xa), len(xb)


def compare_samples(kind: str, samples: list[dict[str, Any]], labels: list[str], seed: int = 0,
                    n_boot: int = N_BOOT) -> dict[str, Any]:
    """Every later run against the first, per figure, Bonferroni-adjusted (pure)."""
    figures = BENCH_FIGURES if kind == "bench" else ENGINE_FIGURES
    m = len(figures) * (len(samples) - 1)
    level = st.adjust_level(m)
    comps = []
    for j in range(1, len(samples)):
        rows = []
        for i, (fig, unit, key, stat) in enumerate(figures):
            iv, na, nb = _interval(kind, key, stat, samples[0], samples[j], level, seed + i, n_boot)
            if iv is None:
                rated = kind == "engine" or key in ("tok_s", "req_s")
                note = (f"no interval: a rate needs at least {st.MIN_SECONDS} one-second values per run"
                        if rated and min(na, nb) > 0 else "no samples in one of the runs")
                xa, xb = samples[0].get(key) or [], samples[j].get(key) or []
                va = sum(xa) / len(xa) if rated and xa else None
                vb = sum(xb) / len(xb) if rated and xb else None
                rows.append({"figure": fig, "unit": unit, "a": va, "b": vb,
                             "diff": None if va is None or vb is None else vb - va, "ci95_lo": None,
                             "ci95_hi": None, "significant": None, "n_a": na, "n_b": nb, "note": note})
                continue
            rows.append({"figure": fig, "unit": unit, "a": iv.a, "b": iv.b, "diff": iv.diff, "ci95_lo": iv.lo,
                         "ci95_hi": iv.hi, "significant": iv.significant, "n_a": na, "n_b": nb,
                         "method": iv.method})
        comps.append({"a": labels[0], "b": labels[j], "figures": rows})
    return {"kind": kind, "figures_compared": m, "adjustment": "bonferroni", "family_level": st.FAMILY_LEVEL,
            "level_each": level, "difference": "b − a (the later run minus the first)", "comparisons": comps,
            **({"figures": comps[0]["figures"]} if len(comps) == 1 else {})}


def _counter(reader, run: dict[str, Any], key: str) -> list[tuple[list[float], list[float]]]:
    """The stored series of canonical counter ``key`` of an engine run (first alias with data)."""
    from iejtui.derive.metric_map import metric_map_for
    mmap = metric_map_for(run.get("engine_kind") or "vllm")
    for name in (mmap.names(key) if mmap else ()):
        found = [(sd.ts, sd.values) for sd in reader.series(run["id"], name)]
        if found:
            return found
    return []


def compare_runs(reader, refs: list[str], seed: int = 0, n_boot: int = N_BOOT) -> dict[str, Any]:
    runs = load_runs(reader, refs)
    kind = runs[0]["kind"]
    samples = []
    for r in runs:
        if kind == "bench":
            s = bench_samples(reader.requests(r["id"]))
            if not s["n"]:
                raise UserError(f"r{r['id']} has no successful request stored: nothing to compare")
        else:
            s = engine_samples({key: _counter(reader, r, key) for _, _, key, _ in ENGINE_FIGURES})
            if not s["n"]:
                raise UserError(f"r{r['id']} has no busy second (no generated token between two scrapes): "
                                "nothing to compare")
        samples.append(s)
    out = compare_samples(kind, samples, [f"r{r['id']}" for r in runs], seed, n_boot)
    out["runs"] = [{"ref": f"r{r['id']}", "id": r["id"], "kind": r["kind"], "name": r.get("name"),
                    "status": r.get("status")} for r in runs]
    if kind == "bench":
        gpus = {}
        for r in runs:
            parent = reader.run(r["parent_id"]) if r.get("parent_id") else None
            gpus[r["id"]] = len((parent or {}).get("gpus") or [])
        out["pareto_items"] = pareto_items(runs, gpus)
        out["pareto"] = pareto_json(out["pareto_items"])
    return out


def pareto_items(runs: list[dict[str, Any]], gpus: dict[int, int] | None = None) -> list[dict[str, Any]]:
    """Bench runs as Pareto items from the figures each reports (its vLLM-format summary);
    ``gpus``: run id → GPUs of the engine it measured (per-GPU throughput where above 0)."""
    out = []
    for r in runs:
        s = r.get("summary") if isinstance(r.get("summary"), dict) else {}
        tok, n = s.get("output_throughput"), (gpus or {}).get(r["id"]) or 0
        out.append({"label": f"r{r['id']}", "output_tok_s": tok, "ttft_p99_ms": s.get("p99_ttft_ms"),
                    "itl_p99_ms": s.get("p99_itl_ms"),
                    "output_tok_s_per_gpu": tok / n if n and isinstance(tok, (int, float)) else None})
    return out


def pareto_json(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    from iejtui.derive.pareto import frontiers
    return [{"x": f.x_key, "y": f.y_key, "frontier": [p.label for p in f.front],
             "dominated": [{"run": p.label, "by": p.dominated_by} for p in f.dominated], "missing": list(f.missing)}
            for f in frontiers(items)]


def _num(x: float | None, unit: str, signed: bool = False) -> str:
    if x is None:
        return "—"
    d = 2 if abs(x) < 10 else (1 if abs(x) < 1000 else 0)
    return f"{x:+,.{d}f}" if signed else f"{x:,.{d}f}"


def render_text(res: dict[str, Any]) -> str:
    """Plain text for the terminal: one table per compared pair."""
    names = {r["ref"]: r for r in res["runs"]}
    lines = [f"{res['figures_compared']} figures compared; Bonferroni: each interval at "
             f"{res['level_each'] * 100:.2f} % so that all hold together at 95 % (family-wise)."]
    for c in res["comparisons"]:
        a, b = names[c["a"]], names[c["b"]]
        lines += ["", f"{c['b']} ({b['kind']} {b['name']}) − {c['a']} ({a['kind']} {a['name']}):"]
        head = ["figure", c["a"], c["b"], "difference", "95 % interval", ""]
        rows = []
        for f in c["figures"]:
            unit = f" {f['unit']}"
            verdict = (f.get("note", "no data") if f["significant"] is None else
                       "significant" if f["significant"] else "no significant difference")
            ci = "—" if f["ci95_lo"] is None else (f"[{_num(f['ci95_lo'], '', True)}, "
                                                   f"{_num(f['ci95_hi'], '', True)}]{unit}")
            rows.append([f["figure"], _num(f["a"], ""), _num(f["b"], ""), _num(f["diff"], "", True) + unit, ci,
                         verdict])
        widths = [max(len(str(r[i])) for r in [head, *rows]) for i in range(len(head))]
        for r in [head, *rows]:
            lines.append("  " + "  ".join(str(x).ljust(w) if i in (0, 5) else str(x).rjust(w)
                                          for i, (x, w) in enumerate(zip(r, widths))).rstrip())
    for p in res.get("pareto") or []:
        from iejtui.derive.pareto import AXIS_TITLES
        dom = ", ".join(f"{d['run']} (by {d['by']})" for d in p["dominated"]) or "none"
        lines += ["", f"Pareto, {AXIS_TITLES[p['x']]} vs {AXIS_TITLES[p['y']]}: frontier "
                      f"{', '.join(p['frontier'])}; dominated {dom}"]
    return "\n".join(lines)
