"""One browser tab's dashboard, as textual-serve spawns it:
``python -m iejtui.cli.web_session --journal ROOT`` is the ``iejtui --journal ROOT`` dashboard
command (the same checks, the service started if needed, the same app), which also ends when
the ``iejtui web`` server that spawned it dies, even by SIGKILL (Linux parent-death signal):
Textual's web driver alone keeps running once its stdin closes.
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys

PR_SET_PDEATHSIG = 1


def die_with_parent() -> None:
    """SIGTERM to this process when its parent exits (a no-op where prctl does not exist)."""
    parent = os.getppid()
    try:
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    except (OSError, AttributeError):
        return
    if os.getppid() != parent:  # the server died before prctl took effect
        os.kill(os.getpid(), signal.SIGTERM)


def main(argv: list[str] | None = None) -> None:
    die_with_parent()
    from iejtui.cli.root import main as cli_main
    cli_main(args=sys.argv[1:] if argv is None else argv, prog_name="iejtui")


if __name__ == "__main__":
    main()
