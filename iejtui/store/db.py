"""Opening journal.db: the service's read-write connection and clients' read-only ones."""

from __future__ import annotations

import json
import os
import sqlite3
from pathlib import Path

from iejtui.errors import UserError
from iejtui.paths import on_network_fs
from iejtui.store import faults
from iejtui.store.schema import check_readable, migrate


def labels_json(labels) -> str:
    """Canonical JSON text of a label mapping or (key, value) tuple."""
    return json.dumps(dict(labels), sort_keys=True, separators=(",", ":"))


def open_writer_connection(path: Path) -> tuple[sqlite3.Connection, str]:
    """The one read-write connection (the service's). Returns it and the journal mode used.

    WAL needs shared memory and real file locks, which network filesystems do not give
    reliably; there we fall back to a rollback journal (one writer, readers wait) and the
    caller records that choice as an event.
    """
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=10)
        # Small pages: sealed chunks are blobs of a few KB, and each row's last overflow
        # page is partly empty; 1 KiB pages waste a quarter of what 4 KiB pages do.
        # (Only takes effect when the file is created.)
        conn.execute("PRAGMA page_size=1024")
        check_readable(conn, str(path))  # before any pragma writes to a newer iejtui's file
        netfs = on_network_fs(path.parent)
        mode = "delete" if netfs else "wal"
        got = conn.execute(f"PRAGMA journal_mode={mode}").fetchone()[0]
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute("PRAGMA busy_timeout=10000")
        migrate(conn, str(path))
        make_private(path)
    except sqlite3.DatabaseError as exc:
        if faults.is_corrupt(exc):
            raise UserError(faults.damaged(path, exc)) from None
        raise UserError(f"cannot open {path} for writing: {faults.write_error(exc, path)}") from None
    except OSError as exc:
        raise UserError(f"cannot create {path}: {exc.strerror}") from None
    return conn, (f"{got} (network filesystem {netfs})" if netfs else got)


def make_private(path: Path) -> None:
    """chmod 0600 journal.db and its side files: journals made before iejtui set its umask
    (or copied in with a loose mode) become private once the service opens them. SQLite
    gives side files it creates later the database's own mode."""
    for p in (path, *(path.with_name(path.name + s) for s in ("-wal", "-shm", "-journal"))):
        try:
            if os.stat(p).st_mode & 0o077:
                os.chmod(p, 0o600)
        except OSError:  # absent, or not ours (read-only media): nothing to tighten
            pass


def open_reader_connection(path: Path) -> sqlite3.Connection:
    """A read-only connection for clients; refuses journals from a newer iejtui."""
    if not path.exists():
        if (path.parent / "iejtui.toml").exists():
            raise UserError(f"nothing recorded yet in {path.parent} (no journal.db): "
                            f"start an engine with `iejtui engine start NAME` or the service with `iejtui service start`")
        raise UserError(f"no journal at {path.parent}: run `iejtui init {path.parent}` or pass --journal DIR")
    try:
        return _reader(path, "mode=ro")
    except sqlite3.DatabaseError as exc:
        if not os.access(path.parent, os.W_OK):
            # A WAL journal on read-only media (a mounted copy, a snapshot): nobody writes
            # it, so SQLite may skip its shared-memory index and locks.
            try:
                return _reader(path, "mode=ro&immutable=1")
            except sqlite3.DatabaseError:
                pass
        raise UserError(faults.read_error(exc, path)) from None


def _reader(path: Path, params: str) -> sqlite3.Connection:
    conn = sqlite3.connect(f"file:{path}?{params}", uri=True, check_same_thread=False, timeout=10)
    conn.execute("PRAGMA busy_timeout=10000")
    conn.execute("PRAGMA query_only=1")
    check_readable(conn, str(path))
    return conn
