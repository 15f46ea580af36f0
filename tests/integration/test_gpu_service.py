"""The GPU path end to end without a GPU: the service samples a recorded real H100 trace
(tests/data/nvml-h100-trace.jsonl.gz, served by the NVML replay backend) into journal.db."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from helpers import cli, cli_json, load_engine, wait_for
from iejtui.store import Reader

TRACE = Path(__file__).resolve().parents[1] / "data" / "nvml-h100-trace.jsonl.gz"
REPLAY = {"IEJTUI_NVML_REPLAY": str(TRACE)}


def test_no_driver_is_one_clear_status(journal):
    assert cli(journal, "service", "start").returncode == 0
    st = cli_json(journal, "status")
    assert st["gpus"] == {"available": False, "reason": "NVML not found: no NVIDIA driver"}


def test_status_shows_each_gpu_from_the_recorded_h100(journal):
    assert cli(journal, "service", "start", env=REPLAY).returncode == 0

    def gpus():
        g = cli_json(journal, "status")["gpus"]
        return g if isinstance(g, list) and g and g[0]["latest"].get("gpu.sm_active") is not None else None

    (g,) = wait_for(gpus, 15, interval=0.5, what="GPU samples")
    assert g["name"] == "NVIDIA H100 80GB HBM3" and g["uuid"].startswith("GPU-")
    assert g["gpm_supported"] and g["memory_total"] > 80e9
    for key in ("gpu.util_gpu", "gpu.mem_used", "gpu.power_mw", "gpu.temp_c", "gpu.clock_sm_mhz",
                "gpu.sm_active", "gpu.tensor_active", "gpu.dram_active"):
        assert key in g["latest"], key
    host = [r for r in Reader(journal / "journal.db").runs(kind="record") if r["name"].startswith("gpu@")]
    assert len(host) == 1 and host[0]["gpus"] == [g["uuid"]]


@pytest.mark.integration
def test_engine_run_gets_energy_and_joules_per_token(journal, shared_engine):
    """A second journal (with the replayed H100) attaches to the shared real engine."""
    assert cli(journal, "service", "start", env=REPLAY).returncode == 0
    assert cli(journal, "engine", "attach", "watched", shared_engine["url"]).returncode == 0
    wait_for(lambda: cli_json(journal, "engine", "list")[0]["status"] == "ready", 15, what="attached engine")
    load_engine(shared_engine["url"], None, concurrency=8, seconds=3, max_tokens=48)  # by duration: any box
    time.sleep(12)  # two more 5 s energy readings
    assert cli(journal, "engine", "stop", "watched").returncode == 0
    show = cli_json(journal, "runs", "show", "watched")
    s, g = show["summary"]["engine"], show["summary"]["gpu"]
    assert s["tokens"]["generated"] > 0
    assert g["energy_j"] > 0 and g["joules_per_token"] == pytest.approx(g["energy_j"] / s["tokens"]["generated"])
    assert g["memory_used_bytes"]["peak"] > 0
