"""The fleet's pure parts: the exposition (canonical names round-trip through the text
format to the same figures), PromQL text, results -> panels, import -> local names."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from collectors.prometheus import parse_text
from collectors.records import Frame
from iejtui.cli.fleet import parse_time
from iejtui.derive.engine import engine_figures
from iejtui.derive.metric_map import VLLM
from iejtui.errors import UserError
from iejtui.fleet import exposition as X
from iejtui.fleet import importer as I
from iejtui.fleet import model as M
from iejtui.fleet import names as N
from iejtui.service.metrics import parse_listen

DATA = Path(__file__).resolve().parents[1] / "data"


def _frames():
    idle = parse_text((DATA / "vllm-0.32-metrics-idle.txt").read_text()).samples
    load = parse_text((DATA / "vllm-0.32-metrics-load.txt").read_text()).samples
    return Frame("engine", 1000.0, idle), Frame("engine", 1010.0, load)


def _expose(fams) -> str:
    class C:
        def collect(self):
            return fams
    reg = CollectorRegistry(auto_describe=False)
    reg.register(C())
    return generate_latest(reg).decode()


def _rows(text: str, instance: str = "h:1") -> list[M.Row]:
    rows = []
    for fam in text_string_to_metric_families(text):
        for s in fam.samples:
            if s.name.endswith("_created"):
                continue
            rows.append((s.name, {**s.labels, "instance": instance}, [float(s.timestamp)], [s.value]))
    return rows


def _frame_rows(frames) -> list[M.Row]:
    return [(s.name, dict(s.labels), [f.ts], [s.value]) for f in frames for s in f.samples]


def _exported_rows() -> list[M.Row]:
    rows = []
    for f in _frames():
        get = X.frames_getter([f])
        fams = X.engine_families([{"name": "tiny", "kind": "vllm", "run_id": 7, "mmap": VLLM, "get": get}])
        rows += _rows(_expose(fams))
    return rows


def test_canonical_exposition_gives_the_same_figures_as_the_engine_names():
    idle, load = _frames()
    rows = _exported_rows()
    assert {r[1]["engine_name"] for r in rows} == {"tiny"} and {r[1]["run_id"] for r in rows} == {"7"}
    assert all(r[2][0] in (1000.0, 1010.0) for r in rows)  # the service's sample times, not the scrape's
    theirs = engine_figures(M.getter(rows), 1000.0, 1010.0, N.CANONICAL)
    ours = engine_figures(M.getter(_frame_rows([idle, load])), 1000.0, 1010.0, VLLM)
    for f in ("generation_tok_s", "prompt_tok_s", "prompt_computed_tok_s", "running", "waiting", "kv_usage_pct",
              "kv_capacity_tokens", "prefix_cache_hit_pct", "preemptions_per_s", "request_success"):
        assert getattr(theirs, f) == pytest.approx(getattr(ours, f)), f
    assert ours.generation_tok_s and ours.ttft.count > 0
    for key in ("ttft", "itl", "e2e", "queue", "tpot"):
        a, b = getattr(theirs, key), getattr(ours, key)
        assert (a.count, a.p50, a.p99) == pytest.approx((b.count, b.p50, b.p99)), key


def test_import_translates_canonical_names_back_to_vllm_and_keeps_the_figures():
    rows = _exported_rows()
    frames, info = I.rows_to_frames(rows)
    assert info["engines"] == {"tiny": "vllm"} and info["runs"] == ["7"]
    names = {s.name for f in frames for s in f.samples}
    assert "vllm:generation_tokens_total" in names and not any(n.startswith("iejtui_") for n in names)
    back = engine_figures(M.getter(_frame_rows(frames)), 1000.0, 1010.0, VLLM)
    ours = engine_figures(M.getter(_frame_rows(_frames())), 1000.0, 1010.0, VLLM)
    assert back.generation_tok_s == pytest.approx(ours.generation_tok_s)
    assert back.kv_capacity_tokens == ours.kv_capacity_tokens
    assert back.ttft.p99 == pytest.approx(ours.ttft.p99)
    assert back.prompt_computed_tok_s == pytest.approx(ours.prompt_computed_tok_s)


def _gpu_rows(prefix: str, instance="h:1"):
    static = {"index": 0, "uuid": "GPU-1", "name": "NVIDIA H100 80GB HBM3"}
    vals = {"gpu.util_gpu": 100.0, "gpu.sm_active": 37.5, "gpu.mem_used": 2.0 * 2 ** 30, "gpu.mem_total": 80 * 2 ** 30,
            "gpu.power_mw": 350123.0, "gpu.temp_c": 61.0, "gpu.energy_mj": 5e6}
    text = _expose(X.gpu_families([{"static": static, "values": vals, "ts": 50.0}], "box"))
    rows = _rows(text, instance)
    if not prefix:  # a real dcgm-exporter: the same names without our prefix, no timestamps
        rows = [(n.removeprefix(N.PREFIX), lab, ts, vs) for n, lab, ts, vs in rows]
    return rows, vals


@pytest.mark.parametrize("prefix", ["iejtui_", ""])
def test_gpu_fields_use_dcgm_units_and_read_back_as_panels(prefix):
    rows, vals = _gpu_rows(prefix)
    by = {r[0]: r for r in rows}
    assert by[prefix + "DCGM_FI_DEV_POWER_USAGE"][3] == [pytest.approx(350.123)]
    assert by[prefix + "DCGM_FI_PROF_SM_ACTIVE"][3] == [pytest.approx(0.375)]
    assert by[prefix + "DCGM_FI_DEV_FB_USED"][3] == [2048.0]
    assert by[prefix + "DCGM_FI_DEV_FB_USED"][1]["UUID"] == "GPU-1" and by[prefix + "DCGM_FI_DEV_FB_USED"][1]["gpu"] == "0"
    (p,) = M.gpu_rows_to_panels(rows, {"GPU-1": 50.0}, 51.0, 5.0)
    assert (p.uuid, p.index, p.name) == ("GPU-1", 0, "NVIDIA H100 80GB HBM3")
    assert p.power_w == pytest.approx(350.123) and p.sm_active == pytest.approx(37.5)
    assert p.kernel_active == 100.0 and p.mem_used == pytest.approx(vals["gpu.mem_used"])
    assert p.stale_since is None
    (old,) = M.gpu_rows_to_panels(rows, {"GPU-1": 50.0}, 200.0, 5.0)
    assert old.stale_since == 50.0 and old.power_w is None  # never frozen numbers


def test_gpu_import_back_to_iejtui_units_and_sources():
    rows, vals = _gpu_rows("iejtui_")
    frames, info = I.rows_to_frames(rows)
    assert info["gpus"] == {"GPU-1": "NVIDIA H100 80GB HBM3"}
    got = {(f.source, s.name): s.value for f in frames for s in f.samples}
    assert got[("gpu:GPU-1", "gpu.power_mw")] == pytest.approx(350123.0)
    assert got[("gpu:GPU-1:slow", "gpu.energy_mj")] == 5e6
    assert all(dict(s.labels) == {"uuid": "GPU-1"} for f in frames for s in f.samples)


def test_promql_text_escapes_and_refuses_bad_names():
    assert M.selector(["up"], ["127.0.0.1:9"]) == '{__name__=~"up",instance="127.0.0.1:9"}'
    assert M.selector(["a", "b:c"], ["x.y:1", "z:2"]) == '{__name__=~"a|b:c",instance=~"x\\\\.y:1|z:2"}'
    with pytest.raises(ValueError):
        M.name_regex(['up"} or vector(1) #'])


def test_results_parse_and_hosts_are_discovered_with_down_targets():
    data = {"resultType": "vector", "result": [
        {"metric": {"instance": "a:1", "job": "iejtui"}, "value": [10.0, "3"]}]}
    up = {"resultType": "vector", "result": [
        {"metric": {"__name__": "up", "instance": "a:1", "job": "iejtui"}, "value": [10.0, "1"]},
        {"metric": {"__name__": "up", "instance": "b:1", "job": "iejtui"}, "value": [10.0, "0"]},
        {"metric": {"__name__": "up", "instance": "node:9100", "job": "node"}, "value": [10.0, "0"]}]}
    hosts = M.discover(M.parse_result(data), M.parse_result(up))
    assert [(h["instance"], h["up"]) for h in hosts] == [("a:1", True), ("b:1", False)]
    rows = M.parse_result({"resultType": "matrix", "result": [
        {"metric": {"__name__": "x", "k": "v"}, "values": [[1, "1"], [2, "NaN"]]}]})
    assert rows[0][0] == "x" and rows[0][2] == [1.0, 2.0] and math.isnan(rows[0][3][1])


def test_an_engine_restarted_keeps_only_its_newest_run():
    rows = [("iejtui_engine_requests_running", {"engine_name": "e", "run_id": "3"}, [1.0], [5.0]),
            ("iejtui_engine_requests_running", {"engine_name": "e", "run_id": "9"}, [1.0], [1.0])]
    assert [r[1]["run_id"] for r in M.engine_groups(rows)["e"]] == ["9"]


def test_listen_addresses_and_times():
    assert parse_listen("9464") == ("127.0.0.1", 9464)
    assert parse_listen(":9464") == ("127.0.0.1", 9464)
    assert parse_listen("0.0.0.0:1") == ("0.0.0.0", 1)
    assert parse_listen("[::1]:9464") == ("::1", 9464)
    for bad in ("", "x", "1.2.3.4:0", "1.2.3.4:70000", "a b:80"):
        with pytest.raises(UserError):
            parse_listen(bad)
    assert parse_time("-15m", now=1000.0) == 100.0 and parse_time("now", now=5.0) == 5.0
    assert parse_time("1700000000.5") == 1700000000.5
    with pytest.raises(UserError):
        parse_time("yesterday")


def test_engine_panel_from_two_instant_readings_one_window_apart():
    rows = _exported_rows()  # samples taken at 1000 and 1010 by the service
    early = [r for r in rows if r[2][0] == 1000.0]
    late = [r for r in rows if r[2][0] == 1010.0]
    # Prometheus answers instant queries at the evaluation time (here 1003.5 and 1031.25)
    got = M.at_time(early, 1003.5) + M.at_time(late, 1031.25)
    eng = M.engine_from_rows("h:1", "tiny", got, [], 1003.5, 1031.25, newest=1010.0, stale_s=45.0)
    gen = {r[0]: r[3][0] for r in rows if r[0] == "iejtui_engine_generation_tokens_total" for _ in [0]}
    inc = [r[3][0] for r in late if r[0] == "iejtui_engine_generation_tokens_total"][0] - \
        [r[3][0] for r in early if r[0] == "iejtui_engine_generation_tokens_total"][0]
    assert gen and eng.panel.figures.generation_tok_s == pytest.approx(inc / 27.75)
    assert eng.run_id == 7 and eng.names == "iejtui" and eng.panel.stale_since is None
    assert eng.totals["generation_tokens"] == [r[3][0] for r in late if r[0] == "iejtui_engine_generation_tokens_total"][0]
    stale = M.engine_from_rows("h:1", "tiny", got, [], 1003.5, 1100.0, newest=1010.0, stale_s=45.0)
    assert stale.panel.stale_since == 1010.0


# the shape a real dcgm-exporter exposes (default counters; extra labels; no timestamps)
DCGM_PAGE = """# HELP DCGM_FI_DEV_SM_CLOCK SM clock frequency (in MHz).
# TYPE DCGM_FI_DEV_SM_CLOCK gauge
DCGM_FI_DEV_SM_CLOCK{gpu="0",UUID="GPU-aa",pci_bus_id="00000000:0D:00.0",device="nvidia0",modelName="NVIDIA L40S",Hostname="n1",DCGM_FI_DRIVER_VERSION="580.1"} 2520
DCGM_FI_DEV_SM_CLOCK{gpu="1",UUID="GPU-bb",pci_bus_id="00000000:B4:00.0",device="nvidia1",modelName="NVIDIA L40S",Hostname="n1",DCGM_FI_DRIVER_VERSION="580.1"} 210
# TYPE DCGM_FI_DEV_POWER_USAGE gauge
DCGM_FI_DEV_POWER_USAGE{gpu="0",UUID="GPU-aa",device="nvidia0",modelName="NVIDIA L40S",Hostname="n1",pod="vllm-0"} 234.5
DCGM_FI_DEV_POWER_USAGE{gpu="1",UUID="GPU-bb",device="nvidia1",modelName="NVIDIA L40S",Hostname="n1"} 34.1
# TYPE DCGM_FI_DEV_FB_USED gauge
DCGM_FI_DEV_FB_USED{gpu="0",UUID="GPU-aa",device="nvidia0",modelName="NVIDIA L40S",Hostname="n1"} 40000
# TYPE DCGM_FI_PROF_SM_ACTIVE gauge
DCGM_FI_PROF_SM_ACTIVE{gpu="0",UUID="GPU-aa",device="nvidia0",modelName="NVIDIA L40S",Hostname="n1"} 0.62
# TYPE DCGM_FI_DEV_FB_FREE gauge
DCGM_FI_DEV_FB_FREE{gpu="0",UUID="GPU-aa",device="nvidia0",modelName="NVIDIA L40S",Hostname="n1"} 6000
"""


def test_a_dcgm_exporter_page_reads_as_gpu_panels():
    rows = [(s.name, {**s.labels, "instance": "n1:9400"}, [100.0], [s.value])
            for fam in text_string_to_metric_families(DCGM_PAGE) for s in fam.samples]
    a, b = M.gpu_rows_to_panels(rows, {"GPU-aa": 100.0, "GPU-bb": 100.0}, 101.0, 15.0)
    assert (a.index, a.uuid, a.name, b.index) == (0, "GPU-aa", "NVIDIA L40S", 1)
    assert a.power_w == 234.5 and a.sm_active == pytest.approx(62.0) and a.mem_used == 40000 * 2 ** 20
    assert a.clock_sm_mhz == 2520 and b.power_w == pytest.approx(34.1) and b.sm_active is None
    frames, info = I.rows_to_frames(rows)
    assert set(info["gpus"]) == {"GPU-aa", "GPU-bb"} and not info["engines"]
    assert {f.source for f in frames} == {"gpu:GPU-aa", "gpu:GPU-bb"}


def test_a_prometheus_that_never_answers_times_out_in_one_line():
    import asyncio
    import socket
    import time as _time

    from iejtui.fleet.promql import PromClient, PromError
    with socket.socket() as s:  # accepts connections (kernel backlog) and never answers
        s.bind(("127.0.0.1", 0))
        s.listen(8)
        port = s.getsockname()[1]

        async def go():
            async with PromClient(f"http://127.0.0.1:{port}", timeout_s=0.5) as c:
                t0 = _time.monotonic()
                with pytest.raises(PromError) as err:
                    await c.query("up")
                return err.value, _time.monotonic() - t0
        err, took = asyncio.run(go())
    assert err.kind == "unreachable" and "no answer within 0.5 s" in str(err) and "\n" not in str(err)
    assert took < 5


def test_import_of_one_engine_keeps_its_series_and_the_gpus():
    rows = _exported_rows()
    other = [(n, {**lab, "engine_name": "other", "run_id": "8"}, ts, vs) for n, lab, ts, vs in rows]
    gpu_rows, _ = _gpu_rows("iejtui_")
    frames, info = I.rows_to_frames(rows + other + gpu_rows, engine="tiny")
    assert info["engines"] == {"tiny": "vllm"} and info["runs"] == ["7"] and set(info["gpus"]) == {"GPU-1"}
    assert 'engine_name=~"tiny|"' in I.import_selector("h:1", "tiny")
    gen = [s.value for f in frames for s in f.samples if s.name == "vllm:generation_tokens_total"]
    assert len(gen) == 2  # one reading per sample time, not two engines summed or mixed
