"""The demo recipe generates tokens through the real CPU vLLM (start, one completion, stop).

Needs IEJTUI_VLLM_PYTHON (the engine venv's python) and IEJTUI_TINY_MODEL (the tiny model
folder); `eval "$(python -m iejtui.demo setup --export)"` sets both.
"""
from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from iejtui.demo import EngineEnv, demo_argv, demo_env

pytestmark = pytest.mark.integration

# ~30 s on an idle 2-core machine, but several minutes when other engines share the cores
READY_TIMEOUT_S = float(os.environ.get("IEJTUI_ENGINE_READY_TIMEOUT", "600"))


def _paths() -> tuple[Path, Path]:
    py, model = os.environ.get("IEJTUI_VLLM_PYTHON"), os.environ.get("IEJTUI_TINY_MODEL")
    if not py or not model:
        pytest.skip("IEJTUI_VLLM_PYTHON / IEJTUI_TINY_MODEL not set "
                    "(run: eval \"$(python -m iejtui.demo setup --export)\")")
    if not Path(py).exists() or not (Path(model) / "config.json").exists():
        pytest.skip(f"engine python {py} or tiny model {model} missing")
    return Path(py), Path(model)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _get(url: str, timeout: float = 5) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()
    except OSError:
        return 0, b""


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)
    # the engine core is a child in the same process group: make sure none survives
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


@pytest.mark.timeout(READY_TIMEOUT_S + 300)
def test_tiny_model_generates_tokens_through_real_vllm(tmp_path):
    py, model = _paths()
    port = _free_port()
    argv = demo_argv(EngineEnv(python=py, version="?"), model, port)
    log_path = tmp_path / "engine.log"
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, env={**os.environ, **demo_env()},
                                start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    started = time.monotonic()
    try:
        deadline = started + READY_TIMEOUT_S
        while _get(base + "/health", 2)[0] != 200:
            if proc.poll() is not None:
                pytest.fail(f"engine exited {proc.returncode} before ready:\n"
                            + log_path.read_text(errors="replace")[-3000:])
            if time.monotonic() > deadline:
                pytest.fail("engine not ready in time:\n"
                            + log_path.read_text(errors="replace")[-3000:])
            time.sleep(0.5)
        print(f"engine ready after {time.monotonic() - started:.1f} s")
        body = json.dumps({"model": "tiny", "prompt": "The license grants", "max_tokens": 16,
                           "temperature": 0, "ignore_eos": True}).encode()
        req = urllib.request.Request(base + "/v1/completions", data=body,
                                     headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=60) as r:
            reply = json.loads(r.read())
        assert reply["model"] == "tiny"
        assert reply["usage"]["completion_tokens"] == 16
        assert reply["usage"]["prompt_tokens"] > 0
        assert reply["choices"][0]["text"]
        status, metrics = _get(base + "/metrics")
        assert status == 200 and b"vllm:generation_tokens_total" in metrics
    finally:
        _stop(proc)
    assert proc.returncode is not None
