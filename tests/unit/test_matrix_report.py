"""README comparison tables, charts, and `iejtui compare` across machines (pure, synthetic results)."""

from __future__ import annotations

import json

import pytest

from iejtui.errors import UserError
from iejtui.matrix import compare
from iejtui.matrix.charts import render_workload_svg
from iejtui.matrix.figures import aggregate, best_per_slo
from iejtui.matrix.report import render_readme, wrap_command
from iejtui.matrix.results import SCHEMA

SLOS = [{"name": "chat", "ttft_ms": 200.0, "tpot_ms": 50.0, "e2el_ms": None}]


def results(name="seqs", hw=None, speed=1.0, failed_variant=True, state="done"):
    hw = hw or {"host": "gpu-a", "gpu_count": 1, "gpu_model": "NVIDIA H100 80GB HBM3", "driver": "580.1",
                "cuda": "13.0", "cpu": "Xeon", "cpu_cores": 32, "memory_bytes": 2 ** 40,
                "gpus": [{"memory_total": 85e9}], "label": "1 × NVIDIA H100 80GB HBM3"}
    cells = []
    for v, base in (("seqs8", 100.0), ("seqs64", 160.0)):
        for lp, mult in (("c4", 1.0), ("c16", 2.5)):
            for rep in (1, 2):
                tok = base * mult * speed + rep
                cells.append({"key": f"{v}/short/{lp}/{rep}", "variant": v, "workload": "short", "load": lp,
                              "rep": rep, "status": "done", "run_id": len(cells) + 10,
                              "figures": {"output_tok_s": tok, "ttft_p50_ms": 50 * mult, "ttft_p99_ms": 90 * mult,
                                          "tpot_p50_ms": 20 * mult, "tpot_p99_ms": 30 * mult, "request_s": tok / 64,
                                          "usd_per_1m_output": 2.5 / (tok * 3600) * 1e6,
                                          "joules_per_token": 700 / tok, "kv_peak_tokens": 1000 * mult,
                                          "kv_peak_pct": 2.0 * mult, "mem_headroom_bytes": 4e9,
                                          "mem_headroom_pct": 5.0,
                                          "goodput": {"chat": tok / 64 if mult == 1.0 else 0.0},
                                          "attainment_pct": {"chat": 100.0 if mult == 1.0 else 0.0}}})
    variants = [{"name": "seqs8", "args": ["--max-num-seqs", "8"], "env": {}, "argv": ["vllm", "serve", "m"],
                 "engine_env": {}, "status": "done", "reason": None, "engine_run": 2, "startup_s": 41.0,
                 "kv_capacity_tokens": 50000},
                {"name": "seqs64", "args": ["--max-num-seqs", "64"], "env": {"VLLM_X": "1"},
                 "argv": ["vllm", "serve", "m"], "engine_env": {"VLLM_X": "1"}, "status": "done", "reason": None,
                 "engine_run": 3, "startup_s": 43.0, "kv_capacity_tokens": 50000}]
    if failed_variant:
        variants.append({"name": "broken", "args": ["--dtype", "nonsense"], "env": {}, "argv": ["vllm"],
                         "engine_env": {}, "status": "failed", "engine_run": 4, "startup_s": None,
                         "reason": "exited with code 2: <b>invalid</b> choice | 'nonsense'",
                         "log_tail": "usage: vllm serve\nerror: argument --dtype: invalid choice: 'nonsense'"})
        for lp in ("c4", "c16"):
            for rep in (1, 2):
                cells.append({"key": f"broken/short/{lp}/{rep}", "variant": "broken", "workload": "short",
                              "load": lp, "rep": rep, "status": "skipped", "reason": "variant failed"})
    groups = aggregate(cells, SLOS)
    return {"schema": SCHEMA, "name": name, "description": "Does <max-num-seqs> matter? *yes*", "file": "/j/m.toml",
            "file_rel": "benchmarks/matrices/m.toml", "matrix_run": 1, "state": state, "reason": None,
            "started_at": 1_700_000_000.0, "ended_at": 1_700_000_600.0 if state != "running" else None,
            "date": "2023-11-14", "hardware": hw, "versions": {"engine": "0.32.0", "iejtui": "0.1.0", "python": "3.11"},
            "engine": {"profile": "tiny", "kind": "vllm", "argv": ["vllm", "serve", "m"], "env": {}, "model": "tiny"},
            "cost": {"hour_usd": 2.5, "basis": "1 × $2.5/GPU-hour (gpu_hour_usd in the matrix file)"},
            "slos": SLOS, "repetitions": 2, "warmups": 0,
            "workloads": [{"name": "short", "dataset": "random", "input_len": 128, "output_len": 64, "num_prompts": 48,
                           "shape": "random, 128 in / 64 out", "loads": ["c4", "c16"],
                           "load_titles": ["concurrency 4", "concurrency 16"]}],
            "variants": variants, "cells": cells, "groups": groups, "best": best_per_slo(groups, SLOS),
            "counts": {s: sum(1 for c in cells if c["status"] == s) for s in
                       ("done", "failed", "skipped", "pending", "running")},
            "example_bench_argv": ["--num-prompts", "48", "--max-concurrency", "4"]}


def section(text: str, title: str) -> str:
    return text.split(title, 1)[1].split("\n\n**", 1)[0] if title in text else ""


def test_readme_reads_as_a_report():
    md = render_readme(results(), {"short": "chart-short.svg"})
    assert md.startswith("# seqs: benchmark matrix")
    assert "3 engine variants × 1 workload × 2 load points × 2 repetitions on 1 × NVIDIA H100 80GB HBM3" in md
    assert "Finished: started" in md and "took 10m00s; 8 of 12 cells measured, 4 skipped" in md
    assert "![Throughput against TTFT and TPOT" in md and "(chart-short.svg)" in md
    thr = section(md, "**Output throughput (tokens/s)**")
    assert "| Variant | concurrency 4 | concurrency 16 |" in thr
    assert "| `seqs64` | **161.5 ± 0.7** | **401.5 ± 0.7** |" in thr       # best of each column in bold
    assert "| `broken` | skipped | skipped |" in thr
    ttft = section(md, "**TTFT p50 / p99 (ms)**")
    assert "50.0 / 90.0" in ttft and "125.0 / 225.0" in ttft
    assert "**Goodput under SLO `chat`" in md
    # the summary names the best variant overall and per SLO
    summary = md.split("## Results at a glance", 1)[1].split("## Setup", 1)[0]
    assert "highest output throughput | **`seqs64`** | concurrency 16" in summary
    assert "most goodput under SLO `chat` (TTFT ≤ 200 ms, TPOT ≤ 50 ms) | **`seqs64`** | concurrency 4" in summary
    assert "$ / 1M output tokens" in md and "J / token" in md and "KV peak tokens" in md
    assert "## What failed" in md and "--dtype nonsense" in md and "error: argument --dtype" in md
    assert "iejtui matrix run benchmarks/matrices/m.toml" in md
    # outside text cannot inject markup
    assert "<b>" not in md and "<max-num-seqs>" not in md and "&lt;b&gt;invalid&lt;/b&gt; choice \\| " in md


def test_readme_in_progress_and_cpu_only_columns():
    res = results(state="running", hw={"host": "cpu-box", "gpu_count": 0, "cpu": "AMD EPYC", "cpu_cores": 2,
                                       "label": "CPU: AMD EPYC (2 cores)"})
    for c in res["cells"]:
        if c.get("figures"):
            c["figures"].update(joules_per_token=None, mem_headroom_bytes=None, mem_headroom_pct=None)
    res["groups"] = aggregate(res["cells"], SLOS)
    md = render_readme(res, {})
    assert "**In progress**" in md and "none recorded (a CPU run)" in md and "![" not in md
    eff = md.split("**Cost, energy and memory**", 1)[1].split("##", 1)[0]
    assert "J / token" not in eff and "GPU memory headroom" not in eff and "$ / 1M output tokens" in eff
    assert "Not shown: J/token needs a sampled NVIDIA GPU" in eff


def test_chart_svg_has_a_curve_per_variant():
    res = results()
    svg = render_workload_svg("seqs · short", res["groups"], "short", ["c4", "c16"])
    assert svg.startswith("<?xml") and "seqs64" in svg and "seqs8" in svg and "TTFT p50" in svg
    assert render_workload_svg("x", [], "short", ["c4"]) is None


def test_wrap_command_keeps_flags_with_their_values():
    text = wrap_command(["vllm", "serve", "/models/a-long-model-name", "--max-num-seqs", "8", "--goodput",
                         "ttft:200", "tpot:50", "--label", "x" * 40], width=40)
    lines = text.split(" \\\n")
    assert len(lines) > 2 and any(ln.strip() == "--goodput ttft:200 tpot:50" for ln in lines)


def write_entry(root, name, doc):
    d = root / "benchmarks" / name
    d.mkdir(parents=True)
    (d / "results.json").write_text(json.dumps(doc))


def test_compare_puts_the_same_workload_side_by_side_by_hardware(tmp_path):
    write_entry(tmp_path, "seqs-h100", results("seqs"))
    l4 = {"host": "gpu-b", "gpu_count": 1, "gpu_model": "NVIDIA L4", "label": "1 × NVIDIA L4"}
    other = results("seqs", hw=l4, speed=0.25, failed_variant=False)
    other["workloads"][0]["name"] = "chat-short"  # another name, the same shape
    for key in ("cells", "groups", "best"):
        for c in other[key]:
            c["workload"] = "chat-short"
    write_entry(tmp_path, "seqs-l4", other)
    (tmp_path / "benchmarks" / "single").mkdir()
    (tmp_path / "benchmarks" / "single" / "results.json").write_text(json.dumps({"schema": "iejtui.benchmark"}))
    docs, notes = compare.load_entries(tmp_path)
    assert [d["entry"] for d in docs] == ["seqs-h100", "seqs-l4"] and "single" in notes[0]
    rows = compare.rows(docs)
    assert {r["hardware"] for r in rows} == {"1 × NVIDIA H100 80GB HBM3", "1 × NVIDIA L4"}
    assert {r["workload_key"] for r in rows} == {"random 128/64"}
    md = compare.render(docs, notes=notes)
    assert md.count("## Workloads `short`, `chat-short`: random, 128 in / 64 out") == 1
    assert "Variants that failed: `broken` on 1 × NVIDIA H100 80GB HBM3 (`seqs-h100`)" in md
    pivot = md.split("**Output tok/s (TTFT p50)**", 1)[1].split("\n\n", 2)[1]
    head = pivot.splitlines()[0]
    assert "1 × NVIDIA H100 80GB HBM3 · `seqs64`" in head and "1 × NVIDIA L4 · `seqs8`" in head
    c16 = next(ln for ln in pivot.splitlines() if ln.startswith("| c16 |"))
    assert "**401.5 (125 ms)**" in c16 and "101.5 (125 ms)" in c16
    assert compare.rows(docs, "chat-short") and all(r["entry"] == "seqs-l4" for r in compare.rows(docs, "chat-short"))
    with pytest.raises(UserError):
        compare.render(docs, "nope")
    with pytest.raises(UserError):
        compare.load_entries(tmp_path, ["ghost"])


def test_best_is_bold_only_when_its_interval_clears_the_runner_up():
    """Issue 16's case: 1,819 ± 681 vs 1,374 ± 1,036 tok/s over 3 repetitions is a tie."""
    res = results()
    for g in res["groups"]:
        if g["load"] == "c16" and g["variant"] in ("seqs8", "seqs64"):
            g.update(n=3, output_tok_s=1819.0 if g["variant"] == "seqs64" else 1374.0,
                     output_tok_s_sd=681.0 if g["variant"] == "seqs64" else 1036.0)
    md = render_readme(res, {})
    thr = section(md, "**Output throughput (tokens/s)**")
    assert "| `seqs64` | **161.5 ± 0.7** | 1,819.0 ± 681.0 (tie) |" in thr
    assert "| `seqs8` | 101.5 ± 0.7 | 1,374.0 ± 1,036.0 (tie) |" in thr
    assert "Welch 95 % interval" in md
    one = results()
    for g in one["groups"]:
        g.update(n=1, output_tok_s_sd=None)
    assert "**" not in section(render_readme(one, {}), "**Output throughput (tokens/s)**").split("|", 1)[1]


def test_pareto_svg_marks_dominated_cells_and_the_readme_links_it():
    """The Pareto SVG of a matrix marks dominated cells; the README links it (not inline) and
    names the frontier and the dominated cells. (The written entry: test_matrix_service.py.)"""
    from iejtui.matrix.charts import render_pareto_svg
    res = results()  # seqs8 · c16: less throughput than seqs64 · c16 at the same latency
    svg = render_pareto_svg("seqs · short: Pareto frontiers", res["groups"], "short")
    assert svg.startswith("<?xml") and 'id="dominated-' in svg and 'id="frontier-' in svg
    assert "seqs8 · c16 (dominated)" in svg and "TTFT p99 (ms)" in svg and "$ per 1M output tokens" in svg
    assert render_pareto_svg("x", res["groups"], "nope") is None
    md = render_readme(res, {}, {"short": "pareto-short.svg"})
    assert "](pareto-short.svg)" in md and "<svg" not in md
    pareto = md.split("**Pareto frontiers**", 1)[1].split("**Cost", 1)[0]
    row = next(ln for ln in pareto.splitlines() if ln.startswith("| output throughput (tok/s) vs TTFT p99"))
    assert "`seqs8 · c16` (by `seqs64 · c16`)" in row and "`seqs64 · c16`" in row.split("|")[2]
    assert "output throughput per GPU" not in pareto  # no cell recorded its GPUs used


def test_an_invalid_cell_is_marked_and_never_best():
    """The advisor's verdict on a cell's bench run: ⚠ in the grids, its reason under What
    failed, and it is left out of the contest for best."""
    res = results()
    for c in res["cells"]:
        if c["variant"] == "seqs64" and c["load"] == "c4" and c["rep"] == 2:
            c["validity"] = {"valid": False, "caveats": [],
                             "invalid_reasons": ["client-bound: the load generator, not the engine, set the pace"]}
    md = render_readme(res, {})
    thr = section(md, "**Output throughput (tokens/s)**")
    assert "| `seqs64` | 161.5 ± 0.7 ⚠ |" in thr  # no longer bold although it is the highest
    assert "| `seqs8` | 101.5 ± 0.7 |" in thr  # and one valid cell left has nothing to beat
    assert "| **401.5 ± 0.7** |" in thr  # the valid column keeps its best
    assert "seqs64/short/c4/2" in md and "client-bound: the load generator" in md
    assert "never called best" in md
