"""A CPU-only box (the demo's case): no GPU recording, NVML absent, one engine whose process
tree the service sampled (``proc`` frames, ``collectors.host_procs``). The dashboard shows
the engine's CPU, RSS and host memory in place of the GPU panels, at 80×24, and says memory
bandwidth is not readable; the run history over a past window shows the same panel."""
from __future__ import annotations

import pytest
from conftest import settle
from seed import FROZEN_NOW, EngineSim

from collectors import host_procs as H
from collectors.records import Event, Frame, Sample
from iejtui.journal.init import init_journal
from iejtui.paths import JournalPaths
from iejtui.store import Reader
from iejtui.store.writer import Writer
from iejtui.ui.app import make_app
from iejtui.ui.widgets.panels import GpuPanelView, ProcPanelView
from iejtui.ui.widgets.snapshot_view import SnapshotView
from iejtui.viewmodel.snapshot import dashboard_snapshot, run_history

GIB = 1024 ** 3


def proc_frame(t: float, load: float) -> Frame:
    vals = {H.CPU: 20.0 + 160.0 * load, H.RSS: 2.5 * GIB, H.COUNT: 3.0, H.MEM_USED: 6.0 * GIB,
            H.MEM_TOTAL: 24.0 * GIB, H.CPUS: 2.0, H.MEM_BW_PMU: 0.0}
    return Frame(H.SOURCE, t, [Sample(k, v) for k, v in vals.items()])


@pytest.fixture
def cpu_root(tmp_path):
    root = tmp_path / "cpu"
    init_journal(root)
    w = Writer(root / "journal.db")
    w.add_event(None, Event(FROZEN_NOW - 400, "gpu.unavailable", "NVML not found: no NVIDIA driver", "warning"))
    start = FROZEN_NOW - 300
    rid = w.create_run(kind="engine", name="tiny", engine_kind="vllm", owned=1, status="ready", phase="ready",
                       argv=["vllm", "serve", "tiny"], model="tiny", url="http://127.0.0.1:8000",
                       started_at=start, ready_at=start + 30)
    sim = EngineSim(seed=4, peak_running=4)
    t = start + 31
    while t <= FROZEN_NOW + 1e-6:
        w.add_frames(rid, [sim.frame(t), proc_frame(t + 0.2 - 1.0, sim.load(t))])
        w.flush()
        t += 1.0
    w.close()
    return root, rid


def test_viewmodel_live_and_past(cpu_root):
    root, rid = cpu_root
    reader = Reader(root / "journal.db")
    snap = dashboard_snapshot(reader, FROZEN_NOW)
    assert not snap.gpus and snap.gpu_note == "NVML not found: no NVIDIA driver"
    p = snap.engines[0].procs
    assert p is not None and p.count == 3 and p.cpus == 2 and p.rss_bytes == 2.5 * GIB
    assert 20.0 <= p.cpu_pct <= 180.0 and p.cpu_pct_peak >= p.cpu_pct
    assert p.host_mem_used == 6 * GIB and p.host_mem_total == 24 * GIB and not p.mem_bw_pmu
    past = run_history(reader, rid, FROZEN_NOW - 200, FROZEN_NOW - 100)
    q = past.engines[0].procs
    assert q is not None and q.newest <= FROZEN_NOW - 100 and q.cpu_pct_peak <= 180.0
    # ten minutes later the sampling has stopped: no frozen CPU figures live
    later = dashboard_snapshot(reader, FROZEN_NOW + 600, window_s=900)
    assert all(e.procs is None for e in later.engines)
    # the run's window is where its engine metrics lie: the earlier proc frame does not widen it
    assert reader.run_window(reader.run(rid), FROZEN_NOW)[0] == pytest.approx(FROZEN_NOW - 300 + 31, abs=1e-3)


async def test_dashboard_shows_cpu_panel_at_80x24(cpu_root):
    root, _ = cpu_root
    app = make_app(JournalPaths(root), clock=lambda: FROZEN_NOW, refresh_s=3600.0)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot, lambda: bool(pilot.app.screen.query(ProcPanelView)))
        view = pilot.app.screen.query_one(ProcPanelView)
        assert not pilot.app.screen.query(GpuPanelView)
        labels = {f.label: f.text for f in view.fields}
        assert labels["CPU"].endswith("of 2 cores") and labels["RSS"] == "2.5 GiB"
        assert labels["procs"] == "3" and labels["host mem"] == "6.0/24 GiB" and labels["mem BW"] == "not readable"
        assert "NVML not found" in str(view.border_subtitle)
        # it is drawn inside the 80 columns, under the engine panel, without scrolling
        region = view.region
        assert region.width <= 80 and region.right <= 80 and 0 < region.y < 24
        body = pilot.app.screen.query_one(SnapshotView)
        assert "No GPU panels" not in "".join(str(s.render()) for s in body.query(".note"))


def test_cpu_box_snapshot(snap_compare, cpu_root):
    root, _ = cpu_root

    async def ready(pilot):
        await settle(pilot, lambda: bool(pilot.app.screen.query(ProcPanelView)))
    app = make_app(JournalPaths(root), clock=lambda: FROZEN_NOW, refresh_s=3600.0)
    assert snap_compare(app, terminal_size=(80, 24), run_before=ready)


def test_process_samples_do_not_hide_a_silent_metrics_endpoint(cpu_root):
    """/metrics stops answering while the processes live on: the engine panel still turns
    stale (the proc series are read apart and never count as the engine's newest sample)."""
    root, rid = cpu_root
    w = Writer(root / "journal.db")
    for k in range(1, 21):
        w.add_frames(rid, [proc_frame(FROZEN_NOW + k, 0.5)])
    w.flush()
    w.close()
    snap = dashboard_snapshot(Reader(root / "journal.db"), FROZEN_NOW + 20)
    (panel,) = snap.engines
    assert panel.stale_since is not None and panel.stale_since <= FROZEN_NOW
    assert panel.procs is not None and panel.procs.newest == FROZEN_NOW + 20
