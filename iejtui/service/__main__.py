"""``python -m iejtui.service run --journal DIR``: the service process itself."""

from __future__ import annotations

import sys

from iejtui.errors import UserError
from iejtui.paths import journal_paths


def main(argv: list[str]) -> int:
    if not argv or argv[0] != "run":
        print("usage: python -m iejtui.service run [--journal DIR] [--metrics-listen ADDR:PORT]", file=sys.stderr)
        return 2
    root = argv[argv.index("--journal") + 1] if "--journal" in argv else None
    from iejtui.service.daemon import run_service
    try:
        listen = argv[argv.index("--metrics-listen") + 1] if "--metrics-listen" in argv else None
        return run_service(journal_paths(root), listen)
    except UserError as exc:
        print(f"iejtui service: {exc}", file=sys.stderr, flush=True)
        return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
