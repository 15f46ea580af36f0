"""The service's Prometheus endpoint: off by default, from iejtui.toml or the flag, loopback,
the recorded H100 under DCGM names, a taken port refused in one line."""

from __future__ import annotations

import socket
import urllib.request
from pathlib import Path

from helpers import cli, free_port, wait_for
from prometheus_client.parser import text_string_to_metric_families

TRACE = Path(__file__).resolve().parents[1] / "data" / "nvml-h100-trace.jsonl.gz"
REPLAY = {"IEJTUI_NVML_REPLAY": str(TRACE)}


def _get(port: int) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as r:
        return r.read().decode()


def test_config_key_starts_the_endpoint_with_dcgm_names(journal):
    port = free_port()
    cfg = journal / "iejtui.toml"
    assert "[service]\n" in cfg.read_text()  # the template's table
    cfg.write_text(cfg.read_text().replace("[service]\n", f'[service]\nmetrics_listen = "{port}"\n', 1))
    assert cli(journal, "service", "start", env=REPLAY).returncode == 0

    def page():
        t = _get(port)
        return t if "iejtui_DCGM_FI_DEV_POWER_USAGE{" in t else None
    text = wait_for(page, 20, interval=0.5, what="GPU samples on /metrics")
    fams = {f.name: f for f in text_string_to_metric_families(text)}
    (power,) = fams["iejtui_DCGM_FI_DEV_POWER_USAGE"].samples
    assert power.labels["modelName"] == "NVIDIA H100 80GB HBM3" and power.labels["UUID"].startswith("GPU-")
    assert 20 < power.value < 800 and power.timestamp is not None  # watts, at the service's sample time
    (info,) = [s for s in fams["iejtui_run_info"].samples if s.labels["run_kind"] == "record"]
    assert info.labels["run_name"].startswith("gpu@")
    assert str(journal) not in text  # no paths (nor argv, env, URLs) exported
    # loopback only: the port is not open on another address of this machine
    other = socket.gethostbyname(socket.gethostname())
    if not other.startswith("127."):
        with socket.socket() as s:
            s.settimeout(1)
            assert s.connect_ex((other, port)) != 0


def test_no_endpoint_unless_asked_and_a_taken_port_is_one_line(journal):
    import psutil
    from helpers import cli_json
    assert cli(journal, "service", "start").returncode == 0
    pid = cli_json(journal, "service", "status")["pid"]
    listening = [c for c in psutil.Process(pid).net_connections(kind="inet") if c.status == psutil.CONN_LISTEN]
    assert listening == []  # no TCP listener by default
    cli(journal, "service", "stop")
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        p = cli(journal, "service", "start", "--metrics-listen", f"127.0.0.1:{port}")
        assert p.returncode == 2 and len(p.stderr.strip().splitlines()) == 1
        assert f"cannot listen on 127.0.0.1:{port}" in p.stderr
    p = cli(journal, "service", "start", "--metrics-listen", "nope")
    assert p.returncode == 2 and "invalid --metrics-listen" in p.stderr
