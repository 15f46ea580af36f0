"""Playing other local users for real: spare uids through ``setpriv``.

Root bypasses owner, mode and signal checks, so a shared-box test plays *both* the victim
and the attacker as spare uids (``setpriv --reuid/--regid --clear-groups``), in a 0755
scratch folder (pytest's own tmp folders are 0700 and unreachable for them). Such a test
needs root: without it, it fails under ``CI`` and skips elsewhere (``need_root``).
"""

from __future__ import annotations

import atexit
import os
import shutil
import stat
import subprocess
import sys
import sysconfig
import tempfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# uids no account uses on CI machines (no passwd entry is needed for setpriv)
VICTIM, ATTACKER, THIRD = 61001, 61002, 61003


def user_python() -> str | None:
    """An interpreter of this Python version that other uids can run.

    The project's venv usually points into root's home (pyenv), which other users cannot
    enter; the distribution's ``/usr/bin/python3.X`` of the same version runs this checkout
    and the venv's packages (``user_env`` puts both on PYTHONPATH: same ABI)."""
    v = f"{sys.version_info.major}.{sys.version_info.minor}"
    for cand in (f"/usr/bin/python{v}", f"/usr/local/bin/python{v}"):
        if os.access(cand, os.X_OK):
            return cand
    return None


def need_root() -> None:
    """Fail under CI, skip elsewhere, when this process cannot switch uids."""
    why = None
    if os.geteuid() != 0:
        why = "needs root to play other users (setpriv)"
    elif not shutil.which("setpriv"):
        why = "needs setpriv (util-linux) to play other users"
    elif user_python() is None:
        why = f"needs a python{sys.version_info.major}.{sys.version_info.minor} other users can run in /usr/bin"
    if why:
        if os.environ.get("CI"):
            pytest.fail(why)
        pytest.skip(why)


def reachable_by_others(path: Path) -> bool:
    """Whether a spare uid can enter ``path`` (every folder on the way has o+x)."""
    return all(p.stat().st_mode & stat.S_IXOTH for p in (path, *path.parents) if p.is_dir())


_COPIES: dict[str, str] = {}


def _reachable_copy(src: Path, what: str, skip: tuple[str, ...] = ()) -> str:
    """``src`` itself when spare uids can enter it, else a 0755 copy under /tmp made once
    per test session (hard links where the filesystem allows: a checkout or venv under a
    private home such as /root would otherwise be unreadable to them)."""
    if reachable_by_others(src):
        return str(src)
    if what not in _COPIES:
        dst = Path(tempfile.mkdtemp(prefix=f"iejtui-users-{what}-", dir="/tmp"))
        atexit.register(shutil.rmtree, dst, True)
        os.chmod(dst, 0o755)
        for child in src.iterdir():
            if child.name in skip or child.name.startswith("."):
                continue
            target = dst / child.name
            try:
                if child.is_dir():
                    shutil.copytree(child, target, copy_function=os.link, symlinks=True)
                else:
                    os.link(child, target)
            except OSError:  # another filesystem: a real copy
                shutil.rmtree(target, ignore_errors=True)
                (shutil.copytree(child, target, symlinks=True) if child.is_dir() else shutil.copy2(child, target))
        for d, dirs, files in os.walk(dst):
            os.chmod(d, 0o755)
        _COPIES[what] = str(dst)
    return _COPIES[what]


def user_env(uid: int, home: Path, **extra: str) -> dict[str, str]:
    """A login-like environment for ``uid``: its own HOME, no XDG_RUNTIME_DIR (so the
    /tmp fallback is reached), this checkout importable, no bytecode writes."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("XDG_", "IEJTUI_"))}
    home.mkdir(parents=True, exist_ok=True)
    os.chown(home, uid, uid)
    os.chmod(home, 0o700)
    # this checkout and the venv's packages, or reachable copies of them
    src = _reachable_copy(ROOT, "src", skip=("tests", "days", "topics", "benchmarks"))
    site = _reachable_copy(Path(sysconfig.get_paths()["purelib"]), "site", skip=("playwright",))
    env.update(HOME=str(home), USER=f"u{uid}", LOGNAME=f"u{uid}", PYTHONDONTWRITEBYTECODE="1",
               PYTHONPATH=os.pathsep.join(p for p in (src, site, env.get("PYTHONPATH", "")) if p))
    env.update(extra)
    return env


def as_uid(uid: int, argv: list[str]) -> list[str]:
    """``argv`` run as ``uid`` (its own group, no supplementary groups)."""
    return ["setpriv", f"--reuid={uid}", f"--regid={uid}", "--clear-groups", *argv]


def run_as(uid: int, argv: list[str], env: dict | None = None, timeout: float = 120,
           **kw) -> subprocess.CompletedProcess:
    return subprocess.run(as_uid(uid, argv), env=env, capture_output=True, text=True,
                          timeout=timeout, **kw)


def popen_as(uid: int, argv: list[str], env: dict | None = None, **kw) -> subprocess.Popen:
    return subprocess.Popen(as_uid(uid, argv), env=env, **kw)


def iejtui_as(uid: int, journal: Path, *args: str, env: dict | None = None,
              timeout: float = 120) -> subprocess.CompletedProcess:
    """``iejtui --journal JOURNAL ARGS`` as ``uid`` (``user_python``, this checkout)."""
    return run_as(uid, [user_python(), "-m", "iejtui.cli", "--journal", str(journal), *args],
                  env=env, timeout=timeout)


@pytest.fixture
def scratch():
    """A 0755 folder under /tmp that spare uids can reach; removed afterwards."""
    d = Path(tempfile.mkdtemp(prefix="iejtui-users-", dir="/tmp"))
    os.chmod(d, 0o755)
    yield d
    shutil.rmtree(d, ignore_errors=True)


def reachable_dir(path: Path, uid: int | None = None) -> Path:
    """``path`` (and missing parents) as folders spare uids can enter: 0755 whatever this
    process's umask is (a test that ran iejtui in-process leaves it 077), owned by ``uid``."""
    missing = [p for p in (path, *path.parents) if not p.exists()]
    path.mkdir(parents=True, exist_ok=True)
    for d in missing:
        os.chmod(d, 0o755)
        if uid is not None:
            os.chown(d, uid, uid)
    return path
