"""What the one summary costs on a 24 h engine run at 1 Hz: ``run_summary`` (what `runs show`,
metrics.json, the export and the run view's summary line print) against ``run_history`` (the
run view's whole-run history), as a ratio. The run view reads the summary in its own thread
after the history is drawn, so this ratio is not added to the time to first paint.

The seeded run is cached with tui_overhead.py's (``$IEJTUI_PERF_CACHE/iejtui-perf-24h``).
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE.parents[1]), str(HERE.parent), str(HERE.parent / "ui")]


def main() -> None:
    from seed import seed_journal, seed_long_run

    from iejtui.store import Reader
    from iejtui.summary import run_summary
    from iejtui.viewmodel import run_history
    from iejtui.viewmodel.windows import run_bounds, zoom

    cache = Path(os.environ.get("IEJTUI_PERF_CACHE", tempfile.gettempdir())) / "iejtui-perf-24h"
    marker = cache / "run_id"
    if not marker.exists():
        print("seeding a 24 h run at 1 Hz (once; cached in", cache, ") …", flush=True)
        seed_journal(cache, live_minutes=2, past_runs=False)
        marker.write_text(str(seed_long_run(cache)))
    run_id = int(marker.read_text())
    reader = Reader(cache / "journal.db")
    run = reader.run(run_id)
    for _ in range(3):
        t = time.perf_counter()
        start, end = run_bounds(reader, run, time.time())
        w = zoom(start, end, None)
        run_history(reader, run_id, w.t0, w.t1, 240)
        hist = time.perf_counter() - t
        t = time.perf_counter()
        run_summary(reader, run)
        summ = time.perf_counter() - t
        print(f"run_history {hist:.3f} s   run_summary {summ:.3f} s   ratio {summ / hist:.1f}", flush=True)


if __name__ == "__main__":
    main()
