"""No NVIDIA driver but amdsmi importable: the service samples AMD GPUs with the same
canonical rows into the host's GPU run. The GPUs are the fake ``amdsmi`` of
tests/doubles/amdsmi_fake.py (documented amdsmi 7.0.2 structures) put on the service's
PYTHONPATH: everything else — the service process, its GPU thread, journal.db, the status
API — is real."""

from __future__ import annotations

from pathlib import Path

from helpers import cli, cli_json, wait_for
from iejtui.store import Reader

ROOT = Path(__file__).resolve().parents[2]


def test_service_falls_back_to_amdsmi(journal, tmp_path):
    pkg = tmp_path / "fakeamd" / "amdsmi"
    pkg.mkdir(parents=True)
    (pkg / "__init__.py").write_text("from tests.doubles.amdsmi_fake import install\ninstall(globals())\n")
    env = {"PYTHONPATH": f"{tmp_path / 'fakeamd'}:{ROOT}"}
    assert cli(journal, "service", "start", env=env).returncode == 0

    def gpus():
        g = cli_json(journal, "status")["gpus"]
        return g if isinstance(g, list) and len(g) == 2 and g[0]["latest"].get("gpu.util_gpu") is not None else None

    g0, g1 = wait_for(gpus, 15, interval=0.5, what="AMD GPU samples")
    assert g0["name"] == "AMD Instinct MI300X" and g0["backend"] == "amdsmi"
    assert g0["latest"]["gpu.power_mw"] == 512_000 and g0["latest"]["gpu.mem_total"] == 196592 * 2**20
    assert "gpu.util_gpu" not in g1["latest"] and "activity" in g1["unsupported"]
    host = [r for r in Reader(journal / "journal.db").runs(kind="record") if r["name"].startswith("gpu@")]
    assert len(host) == 1 and host[0]["gpus"] == [g0["uuid"], g1["uuid"]]
    kinds = [e["kind"] for e in Reader(journal / "journal.db").events(limit=50)]
    assert "gpu.unavailable" in kinds  # NVML's "no driver" is still said
