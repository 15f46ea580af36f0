"""Where the tests find a real ``tritonserver`` and how its Python-backend stub must run.

The ``nvidia-pytriton==0.7.0`` wheel unpacked under ``<cache>/engines/triton-2.51/wheel``
bundles tritonserver 2.51. Two facts found running it here (Dec 2026):

* its Python stub starts an *isolated* interpreter: ``PYTHONPATH`` reaches the model's
  ``os.environ`` but not ``sys.path`` (the fixture models add it themselves);
* the stub's pybind11 predates numpy 2: with numpy 2.x every tensor crossing the stub is
  misread (``output tensor shape does not match size``, the ``deserialize_bytes_tensor``
  crash), so the stub needs numpy<2, kept in ``<cache>/engines/triton-2.51/stub-numpy``
  (``pip install --target … "numpy<2"`` with Python 3.11) and put first on ``PYTHONPATH``.

Engineer B's Triton setup (``iejtui demo setup``) is expected to provide both; until then
this module only locates them.
"""

from __future__ import annotations

import os
from pathlib import Path

from iejtui.demo.engine_env import cache_root

TRITON_DIR = "triton-2.51"


def triton_root() -> Path:
    return cache_root() / "engines" / TRITON_DIR


def tritonserver_binary() -> Path | None:
    """The unpacked ``tritonserver`` binary, or None when it is not installed."""
    path = triton_root() / "wheel" / "pytriton" / "tritonserver" / "bin" / "tritonserver"
    return path if path.is_file() and os.access(path, os.X_OK) else None


def stub_numpy_dir() -> Path | None:
    path = triton_root() / "stub-numpy"
    return path if (path / "numpy").is_dir() else None


def stub_env(env: dict[str, str]) -> dict[str, str]:
    """``env`` with numpy<2 first on ``PYTHONPATH`` for the Python-backend stub."""
    out = dict(env)
    numpy_dir = stub_numpy_dir()
    if numpy_dir is not None:
        out["PYTHONPATH"] = os.pathsep.join(p for p in (str(numpy_dir), env.get("PYTHONPATH", "")) if p)
    return out
