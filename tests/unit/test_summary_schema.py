"""The one summary (iejtui.summary.run_summary): its sections per run kind, what `runs show`
prints of it, and the bench figures as the load generator computes them, edges included.

Journals are the synthetic ones of test_journal_synth (real SQLite, real CLI subprocesses)."""

from __future__ import annotations

import json
import time

import pytest

from helpers import cli, cli_json
from test_journal_synth import seed_journal

from collectors.loadgen.client import RequestRecord
from collectors.loadgen.metrics import calculate_metrics, percentile, stored_request_figures
from iejtui.journal.metrics import SCHEMA_VERSION
from iejtui.store import Reader
from iejtui.summary import SUMMARY_SCHEMA_VERSION, run_summary


@pytest.fixture(scope="module")
def journal(tmp_path_factory):
    root = tmp_path_factory.mktemp("summary")
    ids = seed_journal(root, runs=1, seconds=120)
    return root, ids


def _rows(text: str, section: str) -> dict[str, str]:
    """``runs show``'s rows under ``section`` (label → value)."""
    lines = text.splitlines()
    start = lines.index(f"    {section}")
    out = {}
    for ln in lines[start + 1:]:
        if not ln.startswith("      "):
            break
        label, _, value = ln.strip().partition("  ")
        out[label.strip()] = value.strip()
    return out


def test_schema_version_is_one_for_summary_and_metrics_json():
    assert SUMMARY_SCHEMA_VERSION == SCHEMA_VERSION == 2


def test_sections_by_run_kind(journal):
    root, ids = journal
    reader = Reader(root / "journal.db")
    eng = run_summary(reader, reader.run(ids["engines"][0]))
    bench = run_summary(reader, reader.run(ids["bench"]))
    rec = run_summary(reader, reader.run(ids["gpu"]))
    assert set(eng) == {"engine", "gpu"} and set(bench) == {"bench", "gpu"} and set(rec) == {"gpu"}
    e = eng["engine"]
    # the concurrency reached: the stored running gauge's peak and mean over the window
    (running,) = reader.series(ids["engines"][0], "vllm:num_requests_running")
    inside = [v for t, v in zip(running.ts, running.values) if e["window"][0] <= t <= e["window"][1]]
    assert e["concurrency"]["running_peak"] == max(inside) > 0
    assert e["concurrency"]["running_mean"] == pytest.approx(sum(inside) / len(inside))
    assert e["concurrency"]["waiting_peak"] == e["concurrency"]["waiting_mean"] == 0
    tp = e["throughput"]
    assert tp["generation_tok_s_peak"] > tp["generation_tok_s_mean_busy"] > 0 and tp["generation_tok_s_mean"] > 0
    assert tp["generation_tok_s_mean"] == pytest.approx(e["tokens"]["generated"] / (e["window"][1] - e["window"][0]))
    assert "preemptions" in e and e["preemptions"] is None  # the synthetic engine exports no preemption counter
    # a record run: its GPU figures and energy
    g = rec["gpu"]
    assert g["count"] == 1 and g["energy_j"] > 0 and g["sm_active_pct"]["peak"] > 0 and g["power_w"]["mean"] > 0
    assert g["joules_per_token"] is None  # a recording generates no token
    assert eng["gpu"]["joules_per_token"] == pytest.approx(eng["gpu"]["energy_j"] / e["tokens"]["generated"])
    # the client-vs-server block sits under its reserved keys (iejtui.bench_sections)
    assert {"server", "verdict", "steady"} <= set(bench["bench"])


def test_runs_show_text_of_a_record_run_is_not_empty(journal):
    root, ids = journal
    p = cli(root, "runs", "show", str(ids["gpu"]))
    assert p.returncode == 0, p.stderr
    rows = _rows(p.stdout, "gpu")
    assert rows["GPUs"] == "1 × NVIDIA H100 80GB HBM3"
    s = cli_json(root, "runs", "show", str(ids["gpu"]))["summary"]["gpu"]
    assert rows["SM-active peak / mean"] == f"{s['sm_active_pct']['peak']:.0f} / {s['sm_active_pct']['mean']:.0f} %"
    assert rows["energy"].startswith(f"{s['energy_j']:,.0f} J")


def test_runs_show_text_prints_engine_and_bench_sections(journal):
    root, ids = journal
    p = cli(root, "runs", "show", str(ids["engines"][0]))
    assert p.returncode == 0, p.stderr
    rows = _rows(p.stdout, "engine")
    for label in ("tokens gen / prompt", "gen tok/s peak / mean", "running peak / mean", "waiting peak / mean",
                  "preemptions", "KV peak", "TTFT p50/p90/p99", "ITL p50/p90/p99"):
        assert label in rows, (label, p.stdout)
    c = cli_json(root, "runs", "show", str(ids["engines"][0]))["summary"]["engine"]["concurrency"]
    assert rows["running peak / mean"] == f"{c['running_peak']:.0f} / {c['running_mean']:.1f}"
    assert "not measured" in _rows(p.stdout, "gpu").get("GPU", "") or _rows(p.stdout, "gpu")["GPUs"]
    p = cli(root, "runs", "show", str(ids["bench"]))
    rows = _rows(p.stdout, "benchmark (client side)")
    assert rows["requests ok / failed"] == "40 / 0" and rows["tokens out / in"] == "2,560 / 20,480"
    assert rows["duration"].endswith("(span of the requests)")  # the synthetic bench stored no result


def test_counting_from_attach_is_printed(tmp_path):
    from iejtui.journal.init import init_journal
    from iejtui.store.writer import Writer
    init_journal(tmp_path)
    w = Writer(tmp_path / "journal.db")
    at = time.time() - 100
    rid = w.create_run(kind="engine", name="watched", engine_kind="vllm", status="stopped", url="http://127.0.0.1:9",
                       started_at=at - 1, ended_at=at + 60, facts={"counting_from": at})
    w.close()
    hhmmss = time.strftime("%H:%M:%S", time.localtime(at))
    p = cli(tmp_path, "runs", "show", str(rid))
    assert p.returncode == 0, p.stderr
    assert f"counting from attach at {hhmmss}" in p.stdout
    assert cli_json(tmp_path, "runs", "show", str(rid))["summary"]["engine"]["counting_from"] == at
    p = cli(tmp_path, "export", "--run", str(rid))
    assert p.returncode == 0, p.stderr
    assert f"| Counting | counting from attach at {hhmmss} |" in p.stdout


# ---- bench figures: the load generator's own functions, edges included --------------------

def _row(i, t, ttft, chunks, ok=True, out=None, error=None):
    return {"idx": i, "t_sent": t, "ttft": ttft if ok else None, "e2el": chunks[-1] if ok and chunks else None,
            "prompt_tokens": 10, "output_tokens": len(chunks) if out is None else out, "ok": int(ok),
            "error": error, "chunk_times": chunks}


def test_stored_figures_are_calculate_metrics():
    t0 = 1_750_000_000.0
    rows = [_row(i, t0 + 0.3 * i, 0.05 + 0.01 * i, [0.05 + 0.01 * i + 0.02 * j for j in range(8)]) for i in range(9)]
    f = stored_request_figures(rows, duration_s=4.0, goodput_req_s=1.5)
    recs = [RequestRecord(index=i, send_time=0.3 * i, success=True, ttft=r["ttft"], latency=r["e2el"],
                          chunk_times=[0.3 * i + c for c in r["chunk_times"]], output_tokens=8, prompt_len=10)
            for i, r in enumerate(rows)]
    m = calculate_metrics(recs, 4.0, (50, 90, 99), {})
    ttfts = sorted(r["ttft"] for r in rows)
    assert f["latency_s"]["ttft"]["p99"] == pytest.approx(percentile(ttfts, 99))
    assert f["latency_s"]["ttft"]["p50"] == pytest.approx(m.ttft.percentiles[0][1] / 1000)
    assert f["latency_s"]["itl"]["count"] == 9 * 7 and f["latency_s"]["itl"]["p50"] == pytest.approx(0.02, abs=1e-6)
    assert f["latency_s"]["tpot"]["count"] == 9
    assert f["throughput"]["output_tok_s"] == pytest.approx(72 / 4.0)  # the benchmark's own duration
    assert f["throughput"]["goodput_req_s"] == 1.5 and f["duration_from"] == "bench"
    assert f["throughput"]["concurrency_peak"] == m.max_concurrent_requests
    assert f["requests"] == {"total": 9, "ok": 9, "failed": 0} and f["errors"] == {}


def test_stored_figures_at_the_edges():
    empty = stored_request_figures([])
    assert empty["requests"] is None and empty["duration_s"] is None
    assert empty["latency_s"]["ttft"] == {"p50": None, "p90": None, "p99": None, "mean": None, "count": 0.0}
    assert set(empty["throughput"].values()) == {None}
    t0 = 1_750_000_000.0
    failed = [_row(0, t0, 0, [], ok=False, error="timeout: read timed out"),
              _row(1, t0 + 1, 0, [], ok=False, error="http: 500")]
    f = stored_request_figures(failed)
    assert f["requests"] == {"total": 2, "ok": 0, "failed": 2} and f["errors"] == {"timeout": 1, "http": 1}
    assert f["latency_s"]["e2e"]["count"] == 0 and f["latency_s"]["e2e"]["p50"] is None  # not vLLM's 0 ms
    assert f["throughput"]["output_tok_s"] is None and f["tokens"]["generated"] == 0
    # no result duration: the span of the requests (first send to last completion)
    one = [_row(0, t0, 0.1, [0.1, 0.2]), _row(1, t0 + 1.0, 0.1, [0.1, 0.5])]
    f = stored_request_figures(one)
    assert f["duration_from"] == "requests" and f["duration_s"] == pytest.approx(1.5)
    # a request the server sent no usage for counts one token, as calculate_metrics does
    f = stored_request_figures([_row(0, t0, 0.1, [0.1, 0.2], out=0)])
    assert f["tokens"]["generated"] == 1 and f["latency_s"]["tpot"]["count"] == 0


def test_metrics_json_entry_holds_the_summary_sections(journal):
    root, ids = journal
    from iejtui.journal.metrics import run_metrics
    reader = Reader(root / "journal.db")
    for rid in (ids["engines"][0], ids["bench"], ids["gpu"]):
        run = reader.run(rid)
        s, e = run_summary(reader, run), run_metrics(reader, run)
        assert {k: e[k] for k in s} == json.loads(json.dumps(s))


def test_the_run_views_line_prints_the_summarys_numbers(journal):
    from iejtui.summary_text import summary_line
    root, ids = journal
    reader = Reader(root / "journal.db")
    s = run_summary(reader, reader.run(ids["engines"][0]))
    e = s["engine"]
    line = summary_line(s)
    assert f"{e['tokens']['generated']:,.0f} tok out" in line
    assert f"{e['throughput']['generation_tok_s_peak']:,.1f} tok/s peak" in line
    assert f"running ≤{e['concurrency']['running_peak']:,.0f}" in line
    ttft = e["latency_s"]["ttft"]
    assert f"TTFT p50/p99 {ttft['p50'] * 1000:,.0f}/{ttft['p99'] * 1000:,.0f} ms" in line
    rec = summary_line(run_summary(reader, reader.run(ids["gpu"])))
    assert rec.startswith("SM-active peak ") and " J" in rec and "not measured" not in rec
