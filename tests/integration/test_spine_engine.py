"""The spine against a real vLLM (CPU build): launched through the service, scraped,
loaded, stopped, killed, re-adopted. No mocks: real processes, real SQLite, real HTTP."""

from __future__ import annotations

import os
import signal
import statistics
import time

import psutil
import pytest

from helpers import add_profile, cli, cli_json, engine_profile, free_port, load_engine, wait_for
from iejtui.derive import counters
from iejtui.derive.histograms import bucket_bounds, merged_window_delta
from iejtui.derive.series import histogram_series
from iejtui.store import Reader
from iejtui.summary import store_getter

pytestmark = pytest.mark.integration


def test_engine_ready_is_listed_with_run(shared_engine):
    engines = cli_json(shared_engine["journal"], "engine", "list")
    (e,) = [e for e in engines if e["name"] == "tiny"]
    assert e["status"] == "ready" and e["kind"] == "vllm" and e["url"] == shared_engine["url"]
    assert psutil.pid_exists(e["pid"]) and e["run_id"] >= 1
    run = cli_json(shared_engine["journal"], "runs", "show", str(e["run_id"]))
    assert run["status"] == "ready" and run["model"] == "tiny"
    assert run["facts"]["kv_cache_tokens"] > 0  # parsed from the real startup log
    assert run["versions"]["engine"].startswith("0.32")


def test_stored_samples_agree_with_what_the_client_saw(shared_engine):
    journal, url = shared_engine["journal"], shared_engine["url"]
    run_id = cli_json(journal, "engine", "list")[0]["run_id"]
    # by duration: 12 s leaves ~9 s of 1 Hz scrapes strictly inside; a scrape or a client
    # chunk delayed ~0.4 s by a starved 2-core box then moves the rate by < 10 % (8 s did not)
    out = load_engine(url, n=None, concurrency=12, seconds=12)
    time.sleep(2.5)  # one more scrape after the last token, then the writer's flush
    reader = Reader(journal / "journal.db")
    (gen,) = reader.series(run_id, "vllm:generation_tokens_total")
    # Generation tokens rose at the rate the client observed (±10%), over the samples
    # taken strictly inside the load (steady state, no edge effects).
    inside = [(t, v) for t, v in zip(gen.ts, gen.values) if out["t0"] + 2 <= t <= out["t1"] - 1]
    assert len(inside) >= 4, f"too few samples inside the load window: {inside}"
    (ta, va), (tb, vb) = inside[0], inside[-1]
    server_rate = (vb - va) / (tb - ta)
    client_rate = sum(n for t, n in out["chunks"] if ta < t <= tb) / (tb - ta)
    assert server_rate == pytest.approx(client_rate, rel=0.10)
    # and in total, every token the client received was counted
    total = counters.increase(gen.ts, gen.values, out["t0"] - 3, out["t1"] + 3)
    assert total == pytest.approx(out["tokens"], rel=0.02)
    # KV usage > 0 while requests ran
    (kv,) = reader.series(run_id, "vllm:kv_cache_usage_perc", t0=out["t0"], t1=out["t1"])
    assert max(kv.values) > 0
    # The histogram-derived TTFT p50 lies in the bucket that holds the client's median TTFT
    get = store_getter(reader, run_id)
    hists = histogram_series(get, "vllm:time_to_first_token_seconds")
    d = merged_window_delta(list(hists.values()), out["t0"] - 3, out["t1"] + 3)
    assert d.count == pytest.approx(len(out["ttft"]))
    lo, hi = bucket_bounds(0.5, d.buckets)
    client_p50 = statistics.median(out["ttft"])
    # the client's TTFT includes the HTTP round trip the server does not see (a few ms)
    assert lo <= client_p50 <= hi + 0.010, (lo, hi, client_p50)


def test_runs_show_json_has_counts_and_summary(shared_engine):
    journal = shared_engine["journal"]
    run_id = cli_json(journal, "engine", "list")[0]["run_id"]
    show = cli_json(journal, "runs", "show", str(run_id))
    assert show["samples"]["engine"] > 5
    s = show["summary"]["engine"]
    assert s["tokens"]["generated"] > 0 and s["kv"]["capacity_tokens"] > 0 and s["kv"]["peak_pct"] > 0
    assert s["latency_s"]["ttft"]["count"] > 0 and s["latency_s"]["ttft"]["p50"] is not None


def _engine_journal(journal, name="eng", **kw):
    port = free_port()
    add_profile(journal, engine_profile(name, port, **kw))
    p = cli(journal, "engine", "start", name, "--wait", timeout=600)
    assert p.returncode == 0, p.stdout + p.stderr
    (e,) = [e for e in cli_json(journal, "engine", "list") if e["name"] == name]
    return e


def test_stop_leaves_no_process_of_the_group(journal, demo_engine):
    e = _engine_journal(journal)
    members = [p.pid for p in psutil.process_iter() if _pgid(p.pid) == e["pgid"]]
    assert e["pid"] in members and len(members) >= 2  # wrapper + API server (+ engine core)
    p = cli(journal, "engine", "stop", "eng")
    assert p.returncode == 0 and "stopped" in p.stdout
    assert not [p.pid for p in psutil.process_iter() if _pgid(p.pid) == e["pgid"]
                and p.status() != psutil.STATUS_ZOMBIE]
    run = cli_json(journal, "runs", "show", str(e["run_id"]))
    assert run["status"] == "stopped" and run["ended_at"] is not None


def _pgid(pid):
    try:
        return os.getpgid(pid)
    except ProcessLookupError:
        return None


def _bench(journal, n=2000):
    p = cli(journal, "bench", "--engine", "eng", "--detach", "--num-prompts", str(n), "--max-concurrency", "4",
            "--random-input-len", "32", "--random-output-len", "32", "--ignore-eos")
    assert p.returncode == 0, p.stderr
    return int(p.stdout.split("benchmark run ")[1].split()[0])


def test_service_killed_mid_recording_then_engine_killed_mid_benchmark(journal, demo_engine):
    e = _engine_journal(journal)
    db = journal / "journal.db"
    bench_a = _bench(journal)
    wait_for(lambda: len(Reader(db).requests(bench_a)) >= 4, 120, interval=0.5, what="some finished requests")
    # kill -9 the service mid-recording, with a benchmark running: the engine must survive it
    service_pid = int((journal / ".iejtui" / "service.pid").read_text())
    t_kill = time.time()
    os.kill(service_pid, signal.SIGKILL)
    wait_for(lambda: not psutil.pid_exists(service_pid) or
             psutil.Process(service_pid).status() == psutil.STATUS_ZOMBIE, 10, what="service death")
    assert psutil.pid_exists(e["pid"])
    reader = Reader(db)
    assert reader.conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    (gen,) = reader.series(e["run_id"], "vllm:generation_tokens_total")
    assert t_kill - gen.ts[-1] <= 2.0  # at most one writer batch (1 s) was lost
    kept = len(reader.requests(bench_a))
    before = reader.sample_counts(e["run_id"])["engine"]
    p = cli(journal, "service", "start")
    assert p.returncode == 0, p.stderr
    (again,) = cli_json(journal, "engine", "list")
    assert again["run_id"] == e["run_id"] and again["pid"] == e["pid"] and again["status"] == "ready"
    wait_for(lambda: Reader(db).sample_counts(e["run_id"])["engine"] >= before + 3, 15,
             what="recording to go on after re-adoption")
    assert "adopted" in [ev["kind"] for ev in Reader(db).events(e["run_id"])]
    run_a = Reader(db).run(bench_a)
    assert run_a["status"] == "interrupted" and "service" in run_a["reason"]
    assert len(Reader(db).requests(bench_a)) == kept >= 4  # completed requests kept
    # a new benchmark is running when the engine is killed -9
    bench_b = _bench(journal)
    wait_for(lambda: len(Reader(db).requests(bench_b)) >= 4, 120, interval=0.5, what="some finished requests")
    os.kill(e["pid"], signal.SIGKILL)
    t_kill = time.monotonic()
    run = wait_for(lambda: (r := Reader(db).run(e["run_id"]))["status"] == "crashed" and r, 5,
                   interval=0.05, what="the crash to be recorded")
    assert time.monotonic() - t_kill <= 2.0
    # the exit status comes from the engine's wrapper (at once, or moments later on a loaded box)
    run = wait_for(lambda: (r := Reader(db).run(e["run_id"]))["exit_code"] is not None and r, 10,
                   what="the exit status")
    assert run["exit_code"] == -9
    assert len(run["log_tail"].splitlines()) >= 10 and "/v1/completions" in run["log_tail"]  # its last words
    wait_for(lambda: not [p for p in psutil.process_iter() if _pgid(p.pid) == e["pgid"]
                          and p.status() != psutil.STATUS_ZOMBIE], 5, what="the engine's group to be gone")
    # the benchmark stopped with a clear reason and kept what it had measured
    bench = wait_for(lambda: (r := Reader(db).run(bench_b))["status"] != "running" and r, 30, what="bench end")
    assert bench["status"] == "interrupted" and "crashed" in bench["reason"] and bench["parent_id"] == e["run_id"]
    assert any(r["ok"] for r in Reader(db).requests(bench_b))
    assert bench["summary"]["completed"] >= 4
