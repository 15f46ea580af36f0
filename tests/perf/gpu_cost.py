#!/usr/bin/env python3
"""Cost of GPU sampling and the journal growth it causes (prints figures; no assertions).

    .venv/bin/python tests/perf/gpu_cost.py [--trace tests/data/nvml-h100-trace.jsonl.gz]
                                            [--gpus 8] [--hours 1] [--real]

1. Cost per tier from the recorded H100 trace: every recorded call carries its measured
   cost (``us``), so the NVML time of each tier per GPU per tick comes straight from the
   real run (the recording wrapper adds its own small overhead on top of the call).
2. ``--real`` (on a GPU machine): the same tiers timed live on a plain RealNvml collector.
3. Collector CPU time per tick on the replay (the Python side alone, NVML answered from
   memory).
4. Journal growth: the trace replayed as ``--gpus`` GPUs at 1 Hz for ``--hours`` of
   frame time, written through ``iejtui.store.Writer`` into a temporary journal.db;
   bytes per hour with and without the driver sample-buffer frames. Goal <= 0.5 MB/h.
"""

from __future__ import annotations

import argparse
import sqlite3
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from collectors import gpu_names as N
from collectors.gpu import GpuCollector
from collectors.gpu_replay import ReplayNvml, read_trace, replay_ticks
from collectors.records import Frame, Sample

HEALTH_FIELD_IDS = {fid for fid, _ in N.HEALTH_FIELDS.values()}
GOALS_US = {"fast": 200.0, "gpm": 5000.0}


def default_trace() -> Path:
    for name in ("nvml-h100-trace.jsonl.gz", "nvml-h100-trace.jsonl"):
        p = ROOT / "tests" / "data" / name
        if p.exists():
            return p
    return ROOT / "tests" / "data" / "nvml-h100-trace.jsonl.gz"


def tier_of(rec: dict) -> str:
    call = rec["call"]
    if call == "field_values":
        ids = {f for f, _ in rec["args"][1]}
        return "health" if ids & HEALTH_FIELD_IDS else "slow"
    return N.CALL_TIER.get(call, "other")


def recorded_costs(path: Path) -> dict[str, list[float]]:
    """Per tier: NVML microseconds per GPU per tick in which the tier ran."""
    _, records = read_trace(path)
    per: dict[tuple[int, int, str], float] = defaultdict(float)
    tick = -1
    for r in records:
        if "tick" in r:
            tick += 1
            continue
        if tick < 0 or "call" not in r or not r["args"]:
            continue  # calls made by open(): static info and probes
        per[(tick, int(r["args"][0]), tier_of(r))] += float(r.get("us", 0.0))
    out: dict[str, list[float]] = defaultdict(list)
    for (_, _, tier), us in per.items():
        out[tier].append(us)
    return out


def per_call_costs(path: Path) -> dict[str, float]:
    _, records = read_trace(path)
    by: dict[str, list[float]] = defaultdict(list)
    for r in records:
        if "call" in r:
            key = r["call"] if r["call"] != "field_values" else f"field_values({tier_of(r)})"
            by[key].append(float(r.get("us", 0.0)))
    return {k: statistics.median(v) for k, v in sorted(by.items())}


def real_costs(n: int = 200) -> None:
    from collectors.gpu_tiers import read_fast, read_gpm

    c = GpuCollector()
    if c.open() and not c.available:
        print(f"  real: {c.status}")
        return
    for g in c.gpus:
        fast = []
        for _ in range(n):
            t = time.perf_counter()
            read_fast(c, g)
            fast.append((time.perf_counter() - t) * 1e6)
        gpm = []
        for _ in range(11):
            time.sleep(0.15)
            t = time.perf_counter()
            read_gpm(c, g, time.time())
            gpm.append((time.perf_counter() - t) * 1e6)
        print(f"  real {g.static.get('name')} {g.uuid}: fast tier median "
              f"{statistics.median(fast):.1f} us, GPM tier median {statistics.median(gpm[1:]):.1f} us")
    c.close()


def replay_frames(path: Path, rebase_to: float) -> tuple[list[tuple[float, list[Frame]]], float]:
    rp = ReplayNvml(path, rebase_to=rebase_to)
    c = GpuCollector(rp)
    c.open()
    out = []
    t = time.perf_counter()
    for now, frames, _ in replay_ticks(c, rp):
        out.append((now, frames))
    cpu = (time.perf_counter() - t) / max(1, len(out))
    c.close()
    return out, cpu


def as_gpu(frame: Frame, src_uuid: str, uuid: str) -> Frame:
    lab = lambda ls: tuple((k, uuid if v == src_uuid else v) for k, v in ls)
    return Frame(frame.source.replace(src_uuid, uuid), frame.ts,
                 [Sample(s.name, s.value, lab(s.labels)) for s in frame.samples])


def journal_growth(path: Path, gpus: int, hours: float, with_samples: bool,
                   windows: list[tuple[float, float]] | None = None) -> float | None:
    """Bytes per hour of frame time: the trace's ticks (those inside ``windows`` if given)
    looped back to back, each GPU frame copied to ``gpus`` UUIDs, written through the
    store's Writer one flush per tick (as the service does)."""
    try:
        from iejtui.store import Writer
    except Exception as exc:  # noqa: BLE001 - the store is another engineer's module
        print(f"  TODO: iejtui.store.Writer not importable ({exc}); journal growth not measured")
        return None
    base, _ = replay_frames(path, rebase_to=None)  # type: ignore[arg-type]
    if windows:
        keep = [(ts, fr) for ts, fr in base if any(a <= ts <= b for a, b in windows)]
        first = keep[0][0] if keep else 0.0
        # close the gaps between windows so the loop runs at 1 Hz
        base = [(first + k, [Frame(f.source, f.ts - ts + first + k, f.samples) for f in fr])
                for k, (ts, fr) in enumerate(keep)]
    if not base:
        return None
    t0 = 1_800_000_000.0
    span = hours * 3600.0
    loop = base[-1][0] - base[0][0] + 1.0
    src_uuid = next(f.source.split(":")[1] for _, fr in base for f in fr)
    uuids = [f"GPU-perf-{k}" for k in range(gpus)]
    with tempfile.TemporaryDirectory() as d:
        db = Path(d) / "journal.db"
        w = Writer(db)
        run = w.create_run(kind="record", name="gpu@perf", status="ready", started_at=t0)
        k = 0
        while True:
            shift = t0 + k * loop - base[0][0]
            if base[0][0] + shift - t0 >= span:
                break
            for ts, frames in base:
                if ts + shift - t0 >= span:
                    break
                out = []
                for f in frames:
                    if not with_samples and f.source.startswith("gpu-samples:"):
                        continue
                    moved = Frame(f.source, f.ts + shift, f.samples)
                    out.extend(as_gpu(moved, src_uuid, u) for u in uuids)
                w.add_frames(run, out)
                w.flush()
            k += 1
        w.close()
        size = sum(p.stat().st_size for p in Path(d).iterdir())
        con = sqlite3.connect(db)
        page, count, free = (con.execute(f"PRAGMA {p}").fetchone()[0]
                             for p in ("page_size", "page_count", "freelist_count"))
        con.close()
    live = page * (count - free)
    print(f"    file {size / hours / 1e6:.3f} MB/h (incl. free pages left by sealing), "
          f"live pages {live / hours / 1e6:.3f} MB/h")
    return live / hours


def phase_windows(name: str) -> list[tuple[float, float]] | None:
    p = ROOT / "tests" / "data" / "nvml-h100-phases.json"
    if not p.exists():
        return None
    import json

    tl = json.loads(p.read_text())["timeline"]
    return [(ph["start"], ph["end"]) for ph in tl if ph["name"].startswith(name)]


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--trace", type=Path, default=default_trace())
    ap.add_argument("--gpus", type=int, default=8)
    ap.add_argument("--hours", type=float, default=1.0)
    ap.add_argument("--real", action="store_true", help="also time the tiers on this machine's GPUs")
    ap.add_argument("--no-growth", action="store_true")
    a = ap.parse_args()
    meta, records = read_trace(a.trace)
    ticks = sum(1 for r in records if "tick" in r)
    print(f"trace {a.trace.name}: {ticks} ticks, host {meta.get('host')}, pynvml {meta.get('pynvml')}")
    print("1. NVML time per GPU per tick, from the recording (median / p90 us):")
    for tier, us in sorted(recorded_costs(a.trace).items()):
        us.sort()
        goal = GOALS_US.get(tier)
        g = f"  goal <= {goal:.0f}" if goal else ""
        print(f"  {tier:8s} {statistics.median(us):9.1f} / {us[int(0.9 * (len(us) - 1))]:9.1f}"
              f"  ({len(us)} ticks){g}")
    print("   per call (median us): " + ", ".join(f"{k} {v:.1f}" for k, v in per_call_costs(a.trace).items()))
    if a.real:
        print("2. live on this machine:")
        real_costs()
    _, cpu = replay_frames(a.trace, rebase_to=None)  # type: ignore[arg-type]
    print(f"3. collector Python time per tick on replay (NVML answered from memory): {cpu * 1e6:.0f} us")
    if not a.no_growth:
        print(f"4. journal growth, {a.gpus} GPUs at 1 Hz, {a.hours:g} h of frame time (goal <= 0.5 MB/h):")
        cases = [("busy: the whole phased trace looped", None),
                 ("idle: its idle phases looped", phase_windows("idle"))]
        for what, windows in cases:
            for with_samples in (False, True):
                tiers = "tiers + driver samples" if with_samples else "1 s/5 s/60 s tiers"
                print(f"  {what}, {tiers}:")
                b = journal_growth(a.trace, a.gpus, a.hours, with_samples, windows)
                if b is not None:
                    print(f"    -> {b / 1e6:.3f} MB/h")
    return 0


if __name__ == "__main__":
    sys.exit(main())
