"""The service samples a launched engine's process tree (collectors.host_procs via
iejtui.service.procstats) into the engine's run: the real CPU vLLM of the shared engine,
idle then loaded, read back from journal.db and through the dashboard's view model."""

from __future__ import annotations

import time

import pytest

from collectors import host_procs as H
from helpers import cli_json, load_engine, wait_for
from iejtui.store import Reader
from iejtui.viewmodel.snapshot import dashboard_snapshot

pytestmark = pytest.mark.integration


def test_engine_process_tree_is_recorded(shared_engine):
    journal = shared_engine["journal"]
    run_id = next(e for e in cli_json(journal, "engine", "list") if e["name"] == "tiny")["run_id"]
    db = journal / "journal.db"
    wait_for(lambda: len(Reader(db).series(run_id, H.CPU, t0=time.time() - 10)) == 1
             and len(Reader(db).series(run_id, H.CPU, t0=time.time() - 10)[0].values) >= 3, 30,
             interval=0.5, what="proc samples of the shared engine")
    out = load_engine(shared_engine["url"], n=None, concurrency=8, seconds=5)  # by duration
    time.sleep(2.5)  # the next tick and the writer's flush
    reader = Reader(db)
    (cpu,) = reader.series(run_id, H.CPU, source=H.SOURCE)
    busy = [v for t, v in zip(cpu.ts, cpu.values) if out["t0"] + 1 <= t <= out["t1"]]
    assert busy and max(busy) > 20.0  # generating keeps a good part of a core busy (idle: ~1%)
    assert all(0.0 <= v <= 100.0 * H.cpu_count() + 10.0 for v in cpu.values)
    (count,) = reader.series(run_id, H.COUNT)
    assert min(count.values[-5:]) >= 3  # wrapper, API server, engine core (and its workers)
    (rss,) = reader.series(run_id, H.RSS)
    assert rss.values[-1] > 300e6  # torch + the model: hundreds of MB resident
    snap = dashboard_snapshot(reader, time.time())
    panel = next(p for p in snap.engines if p.run_id == run_id)
    assert panel.procs is not None and panel.procs.count >= 3 and panel.procs.rss_bytes > 300e6
