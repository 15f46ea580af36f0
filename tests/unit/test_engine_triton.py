"""Triton adapter: URLs and listen addresses from tritonserver's argv, phases, facts and
errors from its real logs (tests/data/triton-2.51-*.log: captured from tritonserver 2.51 of
the nvidia-pytriton 0.7.0 wheel serving tests/data/triton_models/ensemble; the failed one
is the same server started without the stub's environment: its system libpython has no numpy). Readiness against the real
server: tests/integration/test_triton_real.py."""

from __future__ import annotations

from pathlib import Path

from collectors.engines import get_adapter
from collectors.engines.base import LAUNCHING, LOADING, READY, WARMUP, later_phase
from collectors.engines.triton import split_glog
from iejtui.config import ENGINE_KINDS

DATA = Path(__file__).resolve().parents[1] / "data"
TR = get_adapter("triton")
LOOPBACK = ["--http-address", "127.0.0.1", "--grpc-address", "127.0.0.1", "--metrics-address", "127.0.0.1"]


def phases(lines):
    phase, seen = LAUNCHING, [LAUNCHING]
    for line in lines:
        fact = TR.parse_log_line(line)
        if fact is not None and fact.phase:
            new = later_phase(phase, fact.phase)
            if new != phase:
                phase = new
                seen.append(new)
    return seen


def test_kind_is_listed_everywhere():
    assert "triton" in ENGINE_KINDS and TR.kind == "triton"


def test_urls_from_argv():
    argv = ["tritonserver", "--model-repository=/m", "--http-port", "18990", "--grpc-port=18991",
            "--metrics-port", "18992", *LOOPBACK]
    assert TR.default_url(argv) == "http://127.0.0.1:18990"
    assert TR.metrics_url("http://127.0.0.1:18990") == "http://127.0.0.1:18992/metrics"
    assert TR.health_url("http://127.0.0.1:18990") == "http://127.0.0.1:18990/v2/health/ready"
    # Triton's defaults: HTTP 8000 on every interface (reachable on loopback), metrics 8002
    assert TR.default_url(["tritonserver", "--model-repository=/m"]) == "http://127.0.0.1:8000"
    assert TR.metrics_url_from_argv(["tritonserver"]) == "http://127.0.0.1:8002/metrics"
    assert TR.metrics_url_from_argv(["t", "--http-address", "10.0.0.5", "--metrics-port", "9"]) == \
        "http://10.0.0.5:9/metrics"
    # attached (not launched here): the default metrics port on the engine's host
    assert TR.metrics_url("http://gpu-box:8100/") == "http://gpu-box:8002/metrics"


def test_every_interface_is_warned_about():
    warned = TR.launch_warnings(["tritonserver", "--model-repository=/m"], {})
    assert [w.split()[0] for w in warned] == ["--http-address", "--grpc-address", "--metrics-address"]
    assert TR.launch_warnings(["tritonserver", "--model-repository=/m", *LOOPBACK], {}) == []
    # the metrics listener follows --http-address when not named
    assert TR.launch_warnings(["t", "--http-address", "127.0.0.1", "--grpc-address", "127.0.0.1"], {}) == []


def test_glog_lines_split():
    level, msg = split_glog('I1207 02:49:32.279419 21137 model_lifecycle.cc:839] "successfully loaded \'ensemble\'"')
    assert (level, msg) == ("INFO", "successfully loaded 'ensemble'")
    assert split_glog("| ensemble | 1       | READY  |") == (None, "| ensemble | 1       | READY  |")


def test_startup_phases_and_facts_from_the_real_log():
    lines = (DATA / "triton-2.51-startup.log").read_text().splitlines()
    assert phases(lines) == [LAUNCHING, LOADING, WARMUP]  # ready comes from the probe
    facts = {f.kind: f.value for f in map(TR.parse_log_line, lines) if f is not None}
    assert facts["model_loading"] == "ensemble" and facts["model_ready"] == "ensemble"
    assert facts["http_listen"] == "127.0.0.1:18990" and facts["metrics_listen"] == "127.0.0.1:18992"
    # a CPU box's CUDA/NVML complaints at every start explain nothing
    assert "error" not in facts and TR.explain_death(lines) == []
    assert READY not in phases(lines)


def test_a_model_that_fails_to_load_is_explained():
    lines = (DATA / "triton-2.51-model-load-failed.log").read_text().splitlines()
    why = TR.explain_death(lines)
    assert why and any("failed to load 'ensemble'" in w and "No module named 'numpy'" in w for w in why)
    # the last error (the one a crash's reason quotes) is the model's, not main.cc's summary
    assert "No module named 'numpy'" in why[-1]
    assert TR.parse_log_line("error: creating server: Internal - failed to load all models").kind == "load_failed"
    assert TR.parse_log_line("error: failed to start HTTP service").kind == "error"
    assert not any("CudaDriverHelper" in w or "NVML" in w for w in why)


def test_the_init_templates_triton_profile_loads():
    """The commented example `iejtui init` writes is a valid profile once uncommented."""
    import tomllib

    from iejtui.config import _engine
    from iejtui.journal.init import CONFIG_TEMPLATE
    lines = CONFIG_TEMPLATE.splitlines()
    start = lines.index("# [engines.trtllm-triton]")
    block = []
    for line in lines[start:]:
        if not line.startswith("# "):
            break
        block.append(line[2:])
    text = "\n".join(block)
    prof = _engine(Path("iejtui.toml"), text, "trtllm-triton", tomllib.loads(text)["engines"]["trtllm-triton"])
    assert prof.kind == "triton" and TR.launch_warnings(prof.argv, {}) == []
    assert TR.default_url(prof.argv) == "http://127.0.0.1:8000"
    assert TR.metrics_url("http://127.0.0.1:8000") == "http://127.0.0.1:8002/metrics"
