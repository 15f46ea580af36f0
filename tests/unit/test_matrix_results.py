"""results.json from journal.db: a GPU cell's energy, memory headroom, KV peak and cost, end to end."""

from __future__ import annotations

import json

import pytest

from collectors.records import Frame, Sample
from iejtui.config import load_config
from iejtui.matrix import state as stm
from iejtui.matrix.entry import config_cost, write_entry
from iejtui.matrix.parse import load_matrix
from iejtui.store import Reader
from iejtui.store.writer import Writer

from test_matrix_cost import RESULT, req
from test_matrix_spec import MINIMAL, PROFILE

T0 = 1_700_000_000.0
UUID = "GPU-1111"
STATIC = {"uuid": UUID, "index": 0, "name": "NVIDIA H100 80GB HBM3", "memory_total": 80e9, "driver": "580.1"}


@pytest.fixture
def fabricated(tmp_path):
    (tmp_path / "iejtui.toml").write_text(PROFILE + '\n[cost]\ngpus = { "H100" = 3.0 }\n')
    (tmp_path / "m.toml").write_text(MINIMAL.replace("[cost]\ngpu_hour_usd = 2.5\n", ""))
    config = load_config(tmp_path / "iejtui.toml")
    spec = load_matrix(tmp_path / "m.toml", config)
    w = Writer(tmp_path / "journal.db")
    gid = w.create_run(kind="record", name="gpu@h", status="ready", started_at=T0 - 100, facts={"gpus": [STATIC]})
    w.add_frames(gid, [Frame(f"gpu:{UUID}", T0 - 10 + i, [Sample("gpu.mem_used", 60e9 if i != 15 else 70e9),
                                                        Sample("gpu.power_mw", 700_000.0)]) for i in range(30)])
    w.add_frames(gid, [Frame(f"gpu:{UUID}:slow", T0 - 10 + 5 * i, [Sample("gpu.energy_mj", 7e5 * 5 * i)])
                       for i in range(7)])
    eid = w.create_run(kind="engine", name="seqs.seqs8", engine_kind="vllm", status="stopped", started_at=T0 - 50,
                       ready_at=T0 - 20, ended_at=T0 + 30, facts={"kv_cache_tokens": 10000}, env={},
                       argv=spec.engine_argv("seqs8"), versions={"engine": "0.32.0", "gpu": STATIC["name"]},
                       model="tiny")
    w.add_frames(eid, [Frame("engine", T0 - 5 + i, [Sample("vllm:kv_cache_usage_perc", 0.25 if i == 8 else 0.1)])
                       for i in range(20)])
    bid = w.create_run(kind="bench", name="b", status="stopped", parent_id=eid, started_at=T0, ended_at=T0 + 10,
                       summary=RESULT)
    for i, r in enumerate([req(0.1, 0.5)] * 3 + [req(0.5, 0.9)]):
        w.add_request(bid, {"idx": i, "t_sent": T0 + i, **r})
    hw = {"host": "h", "gpu_count": 1, "gpu_model": STATIC["name"], "gpus": [STATIC], "cpu": "Xeon", "cpu_cores": 8}
    st = stm.new_state(spec, now=T0 - 60, hardware=hw)
    key = st["order"][0]
    stm.mark_cell(st, key, "running", now=T0)
    stm.mark_cell(st, key, "done", now=T0 + 10, run_id=bid)
    st["variants"]["seqs8"].update(status="running", engine_run=eid)
    mid = w.create_run(kind="matrix", name="seqs", status="running", started_at=T0 - 60, facts=st)
    w.flush()
    w.close()
    return tmp_path, mid, config


def test_gpu_cell_figures_cost_and_entry(fabricated):
    root, mid, config = fabricated
    reader = Reader(root / "journal.db")
    dest = write_entry(root, reader, reader.run(mid), config_cost(config))
    res = json.loads((dest / "results.json").read_text())
    cell = res["cells"][0]
    f = cell["figures"]
    assert cell["status"] == "done" and cell["bench"]["completed"] == 4 and cell["engine_run"] == 2
    assert f["gpu_energy_j"] == pytest.approx(7000.0) and f["joules_per_token"] == pytest.approx(17.5)
    assert f["mem_headroom_bytes"] == pytest.approx(10e9) and f["mem_headroom_pct"] == pytest.approx(12.5)
    assert f["kv_peak_pct"] == pytest.approx(25.0) and f["kv_peak_tokens"] == pytest.approx(2500.0)
    assert f["kv_headroom_tokens"] == pytest.approx(7500.0)
    # H100 price from iejtui.toml's [cost] gpus: 1 GPU × $3/h for 10 s over 400 tokens
    assert f["hour_usd"] == 3.0 and "H100 in iejtui.toml" in f["price_basis"]
    assert f["usd_per_1m_output"] == pytest.approx(3.0 * 10 / 3600 / 400 * 1e6)
    assert res["hardware"]["label"] == "1 × NVIDIA H100 80GB HBM3" and res["versions"]["engine"] == "0.32.0"
    assert res["counts"] == {"done": 1, "failed": 0, "skipped": 0, "pending": 7, "running": 0}
    readme = (dest / "README.md").read_text()
    assert "**In progress**" in readme and "1 × NVIDIA H100 80GB HBM3" in readme
    eff = readme.split("**Cost, energy and memory**", 1)[1]
    assert "| `seqs8` | concurrency 4 | $20.83 | 17.500 | 2,500 (25.00 %) | 9.3 GiB (12 %) |" in eff
    assert (dest / "chart-short.svg").exists()
    assert "[seqs](seqs/README.md)" in (root / "benchmarks" / "README.md").read_text()
