"""Where a journal keeps its files: journal.db, the runtime folder, logs, the socket."""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

# Unix socket paths are limited to 108 bytes including the NUL (sun_path).
_SOCKET_PATH_MAX = 100

NETWORK_FS = {
    "nfs", "nfs4", "cifs", "smbfs", "smb3", "lustre", "gpfs", "beegfs", "ceph",
    "fuse.sshfs", "fuse.glusterfs", "glusterfs", "afs", "9p", "fuse.s3fs", "panfs", "wekafs",
}


@dataclass(frozen=True)
class JournalPaths:
    root: Path

    @property
    def db(self) -> Path:
        return self.root / "journal.db"

    @property
    def config(self) -> Path:
        return self.root / "iejtui.toml"

    @property
    def runtime(self) -> Path:
        return self.root / ".iejtui"

    @property
    def logs(self) -> Path:
        return self.runtime / "logs"

    @property
    def pids(self) -> Path:
        return self.runtime / "pids"

    @property
    def service_pidfile(self) -> Path:
        return self.runtime / "service.pid"

    @property
    def service_lock(self) -> Path:
        return self.runtime / "service.lock"

    @property
    def service_log(self) -> Path:
        return self.runtime / "service.log"

    @property
    def service_json(self) -> Path:
        """Where the running service says it listens (clients read it: see client/sockets.py)."""
        return self.runtime / "service.json"

    @property
    def socket(self) -> Path:
        """The control socket; under the user's runtime dir when the direct path is too long."""
        direct = self.runtime / "control.sock"
        if len(os.fsencode(str(direct))) <= _SOCKET_PATH_MAX:
            return direct
        return self.runtime_socket

    @property
    def runtime_socket(self) -> Path:
        """The socket under the per-user runtime dir (XDG_RUNTIME_DIR, else /tmp/iejtui-$UID):
        for long journal paths and for filesystems without unix sockets (sshfs, some FUSE)."""
        digest = hashlib.sha256(os.fsencode(str(self.root))).hexdigest()[:16]
        base = os.environ.get("XDG_RUNTIME_DIR") or f"/tmp/iejtui-{os.geteuid()}"
        return Path(base) / f"iejtui-{digest}.sock"


def journal_paths(root: str | os.PathLike | None = None) -> JournalPaths:
    return JournalPaths(Path(root or os.environ.get("IEJTUI_JOURNAL") or ".").resolve())


def filesystem_type(path: Path) -> str | None:
    """The filesystem type of the mount holding ``path`` (Linux /proc/mounts), or None."""
    try:
        mounts = Path("/proc/mounts").read_text().splitlines()
    except OSError:
        return None
    best, fstype = "", None
    target = str(path.resolve())
    for line in mounts:
        parts = line.split()
        if len(parts) < 3:
            continue
        mnt = parts[1].replace("\\040", " ")
        if (target == mnt or target.startswith(mnt.rstrip("/") + "/")) and len(mnt) > len(best):
            best, fstype = mnt, parts[2]
    return fstype


def on_network_fs(path: Path) -> str | None:
    """The network filesystem type under ``path``, or None when it is local."""
    fstype = filesystem_type(path)
    return fstype if fstype in NETWORK_FS else None
