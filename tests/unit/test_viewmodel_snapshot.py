"""The dashboard view model against the store: exact figures, stale sources, incremental
reads equal to fresh reads, long windows thinned without changing the figures."""
from __future__ import annotations

import math
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "ui"))
from seed import FROZEN_NOW, GPU_UUIDS, EngineSim, gpu_frame, seed_journal  # noqa: E402

from collectors.records import Event  # noqa: E402
from iejtui.derive.engine import engine_figures  # noqa: E402
from iejtui.store import Reader  # noqa: E402
from iejtui.store.writer import Writer  # noqa: E402
from iejtui.summary import store_getter  # noqa: E402
from iejtui.viewmodel import SnapshotCache, dashboard_snapshot, run_history  # noqa: E402
from iejtui.viewmodel import engine as eng  # noqa: E402
from iejtui.viewmodel.text import engine_fields, gpu_fields  # noqa: E402

NOW = FROZEN_NOW


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    root = tmp_path_factory.mktemp("vm") / "j"
    ids = seed_journal(root, live_minutes=6, past_runs=False)
    reader = Reader(root / "journal.db")
    yield reader, ids
    reader.close()


def _close(a, b, rel=1e-9):
    if a is None or b is None:
        return a is b
    return math.isclose(a, b, rel_tol=rel, abs_tol=1e-9)


def test_engine_panel_equals_derive_over_the_same_windows(small):
    reader, ids = small
    snap = dashboard_snapshot(reader, NOW, 300)
    (panel,) = snap.engines
    assert panel.run_id == ids["live"] and panel.status == "ready" and panel.stale_since is None
    get = store_getter(reader, ids["live"], NOW - 70, NOW)
    rates = engine_figures(get, NOW - eng.RATE_WINDOW_S, NOW)
    lat = engine_figures(get, NOW - eng.LATENCY_WINDOW_S, NOW)
    f, lf = panel.figures, panel.latency
    for name in ("generation_tok_s", "prompt_tok_s", "kv_usage_pct", "kv_capacity_tokens", "running", "waiting",
                 "prefix_cache_hit_pct", "preemptions_per_s"):
        assert _close(getattr(f, name), getattr(rates, name)), name
    for key in ("ttft", "itl", "e2e", "queue"):
        assert getattr(lf, key) == getattr(lat, key), key
    assert f.generation_tok_s > 0 and f.kv_capacity_tokens == 458752


def test_gpu_panels_latest_values_and_stale_gpu(small):
    reader, _ = small
    snap = dashboard_snapshot(reader, NOW, 300)
    g0, g1 = snap.gpus
    last = reader.series(1, "gpu.sm_active", {"uuid": GPU_UUIDS[0]})[0]
    assert g0.sm_active == last.values[-1] and g0.stale_since is None
    assert g0.power_limit_w == 700 and g0.name == "NVIDIA H100 80GB HBM3"
    assert g0.throttle == () or all(isinstance(r, str) for r in g0.throttle)
    # GPU 1 stopped a minute ago: stale, and no frozen numbers at all
    assert g1.stale_since is not None and NOW - g1.stale_since > 50
    assert g1.kernel_active is None and g1.sm_active is None and g1.power_w is None
    assert gpu_fields(g1)[0].text.startswith("no sample since")


def test_engine_goes_stale_when_its_samples_stop(small):
    reader, ids = small
    later = dashboard_snapshot(reader, NOW + 30, 300)
    (panel,) = later.engines
    assert panel.stale_since is not None and abs(panel.stale_since - NOW) < 1.0
    assert engine_fields(panel)[0].text.startswith("no metrics since")


def test_plots_and_events(small):
    reader, _ = small
    snap = dashboard_snapshot(reader, NOW, 300)
    plots = {p.key: p for p in snap.plots}
    assert [line.label for line in plots["tokens"].lines] == ["generation", "prompt"]
    assert [line.label for line in plots["gpu"].lines] == ["SM-active", "kernel-active"]
    assert [line.label for line in plots["ttft"].lines] == ["p50", "p99"]
    for p in plots.values():
        assert not p.empty, p.key
        for line in p.lines:
            assert all(p.t0 <= t <= p.t1 for t in line.ts)
    assert plots["kv"].y_max == 100.0
    assert any(e.kind == "gpu.lost" and e.level == "error" for e in snap.events)


def test_incremental_reads_equal_fresh_reads(tmp_path):
    """Feed a journal tick by tick; the cached live snapshot must equal a fresh one."""
    w = Writer(tmp_path / "journal.db")
    gpu = w.create_run(kind="record", name="gpu@box", status="ready", started_at=NOW - 400,
                       facts={"gpus": [{"uuid": GPU_UUIDS[0], "index": 0, "name": "H100"}]})
    rid = w.create_run(kind="engine", name="e", engine_kind="vllm", status="ready", started_at=NOW - 400)
    sim = EngineSim(seed=5)
    reader = Reader(tmp_path / "journal.db")
    cache = SnapshotCache()
    t = NOW - 300
    checked = 0
    while t < NOW:
        w.add_frames(rid, [sim.frame(t)])
        w.add_frames(gpu, [gpu_frame(GPU_UUIDS[0], t + 0.2, sim.load(t), hot=True)])
        if int(t) % 40 == 0:
            w.add_event(rid, Event(t, "note", f"tick {t}"))
        w.flush()
        if int(t - NOW) % 37 == 0 or t > NOW - 3:
            now = t + 0.5
            live = dashboard_snapshot(reader, now, 120, cache=cache, max_points=400)
            fresh = dashboard_snapshot(reader, now, 120, max_points=400)
            assert live.engines[0].figures == fresh.engines[0].figures
            assert live.engines[0].latency == fresh.engines[0].latency
            assert live.gpus == fresh.gpus
            for a, b in zip(live.plots, fresh.plots):
                for la, lb in zip(a.lines, b.lines):
                    assert la.label == lb.label
                    # a fresh read starts at the window edge, the cache kept older context
                    keep = [i for i, x in enumerate(lb.ts) if x >= now - 100]
                    tail_a = dict(zip(la.ts, la.values))
                    for i in keep:
                        assert lb.ts[i] in tail_a, (a.key, la.label)
                        assert math.isclose(tail_a[lb.ts[i]], lb.values[i], rel_tol=1e-9, abs_tol=1e-9)
            assert [e.id for e in live.events] == [e.id for e in fresh.events if e.ts >= 0]
            checked += 1
        t += 1.0
    assert checked > 5
    reads_before = cache.reads
    dashboard_snapshot(reader, NOW + 0.6, 120, cache=cache, max_points=400)  # nothing new written
    assert cache.reads == reads_before
    w.close()
    reader.close()


def test_long_window_is_thinned_without_changing_the_figures(tmp_path):
    """A 40-minute finished run viewed whole with 20 points goes the thinned path: the
    figures must equal the full-resolution ones and the lines stay within 20(+1) points."""
    w = Writer(tmp_path / "journal.db", seal_span_s=300)
    rid = w.create_run(kind="engine", name="long", engine_kind="vllm", status="stopped",
                       started_at=NOW - 2460, ended_at=NOW)
    sim = EngineSim(seed=9)
    t = NOW - 2400
    while t <= NOW:
        w.add_frames(rid, [sim.frame(t)])
        if int(t) % 60 == 0:
            w.flush()
        t += 1.0
    w.close()
    reader = Reader(tmp_path / "journal.db")
    t0, t1 = NOW - 2400, NOW
    snap = run_history(reader, rid, t0, t1, max_points=20)
    full = engine_figures(store_getter(reader, rid, t0, t1), t0, t1)
    (panel,) = snap.engines
    for name in ("generation_tok_s", "prompt_tok_s", "kv_usage_pct", "kv_usage_pct_peak", "prefix_cache_hit_pct",
                 "running", "waiting"):
        assert _close(getattr(panel.figures, name), getattr(full, name), 1e-6), name
    for key in ("ttft", "itl", "e2e"):
        a, b = getattr(panel.latency, key), getattr(full, key)
        assert a.count == b.count and _close(a.p50, b.p50, 1e-6) and _close(a.p99, b.p99, 1e-6), key
    for p in snap.plots:
        for line in p.lines:
            assert len(line.ts) <= 22, (p.key, len(line.ts))
    reader.close()


def test_no_gpu_recording_says_why(tmp_path):
    w = Writer(tmp_path / "journal.db")
    w.add_event(None, Event(NOW - 10, "gpu.unavailable", "NVML not found: no NVIDIA driver", "warning"))
    w.flush()
    w.close()
    reader = Reader(tmp_path / "journal.db")
    snap = dashboard_snapshot(reader, NOW, 300, cache=SnapshotCache())
    assert snap.gpus == () and snap.gpu_note == "NVML not found: no NVIDIA driver"
    assert snap.engines == ()
    assert {p.key: p.note for p in snap.plots}["gpu"] == "NVML not found: no NVIDIA driver"
    reader.close()


def test_engine_without_some_metrics_shows_na_not_zero(tmp_path):
    """An engine that exposes only token counters: the rest is n/a, never 0."""
    from collectors.records import Frame, Sample
    w = Writer(tmp_path / "journal.db")
    rid = w.create_run(kind="engine", name="lean", engine_kind="vllm", status="ready", started_at=NOW - 100)
    for i in range(60):
        t = NOW - 60 + i
        w.add_frames(rid, [Frame("engine", t, [Sample("vllm:generation_tokens_total", 50.0 * i)])])
    w.flush()
    w.close()
    reader = Reader(tmp_path / "journal.db")
    (panel,) = dashboard_snapshot(reader, NOW, 300).engines
    fields = {f.label: f for f in engine_fields(panel)}
    assert fields["gen"].text == "50.0 tok/s"
    for label in ("KV", "running", "prefix hit", "preempt", "prompt"):
        assert fields[label].text == "n/a" and fields[label].level == "muted", label
    assert fields["TTFT"].text == "n/a"
    reader.close()
