#!/usr/bin/env python3
"""Cost of sampling an engine's process tree and the journal growth it causes (prints
figures; no assertions).

    .venv/bin/python tests/perf/proc_cost.py [--procs 6] [--ticks 200] [--hours 1]

1. ``ProcTreeCollector.tick`` wall and CPU time per tick on a real tree of ``--procs``
   sleeping processes (a vLLM CPU engine is ~5: wrapper, API server, resource tracker,
   engine core, worker), as a share of the 1 Hz tick.
2. Journal growth: one ``proc`` frame per second for ``--hours`` written through
   ``iejtui.store.Writer`` into a temporary journal.db, in MB per hour.
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from collectors.host_procs import ProcTreeCollector  # noqa: E402


def tree(n: int) -> subprocess.Popen:
    code = ("import subprocess, sys, time\n"
            f"ps = [subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(600)']) for _ in range({n - 1})]\n"
            "print('ok', flush=True)\ntime.sleep(600)\n")
    p = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True, start_new_session=True)
    assert p.stdout.readline().strip() == "ok"
    return p


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--procs", type=int, default=6)
    ap.add_argument("--ticks", type=int, default=200)
    ap.add_argument("--hours", type=float, default=1.0)
    a = ap.parse_args()
    root = tree(a.procs)
    try:
        c = ProcTreeCollector()
        c.tick(root.pid)
        wall, cpu = [], []
        for _ in range(a.ticks):
            w0, c0 = time.perf_counter(), time.process_time()
            f = c.tick(root.pid)
            wall.append(time.perf_counter() - w0)
            cpu.append(time.process_time() - c0)
        count = next(s.value for s in f.samples if s.name == "proc.count")
    finally:
        os.killpg(root.pid, signal.SIGKILL)
        root.wait()
    print(f"tree of {count:.0f} processes, {a.ticks} ticks")
    print(f"  tick wall  median {statistics.median(wall) * 1e3:.2f} ms  p99 "
          f"{sorted(wall)[int(0.99 * len(wall)) - 1] * 1e3:.2f} ms  ({statistics.median(wall) * 100:.2f} % of a 1 s tick)")
    print(f"  tick CPU   median {statistics.median(cpu) * 1e3:.2f} ms")

    from collectors import host_procs as H
    from collectors.records import Frame, Sample
    from iejtui.journal.init import init_journal
    from iejtui.store.writer import Writer
    with tempfile.TemporaryDirectory() as tmp:
        j = Path(tmp) / "j"
        init_journal(j)
        w = Writer(j / "journal.db")
        rid = w.create_run(kind="engine", name="e", engine_kind="vllm", status="ready", started_at=0.0)
        db = j / "journal.db"
        size0 = db.stat().st_size
        n = int(a.hours * 3600)
        for k in range(n):
            vals = {H.CPU: 100.0 + (k % 17), H.RSS: 3.0e9 + (k % 5) * 4096, H.COUNT: 5.0, H.MEM_USED: 6e9 + k,
                    H.MEM_TOTAL: 24e9, H.CPUS: 2.0, H.MEM_BW_PMU: 0.0}
            w.add_frames(rid, [Frame(H.SOURCE, 1e9 + k, [Sample(key, v) for key, v in vals.items()])])
            if k % 60 == 59:
                w.flush()
        w.flush()
        w.close()
        grown = (db.stat().st_size + sum(p.stat().st_size for p in j.glob("journal.db-*"))) - size0
    print(f"journal growth: {grown / 1e6 / a.hours:.2f} MB per hour per engine ({n} proc frames)")


if __name__ == "__main__":
    main()
