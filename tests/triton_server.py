"""Start the real tritonserver (the unpacked nvidia-pytriton 0.7.0 wheel, Triton 2.51) over
a model repository built from ``tests/data/triton_models/*`` dirs: for the known-timing
truth test and ``tests/perf/triton_bench_vs_aiperf.py``.

The Python backend's stub runs Python with an isolated configuration (its binary calls
``PyConfig_InitIsolatedConfig``): PYTHONPATH and PYTHONHOME are ignored; its libpython is
found by soname (LD_LIBRARY_PATH: the CPU engine venv's base interpreter's LIBDIR, so the
prefix and ABI are that Python 3.11's, not Debian's numpy-less one).  It needs numpy < 2:
the 2.51 stub (pybind11 built against numpy 1.x) under numpy 2 hands the model every
input tensor filled with its first byte (a BYTES input "hello world" arrives as
15 x 0x0b and ``deserialize_bytes_tensor`` fails; seen with numpy 2.4.6, gone with
1.26.4).  So the models put ``$IEJTUI_TRITON_PYTHONPATH`` first on ``sys.path`` before
importing numpy, and this names ``<cache>/engines/triton-2.51/stub-site`` there (numpy
1.26.4, the folder ``iejtui demo setup`` installs; made here the same way if absent).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from iejtui.demo.engine_env import cache_root

ROOT = Path(__file__).resolve().parents[1]
MODELS = ROOT / "tests" / "data" / "triton_models"
CACHE = cache_root()
TRITON = Path(os.environ.get("IEJTUI_TRITON_HOME",
                             CACHE / "engines" / "triton-2.51" / "wheel" / "pytriton" / "tritonserver"))
STUB_SITE = CACHE / "engines" / "triton-2.51" / "stub-site"
STUB_NUMPY = "numpy==1.26.4"


def free_port() -> int:
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def stub_site(engine_python: Path) -> Path:
    """numpy 1.26 for the stub (see the module docstring), installed once."""
    if not (STUB_SITE / "numpy").is_dir():
        tmp = STUB_SITE.with_name(f".stub-site.tmp-{os.getpid()}")
        shutil.rmtree(tmp, ignore_errors=True)
        subprocess.run([str(engine_python), "-m", "pip", "install", "-q", "--no-deps",
                        "--only-binary=:all:", "--target", str(tmp), STUB_NUMPY], check=True, timeout=600)
        if not (STUB_SITE / "numpy").is_dir():
            shutil.rmtree(STUB_SITE, ignore_errors=True)
            os.replace(tmp, STUB_SITE)
        shutil.rmtree(tmp, ignore_errors=True)
    return STUB_SITE


def libpython_dir(engine_python: Path) -> str | None:
    """LIBDIR of the venv's base interpreter when it holds a shared libpython."""
    out = subprocess.run([str(engine_python), "-c", "import sysconfig as s; "
                          "print(s.get_config_var('LIBDIR') or ''); print(s.get_config_var('INSTSONAME') or '')"],
                         capture_output=True, text=True)
    lines = out.stdout.splitlines()
    if out.returncode != 0 or len(lines) < 2:
        return None
    return lines[0] if lines[1] and (Path(lines[0]) / lines[1]).exists() else None


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
    libdir = libpython_dir(engine_python)
    site = stub_site(engine_python)
    repo = workdir / "models"
    for name in models:
        shutil.copytree(MODELS / name, repo / name)
    http, grpc, metrics = free_port(), free_port(), free_port()
    env = dict(os.environ, IEJTUI_TRITON_PYTHONPATH=str(site),
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
