"""A profiled run's trace files: where the engine writes them, where the run keeps them.

Decisions:

* An engine launched with profiling writes every window's traces into one folder,
  ``<runtime>/profiles/engine-<NAME>/`` (0700), named by vLLM from the ``profile_prefix``
  iejtui passes to ``/start_profile``: ``iejtui-run<ID>`` (``<prefix>_rank0.<ns>.pt.trace.json.gz``
  per worker, ``<prefix>_<host>_<pid>.async_llm.<ns>.pt.trace.json.gz`` for the front end,
  ``<prefix>_rank0.profiler_out.txt``, vLLM 0.32 ``vllm/profiler/wrapper.py``).
* When the window closes the run's files move to ``<runtime>/profiles/run-<ID>/`` (0700): the
  trace belongs to the run (listed with its size in the run's summary), lives under the
  runtime folder and never under ``days/`` (an export copies it only when asked).
* Sizes are counted on what is on disk; the free space is ``statvfs`` of the folder's
  filesystem (what an unprivileged writer may use: ``f_bavail``).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

__all__ = ["PREFIX", "TRACE_SUFFIXES", "dir_bytes", "engine_dir", "free_bytes", "make_private_dir",
           "move_run_files", "prefix_for", "run_dir", "run_files", "trace_files"]

PREFIX = "iejtui-run"
TRACE_SUFFIXES = (".pt.trace.json.gz", ".pt.trace.json", ".json.gz", ".json", ".nsys-rep")


def prefix_for(run_id: int) -> str:
    """The ``profile_prefix`` of run ``run_id`` (vLLM: 1-128 of ``[A-Za-z0-9._-]``)."""
    return f"{PREFIX}{int(run_id)}"


def engine_dir(runtime: Path, engine: str) -> Path:
    return Path(runtime) / "profiles" / f"engine-{engine}"


def run_dir(runtime: Path, run_id: int) -> Path:
    return Path(runtime) / "profiles" / f"run-{int(run_id)}"


def make_private_dir(path: Path) -> Path:
    """``path`` and its missing parents, 0700 (traces name the model, the prompts' shapes)."""
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    os.chmod(path, 0o700)
    os.chmod(path.parent, 0o700)
    return path


def run_files(folder: Path, prefix: str) -> list[Path]:
    """Every file of one window (``prefix_...``) in ``folder``, sorted by name."""
    try:
        return sorted(p for p in Path(folder).iterdir()
                      if p.is_file() and (p.name == prefix or p.name.startswith(prefix + "_")
                                          or p.name.startswith(prefix + ".")))
    except FileNotFoundError:
        return []


def trace_files(paths: list[Path]) -> list[Path]:
    """The kineto traces among a window's files (not the ``profiler_out.txt`` tables)."""
    return [p for p in paths if p.name.endswith((".pt.trace.json.gz", ".pt.trace.json"))]


def dir_bytes(paths: list[Path]) -> int:
    total = 0
    for p in paths:
        try:
            total += p.stat().st_size
        except OSError:
            pass
    return total


def free_bytes(path: Path) -> int:
    """Bytes an unprivileged process may still write on ``path``'s filesystem."""
    st = os.statvfs(path)
    return st.f_bavail * st.f_frsize


def move_run_files(src: list[Path], dest: Path) -> list[Path]:
    """Move a window's files into the run's folder (same filesystem: a rename)."""
    make_private_dir(dest)
    out = []
    for p in src:
        target = dest / p.name
        shutil.move(str(p), str(target))
        os.chmod(target, 0o600)
        out.append(target)
    return out
