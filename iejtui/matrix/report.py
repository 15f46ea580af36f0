"""README.md of a matrix entry in benchmarks/ (pure: results.json in, markdown out).

Every outside string (names, argv, reasons, log lines) goes through ``mdsafe``. Tables
put variants in rows and load points in columns, one table per figure and workload; the
best value of each column is bold (highest throughput and goodput, lowest latency) only
when Welch's 95 % interval over the repetitions separates it from the runner-up, else the
cells it cannot separate say "(tie)" (``derive.stats.mark_best``).
"""

from __future__ import annotations

import shlex
import time
from typing import Any, Callable

from iejtui import fmt
from iejtui.journal.mdsafe import code, esc, fence, table

STATUS_WORDS = {"done": "measured", "failed": "failed", "skipped": "skipped", "pending": "not run yet",
                "running": "running"}


def _n(x: float | None, d: int = 1) -> str:
    if x is None:
        return "—"
    return f"{x:,.{d}f}" if abs(x) < 1e5 else f"{x:,.0f}"


def _money(x: float | None) -> str:
    if x is None:
        return "—"
    return f"${x:,.2f}" if x >= 1 else f"${x:.3f}"


def _bytes(x: float | None) -> str:
    return "—" if x is None else fmt.size(x)


def _cell(g: dict | None, key: str, d: int = 1) -> str:
    if not g or g.get(key) is None:
        return "—"
    sd = g.get(f"{key}_sd")
    return _n(g[key], d) + (f" ± {_n(sd, d)}" if sd is not None and g.get("n", 1) > 1 else "")


def _grid(res: dict, workload: dict, value: Callable[[dict | None], str],
          score: Callable[[dict], tuple[float | None, float | None]], higher: bool) -> str:
    """Variants × load points of one workload. ``score(group)`` is (mean, sd) over its
    repetitions; the best of a column is bold only when it beats the runner-up (Welch 95 %
    interval clear of 0, ``derive.stats.mark_best``), else the indistinguishable top cells
    are marked "(tie)"."""
    from iejtui.derive.stats import mark_best
    groups = {(g["variant"], g["load"]): g for g in res["groups"] if g["workload"] == workload["name"]}
    loads = workload["loads"]
    bad = invalid_cells(res, workload["name"])
    marks: dict[str, dict[str, str]] = {}
    for lp in loads:
        cands = [(v, *score(g), g.get("n") or 0) for (v, l), g in groups.items()
                 if l == lp and g.get("n") and (v, l) not in bad]
        marks[lp] = mark_best([c for c in cands if c[1] is not None], higher)
    rows = []
    for v in res["variants"]:
        row = [code(v["name"], table=True)]
        for lp in loads:
            g = groups.get((v["name"], lp))
            if not g or not g.get("n"):
                states = set((g or {}).get("statuses") or [])
                row.append(esc(", ".join(STATUS_WORDS.get(s, s) for s in sorted(states))) if states else "—")
                continue
            text = value(g) + (" ⚠" if (v["name"], lp) in bad else "")
            mark = marks[lp].get(v["name"])
            row.append(f"**{text}**" if mark == "best" else f"{text} (tie)" if mark == "tie" else text)
        rows.append(row)
    titles = dict(zip(loads, workload.get("load_titles") or loads))
    return table(["Variant", *[esc(titles[lp]) for lp in loads]], rows, right=set(range(1, len(loads) + 1)))


def invalid_cells(res: dict, workload: str) -> set[tuple[str, str]]:
    """(variant, load) of the workload where a repetition's bench run is invalid (the
    advisor's verdict: client-bound, engine restarted, GPU throttled)."""
    return {(c["variant"], c["load"]) for c in res["cells"] if c.get("workload") == workload
            and c.get("validity") and not c["validity"].get("valid", True)}


def _ms(g: dict, key: str) -> tuple[float | None, float | None]:
    return g.get(key), g.get(f"{key}_sd")


_BEST_NOTE = ("_Bold: the best of a column, its Welch 95 % interval (over the repetitions) clear of the runner-up's "
              "(throughput, goodput: highest; latency tables: lowest p50). \"(tie)\": the top cells the repetitions "
              "cannot tell apart. One repetition gives no interval: nothing is marked. Each column is one test at "
              "95 %; with many columns expect about one in twenty marks by chance. ⚠: a repetition of that cell is "
              "invalid (client-bound, engine restarted or GPU throttled: see What failed); it is never marked best._")


def _pair(g: dict, a: str, b: str) -> str:
    return f"{_n(g.get(a))} / {_n(g.get(b))}"


def _headline(res: dict) -> str:
    c = res["counts"]
    total = sum(c.values())
    when = time.strftime("%Y-%m-%d %H:%M", time.localtime(res["started_at"]))
    took = fmt.duration(res["ended_at"] - res["started_at"]) if res.get("ended_at") else None
    state = {"done": f"Finished: started {when}, took {took}", "cancelled": f"Cancelled: started {when}, ran {took}",
             "failed": f"Stopped by an error: started {when}"}.get(res.get("state"), f"**In progress** since {when}")
    bits = [f"{c['done']} of {total} cells measured"]
    if c["failed"]:
        bits.append(f"{c['failed']} failed")
    if c["skipped"]:
        bits.append(f"{c['skipped']} skipped")
    if c["pending"] + c["running"]:
        bits.append(f"{c['pending'] + c['running']} still to run")
    failed = [v for v in res["variants"] if v["status"] == "failed"]
    line = f"{state}; {', '.join(bits)}."
    if failed:
        line += " Failed variant(s): " + ", ".join(f"{code(v['name'])} ({esc(v['reason'], limit=120)})"
                                                   for v in failed) + "."
    return line


def _summary(res: dict) -> str:
    wl = {w["name"]: w for w in res["workloads"]}
    slos = {s["name"]: s for s in res["slos"]}
    rows = []
    for b in res["best"]:
        w = wl[b["workload"]]
        titles = dict(zip(w["loads"], w.get("load_titles") or w["loads"]))
        if b["slo"] is None:
            goal = "highest output throughput"
        else:
            s = slos[b["slo"]]
            limits = ", ".join(f"{k[:-3].upper()} ≤ {s[k]:g} ms" for k in ("ttft_ms", "tpot_ms", "e2el_ms")
                               if s.get(k) is not None)
            goal = f"most goodput under SLO {code(b['slo'])} ({esc(limits)})"
        if b["variant"] is None:
            rows.append([code(w["name"]), goal, "_none_" if b["slo"] else "_nothing measured_", "—", "—", "—"])
            continue
        gp = "—" if b["goodput"] is None else f"{_n(b['goodput'], 2)} req/s ({_n(b.get('attainment_pct'), 0)} % of requests)"
        rows.append([code(w["name"]), goal, f"**{code(b['variant'])}**", esc(titles.get(b["load"], b["load"])),
                     _n(b["output_tok_s"]), gp])
    return table(["Workload", "Goal", "Best variant", "At load", "Output tok/s", "Goodput"], rows, right={4, 5})


def _setup(res: dict) -> str:
    hw, ver, eng = res["hardware"], res.get("versions") or {}, res["engine"]
    gpu_line = "none recorded (a CPU run)"
    if hw.get("gpu_count"):
        gpu_line = (f"{hw['gpu_count']} × {esc(hw.get('gpu_model'))}, "
                    f"{_bytes((hw.get('gpus') or [{}])[0].get('memory_total'))} each, driver {esc(hw.get('driver'))}"
                    + (f", CUDA {esc(hw.get('cuda'))}" if hw.get("cuda") else ""))
    rows = [["Host", code(hw.get("host"), table=True) or "—"],
            ["CPU", esc(f"{hw.get('cpu') or '?'} ({hw.get('cpu_cores') or '?'} cores), {_bytes(hw.get('memory_bytes'))} RAM")],
            ["GPUs", gpu_line],
            ["Engine", esc(f"{eng['kind']} {ver.get('engine') or ''}".strip()) + f", profile {code(eng['profile'], table=True)}"],
            ["Model", code(eng.get("model"), table=True, limit=90) or "—"],
            ["Tools", esc(f"iejtui {ver.get('iejtui') or res.get('iejtui')}, Python {ver.get('python', '?')}, "
                          f"{hw.get('os') or ''}".rstrip(", "))],
            ["Repetitions", f"{res['repetitions']} per cell" + (f", {res['warmups']} warm-up requests each"
                                                               if res.get("warmups") else "")
             + "; figures are means, ± one standard deviation"],
            ["SLOs", "; ".join(f"{code(s['name'])}: " + esc(", ".join(
                f"{k[:-3].upper()} ≤ {s[k]:g} ms" for k in ("ttft_ms", "tpot_ms", "e2el_ms") if s.get(k) is not None))
                for s in res["slos"]) or "none set (goodput not computed)"],
            ["Price", esc(res["cost"]["basis"])]]
    return "\n".join(f"- **{k}**: {v}" for k, v in rows)


def _variants(res: dict) -> str:
    rows = []
    for v in res["variants"]:
        env = " ".join(f"{k}={val}" for k, val in sorted((v.get("env") or {}).items()))
        status = esc(v["status"]) + (f": {esc(v['reason'], limit=70)}" if v.get("reason") else "")
        rows.append([code(v["name"], table=True), code(shlex.join(v["args"]), table=True) or "—",
                     code(env, table=True) or "—", status, fmt.duration(v.get("startup_s")) if v.get("startup_s") else "—",
                     _n(v.get("kv_capacity_tokens"), 0), f"r{v['engine_run']}" if v.get("engine_run") else "—"])
    return table(["Variant", "Extra engine args", "Extra env", "Status", "Startup", "KV capacity (tokens)", "Engine run"],
                 rows, right={4, 5})


def _workloads(res: dict) -> str:
    rows = [[code(w["name"], table=True), esc(w["dataset"]),
             f"{w['input_len'] or '—'} / {w['output_len'] or '—'}", str(w["num_prompts"]),
             esc(", ".join(w.get("load_titles") or w["loads"]))] for w in res["workloads"]]
    return table(["Workload", "Dataset", "Input / output tokens", "Prompts", "Load points"], rows, right={3})


def _efficiency(res: dict, w: dict) -> str:
    rows = []
    by = {(g["variant"], g["load"]): g for g in res["groups"] if g["workload"] == w["name"]}
    titles = dict(zip(w["loads"], w.get("load_titles") or w["loads"]))
    for v in res["variants"]:
        for lp in w["loads"]:
            g = by.get((v["name"], lp))
            if not g or not g.get("n"):
                continue
            kv = "—" if g.get("kv_peak_tokens") is None else (
                f"{_n(g['kv_peak_tokens'], 0)} ({_n(g.get('kv_peak_pct'), 2)} %)")
            head = "—" if g.get("mem_headroom_bytes") is None else (
                f"{_bytes(g['mem_headroom_bytes'])} ({_n(g.get('mem_headroom_pct'), 0)} %)")
            rows.append([code(v["name"], table=True), esc(titles[lp]), _money(g.get("usd_per_1m_output")),
                         _n(g.get("joules_per_token"), 3), kv, head, _n(g.get("request_s"), 2)])
    if not rows:
        return "_Nothing measured._"
    headers = ["Variant", "Load", "$ / 1M output tokens", "J / token", "KV peak tokens (% of capacity)",
               "GPU memory headroom", "Requests/s"]
    why = {2: "no price was set ([cost] gpu_hour_usd)", 3: "J/token needs a sampled NVIDIA GPU",
           4: "the engine exported no KV-cache gauge", 5: "memory headroom needs a sampled NVIDIA GPU"}
    empty = [i for i in why if all(r[i] == "—" for r in rows)]
    keep = [i for i in range(len(headers)) if i not in empty]
    text = table([headers[i] for i in keep], [[r[i] for i in keep] for r in rows],
                 right={n for n, i in enumerate(keep) if i >= 2})
    notes = list(dict.fromkeys(why[i] for i in empty))
    return text + (f"\n\n<sub>Not shown: {esc('; '.join(notes))}.</sub>" if notes else "")


def _pareto(res: dict, w: dict, chart: str | None) -> list[str]:
    """The Pareto frontiers of a workload's cells: the linked SVG and, per axis pair, the
    frontier and the dominated cells (``derive.pareto``)."""
    from iejtui.derive.pareto import AXIS_TITLES, frontiers
    from iejtui.matrix.charts import pareto_points
    fronts = frontiers(pareto_points(res["groups"], w["name"]))
    if not fronts:
        return []
    out = ["**Pareto frontiers** (a cell is dominated when another has at least its throughput and at most its "
           "latency or cost, better on one; dominated cells stay off the frontier):", ""]
    if chart:
        out += [f"![Pareto frontiers of workload {esc(w['name'])}, dominated cells as grey crosses]({chart})", ""]
    rows = [[esc(f"{AXIS_TITLES[f.x_key]} vs {AXIS_TITLES[f.y_key]}"),
             ", ".join(code(p.label, table=True) for p in f.front),
             ", ".join(f"{code(p.label, table=True)} (by {code(p.dominated_by, table=True)})" for p in f.dominated)
             or "none"] for f in fronts]
    return out + [table(["Axes", "Frontier (by throughput)", "Dominated"], rows), ""]


def _workload_section(res: dict, w: dict, charts: dict[str, str],
                      paretos: dict[str, str] | None = None) -> list[str]:
    out = [f"## Workload {code(w['name'])}: {esc(w['shape'])}, {w['num_prompts']} prompts", ""]
    if w.get("description"):
        out += [esc(w["description"]), ""]
    if charts.get(w["name"]):
        out += [f"![Throughput against TTFT and TPOT per variant, workload {esc(w['name'])}]({charts[w['name']]})", ""]
    out += ["**Output throughput (tokens/s)**", "",
            _grid(res, w, lambda g: _cell(g, "output_tok_s"), lambda g: _ms(g, "output_tok_s"), True), "",
            "**TTFT p50 / p99 (ms)**", "",
            _grid(res, w, lambda g: _pair(g, "ttft_p50_ms", "ttft_p99_ms"), lambda g: _ms(g, "ttft_p50_ms"), False), "",
            "**TPOT p50 / p99 (ms)**", "",
            _grid(res, w, lambda g: _pair(g, "tpot_p50_ms", "tpot_p99_ms"), lambda g: _ms(g, "tpot_p50_ms"), False), "",
            _BEST_NOTE, ""]
    for s in res["slos"]:
        out += [f"**Goodput under SLO {code(s['name'])} (requests/s meeting it, and the share of requests)**", "",
                _grid(res, w, lambda g, n=s["name"]: f"{_n(g['goodput'].get(n), 2)} ({_n(g['attainment_pct'].get(n), 0)} %)",
                      lambda g, n=s["name"]: (g["goodput"].get(n), (g.get("goodput_sd") or {}).get(n)), True),
                ""]
    out += _pareto(res, w, (paretos or {}).get(w["name"]))
    out += ["**Cost, energy and memory**", "", _efficiency(res, w), ""]
    return out


def _problems(res: dict) -> list[str]:
    out = []
    failed = [v for v in res["variants"] if v["status"] == "failed"]
    bad_cells = [c for c in res["cells"] if c["status"] == "failed"]
    partial = [c for c in res["cells"] if c["status"] == "done" and (c.get("figures") or {}).get("failed")]
    invalid = [c for c in res["cells"] if c.get("validity") and not c["validity"].get("valid", True)]
    if not failed and not bad_cells and not partial and not invalid:
        return []
    out += ["## What failed (or cannot be trusted)", ""]
    for v in failed:
        out.append(f"- Variant {code(v['name'])} ({code(shlex.join(v['args']))}): {esc(v['reason'], limit=300)}"
                   + (f" — engine run r{v['engine_run']}" if v.get("engine_run") else ""))
        if v.get("log_tail"):
            out += ["", "  Last lines of its log:", ""]
            out += ["  " + ln for ln in fence(v["log_tail"], "text").splitlines()]
    for c in bad_cells:
        out.append(f"- Cell {code(c['key'])}: {esc(c.get('reason'), limit=300)}"
                   + (f" (bench run r{c['run_id']})" if c.get("run_id") else ""))
    for c in partial:
        f = c["figures"]
        out.append(f"- Cell {code(c['key'])}: {f['failed']:.0f} of {f['failed'] + (f.get('completed') or 0):.0f} "
                   f"requests failed (bench run r{c['run_id']}); its figures count the successful ones")
    for c in invalid:
        out.append(f"- Cell {code(c['key'])} ⚠ is invalid (bench run r{c['run_id']}): "
                   + esc("; ".join(c["validity"]["invalid_reasons"]), limit=400) + "; it is never called best")
    return out + [""]


def wrap_command(argv: list[str], width: int = 90) -> str:
    """A shell command on several lines (``\\`` continuations), each flag with its values."""
    groups: list[list[str]] = []
    for a in argv:
        if a.startswith("-") or not groups or (groups[-1] and not groups[-1][0].startswith("-")):
            groups.append([a])
        else:
            groups[-1].append(a)
    lines, cur = [], ""
    for g in groups:
        part = shlex.join(g)
        if cur and len(cur) + 1 + len(part) > width:
            lines.append(cur)
            cur = "  " + part
        else:
            cur = f"{cur} {part}" if cur else part
    return " \\\n".join([*lines, cur])


def _reproduce(res: dict) -> list[str]:
    out = ["## Reproduce", "", "The whole grid (the service runs it; it resumes where it stopped if interrupted):", "",
           fence(f"iejtui matrix run {shlex.quote(res.get('file_rel') or res['file'])}", "sh"), "",
           "Engine command line of each variant (secrets masked as `***`):", ""]
    for v in res["variants"]:
        envs = " ".join(f"{k}={shlex.quote(str(x))}" for k, x in sorted((v.get("engine_env") or {}).items()))
        out += [f"{code(v['name'])}:", "", fence((envs + " \\\n  " if envs else "") + wrap_command(v["argv"]), "sh"), ""]
    if res.get("example_bench_argv"):
        first = res["variants"][0]["name"]
        out += ["Benchmark of one cell (the others differ in their load point and workload flags):", "",
                fence(wrap_command(["iejtui", "bench", "--engine", f"{res['name']}.{first}",
                                    *res["example_bench_argv"]]), "sh"), ""]
    return out


def _method(res: dict) -> list[str]:
    runs = sorted(c["run_id"] for c in res["cells"] if c.get("run_id") and c["status"] == "done")
    return ["## How the figures were measured", "",
            "- Each cell is one benchmark run (`iejtui bench`, `vllm bench serve` flags and metric definitions) "
            "against a freshly started engine of its variant; the cells of a variant share its engine.",
            "- Throughput, TTFT and TPOT come from the client's own timing of every request; p50/p99 are over the "
            "successful requests of a run, then averaged over the repetitions (± the standard deviation).",
            "- Goodput: requests meeting every limit of the SLO, per second of the run (vLLM's definition).",
            "- $ / 1M output tokens = hour price × run duration / output tokens: the machine (or its GPUs used) "
            "doing nothing else at that load point.",
            "- J / token: GPU energy over the run (NVML counter) / output tokens; KV peak: the engine's KV-cache "
            "usage gauge (sampled once a second) × its KV capacity; GPU memory headroom: total − peak used.",
            f"- Every figure, every request and the engine's samples are in `journal.db` (matrix run "
            f"r{res['matrix_run']}, bench runs {', '.join(f'r{r}' for r in runs[:3])}"
            f"{'…' if len(runs) > 3 else ''}); `results.json` beside this file holds each cell's full result.", ""]


def render_readme(res: dict[str, Any], charts: dict[str, str], paretos: dict[str, str] | None = None) -> str:
    """The README.md text; ``charts`` (throughput curves) and ``paretos`` (Pareto
    frontiers) map workload name → SVG file name beside it."""
    nv, nw = len(res["variants"]), len(res["workloads"])
    nl = len({lp for w in res["workloads"] for lp in w["loads"]})
    out = [f"# {esc(res['name'])}: benchmark matrix", ""]
    if res.get("description"):
        out += [esc(res["description"]), ""]
    out += [f"{nv} engine variant{'s' * (nv != 1)} × {nw} workload{'s' * (nw != 1)} × {nl} load point"
            f"{'s' * (nl != 1)} × {res['repetitions']} repetition{'s' * (res['repetitions'] != 1)} on "
            f"{esc(res['hardware']['label'])}. {_headline(res)}", "",
            "## Results at a glance", "", _summary(res), "",
            "## Setup", "", _setup(res), "", "### Variants", "", _variants(res), "",
            "### Workloads", "", _workloads(res), ""]
    for w in res["workloads"]:
        out += _workload_section(res, w, charts, paretos)
    out += _problems(res)
    out += _reproduce(res)
    out += _method(res)
    return "\n".join(out)


def headline(res: dict[str, Any]) -> str:
    """One line for benchmarks/README.md."""
    tops = [b for b in res["best"] if b["slo"] is None and b["variant"]]
    bits = [f"{b['workload']}: {b['variant']} {b['output_tok_s']:,.0f} tok/s at {b['load']}" for b in tops[:3]]
    c = res["counts"]
    bits.append(f"{c['done']}/{sum(c.values())} cells")
    failed = [v["name"] for v in res["variants"] if v["status"] == "failed"]
    if failed:
        bits.append(f"{len(failed)} variant(s) failed")
    return "; ".join(bits)
