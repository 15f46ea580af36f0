"""The files a run owns under the journal's runtime folder, found by its id (not by paths
stored in journal.db, so a damaged or edited row cannot point deletion elsewhere):

* ``logs/run-<ID>-<NAME>.log`` — an owned engine's log (``iejtui.service.supervisor``);
* ``redact/<ID>.json`` — the secret fingerprints its log is masked with (``iejtui.logs``);
* ``profiles/run-<ID>/`` — its profiler traces (``iejtui.profiling.files``), and any of its
  window's files still in an engine's profile folder (a window cut short before the move).

``runs delete`` removes them with the run. Nothing under ``days/`` is touched: a day log
keeps its own copies.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from iejtui.logs import fingerprints_path
from iejtui.paths import JournalPaths
from iejtui.profiling import files as profile_files


def owned_paths(paths: JournalPaths, run_id: int) -> list[Path]:
    """The files and folders run ``run_id`` owns that exist now, sorted."""
    runtime = paths.runtime
    out: list[Path] = []
    out += sorted(paths.logs.glob(f"run-{int(run_id)}-*.log")) if paths.logs.is_dir() else []
    fp = fingerprints_path(paths, run_id)
    if fp.is_file():
        out.append(fp)
    folder = profile_files.run_dir(runtime, run_id)
    if folder.is_dir():
        out.append(folder)
    engines = runtime / "profiles"
    if engines.is_dir():
        for d in sorted(engines.glob("engine-*")):
            out += profile_files.run_files(d, profile_files.prefix_for(run_id))
    return out


def size_of(path: Path) -> int:
    """Bytes of a file, or of the plain files under a folder (links not followed)."""
    if path.is_dir() and not path.is_symlink():
        return profile_files.dir_bytes([p for p in path.rglob("*") if p.is_file() and not p.is_symlink()])
    try:
        return path.lstat().st_size
    except OSError:
        return 0


def owned_bytes(paths: JournalPaths, run_id: int) -> int:
    """Bytes of everything run ``run_id`` owns now (what deleting it frees on disk)."""
    return sum(size_of(p) for p in owned_paths(paths, run_id))


def remove(paths: JournalPaths, run_id: int) -> tuple[int, int]:
    """Remove what run ``run_id`` owns; returns (files and folders removed, bytes freed).
    Never follows a link out of the runtime folder (a link is removed, not its target)."""
    n = freed = 0
    for p in owned_paths(paths, run_id):
        size = size_of(p)
        try:
            if p.is_dir() and not p.is_symlink():
                shutil.rmtree(p)
            else:
                p.unlink()
        except FileNotFoundError:
            continue
        n, freed = n + 1, freed + size
    return n, freed
