#!/usr/bin/env python3
"""Cost of the advisor (prints figures; no assertions).

    .venv/bin/python tests/perf/advisor_cost.py [--repeat 5]

1. **Per engine**: all rules over the recorded CPU vLLM demo run (tests/data/
   journal-real-run.db, run 1: ~5 min of 1 Hz scrapes), split into reading the signals from
   journal.db and evaluating the rules; per scrape tick.
2. **Per GPU**: all rules over the recorded H100 trace (41 ticks of GPM and NVML fields).
3. **Live**: what the service pays every evaluation (every 2 s): reading the trailing 60 s of
   the demo run and stepping the trackers over the new ticks, as a share of one core.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from collectors.gpu import GpuCollector  # noqa: E402
from collectors.gpu_replay import ReplayNvml, replay_ticks  # noqa: E402
from iejtui.advisor.advise import advise_inputs  # noqa: E402
from iejtui.advisor.catalog import RULES  # noqa: E402
from iejtui.advisor.evaluate import evaluate  # noqa: E402
from iejtui.advisor.live import LiveAdvisor  # noqa: E402
from iejtui.advisor.run_inputs import read_inputs  # noqa: E402
from iejtui.advisor.signals import derived_signals, gpu_signals  # noqa: E402
from iejtui.store import Reader  # noqa: E402

DATA = ROOT / "tests" / "data"


def _best(fn, repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        t = time.process_time()
        fn()
        best = min(best, time.process_time() - t)
    return best


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=5)
    a = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="iejtui-advisor-cost-"))
    shutil.copy(DATA / "journal-real-run.db", tmp / "journal.db")
    reader = Reader(tmp / "journal.db")
    run = reader.resolve_run("1")
    inp = read_inputs(reader, run)
    ticks = len(inp.engine["running"][0])
    read_s = _best(lambda: read_inputs(reader, run), a.repeat)
    eval_s = _best(lambda: advise_inputs(inp, RULES), a.repeat)
    print(f"rules: {len(RULES)}; engine run: {ticks} scrape ticks, {len(inp.engine)} signals")
    print(f"  per engine: read {1e6 * read_s / ticks:8.1f} µs/tick   evaluate {1e6 * eval_s / ticks:8.1f} µs/tick")

    rp = ReplayNvml(DATA / "nvml-h100-trace.jsonl.gz")
    c = GpuCollector(rp)
    c.open()
    static = c.static_info()[0]
    uuid = static["uuid"]
    named: dict[str, tuple[list[float], list[float]]] = {}
    for _, frames, _ in replay_ticks(c, rp):
        for fr in frames:
            if fr.source in (f"gpu:{uuid}", f"gpu:{uuid}:slow"):
                for s in fr.samples:
                    ts, vs = named.setdefault(s.name, ([], []))
                    ts.append(fr.ts)
                    vs.append(s.value)
    c.close()

    def gpu_once():
        sig = gpu_signals(named, static)
        sig.update(derived_signals(sig))
        evaluate([r for r in RULES if r.scope == "gpu"], sig)
    gticks = len(named["gpu.util_gpu"][0])
    g_s = _best(gpu_once, a.repeat)
    print(f"  per GPU:    signals + evaluate {1e6 * g_s / gticks:8.1f} µs/tick ({gticks} ticks)")

    t_end = run["ended_at"]
    t_start = run["started_at"] + 60
    steps = 0

    def live_pass():
        nonlocal steps
        live = LiveAdvisor(RULES)
        t = t_start
        steps = 0
        while t <= t_end:
            live.update(1, read_inputs(reader, run, now=t, since=t - 60))
            t += 2.0
            steps += 1
    live_s = _best(live_pass, max(1, a.repeat // 2))
    per = live_s / steps
    print(f"  live:       {1e3 * per:8.2f} ms per evaluation (trailing 60 s, every 2 s) "
          f"= {100 * per / 2.0:.2f} % of one core per engine")
    reader.close()
    shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
