"""The CPU demo's Triton: ``tritonserver`` 2.51 from the ``nvidia-pytriton`` 0.7.0 wheel.

The wheel bundles a CPU-capable ``tritonserver`` with the Python backend and a backend stub
per Python (3.8-3.13). ``ensure_triton`` downloads it (no dependencies), unpacks it under
``<cache>/engines/triton-2.51/wheel/`` (the stub's RPATH finds ``nvidia_pytriton.libs``
four folders up, so the wheel's layout is kept whole), copies the stub for the CPU engine
venv's Python into ``backends/python/`` and installs ``numpy<2`` for the stub into
``stub-site/``. Idempotent (a marker once every step succeeded; the unpacked wheel appears
by rename, whole or not at all) and serialised by a file lock, like the vLLM venv.

Why the stub needs its own environment (found with ``ldd`` and a model printing
``sys.flags``/``sys.path``):

* the stub links ``libpython3.11.so.1.0`` by soname, so the system's one (Debian 3.11.2,
  no numpy) is used unless ``LD_LIBRARY_PATH`` names the engine venv's base interpreter's
  ``LIBDIR``: then its prefix, stdlib and ABI are the venv's;
* the stub's interpreter runs *isolated* (``sys.flags.isolated == 1``): ``PYTHONPATH`` and
  ``PYTHONHOME`` are ignored, so the model itself puts ``$IEJTUI_TRITON_PYTHONPATH`` first
  on ``sys.path`` (Triton's ``EXECUTION_ENV_PATH`` wants a conda-pack'd env holding its own
  libpython and stdlib; a venv has neither);
* the stub's pybind11 (it looks up ``numpy.core.multiarray._ARRAY_API``) reads numpy 1's C
  structures: with numpy 2 (the engine venv has 2.3) every tensor it hands to Python is
  garbled -- a TYPE_STRING input died in ``deserialize_bytes_tensor`` with "unpack_from
  requires a buffer of at least 33686022 bytes ... actual buffer size is 6". numpy 1.26
  first on the path fixes it; torch and transformers run with it.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path

from iejtui.demo.engine_env import (EngineEnv, Log, cache_root, file_lock, read_marker, run_step,
                                    site_packages, write_marker)

PYTRITON_VERSION = "0.7.0"
TRITON_VERSION = "2.51"
TRITON_DIR_NAME = f"triton-{TRITON_VERSION}"
STUB_NUMPY = "numpy==1.26.4"
STUB_NAME = "triton_python_backend_stub"
ENSEMBLE_MODEL = "ensemble"
# the source checkout's fixture models (the demo serves the tiny-Llama `ensemble`)
TRITON_MODELS_DIR = Path(__file__).resolve().parents[2] / "tests" / "data" / "triton_models"


@dataclass(frozen=True)
class TritonEnv:
    """An unpacked Triton: where its server, backends and the stub's numpy live."""

    root: Path

    @property
    def home(self) -> Path:
        return self.root / "wheel" / "pytriton" / "tritonserver"

    @property
    def server(self) -> Path:
        return self.home / "bin" / "tritonserver"

    @property
    def backends(self) -> Path:
        return self.home / "backends"

    @property
    def stub_site(self) -> Path:
        return self.root / "stub-site"


def triton_dir(cache_dir: str | os.PathLike | None = None) -> Path:
    return cache_root(cache_dir) / "engines" / TRITON_DIR_NAME


def _python_tag(py: Path) -> str:
    out = subprocess.run([str(py), "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
                         capture_output=True, text=True, check=True)
    return out.stdout.strip()


def _unpack(wheel: Path, dest: Path) -> None:
    """Unzip ``wheel`` into ``dest`` whole: a temporary folder renamed into place; the
    executable bits (zip external attributes) restored."""
    tmp = dest.parent / f".{dest.name}.tmp-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    with zipfile.ZipFile(wheel) as zf:
        for info in zf.infolist():
            path = Path(zf.extract(info, tmp))
            mode = (info.external_attr >> 16) & 0o777
            if mode and not info.is_dir():
                path.chmod(mode)
    os.replace(tmp, dest)


def ensure_triton(env: EngineEnv, cache_dir: str | os.PathLike | None = None,
                  log: Log = print) -> TritonEnv:
    """Create (once) ``<cache>/engines/triton-2.51/`` for the engine venv ``env``."""
    root = triton_dir(cache_dir)
    triton = TritonEnv(root)
    if read_marker(root) and triton.server.exists():
        return triton
    with file_lock(root.parent / f"{TRITON_DIR_NAME}.lock", log, "Triton"):
        if read_marker(root) and triton.server.exists():
            return triton
        start = time.monotonic()
        log(f"preparing Triton {TRITON_VERSION} (nvidia-pytriton=={PYTRITON_VERSION}, ~55 MB) in {root}")
        root.mkdir(parents=True, exist_ok=True)
        logfile = root / "iejtui-setup.log"
        if not triton.server.exists():
            download = root / "download"
            download.mkdir(exist_ok=True)
            rc = run_step([sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
                           "-d", str(download), f"nvidia-pytriton=={PYTRITON_VERSION}"],
                          log, logfile, label="pip download nvidia-pytriton")
            wheels = sorted(download.glob(f"nvidia_pytriton-{PYTRITON_VERSION}-*.whl"))
            if rc != 0 or not wheels:
                raise RuntimeError(f"pip download nvidia-pytriton=={PYTRITON_VERSION} failed; see {logfile}")
            shutil.rmtree(root / "wheel", ignore_errors=True)
            _unpack(wheels[-1], root / "wheel")
            log(f"unpacked {wheels[-1].name}")
            shutil.rmtree(download, ignore_errors=True)  # 55 MB the unpacked copy makes useless
        tag = _python_tag(env.python)
        stub = triton.home / "python_backend_stubs" / tag / STUB_NAME
        if not stub.exists():
            raise RuntimeError(f"the wheel has no Python backend stub for Python {tag} ({stub})")
        dst = triton.backends / "python" / STUB_NAME
        tmp = dst.with_name(f".{STUB_NAME}.tmp-{os.getpid()}")
        shutil.copy2(stub, tmp)
        os.replace(tmp, dst)
        log(f"the Python {tag} stub is in {dst.parent}")
        if not (triton.stub_site / "numpy").is_dir():
            site_tmp = root / f".stub-site.tmp-{os.getpid()}"
            shutil.rmtree(site_tmp, ignore_errors=True)
            rc = run_step([str(env.python), "-m", "pip", "install", "--no-deps", "--only-binary=:all:",
                           "--target", str(site_tmp), STUB_NUMPY],
                          log, logfile, label=f"pip install {STUB_NUMPY} for the stub")
            if rc != 0:
                raise RuntimeError(f"pip install {STUB_NUMPY} failed; see {logfile}")
            shutil.rmtree(triton.stub_site, ignore_errors=True)
            os.replace(site_tmp, triton.stub_site)
        write_marker(root, {"pytriton": PYTRITON_VERSION, "triton": TRITON_VERSION, "stub_python": tag,
                            "stub_numpy": STUB_NUMPY, "engine_python": str(env.python),
                            "seconds": round(time.monotonic() - start, 1),
                            "created": time.strftime("%Y-%m-%dT%H:%M:%S%z")})
        log(f"Triton ready in {time.monotonic() - start:.0f} s: {triton.server}")
        return triton


def _libpython_dir(py: Path) -> str | None:
    """The folder holding the venv base interpreter's shared libpython (None: static build)."""
    out = subprocess.run([str(py), "-c", "import sysconfig as s; print(s.get_config_var('LIBDIR') or ''); "
                          "print(s.get_config_var('INSTSONAME') or '')"],
                         capture_output=True, text=True)
    lines = out.stdout.splitlines()
    if out.returncode != 0 or len(lines) < 2:
        return None
    libdir, soname = lines[0], lines[1]
    return libdir if soname and (Path(libdir) / soname).exists() else None


def triton_env(triton: TritonEnv, env: EngineEnv, model: str | os.PathLike | None = None,
               base: dict[str, str] | None = None) -> dict[str, str]:
    """Variables a ``tritonserver`` needs so the stub runs with the engine venv's Python:
    ``LD_LIBRARY_PATH`` (its libpython), ``IEJTUI_TRITON_PYTHONPATH`` (numpy<2, then the
    venv's site-packages) and ``IEJTUI_TINY_MODEL``. ``base``: variables to extend."""
    base = dict(base or {})
    out: dict[str, str] = {}
    libdir = _libpython_dir(env.python)
    if libdir:
        out["LD_LIBRARY_PATH"] = os.pathsep.join(p for p in (libdir, base.get("LD_LIBRARY_PATH")) if p)
    out["IEJTUI_TRITON_PYTHONPATH"] = os.pathsep.join(
        [str(triton.stub_site), str(site_packages(env.root))])
    if model is not None:
        out["IEJTUI_TINY_MODEL"] = str(model)
    return out


def triton_argv(triton: TritonEnv, repo: str | os.PathLike, http_port: int, grpc_port: int,
                metrics_port: int, http_address: str = "127.0.0.1", grpc_address: str = "127.0.0.1",
                metrics_address: str = "127.0.0.1") -> list[str]:
    """The command line serving ``repo``, on loopback by default (Triton binds 0.0.0.0
    unless told)."""
    return [str(triton.server), f"--model-repository={repo}", f"--backend-directory={triton.backends}",
            "--http-address", http_address, "--http-port", str(http_port),
            "--grpc-address", grpc_address, "--grpc-port", str(grpc_port),
            "--metrics-address", metrics_address, "--metrics-port", str(metrics_port),
            "--exit-timeout-secs", "5"]


def build_model_repository(dest: Path, models: list[Path]) -> Path:
    """A model repository at ``dest`` holding a copy of each model folder (private: 0700)."""
    dest.mkdir(parents=True, exist_ok=True)
    dest.chmod(0o700)
    for src in models:
        shutil.copytree(src, dest / src.name, dirs_exist_ok=True)
    return dest


def fixture_models() -> list[Path]:
    """Every model folder under ``tests/data/triton_models/`` (one with a config.pbtxt)."""
    if not TRITON_MODELS_DIR.is_dir():
        return []
    return sorted(p for p in TRITON_MODELS_DIR.iterdir() if (p / "config.pbtxt").is_file())
