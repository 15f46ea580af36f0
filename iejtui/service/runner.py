"""The engine wrapper: a tiny process that starts one engine and records how it ended.

The service launches ``python -m iejtui.service.runner EXIT_FILE LOG_FILE -- ARGV...`` as
the leader of a new session and process group. The wrapper starts the engine in that
group with its output appended straight to the log file (no pipe through the service,
so the engine survives the service being killed), waits for it, and writes the exit
status to EXIT_FILE atomically. That way a service that restarts still learns the exit
status of an engine that died while it was away, and stop signals sent to the group
reach the engine and every worker it forked.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time


def _write_exit(path: str, record: dict) -> None:
    tmp = f"{path}.tmp"
    with open(tmp, "w") as f:
        json.dump(record, f)
    os.replace(tmp, path)


def main(argv: list[str]) -> int:
    if len(argv) < 4 or argv[2] != "--":
        print("usage: python -m iejtui.service.runner EXIT_FILE LOG_FILE -- ARGV...", file=sys.stderr)
        return 2
    exit_file, log_file, cmd = argv[0], argv[1], argv[3:]
    log = open(log_file, "ab", buffering=0)
    try:
        child = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                 close_fds=True)
    except OSError as exc:
        msg = f"iejtui: cannot start {cmd[0]!r}: {exc.strerror or exc}\n"
        log.write(msg.encode())
        _write_exit(exit_file, {"code": 127, "error": msg.strip(), "ended_at": time.time()})
        return 127
    # Stop signals are for the engine (sent to the whole group); the wrapper outlives it
    # to record its status.
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, signal.SIG_IGN)
    with open(f"{exit_file}.pid", "w") as f:
        f.write(str(child.pid))
    code = child.wait()
    _write_exit(exit_file, {"code": code, "ended_at": time.time()})
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
