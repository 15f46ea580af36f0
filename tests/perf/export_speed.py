#!/usr/bin/env python3
"""Time to export a day of 3 engine runs × 1 h at 1 Hz to markdown (prints figures; goal ≤ 1 s).

    .venv/bin/python tests/perf/export_speed.py [--runs 3] [--seconds 3600] [--repeat 3]

The journal is seeded synthetically through ``iejtui.store.Writer`` (vLLM-shaped series:
token counters, KV gauge, five latency histograms of ~22 buckets each, ~140 series per
scrape; an H100-like GPU recording at 1 Hz + 5 s energy), see tests/unit/test_journal_synth.py.

Figures printed:
  cold export   ``export --run r1 r2 r3`` before any day exists: every figure computed
                from journal.db (histogram windows, rates, GPU series)
  day new       creating the day (figures + 3 SVG charts + files), for reference
  day export    ``export --day 1``: ended runs' figures come from the day's metrics.json
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests" / "unit"))


def _time(fn, repeat: int) -> tuple[float, object]:
    times, out = [], None
    for _ in range(repeat):
        t = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times), out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--seconds", type=int, default=3600)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    from test_journal_synth import seed_journal

    from iejtui.journal import create_day, export_markdown
    from iejtui.store import Reader

    with tempfile.TemporaryDirectory(prefix="iejtui-export-speed-") as tmp:
        root = Path(tmp)
        t = time.perf_counter()
        ids = seed_journal(root, runs=args.runs, seconds=args.seconds, bench=False)
        seed_s = time.perf_counter() - t
        db_mb = (root / "journal.db").stat().st_size / 1e6
        reader = Reader(root / "journal.db")
        refs = [str(i) for i in ids["engines"]]
        cold, text = _time(lambda: export_markdown(root, reader, run_ids=refs), args.repeat)
        t = time.perf_counter()
        create_day(root, reader, "export speed", refs, "synthetic")
        day_new = time.perf_counter() - t
        warm, text2 = _time(lambda: export_markdown(root, reader, day=1), args.repeat)
        print(f"journal: {args.runs} runs × {args.seconds} s at 1 Hz + GPU recording; seeded in {seed_s:.1f} s, "
              f"journal.db {db_mb:.1f} MB")
        print(f"cold export (--run, figures from journal.db): {cold:.3f} s  ({len(text):,} chars)  goal <= 1 s")
        print(f"day new (figures + {args.runs} SVG charts + files): {day_new:.3f} s")
        print(f"day export (--day, figures from metrics.json): {warm:.3f} s  ({len(text2):,} chars)  goal <= 1 s")


if __name__ == "__main__":
    main()
