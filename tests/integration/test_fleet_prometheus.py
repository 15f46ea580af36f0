"""The fleet through a real Prometheus: two iejtui services (two journals on two ports
standing for two hosts, each replaying the recorded H100 and watching the real CPU vLLM)
and that vLLM scraped directly; ``iejtui fleet --json`` and ``fleet import`` checked
against each service's own journal."""

from __future__ import annotations

import asyncio
import math
import os
import time
from pathlib import Path

import pytest

from helpers import cli, cli_json, free_port, load_engine, stop_service, wait_for
from iejtui.derive.engine import engine_figures
from iejtui.derive.metric_map import VLLM
from iejtui.store import Reader

pytestmark = pytest.mark.integration

TRACE = Path(__file__).resolve().parents[1] / "data" / "nvml-h100-trace.jsonl.gz"
REPLAY = {"IEJTUI_NVML_REPLAY": str(TRACE)}


@pytest.fixture
def prometheus_bin():
    from prom import prometheus_binary
    b = prometheus_binary()
    if b is None:
        if os.environ.get("CI"):
            pytest.fail("prometheus is not installed: .ci/run installs Debian's package")
        pytest.skip("prometheus is not installed (apt-get install prometheus)")
    return b


@pytest.fixture
def two_hosts(tmp_path, shared_engine):
    hosts = {}
    try:
        for h in ("a", "b"):
            root = tmp_path / h
            assert cli(root, "init", str(root)).returncode == 0
            port = free_port()
            p = cli(root, "service", "start", "--metrics-listen", f"127.0.0.1:{port}", env=REPLAY)
            assert p.returncode == 0, p.stderr
            assert f"metrics on http://127.0.0.1:{port}/metrics" in p.stdout
            assert cli(root, "engine", "attach", f"tiny-{h}", shared_engine["url"]).returncode == 0
            hosts[h] = {"journal": root, "instance": f"127.0.0.1:{port}", "engine": f"tiny-{h}"}
        for h in hosts.values():
            wait_for(lambda: cli_json(h["journal"], "engine", "list")[0]["status"] == "ready", 30,
                     what="attached engine ready")
        yield hosts
    finally:
        for h in hosts.values():
            stop_service(h["journal"])


def _engine_run(journal: Path, name: str) -> dict:
    return next(r for r in Reader(journal / "journal.db").runs(kind="engine") if r["name"] == name)


def _latest(journal: Path, run_id: int, name: str) -> float | None:
    sds = Reader(journal / "journal.db").series(run_id, name)
    vals = [sd.values[-1] for sd in sds if sd.values]
    return math.fsum(vals) if vals else None


def _journal_getter(journal: Path, run_id: int):
    reader = Reader(journal / "journal.db")

    def get(name, flt=None, /):
        return [(sd.labels, sd.ts, sd.values) for sd in reader.series(run_id, name, flt)]
    return get


def _fleet(url: str, *args: str) -> dict:
    p = cli(Path("."), "fleet", "--prometheus", url, "--json", *args, timeout=60)
    assert p.returncode == 0, p.stderr
    import json
    return json.loads(p.stdout)


def _host(snap: dict, instance: str) -> dict:
    return next(h for h in snap["hosts"] if h["instance"] == instance)


def test_fleet_snapshot_and_import_match_the_journals(tmp_path, prometheus_bin, shared_engine, two_hosts):
    from prom import run_prometheus
    a, b = two_hosts["a"], two_hosts["b"]
    vllm_inst = f"127.0.0.1:{shared_engine['port']}"
    jobs = {"iejtui": [a["instance"], b["instance"]], "vllm": [vllm_inst]}
    with run_prometheus(tmp_path / "prom", jobs) as url:
        def ready():
            snap = _fleet(url)
            insts = {h["instance"]: h for h in snap["hosts"]}
            if set(insts) != {a["instance"], b["instance"], vllm_inst}:
                return None
            return snap if all(h["engines"] and h["engines"][0]["totals"] for h in insts.values()) else None
        wait_for(ready, 60, interval=1, what="Prometheus to scrape both services and the engine")

        t_before = time.time()
        time.sleep(2.5)  # idle readings before the load, in every source
        load_engine(shared_engine["url"], n=12, concurrency=4, max_tokens=24)
        run_a, run_b = _engine_run(a["journal"], a["engine"]), _engine_run(b["journal"], b["engine"])

        # both services' journals hold the final counters; Prometheus shows the same
        def settled():
            want = {h["instance"]: _latest(h["journal"], r["id"], "vllm:generation_tokens_total")
                    for h, r in ((a, run_a), (b, run_b))}
            snap = _fleet(url)
            got = {h["instance"]: h["engines"][0]["totals"].get("generation_tokens") for h in snap["hosts"]}
            ok = all(want[i] is not None and got.get(i) == want[i] for i in want) \
                and got.get(vllm_inst) == want[a["instance"]]
            return snap if ok else None
        snap = wait_for(settled, 30, interval=1, what="fleet totals equal to the journals' newest counters")
        time.sleep(2.5)
        t_after = time.time()

        # --- the snapshot: hosts -> GPUs, engines, runs ---------------------------------------
        for h, run in ((a, run_a), (b, run_b)):
            host = _host(snap, h["instance"])
            assert host["iejtui"] and host["up"] is True and host["job"] == "iejtui"
            (gpu,) = host["gpus"]
            assert gpu["name"] == "NVIDIA H100 80GB HBM3" and gpu["uuid"].startswith("GPU-")
            (eng,) = host["engines"]
            assert eng["name"] == h["engine"] and eng["run_id"] == run["id"] and eng["names"] == "iejtui"
            assert any(r["run_id"] == str(run["id"]) and r["run_name"] == h["engine"] and r["status"] == "ready"
                       for r in host["runs"])
            assert any(r["run_kind"] == "record" and r["run_name"].startswith("gpu@") for r in host["runs"])
            # the GPU reading at its sample time is the journal's reading at that time
            gpu_run = next(r for r in Reader(h["journal"] / "journal.db").runs(kind="record")
                           if r["name"].startswith("gpu@"))
            (sd,) = Reader(h["journal"] / "journal.db").series(gpu_run["id"], "gpu.power_mw",
                                                               t0=gpu["newest"] - 0.002, t1=gpu["newest"] + 0.002)
            assert gpu["power_w"] == pytest.approx(sd.values[-1] / 1000.0, abs=1e-3)
        bare = _host(snap, vllm_inst)
        assert not bare["iejtui"] and not bare["gpus"]
        assert bare["engines"][0]["names"] == "vllm" and bare["engines"][0]["kind"] == "vllm"

        # --- windowed figures over the load, against each journal's own maths -----------------
        window = t_after - t_before
        snap = _fleet(url, "--at", f"{t_after:.3f}", "--window", f"{window:.3f}")
        for h, run in ((a, run_a), (b, run_b)):
            figs = _host(snap, h["instance"])["engines"][0]["panel"]["figures"]
            local = engine_figures(_journal_getter(h["journal"], run["id"]), t_before, t_after, VLLM)
            assert sum(figs["request_success"].values()) == sum(local.request_success.values()) == 12
            # two readings, one window apart: the rate times the window is the exact increase
            span = figs["t1"] - figs["t0"]
            assert span == pytest.approx(snap["window_s"])
            assert figs["generation_tok_s"] * span == pytest.approx(
                _increase(h["journal"], run["id"], t_before, t_after), rel=1e-9) == 12 * 24
            assert figs["kv_capacity_tokens"] == local.kv_capacity_tokens > 0
            assert figs["running"] == local.running == 0 and figs["waiting"] == local.waiting == 0
            assert figs["ttft"]["count"] == local.ttft.count == 12
            assert figs["ttft"]["p50"] == pytest.approx(local.ttft.p50)
        # the live view (evaluated now) computes the same window figures
        from iejtui.fleet.model import to_json
        from iejtui.fleet.view import snapshot_sync
        live = to_json(snapshot_sync(url, window_s=time.time() - t_before))  # at=None: now, unrounded
        for h in (a, b):
            figs = _host(live, h["instance"])["engines"][0]["panel"]["figures"]
            assert sum(figs["request_success"].values()) == 12
            assert figs["generation_tok_s"] * (figs["t1"] - figs["t0"]) == pytest.approx(12 * 24)
        # the selected host's plots (range queries): the load shows in tokens/s and TTFT
        plots = {p.key: p for p in asyncio.run(_plots(url, a["instance"], t_after))}
        assert max(plots["tokens"].lines[0].values) > 0
        assert any(v > 0 for line in plots["ttft"].lines for v in line.values)
        assert plots["gpu"].lines[0].values and plots["kv"].lines
        bare_figs = _host(snap, vllm_inst)["engines"][0]["panel"]["figures"]
        assert sum(bare_figs["request_success"].values()) == 12 and bare_figs["ttft"]["count"] == 12

        # --- import host a's window into a third journal (the laptop) --------------------------
        laptop = tmp_path / "laptop"
        assert cli(laptop, "init", str(laptop)).returncode == 0
        try:
            res = cli_json(laptop, "fleet", "--prometheus", url, "import", "--instance", a["instance"],
                           "--from", f"{t_before:.3f}", "--to", f"{t_after:.3f}")
            run = cli_json(laptop, "runs", "show", str(res["run_id"]))
            assert run["kind"] == "imported" and run["engine_kind"] == "vllm"
            assert run["facts"]["instance"] == a["instance"] and a["instance"] in run["facts"]["query"]
            assert run["facts"]["prometheus"] == url
            imported = Reader(laptop / "journal.db")
            src = Reader(a["journal"] / "journal.db")
            gpu_run = next(r for r in src.runs(kind="record") if r["name"].startswith("gpu@"))
            checked = 0
            for name, src_run in (("vllm:generation_tokens_total", run_a["id"]),
                                  ("vllm:num_requests_running", run_a["id"]),
                                  ("vllm:time_to_first_token_seconds_count", run_a["id"]),
                                  ("gpu.power_mw", gpu_run["id"]), ("gpu.sm_active", gpu_run["id"])):
                (got,) = imported.series(res["run_id"], name)
                assert len(got.ts) >= 5, name
                # the exposition carries the sample time in whole milliseconds (truncated from the
                # in-memory tick) and journal.db keeps ticks rounded to the ms: they agree within 1 ms
                source = {round(t * 1000): v for sd in src.series(src_run, name, t0=t_before - 1, t1=t_after + 1)
                          for t, v in zip(sd.ts, sd.values)}
                for t, v in zip(got.ts, got.values):
                    ms = round(t * 1000)
                    key = next((k for k in (ms, ms + 1, ms - 1) if k in source), None)
                    assert key is not None, (name, t)
                    assert v == pytest.approx(source[key], rel=1e-6, abs=1e-3), (name, t)
                    checked += 1
            assert checked > 20
            # the imported run reads like a recorded one: the same canonical figures
            get = _journal_getter(laptop, res["run_id"])
            figs = engine_figures(get, t_before, t_after, VLLM)
            assert sum(figs.request_success.values()) == 12
            # what can go wrong is one line, exit 2, nothing written
            p = cli(laptop, "fleet", "--prometheus", url, "import", "--instance", "nope:1", "--from", "-1m")
            assert p.returncode == 2 and "has no samples of nope:1" in p.stderr and len(p.stderr.splitlines()) == 1
            p = cli(laptop, "fleet", "--prometheus", f"http://127.0.0.1:{free_port()}", "import",
                    "--instance", a["instance"], "--from", "-1m")
            assert p.returncode == 2 and "Prometheus unreachable" in p.stderr
            assert [r["kind"] for r in Reader(laptop / "journal.db").runs()].count("imported") == 1
        finally:
            stop_service(laptop)


def _increase(journal: Path, run_id: int, t0: float, t1: float) -> float:
    from iejtui.derive import counters
    (sd,) = Reader(journal / "journal.db").series(run_id, "vllm:generation_tokens_total")
    return counters.increase(sd.ts, sd.values, t0, t1)


async def _plots(url: str, instance: str, t: float):
    from iejtui.fleet.promql import PromClient
    from iejtui.fleet.view import host_plots
    async with PromClient(url) as c:
        plots = await host_plots(c, instance, t, 300.0)
        assert c.load.range_queries == 4 and c.load.queries == 0
        return plots
