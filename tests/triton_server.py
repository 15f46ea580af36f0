"""A standalone real tritonserver over some ``tests/data/triton_models/*`` folders, for the
scripts that run outside pytest (``tests/perf/triton_bench_vs_aiperf.py``,
``tests/data/triton/capture.py``); the tests use the session fixture ``triton_server`` of
tests/conftest.py instead.

Everything about the install and the stub's environment is ``iejtui.demo.triton_env``'s
(the one ``iejtui demo setup`` / ``iejtui demo serve-triton`` use): ``ensure_triton`` (the
unpacked 2.51 server, numpy<2 in ``stub-site``), ``triton_argv`` (loopback listeners),
``triton_env`` (``LD_LIBRARY_PATH`` for the engine venv's libpython,
``IEJTUI_TRITON_PYTHONPATH``). This module only picks ports, waits for readiness and stops.
"""

from __future__ import annotations

import os
import subprocess
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from iejtui.demo.engine_env import EngineEnv
from iejtui.demo.triton_env import (TRITON_MODELS_DIR, build_model_repository, ensure_triton,
                                    triton_argv, triton_env)


def free_port() -> int:
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _status(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=2) as r:
            return r.status
    except OSError:
        return 0


@dataclass
class TritonServer:
    proc: subprocess.Popen
    url: str
    metrics_url: str
    log: Path

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)


def start_triton(models: list[str], workdir: Path, env: EngineEnv, model: str | os.PathLike | None = None,
                 extra: list[str] | None = None, timeout: float = 120.0) -> TritonServer:
    """tritonserver on 127.0.0.1 with ``tests/data/triton_models/NAME`` for each name
    (``extra``: more tritonserver flags), ready (every model's ``/v2/models/NAME/ready``);
    raises RuntimeError with the log's tail when it is not (and whatever ``ensure_triton``
    raises when Triton cannot be installed)."""
    triton = ensure_triton(env, log=lambda line: None)
    repo = build_model_repository(workdir / "models", [TRITON_MODELS_DIR / name for name in models])
    http, grpc, metrics = free_port(), free_port(), free_port()
    argv = triton_argv(triton, repo, http, grpc, metrics) + list(extra or [])
    log = workdir / "tritonserver.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(argv, env={**os.environ, **triton_env(triton, env, model, base=dict(os.environ))},
                                stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                start_new_session=True)
    srv = TritonServer(proc, f"http://127.0.0.1:{http}", f"http://127.0.0.1:{metrics}/metrics", log)
    deadline = time.monotonic() + timeout
    while not all(_status(f"{srv.url}/v2/models/{m}/ready") == 200 for m in models):
        if proc.poll() is not None or time.monotonic() > deadline:
            srv.stop()
            raise RuntimeError("tritonserver did not get the models ready:\n"
                               + log.read_text(errors="replace")[-3000:])
        time.sleep(0.2)
    return srv
