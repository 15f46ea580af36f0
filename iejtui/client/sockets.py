"""Reaching the control socket safely on a shared box: the folder it lives in, who owns the
socket file, who serves it, and ``.iejtui/service.json`` (where the service said it listens).

Decisions:
- The socket's folder must be a real folder (not a link), owned by you, that nobody else can
  write into; the per-user fallback ``/tmp/iejtui-$UID`` must moreover be exactly private
  (0700): another user who pre-creates it could otherwise place or swap the socket.
- A client connects with ``connect_verified`` only: the socket file must be yours, and the
  process that accepted the connection must run as you (``SO_PEERCRED``), checked on the
  very socket that then carries the request, before a byte is sent.
- ``service.json`` is trusted only when it and its folder are yours and it is 0600; else the
  client computes the path as before. The service writes it atomically once it listens.
"""

from __future__ import annotations

import json
import os
import socket
import stat
import struct
from pathlib import Path

from iejtui.errors import UserError
from iejtui.paths import JournalPaths

SERVICE_MARKER = ["-m", "iejtui.service", "run"]


def fallback_dir(uid: int | None = None) -> Path:
    """The per-user folder used when XDG_RUNTIME_DIR is unset."""
    return Path(f"/tmp/iejtui-{os.geteuid() if uid is None else uid}")


def _owner(uid: int) -> str:
    return "you" if uid == os.geteuid() else f"uid {uid}"


def dir_problem(path: Path, st: os.stat_result, exact: bool) -> str | None:
    """What makes ``st`` (an lstat of ``path``) unfit to hold your socket, or None."""
    if stat.S_ISLNK(st.st_mode):
        return f"{path} is a symbolic link, not a folder"
    if not stat.S_ISDIR(st.st_mode):
        return f"{path} is not a folder"
    if st.st_uid != os.geteuid():
        return f"{path} is owned by {_owner(st.st_uid)}, not you"
    mode = stat.S_IMODE(st.st_mode)
    if (mode & 0o077) if exact else (mode & 0o022):
        return f"{path} has mode {mode:04o}, not 0700"
    return None


def _fix(path: Path, st: os.stat_result) -> str:
    if path.name == ".iejtui" and st.st_uid != os.geteuid():
        return "this journal is another user's: use a journal of your own"
    if path.parent == Path("/tmp") and path.name.startswith("iejtui-"):
        return "have it removed (or remove it if it is yours) or set XDG_RUNTIME_DIR to a private folder"
    return "make it a private folder of yours (chmod 700) or set XDG_RUNTIME_DIR"


def verify_socket_dir(path: Path) -> None:
    """Refuse (UserError, one line) a socket folder another user could tamper with.

    Raises FileNotFoundError when it does not exist (nothing to reach there yet)."""
    st = os.lstat(path)
    problem = dir_problem(path, st, exact=path == fallback_dir())
    if problem:
        raise UserError(f"{problem}: refusing to use the control socket there; {_fix(path, st)}")


def ensure_socket_dir(path: Path) -> None:
    """Create the socket's folder private (0700) if missing, then verify it (the service side)."""
    if path == fallback_dir():
        try:
            os.mkdir(path, 0o700)
        except FileExistsError:
            pass
    else:
        path.mkdir(mode=0o700, parents=True, exist_ok=True)
    verify_socket_dir(path)


def peer_uid(sock: socket.socket) -> int:
    creds = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
    return struct.unpack("3i", creds)[1]


def verify_socket_file(path: Path) -> None:
    """The socket file must be a socket owned by you (FileNotFoundError when absent)."""
    verify_socket_dir(path.parent)
    st = os.lstat(path)
    if not stat.S_ISSOCK(st.st_mode):
        raise UserError(f"{path} is not a socket: refusing to talk to it; remove it and start the service again")
    if st.st_uid != os.geteuid():
        raise UserError(f"the control socket {path} is owned by {_owner(st.st_uid)}, not you: "
                        f"refusing to talk to it; remove it and start the service again")


def check_peer(sock: socket.socket, path: Path) -> None:
    """Refuse a connected socket whose server runs as another user."""
    uid = peer_uid(sock)
    if uid != os.geteuid():
        raise UserError(f"the control socket {path} is served by {_owner(uid)}, not you: "
                        f"refusing to send anything; stop that process or remove the socket")


def connect_verified(path: Path, timeout: float = 1.0) -> socket.socket:
    """A blocking connection to your service at ``path``, checked before anything is sent.

    Raises FileNotFoundError / ConnectionRefusedError (OSError) when nothing listens, and
    UserError (one line) when the folder, the file or the server is not yours."""
    verify_socket_file(path)
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        s.settimeout(timeout)
        s.connect(str(path))
        check_peer(s, path)
    except BaseException:
        s.close()
        raise
    return s


# ---- service.json -------------------------------------------------------------------------
def write_service_info(paths: JournalPaths, info: dict) -> None:
    """Write ``.iejtui/service.json`` atomically, 0600."""
    tmp = paths.service_json.with_suffix(".json.tmp")
    tmp.unlink(missing_ok=True)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump(info, f)
    os.replace(tmp, paths.service_json)


def read_service_info(paths: JournalPaths) -> dict | None:
    """``service.json`` when it can be trusted (it and its folder yours, it 0600), else None."""
    try:
        dst = os.lstat(paths.runtime)
        if dir_problem(paths.runtime, dst, exact=False):
            return None
        fd = os.open(paths.service_json, os.O_RDONLY | os.O_NOFOLLOW)
    except OSError:
        return None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode) or st.st_uid != os.geteuid() or stat.S_IMODE(st.st_mode) != 0o600:
            return None
        with os.fdopen(fd, "r", closefd=False) as f:
            info = json.load(f)
    except (OSError, ValueError):
        return None
    finally:
        os.close(fd)
    return info if isinstance(info, dict) and isinstance(info.get("socket"), str) else None


def socket_candidates(paths: JournalPaths) -> list[Path]:
    """Where to look for the service: the path it recorded first, then the computed one."""
    info = read_service_info(paths)
    found = [Path(info["socket"])] if info else []
    if paths.socket not in found:
        found.append(paths.socket)
    return found


def service_socket(paths: JournalPaths) -> Path | None:
    """The socket your service answers on (the one service.json names, else the computed
    one), or None. Refuses with one line (UserError) a socket another user could have placed."""
    for path in socket_candidates(paths):
        try:
            connect_verified(path).close()
            return path
        except OSError:
            continue
    return None


def service_running(paths: JournalPaths) -> bool:
    """Whether your service answers on this journal's socket (see ``service_socket``)."""
    return service_socket(paths) is not None
