"""Shared fixtures: temp journals, the CLI as a subprocess, the real CPU vLLM engine, the real Triton."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(1, str(ROOT))  # the test doubles: `tests.doubles.*`, in this process and (PYTHONPATH) in engines

from helpers import add_profile, cli, engine_profile, free_port, stop_service  # noqa: E402


@pytest.fixture
def journal(tmp_path):
    """A fresh journal; its service (if any was started) is stopped afterwards."""
    root = tmp_path / "journal"
    p = cli(root, "init", str(root))
    assert p.returncode == 0, p.stderr
    yield root
    stop_service(root)


@pytest.fixture(scope="session")
def demo_engine():
    """The real CPU vLLM environment and the tiny model (built once, cached)."""
    from iejtui.demo.engine_env import ensure_engine_env, ensure_tiny_model
    try:
        env = ensure_engine_env(log=lambda line: None)
        model = ensure_tiny_model(env, log=lambda line: None)
    except Exception as exc:  # noqa: BLE001
        if os.environ.get("CI"):
            raise
        pytest.skip(f"CPU vLLM engine not available: {exc}")
    return env, model


@pytest.fixture(scope="session")
def shared_engine(tmp_path_factory, demo_engine):
    """One real engine for the whole test session, started through the service with --wait."""
    root = tmp_path_factory.mktemp("shared") / "journal"
    assert cli(root, "init", str(root)).returncode == 0
    port = free_port()
    add_profile(root, engine_profile("tiny", port))
    p = cli(root, "engine", "start", "tiny", "--wait", timeout=600)
    if p.returncode != 0:
        stop_service(root)
        pytest.fail(f"shared engine did not start: {p.stdout}\n{p.stderr}")
    yield {"journal": root, "name": "tiny", "url": f"http://127.0.0.1:{port}", "port": port}
    stop_service(root)


@pytest.fixture(scope="session")
def seqs2_engine(tmp_path_factory, demo_engine):
    """A second real engine, in its own journal: ``--max-num-seqs 2`` (two sequences per
    batch, the rest queue). Shared by the statistics test (which benches the shared engine by
    URL from this journal to compare the two) and the advisor's queueing test."""
    journal = tmp_path_factory.mktemp("seqs2") / "journal"
    assert cli(journal, "init", str(journal)).returncode == 0
    port = free_port()
    add_profile(journal, engine_profile("seqs2", port, extra=["--max-num-seqs", "2"]))
    p = cli(journal, "engine", "start", "seqs2", "--wait", timeout=600)
    if p.returncode != 0:
        stop_service(journal)
        pytest.fail(f"the --max-num-seqs 2 engine did not start: {p.stdout}\n{p.stderr}")
    run_id = json.loads(cli(journal, "engine", "list", "--json").stdout)[0]["run_id"]
    yield {"journal": journal, "name": "seqs2", "url": f"http://127.0.0.1:{port}", "port": port, "run_id": run_id}
    stop_service(journal)



@pytest.fixture(scope="session")
def triton_install(demo_engine):
    """Triton 2.51 from the nvidia-pytriton wheel, set up for the CPU engine venv (cached;
    ``iejtui demo setup`` builds it). Under ``CI`` a missing or broken install FAILS."""
    from iejtui.demo.triton_env import ensure_triton
    env, model = demo_engine
    try:
        triton = ensure_triton(env, log=lambda line: None)
    except Exception as exc:  # noqa: BLE001
        if os.environ.get("CI"):
            raise
        pytest.skip(f"Triton not available: {exc}")
    return env, model, triton


@pytest.fixture(scope="session")
def triton_server(tmp_path_factory, triton_install):
    """One real tritonserver for the whole session, launched by the service (kind
    ``triton``) in its own journal through ``iejtui demo serve-triton`` (what
    ``iejtui demo --triton`` runs), serving every model folder of ``tests/data/triton_models/``
    (the tiny-Llama ``ensemble``, and any other a test adds)."""
    from iejtui.cli.demo import triton_demo_argv
    from iejtui.demo.triton_env import build_model_repository, fixture_models
    root = tmp_path_factory.mktemp("triton") / "journal"
    assert cli(root, "init", str(root)).returncode == 0
    models = fixture_models()
    repo = build_model_repository(tmp_path_factory.mktemp("triton-repo") / "models", models)
    http, grpc, metrics = free_port(), free_port(), free_port()
    argv = triton_demo_argv(http, grpc, metrics) + ["--model-repository", str(repo)]
    add_profile(root, f'\n[engines.triton]\nkind = "triton"\nargv = {json.dumps(argv)}\nstop_timeout = 20\n')
    p = cli(root, "engine", "start", "triton", "--wait", timeout=600)
    if p.returncode != 0:
        log = next((root / ".iejtui" / "logs").glob("run-*-triton.log"), None)
        stop_service(root)
        pytest.fail(f"the shared tritonserver did not start: {p.stdout}\n{p.stderr}\n"
                    f"{log.read_text()[-3000:] if log else ''}")
    run_id = json.loads(cli(root, "engine", "list", "--json").stdout)[0]["run_id"]
    yield {"journal": root, "name": "triton", "run_id": run_id, "url": f"http://127.0.0.1:{http}",
           "http_port": http, "grpc_port": grpc, "metrics_port": metrics,
           "metrics_url": f"http://127.0.0.1:{metrics}/metrics", "repo": repo,
           "models": [m.name for m in models], "argv": argv}
    stop_service(root)


from users import scratch  # noqa: E402,F401  (the 0755 folder that spare uids reach)
