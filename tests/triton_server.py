"""Start the real tritonserver (the unpacked nvidia-pytriton 0.7.0 wheel, Triton 2.51) over
a model repository built from ``tests/data/triton_models/*`` dirs: for the known-timing
truth test and ``tests/perf/triton_bench_vs_aiperf.py``.

The Python backend's stub runs Python with an isolated configuration (its binary calls
``PyConfig_InitIsolatedConfig``): PYTHONPATH and PYTHONHOME are ignored; its
``sys.prefix`` comes from the first ``python3`` on PATH (which is how the backend's
EXECUTION_ENV_PATH ``activate`` works) and its libpython from LD_LIBRARY_PATH (else the
system's). That Python needs numpy < 2: the 2.51 stub (pybind11 built against numpy 1.x)
under numpy 2 hands the model every input tensor filled with its first byte (a BYTES
input "hello world" arrives as 15 x 0x0b and ``deserialize_bytes_tensor`` fails; seen
with numpy 2.4.6, gone with 1.26.4). So the stub runs a small venv with numpy 1.26 of the
CPU engine venv's base interpreter (Python 3.11, the stub's version), built once into the
engine cache.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MODELS = ROOT / "tests" / "data" / "triton_models"
CACHE = Path(os.environ.get("IEJTUI_CACHE_DIR", Path.home() / ".cache" / "iejtui"))
TRITON = Path(os.environ.get("IEJTUI_TRITON_HOME",
                             CACHE / "engines" / "triton-2.51" / "wheel" / "pytriton" / "tritonserver"))
STUB_ENV = CACHE / "engines" / "triton-2.51" / "stub-env-numpy1"


def free_port() -> int:
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def base_python(engine_python: Path) -> Path:
    """The interpreter a venv was made from (its pyvenv.cfg ``home``)."""
    cfg = engine_python.parent.parent / "pyvenv.cfg"
    if cfg.exists():
        for line in cfg.read_text().splitlines():
            k, _, v = line.partition("=")
            if k.strip() == "home":
                return Path(v.strip()) / "python3"
    return engine_python


def stub_env(base: Path) -> Path:
    """A venv of ``base`` with numpy 1.26 for the stub (see the module docstring)."""
    done = STUB_ENV / ".iejtui-ready"
    if not done.exists():
        shutil.rmtree(STUB_ENV, ignore_errors=True)
        subprocess.run([str(base), "-m", "venv", str(STUB_ENV)], check=True, timeout=300)
        subprocess.run([str(STUB_ENV / "bin" / "python"), "-m", "pip", "install", "-q",
                        "numpy>=1.26,<2"], check=True, timeout=600)
        done.write_text("numpy<2 for the Triton Python backend stub\n")
    return STUB_ENV


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


def start_triton(models: list[str], workdir: Path, engine_python: Path,
                 timeout: float = 120.0) -> TritonServer:
    """tritonserver on 127.0.0.1 with ``tests/data/triton_models/NAME`` for each name,
    ready (every model's ``/v2/models/NAME/ready``); raises RuntimeError with the log's
    tail when it is not.  FileNotFoundError when tritonserver is not installed."""
    server = TRITON / "bin" / "tritonserver"
    if not server.exists():
        raise FileNotFoundError(f"tritonserver not found at {server} (iejtui demo setup installs it)")
    base = base_python(engine_python)
    libdir = subprocess.run([str(base), "-c", "import sysconfig; print(sysconfig.get_config_var('LIBDIR'))"],
                            capture_output=True, text=True, check=True).stdout.strip()
    venv = stub_env(base)
    repo = workdir / "models"
    for name in models:
        shutil.copytree(MODELS / name, repo / name)
    http, grpc, metrics = free_port(), free_port(), free_port()
    env = dict(os.environ, PATH=f"{venv / 'bin'}:{os.environ['PATH']}",
               LD_LIBRARY_PATH=":".join(p for p in (libdir, os.environ.get("LD_LIBRARY_PATH")) if p))
    log = workdir / "tritonserver.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [str(server), f"--model-repository={repo}", f"--backend-directory={TRITON / 'backends'}",
             "--http-address", "127.0.0.1", "--grpc-address", "127.0.0.1", "--metrics-address", "127.0.0.1",
             "--http-port", str(http), "--grpc-port", str(grpc), "--metrics-port", str(metrics),
             "--exit-timeout-secs", "2"],
            env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    srv = TritonServer(proc, f"http://127.0.0.1:{http}", f"http://127.0.0.1:{metrics}/metrics", log)
    deadline = time.monotonic() + timeout
    while not all(_status(f"{srv.url}/v2/models/{m}/ready") == 200 for m in models):
        if proc.poll() is not None or time.monotonic() > deadline:
            srv.stop()
            raise RuntimeError("tritonserver did not get the models ready:\n"
                               + log.read_text(errors="replace")[-3000:])
        time.sleep(0.2)
    return srv
