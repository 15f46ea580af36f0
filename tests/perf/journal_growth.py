"""Journal growth of one real vLLM engine scraped at 1 Hz under steady load.

Prints bytes per hour of journal.db growth (budget: <= 1 MB/h) next to what the same
scrapes would cost stored the way peers store them, measured on the same pages:
one JSON row per scrape without histograms, and one row per value.

    .venv/bin/python tests/perf/journal_growth.py [--minutes 5] [--concurrency 4]
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import time
import urllib.request

from _harness import EngineJournal, SteadyLoad, cli


def db_bytes(path) -> tuple[int, int]:
    """(file size, live bytes) of journal.db once checkpointed (the service checkpoints when
    it stops). Live bytes leave out free pages: the unsealed-ticks table is emptied every
    5 minutes and its pages are reused, so the file holds that high-water mark once."""
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    page, count, free = (conn.execute(f"PRAGMA {p}").fetchone()[0]
                         for p in ("page_size", "page_count", "freelist_count"))
    conn.close()
    return path.stat().st_size, page * (count - free)


def peer_costs(url: str) -> tuple[int, int, int]:
    """(values per scrape, bytes of one JSON row per scrape without histograms, bytes per scrape
    at one SQLite row per value) for the engine's current page."""
    from prometheus_client.parser import text_string_to_metric_families
    text = urllib.request.urlopen(url + "/metrics", timeout=5).read().decode()
    values, flat = 0, {}
    for fam in text_string_to_metric_families(text):
        if not fam.name.startswith("vllm:"):
            continue
        for s in fam.samples:
            values += 1
            if fam.type != "histogram":
                flat[s.name + json.dumps(s.labels, sort_keys=True)] = s.value
    json_row = len(json.dumps(flat)) + 40
    # one row per value: (ts REAL, run INTEGER, name TEXT, labels TEXT, value REAL) + index
    conn = sqlite3.connect(":memory:")
    conn.execute("CREATE TABLE s (ts REAL, run INTEGER, name TEXT, labels TEXT, value REAL)")
    conn.execute("CREATE INDEX s_i ON s(run, name, ts)")
    rows = []
    for fam in text_string_to_metric_families(text):
        if fam.name.startswith("vllm:"):
            rows += [(time.time() + i, 1, s.name, json.dumps(s.labels), s.value) for i, s in enumerate(fam.samples)]
    for k in range(20):
        conn.executemany("INSERT INTO s VALUES (?,?,?,?,?)", [(r[0] + k, *r[1:]) for r in rows])
    pages = conn.execute("PRAGMA page_count").fetchone()[0] * conn.execute("PRAGMA page_size").fetchone()[0]
    return values, json_row, pages // 20


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--minutes", type=float, default=11.0, help="at least two 5-minute sealing cycles")
    ap.add_argument("--concurrency", type=int, default=4)
    args = ap.parse_args()
    with EngineJournal() as ej, SteadyLoad(ej.url, args.concurrency) as load:
        time.sleep(20)  # warm-up: every series exists
        cli(ej.root, "service", "stop", "--keep-engines")
        s0 = db_bytes(ej.db)
        assert cli(ej.root, "service", "start").returncode == 0
        t0 = time.time()
        time.sleep(args.minutes * 60)
        cli(ej.root, "service", "stop", "--keep-engines")
        t1 = time.time()
        s1 = db_bytes(ej.db)
        values, json_row, row_per_value = peer_costs(ej.url)
        assert cli(ej.root, "service", "start").returncode == 0
        tokens = load.tokens
    hours = (t1 - t0) / 3600
    (f0, s0), (f1, s1) = s0, s1
    ours = (s1 - s0) / hours
    print(f"engine: real vLLM 0.32 CPU, {values} vllm:* values per scrape, 1 Hz, "
          f"{args.concurrency} concurrent streams ({tokens} tokens generated in total)")
    print(f"measured over {t1 - t0:.0f} s: journal.db live bytes {s0:,} -> {s1:,}; "
          f"file {f0:,} -> {f1:,} (the difference is the reusable high-water mark of unsealed ticks)")
    print(f"iejtui journal growth: {ours / 1e6:.3f} MB/h (budget 1 MB/h; histograms included)")
    print(f"one JSON row per scrape, no histograms (peer): {json_row * 3600 / 1e6:.2f} MB/h "
          f"-> iejtui uses {ours / (json_row * 3600):.2f}x of it")
    print(f"one SQLite row per value (peer): {row_per_value * 3600 / 1e6:.1f} MB/h "
          f"-> iejtui uses {ours / (row_per_value * 3600):.3f}x of it")


if __name__ == "__main__":
    main()
