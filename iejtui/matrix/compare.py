"""``iejtui compare``: matrix entries of benchmarks/ side by side, by hardware and variant.

Entries made on different machines (the journal repository carries them) are matched by
workload *shape* (dataset, input and output lengths), not by name, and by load point
label (``c16``, ``r4``, ``c16-r4``). ``rows`` flattens everything into one record per
(entry, variant, workload, load point); ``render`` writes, per workload, a pivot of
output throughput (TTFT p50) with load points down and hardware · variant across (the
best bold only when Welch's 95 % interval over repetitions clears the runner-up, else
"(tie)"), then the full figures (pure functions apart from ``load_entries``). Runs
(``rN``) are compared with intervals in ``compare_runs``.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from iejtui.derive.stats import mark_best
from iejtui.errors import UserError
from iejtui.journal.mdsafe import code, esc, table
from iejtui.matrix.results import SCHEMA


def load_entries(root: Path, names: list[str] | None = None) -> tuple[list[dict[str, Any]], list[str]]:
    """(matrix results of benchmarks/NAME/results.json, notes about entries left out)."""
    bench = Path(root) / "benchmarks"
    folders = [bench / n for n in names] if names else sorted(p for p in bench.glob("*") if p.is_dir())
    out, notes = [], []
    for f in folders:
        path = f / "results.json"
        if not path.is_file():
            if names:
                raise UserError(f"{path} does not exist: run `iejtui matrix run` (or name an entry of benchmarks/)")
            continue
        try:
            doc = json.loads(path.read_text())
        except (OSError, ValueError) as exc:
            notes.append(f"{f.name}: unreadable results.json ({exc})")
            continue
        if doc.get("schema") != SCHEMA:
            notes.append(f"{f.name}: a single-run entry, not a matrix (left out)")
            continue
        doc["entry"] = f.name
        out.append(doc)
    if not out:
        raise UserError(f"no matrix entries in {bench}: run a matrix first (`iejtui matrix run FILE`)")
    return out, notes


def _load_order(label: str) -> tuple:
    c = re.search(r"c(\d+)", label)
    r = re.search(r"r([\d.]+)", label)
    return (int(c.group(1)) if c else 10 ** 9, float(r.group(1)) if r else float("inf"), label)


def workload_key(w: dict[str, Any]) -> str:
    if w.get("dataset") in ("random", "prefix_repetition"):
        return f"{w['dataset']} {w.get('input_len')}/{w.get('output_len')}"
    return f"{w.get('dataset')} {w.get('shape')}"


def rows(entries: list[dict[str, Any]], workload: str | None = None) -> list[dict[str, Any]]:
    """One record per measured (entry, variant, workload, load point)."""
    out = []
    for e in entries:
        wl = {w["name"]: w for w in e["workloads"]}
        titles = {(w["name"], lp): t for w in e["workloads"] for lp, t in zip(w["loads"], w.get("load_titles") or [])}
        slo = (e.get("slos") or [{}])[0].get("name")
        for g in e["groups"]:
            w = wl.get(g["workload"])
            if w is None or not g.get("n"):
                continue
            if workload and workload not in (w["name"], workload_key(w)):
                continue
            out.append({"workload_key": workload_key(w), "workload": w["name"], "shape": w.get("shape"),
                        "entry": e["entry"], "hardware": e["hardware"].get("label"), "host": e["hardware"].get("host"),
                        "engine": f"{e['engine']['kind']} {(e.get('versions') or {}).get('engine') or ''}".strip(),
                        "date": e.get("date"), "variant": g["variant"], "load": g["load"],
                        "load_title": titles.get((g["workload"], g["load"]), g["load"]), "n": g["n"],
                        "output_tok_s_sd": g.get("output_tok_s_sd"),
                        **{k: g.get(k) for k in ("output_tok_s", "ttft_p50_ms", "ttft_p99_ms", "tpot_p50_ms",
                                                 "tpot_p99_ms", "usd_per_1m_output", "joules_per_token",
                                                 "kv_peak_tokens", "mem_headroom_bytes")},
                        "slo": slo, "goodput": (g.get("goodput") or {}).get(slo) if slo else None})
    return out


def _n(x: float | None, d: int = 1) -> str:
    return "—" if x is None else f"{x:,.{d}f}"


def _money(x: float | None) -> str:
    return "—" if x is None else (f"${x:,.2f}" if x >= 1 else f"${x:.3f}")


def render(entries: list[dict[str, Any]], workload: str | None = None, notes: list[str] | None = None) -> str:
    """Markdown: per workload shape, the pivot and the full figures."""
    rs = rows(entries, workload)
    if not rs:
        raise UserError("nothing to compare: no measured cell" + (f" for workload {workload!r}" if workload else ""))
    out = ["# Benchmark comparison", "",
           "Entries: " + "; ".join(f"{code(e['entry'])} ({esc(e['hardware'].get('label'))}, host "
                                   f"{code(e['hardware'].get('host'))}, {esc(e.get('date'))})" for e in entries), ""]
    for key in dict.fromkeys(r["workload_key"] for r in rs):
        mine = [r for r in rs if r["workload_key"] == key]
        names = list(dict.fromkeys(r["workload"] for r in mine))
        out += [f"## Workload{'s' * (len(names) > 1)} {', '.join(code(n) for n in names)}: {esc(mine[0]['shape'])}",
                ""]
        cols = list(dict.fromkeys((r["hardware"], r["entry"], r["variant"]) for r in mine))
        multi_entry_hw = {h for h, e, _ in cols if len({e2 for h2, e2, _ in cols if h2 == h}) > 1}
        loads = sorted({r["load"] for r in mine}, key=_load_order)
        by = {(r["hardware"], r["entry"], r["variant"], r["load"]): r for r in mine}
        head = [f"{esc(h)} · {code(v, table=True)}" + (f" ({code(e, table=True)})" if h in multi_entry_hw else "")
                for h, e, v in cols]
        pivot = []
        for lp in loads:
            cells = [by.get((*c, lp)) for c in cols]
            marks = mark_best([(str(i), x["output_tok_s"], x.get("output_tok_s_sd"), x["n"])
                               for i, x in enumerate(cells) if x and x["output_tok_s"] is not None], True)
            row = [esc(lp)]
            for i, x in enumerate(cells):
                if not x:
                    row.append("—")
                    continue
                t = f"{_n(x['output_tok_s'])} ({_n(x['ttft_p50_ms'], 0)} ms)"
                m = marks.get(str(i))
                row.append(f"**{t}**" if m == "best" else f"{t} (tie)" if m == "tie" else t)
            pivot.append(row)
        out += ["**Output tok/s (TTFT p50)**, load points down, hardware · variant across:", "",
                table(["Load", *head], pivot, right=set(range(1, len(cols) + 1))), "",
                "_Bold: the highest throughput of a load point, its Welch 95 % interval over the repetitions clear "
                "of the runner-up's; \"(tie)\": cells the repetitions cannot tell apart; one repetition: nothing "
                "marked._", ""]
        detail = []
        for r in sorted(mine, key=lambda r: (_load_order(r["load"]), -(r["output_tok_s"] or 0))):
            detail.append([esc(r["load"]), esc(r["hardware"]), code(r["variant"], table=True), code(r["entry"], table=True),
                           _n(r["output_tok_s"]), f"{_n(r['ttft_p50_ms'], 0)} / {_n(r['ttft_p99_ms'], 0)}",
                           f"{_n(r['tpot_p50_ms'])} / {_n(r['tpot_p99_ms'])}",
                           f"{_n(r['goodput'], 2)} ({esc(r['slo'])})" if r["slo"] else "—",
                           _money(r["usd_per_1m_output"]), _n(r["joules_per_token"], 3)])
        out += ["**All figures** (means over repetitions):", "",
                table(["Load", "Hardware", "Variant", "Entry", "Output tok/s", "TTFT p50 / p99 ms", "TPOT p50 / p99 ms",
                       "Goodput req/s (SLO)", "$ / 1M out", "J / token"], detail, right={4, 5, 6, 7, 8, 9}), ""]
    failed = [f"{code(v['name'])} on {esc(e['hardware'].get('label'))} ({code(e['entry'])}): "
              f"{esc(v.get('reason'), limit=160)}" for e in entries for v in e["variants"] if v["status"] == "failed"]
    if failed:
        out += ["Variants that failed: " + "; ".join(failed) + ".", ""]
    if notes:
        out += ["<sub>" + esc("; ".join(notes)) + "</sub>", ""]
    return "\n".join(out)
