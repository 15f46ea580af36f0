"""One summary everywhere: for an engine run, a benchmark run and a record run, `runs show
--json`'s summary, the day's metrics.json and the markdown export agree figure by figure.

The engine is the session's real CPU vLLM (attached from a second journal whose service
samples the recorded real H100 trace through the NVML replay backend, so every run has
GPU figures and energy). The export's tables are parsed back: each printed number must be
the summary's figure rounded to the digits printed."""

from __future__ import annotations

import json
import math
import re
import time
from pathlib import Path

import pytest

from helpers import cli, cli_json, wait_for

pytestmark = pytest.mark.integration

TRACE = Path(__file__).resolve().parents[1] / "data" / "nvml-h100-trace.jsonl.gz"
REPLAY = {"IEJTUI_NVML_REPLAY": str(TRACE)}
NUM = re.compile(r"—|-?\d[\d,]*(?:\.\d+)?")
GIB = 1 / 2 ** 30


def _numbers(cell: str) -> list[tuple[float | None, int]]:
    """Each number printed in a cell with its decimals ("—": None)."""
    out = []
    for tok in NUM.findall(cell):
        if tok == "—":
            out.append((None, 0))
        else:
            out.append((float(tok.replace(",", "")), len(tok.split(".")[1]) if "." in tok else 0))
    return out


def _agree(label: str, cell: str, expected: list[float | None]) -> None:
    got = _numbers(cell)
    assert len(got) == len(expected), (label, cell, expected)
    for (value, digits), want in zip(got, expected):
        if want is None:
            assert value is None, (label, cell, expected)
        else:
            assert value is not None and abs(value - want) <= 0.5 * 10 ** -digits + 1e-9 * max(1.0, abs(want)), \
                (label, cell, expected)


def _tables(md: str, rid: int) -> dict[str, list[str]]:
    """Rows (first cell → the other cells) of every table in run ``rid``'s export section."""
    section = md.split(f"### r{rid} ", 1)[1].split("\n### ", 1)[0]
    rows = {}
    for ln in section.splitlines():
        if ln.startswith("|") and not set(ln) <= set("|-: "):
            cells = [c.strip() for c in ln.strip("|").split("|")]
            rows[cells[0]] = cells[1:]
    return rows


def _pm(d: dict, scale: float = 1.0) -> list[float | None]:
    return [None if d.get(k) is None else d[k] * scale for k in ("peak", "mean")]


def _check_gpu(rows: dict, g: dict) -> None:
    assert g["count"] == 1, g  # the replayed H100
    _agree("sm", rows["GPU SM-active peak / mean"][0], _pm(g["sm_active_pct"]))
    _agree("tensor", rows["GPU tensor-active peak / mean"][0], _pm(g["tensor_active_pct"]))
    _agree("kernel", rows["GPU kernel-active (NVML util) peak / mean"][0], _pm(g["kernel_active_pct"]))
    _agree("memory", rows["GPU memory used peak / mean"][0], _pm(g["memory_used_bytes"], GIB))
    _agree("power", rows["GPU power peak / mean"][0], _pm(g["power_w"]))
    _agree("energy", rows["Energy / per token"][0], [g["energy_j"], g["joules_per_token"]])


def _check_latency(rows: dict, lat: dict, keys: dict[str, str]) -> int:
    checked = 0
    for key, label in keys.items():
        d = lat[key]
        if not d.get("count"):
            continue
        cells = rows[label]
        for cell, k in zip(cells, ("p50", "p90", "p99", "mean")):
            _agree(f"{label} {k}", cell, [d[k] * 1000])
        _agree(f"{label} count", cells[4], [d["count"]])
        checked += 1
    return checked


def _check_engine(rows: dict, e: dict) -> None:
    tp, cc, kv = e["throughput"], e["concurrency"], e["kv"]
    _agree("tokens", rows["Tokens generated / prompt"][0], [e["tokens"]["generated"], e["tokens"]["prompt"]])
    _agree("gen tok/s", rows["Generation tok/s (peak 5 s / mean while busy)"][0],
           [tp["generation_tok_s_peak"], tp["generation_tok_s_mean_busy"]])
    _agree("gen mean", rows["Generation tok/s (mean over the run)"][0], [tp["generation_tok_s_mean"]])
    _agree("finished", rows["Requests finished (req/s)"][0], [tp["requests_finished"], tp["requests_per_s"]])
    _agree("running", rows["Running requests peak / mean"][0], [cc["running_peak"], cc["running_mean"]])
    _agree("waiting", rows["Waiting requests peak / mean"][0], [cc["waiting_peak"], cc["waiting_mean"]])
    _agree("preemptions", rows["Preemptions"][0], [e["preemptions"]])
    _agree("kv", rows["KV cache peak"][0], [kv["peak_pct"], kv["peak_tokens"], kv["capacity_tokens"]])
    _agree("prefix", rows["Prefix-cache hit"][0], [e["prefix_cache_hit_pct"]])
    # the bench's 16 requests all finished (the running gauge is sampled at 1 Hz: on a fast box
    # a 16-request bench can fall between two scrapes, so its peak is not asserted here)
    assert tp["requests_finished"] >= 16
    n = _check_latency(rows, e["latency_s"], {"ttft": "TTFT", "itl": "ITL", "tpot": "TPOT", "e2e": "E2E latency",
                                              "queue": "Queue time"})
    assert n == 5, "vLLM reports every latency histogram"


def _check_bench(rows: dict, b: dict) -> None:
    tp, rq = b["throughput"], b["requests"]
    _agree("tokens", rows["Tokens generated / prompt"][0], [b["tokens"]["generated"], b["tokens"]["prompt"]])
    _agree("out tok/s", rows["Output tok/s (peak 1 s)"][0], [tp["output_tok_s"], tp["output_tok_s_peak"]])
    _agree("total tok/s", rows["Total tok/s"][0], [tp["total_tok_s"]])
    _agree("requests", rows["Requests ok / failed (req/s)"][0], [rq["ok"], rq["failed"], tp["requests_per_s"]])
    _agree("goodput", rows["Goodput (req/s)"][0], [tp["goodput_req_s"]])
    _agree("concurrency", rows["Peak concurrency"][0], [tp["concurrency_peak"]])
    _agree("duration", rows["Benchmark duration"][0], [b["duration_s"]])
    assert b["duration_from"] == "bench" and rq["ok"] > 0
    n = _check_latency(rows, b["latency_s"], {"ttft": "TTFT", "itl": "ITL", "tpot": "TPOT", "e2e": "E2E latency"})
    assert n == 4


def test_runs_show_metrics_json_and_export_agree(journal, shared_engine):
    assert cli(journal, "service", "start", env=REPLAY).returncode == 0
    assert cli(journal, "engine", "attach", "watched", shared_engine["url"]).returncode == 0
    wait_for(lambda: cli_json(journal, "engine", "list")[0]["status"] == "ready", 30, what="attached engine")
    p = cli(journal, "bench", "--engine", "watched", "--num-prompts", "16", "--max-concurrency", "4",
            "--random-input-len", "32", "--random-output-len", "24", "--ignore-eos", "--seed", "5", timeout=300)
    assert p.returncode == 0, p.stderr
    bench_id = int(p.stdout.split("benchmark run ")[1].split()[0])
    p = cli(journal, "record", "--duration", "6", "--name", "rec", timeout=120)
    assert p.returncode == 0, p.stderr
    rec_id = int(p.stdout.split("recorded run ")[1].split(":")[0])
    engine_id = cli_json(journal, "engine", "list")[0]["run_id"]
    time.sleep(2.0)
    assert cli(journal, "engine", "stop", "watched").returncode == 0
    wait_for(lambda: all(cli_json(journal, "runs", "show", str(r))["ended_at"] for r in (engine_id, bench_id, rec_id)),
             30, 0.5, "all three runs ended")
    time.sleep(2.0)  # the writer's last flush of samples inside the windows

    ids = [engine_id, bench_id, rec_id]
    p = cli(journal, "day", "new", "agree", *[a for r in ids for a in ("--run", str(r))])
    assert p.returncode == 0, p.stderr
    day_dir = next((journal / "days").glob("day-*-agree"))
    doc = json.loads((day_dir / "metrics.json").read_text())
    assert doc["schema_version"] == 2
    entries = {e["id"]: e for e in doc["runs"]}
    p = cli(journal, "export", "--day", day_dir.name.split("-")[1].lstrip("0"))
    assert p.returncode == 0, p.stderr
    md = p.stdout

    for rid, section in ((engine_id, "engine"), (bench_id, "bench"), (rec_id, None)):
        summary = cli_json(journal, "runs", "show", str(rid))["summary"]
        entry = entries[rid]
        # metrics.json holds runs show's sections, figure for figure
        assert set(summary) == ({section, "gpu"} if section else {"gpu"})
        for key, value in summary.items():
            assert entry[key] == value, (rid, key)
        rows = _tables(md, rid)
        _check_gpu(rows, summary["gpu"])
        if section == "engine":
            _check_engine(rows, summary["engine"])
        elif section == "bench":
            _check_bench(rows, summary["bench"])
            # the same figures the benchmark itself printed and stored (its result)
            res, b = entry["result"], summary["bench"]
            assert b["requests"]["ok"] == res["completed"] and b["requests"]["failed"] == res["failed"]
            assert b["tokens"]["generated"] == res["total_output_tokens"]
            assert b["duration_s"] == res["duration"]
            assert b["throughput"]["output_tok_s"] == pytest.approx(res["output_throughput"], rel=1e-12)
            for key in ("ttft", "tpot", "e2el"):
                if f"p99_{key}_ms" in res:
                    mine = b["latency_s"]["e2e" if key == "e2el" else key]
                    assert mine["p99"] * 1000 == pytest.approx(res[f"p99_{key}_ms"], rel=1e-9), key
                    assert mine["p50"] * 1000 == pytest.approx(res[f"median_{key}_ms"], rel=1e-9), key
        else:
            assert "Tokens generated / prompt" not in rows  # a recording: GPU figures and energy only
            assert summary["gpu"]["energy_j"] > 0 and not math.isnan(summary["gpu"]["energy_j"])
