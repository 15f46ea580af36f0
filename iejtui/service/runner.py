"""The engine wrapper: a tiny process that starts one engine, masks its log, records how it ended.

The service launches ``python -m iejtui.service.runner SPEC_FILE`` as the leader of a new
session and process group. SPEC_FILE (0600, written by the service) holds the engine's
argv, the log and exit-status paths and the secret values of the run; the wrapper reads
it and deletes it before starting the engine, so ``ps`` of the wrapper shows neither the
engine's command line nor any secret (a secret on the *engine's* own command line stays
visible in the engine's ``ps`` line: nothing can hide that).

Decisions:
- The engine's stdout and stderr come through a pipe: the wrapper splits them on ``\\n``
  and ``\\r`` (progress bars) and appends each piece to the log file with the run's
  secrets masked (by value, then ``redact_text``'s labelled forms), so the log file itself
  never holds a raw secret, even while no service is running.
- The wrapper is in its own session, so it survives the service being killed; it ignores
  SIGTERM/SIGINT/SIGHUP (stop signals go to the whole group and are meant for the engine;
  the wrapper keeps draining the pipe so the engine never meets SIGPIPE).
- It is a child subreaper: a worker that ``setsid()``s and outlives its parent is
  reparented to the wrapper, which reaps it; after the engine exits and its status is
  written, the wrapper stops such leftover descendants (SIGTERM, then SIGKILL). The service
  stops them too from the descendant tree it records (the wrapper may be gone).
"""

from __future__ import annotations

import ctypes
import json
import os
import re
import select
import signal
import sys
import time

from iejtui.redact import redact_text

PR_SET_CHILD_SUBREAPER = 36
_END = re.compile(rb"\r\n|\r|\n")  # (one match per end: linear in the buffer)
_MAX_PARTIAL = 64 * 1024  # a line this long without an end is written as it is


def _write_exit(path: str, record: dict) -> None:
    tmp = f"{path}.tmp"
    with open(tmp, "w") as f:
        json.dump(record, f)
    os.replace(tmp, path)


def read_spec(path: str) -> dict:
    """Load the launch spec and delete it (it names the secrets of the run)."""
    try:
        with open(path) as f:
            return json.load(f)
    finally:
        try:
            os.unlink(path)
        except OSError:
            pass


def split_pieces(buf: bytes, final: bool = False) -> tuple[list[bytes], bytes]:
    """Complete pieces of ``buf`` (each with its ``\\n``/``\\r``/``\\r\\n`` end) and the rest.

    A trailing ``\\r`` waits for the next read (it may be the start of ``\\r\\n``) unless
    ``final``; an unended rest longer than ``_MAX_PARTIAL`` is returned as a piece."""
    pieces = []
    pos = 0
    for m in _END.finditer(buf):
        if m.group(0) == b"\r" and m.end() == len(buf) and not final:
            break
        pieces.append(buf[pos:m.end()])
        pos = m.end()
    rest = buf[pos:]
    if rest and (final or len(rest) > _MAX_PARTIAL):
        pieces.append(rest)
        rest = b""
    return pieces, rest


def mask_piece(piece: bytes, secrets: list[str]) -> bytes:
    """One piece of output with its end kept and the run's secrets masked."""
    body = piece.rstrip(b"\r\n")
    end = piece[len(body):]
    return redact_text(body.decode("utf-8", "replace"), secrets).encode() + end


def _become_subreaper() -> bool:
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


def _descendants() -> list[int]:
    """Live children of this wrapper (orphaned workers are reparented here)."""
    import psutil
    try:
        return [c.pid for c in psutil.Process().children()
                if c.status() != psutil.STATUS_ZOMBIE]
    except psutil.Error:
        return []


def _reap_all(engine_pid: int) -> int | None:
    """Reap every exited child; return the engine's wait status if it was among them."""
    status = None
    while True:
        try:
            pid, st = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return status
        if pid == 0:
            return status
        if pid == engine_pid:
            status = st


def _stop_leftovers(grace_s: float = 3.0) -> None:
    """Stop descendants still here after the engine ended (setsid workers reparented to us)."""
    left = _descendants()
    for sig in (signal.SIGTERM, signal.SIGKILL):
        for pid in left:
            try:
                os.kill(pid, sig)
            except OSError:
                pass
        deadline = time.monotonic() + (grace_s if sig == signal.SIGTERM else 2.0)
        while time.monotonic() < deadline:
            _reap_all(-1)
            left = _descendants()
            if not left:
                return
            time.sleep(0.05)


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python -m iejtui.service.runner SPEC_FILE", file=sys.stderr)
        return 2
    spec = read_spec(argv[0])
    exit_file, log_file, cmd = spec["exit_path"], spec["log_path"], spec["argv"]
    secrets = [s for s in spec.get("secrets") or [] if s]
    log = open(log_file, "ab", buffering=0)
    # Stop signals are for the engine (sent to the whole group); the wrapper outlives it
    # to drain its output and record its status.
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, signal.SIG_IGN)
    _become_subreaper()
    read_fd, write_fd = os.pipe()
    try:
        pid = os.posix_spawnp(cmd[0], cmd, os.environ,
                             file_actions=[(os.POSIX_SPAWN_OPEN, 0, "/dev/null", os.O_RDONLY, 0),
                                           (os.POSIX_SPAWN_DUP2, write_fd, 1),
                                           (os.POSIX_SPAWN_DUP2, write_fd, 2),
                                           (os.POSIX_SPAWN_CLOSE, read_fd)],
                             setsigdef=(signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGPIPE))
    except OSError as exc:
        msg = f"iejtui: cannot start {cmd[0]!r}: {exc.strerror or exc}\n"
        log.write(msg.encode())
        _write_exit(exit_file, {"code": 127, "error": msg.strip(), "ended_at": time.time()})
        return 127
    os.close(write_fd)
    with open(f"{exit_file}.pid", "w") as f:
        f.write(str(pid))
    status = _pump(read_fd, log, secrets, pid)
    code = os.waitstatus_to_exitcode(status) if status is not None else None
    _write_exit(exit_file, {"code": code, "ended_at": time.time()})
    _stop_leftovers()
    return 0


def _pump(fd: int, log, secrets: list[str], engine_pid: int) -> int | None:
    """Copy the engine's output to the log, masked, until the engine has exited.

    After the engine exits, what is already in the pipe is drained; the pipe is not read
    to its end, since a ``setsid()`` worker that inherited it may hold it open forever."""
    buf = b""
    status = None
    drain_until = None
    while True:
        if status is None:
            status = _reap_all(engine_pid)
            if status is not None:
                drain_until = time.monotonic() + 0.5
        else:
            _reap_all(engine_pid)
        if drain_until is not None and time.monotonic() > drain_until:
            break
        ready, _, _ = select.select([fd], [], [], 0.1)
        if not ready:
            continue
        try:
            data = os.read(fd, 65536)
        except OSError:
            data = b""
        if not data:  # every writer closed it: the engine (and its workers) are gone
            if status is None:
                _, st = os.waitpid(engine_pid, 0)
                status = st
            break
        pieces, buf = split_pieces(buf + data)
        _write(log, pieces, secrets)
    _write(log, split_pieces(buf, final=True)[0], secrets)
    os.close(fd)
    return status


def _write(log, pieces: list[bytes], secrets: list[str]) -> None:
    """Append masked pieces; a failing write (disk full) loses them, never the engine."""
    if not pieces:
        return
    try:
        log.write(b"".join(mask_piece(p, secrets) for p in pieces))
    except OSError:
        pass


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
