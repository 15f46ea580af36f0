"""Two checkouts' dashboards side by side: CPU of each over the same window, with vllmstat beside.

    .venv/bin/python tests/perf/tui_overhead_ab.py --journal DIR --url URL --a /work/main --b . [--seconds 60]

``tui_overhead.py`` run on one tree and then the other compares two windows of a shared,
noisy box; here both TUIs (each a real process in its own 160×48 pseudo-terminal, its
code from its own checkout through PYTHONPATH) and the peer watch the same journal while
the same engine is under the same load, so the noise hits all three alike. ``--journal``
is a journal whose service runs an engine at ``--url`` (``tui_overhead.py``'s docstring
says how to make one). Prints each CPU share, each ratio to vllmstat and b / a.
"""
from __future__ import annotations

import argparse
import asyncio
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import tui_overhead as t  # noqa: E402  (puts tests/ and tests/ui/ on the path)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--journal", type=Path, required=True)
    ap.add_argument("--url", required=True)
    ap.add_argument("--a", type=Path, required=True, help="a checkout (e.g. main)")
    ap.add_argument("--b", type=Path, required=True, help="another checkout (e.g. a branch)")
    ap.add_argument("--seconds", type=float, default=60.0)
    a = ap.parse_args()
    tuis = [t.Tui(None, ["env", f"PYTHONPATH={tree.resolve()}", sys.executable, "-c", t.APP, str(a.journal)])
            for tree in (a.a, a.b)]
    for tui in tuis:
        tui.wait_for("tokens/s", timeout=120)
    peer_exe = t.ensure_peer()
    procs = tuis + ([t.Tui(None, [str(peer_exe), "--url", a.url, "--interval", "1"])] if peer_exe else [])
    from load import load
    threading.Thread(target=lambda: asyncio.run(load(a.url, 4, a.seconds + 15, 128)), daemon=True).start()
    time.sleep(10)  # the engine is busy and the dashboards show it
    c0, t0 = [t._cpu_s(p.proc.pid)[0] for p in procs], time.perf_counter()
    time.sleep(a.seconds)
    c1, wall = [t._cpu_s(p.proc.pid)[0] for p in procs], time.perf_counter() - t0
    pct = [100 * (y - x) / wall for x, y in zip(c0, c1)]
    line = f"over {wall:.0f} s: a {pct[0]:.2f} %, b {pct[1]:.2f} % of a core; b / a = {pct[1] / pct[0]:.2f}"
    if peer_exe:
        line += (f"; vllmstat {t.PEER_VERSION} {pct[2]:.2f} % → a / vllmstat = {pct[0] / pct[2]:.2f}, "
                 f"b / vllmstat = {pct[1] / pct[2]:.2f}")
    print(line, flush=True)
    for tui in tuis:
        tui.close()
    if peer_exe:
        procs[2].terminate()
    return 0


if __name__ == "__main__":
    sys.exit(main())
