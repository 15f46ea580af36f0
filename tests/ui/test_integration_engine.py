"""The real TUI against the real CPU vLLM engine, through the real service.

One flow, because the engine takes minutes to start on a small CPU box: start a profile
from the Engines screen → ready → load it → the dashboard's engine panel shows the stored
samples' tok/s and KV figures exactly → quit the TUI (nothing stops) → reopen: the engine
is still there and its history covers the time the TUI was closed → stop it from the
Engines screen.
"""
from __future__ import annotations

import asyncio
import math
import threading
import time

import pytest
from conftest import settle
from helpers import add_profile, cli, engine_profile, free_port, stop_service
from load import load

from iejtui.derive import counters
from iejtui.derive.engine import engine_figures
from iejtui.paths import JournalPaths
from iejtui.client.transport import call_async
from iejtui.store import Reader
from iejtui.summary import store_getter
from iejtui.ui.app import make_app
from iejtui.ui.modals import StartEngineModal
from iejtui.ui.screens.engines import EnginesScreen
from iejtui.ui.screens.run_view import RunScreen
from iejtui.ui.widgets.panels import EnginePanelView
from iejtui.ui.widgets.snapshot_view import SnapshotView
from iejtui.viewmodel import engine as eng

pytestmark = pytest.mark.integration

READY_S = 900  # a loaded 2-core box needs minutes to start vLLM


@pytest.fixture
def live_journal(tmp_path, demo_engine):
    root = tmp_path / "journal"
    assert cli(root, "init", str(root)).returncode == 0
    port = free_port()
    add_profile(root, engine_profile("tiny", port))
    assert cli(root, "service", "start").returncode == 0
    yield JournalPaths(root), f"http://127.0.0.1:{port}"
    stop_service(root)


async def _engine(paths: JournalPaths, name: str) -> dict | None:
    return next((e for e in await call_async(paths, "GET", "/engines") if e["name"] == name), None)


@pytest.mark.timeout(READY_S + 600)
async def test_tui_starts_watches_detaches_and_stops_a_real_engine(live_journal):
    paths, url = live_journal
    app = make_app(paths, refresh_s=1.0)
    async with app.run_test(size=(160, 48)) as pilot:
        # ---- start the profile from the Engines screen, keyboard only
        await pilot.press("e")
        await settle(pilot, lambda: isinstance(app.screen, EnginesScreen) and app.screen.error is None)
        await pilot.press("s")
        await settle(pilot, lambda: isinstance(app.screen, StartEngineModal))
        await pilot.press("enter", "down", "enter")  # profiles: demo, tiny → tiny
        await settle(pilot)
        assert app.screen.query_one("#profile").value == "tiny"
        await pilot.press("ctrl+s")
        await settle(pilot, lambda: isinstance(app.screen, EnginesScreen))
        await settle(pilot, lambda: (e := app.screen.selected) is not None and e["status"] == "ready",
                     timeout=READY_S)
        run_id = app.screen.selected["run_id"]

        # ---- load it and read the dashboard's engine panel
        done = threading.Event()
        loader = threading.Thread(target=lambda: (asyncio.run(load(url, 4, 40, 128)), done.set()), daemon=True)
        loader.start()
        await pilot.press("d")

        def busy_panel():
            snap = app.screen.query_one(SnapshotView).snapshot
            if snap is None or not snap.engines:
                return None
            p = snap.engines[0]
            f = p.figures
            ok = f is not None and (f.generation_tok_s or 0) > 0 and f.kv_usage_pct is not None
            return (snap.t1, p) if ok and snap.t1 - p.newest < 5 else None

        await settle(pilot, lambda: busy_panel() is not None, timeout=120)
        await pilot.pause(8)  # a few more refreshes deep inside the load
        got = busy_panel()
        assert got is not None
        read_at, panel = got
        assert panel.run_id == run_id and panel.status == "ready"
        shown = {f: getattr(panel.figures, f) for f in ("generation_tok_s", "prompt_tok_s", "kv_usage_pct",
                                                         "running", "kv_capacity_tokens")}
        view = app.screen.query_one(EnginePanelView)
        text = str(view.render())
        # the panel draws the view model's figures
        assert f"{shown['generation_tok_s']:.1f} tok/s" in text or f"{shown['generation_tok_s']:,.0f} tok/s" in text

    # ---- the same figures straight from the stored samples (same window, same samples)
    reader = Reader(paths.db)
    t0 = read_at - eng.RATE_WINDOW_S  # the panel's window [read_at - 10 s, read_at] ...
    t1 = panel.newest  # ... held exactly the samples up to the newest one the TUI had read
    (gen,) = reader.series(run_id, "vllm:generation_tokens_total", None, t0 - 5, t1)
    inside = [(t, v) for t, v in zip(gen.ts, gen.values) if t0 <= t <= t1]
    (ta, va), (tb, vb) = inside[0], inside[-1]
    assert math.isclose(shown["generation_tok_s"], (vb - va) / (tb - ta), rel_tol=1e-9)
    assert math.isclose(shown["generation_tok_s"], counters.rate(gen.ts, gen.values, t0, t1), rel_tol=1e-9)
    (kv,) = reader.series(run_id, "vllm:kv_cache_usage_perc", None, t0 - 5, t1)
    assert math.isclose(shown["kv_usage_pct"], 100.0 * kv.values[-1], rel_tol=1e-9, abs_tol=1e-12)
    direct = engine_figures(store_getter(reader, run_id, t0 - 70, t1), t0, t1)
    for name, value in shown.items():
        assert value == pytest.approx(getattr(direct, name), rel=1e-9), name
    assert shown["kv_capacity_tokens"] and shown["kv_capacity_tokens"] > 0
    reader.close()

    # ---- detached: the engine keeps running and recording while no TUI is open
    t_quit = time.time()
    assert (await _engine(paths, "tiny"))["status"] == "ready"
    await asyncio.sleep(6)
    app = make_app(paths, refresh_s=1.0)
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot, lambda: (s := app.screen.query_one(SnapshotView).snapshot) is not None
                     and [p.run_id for p in s.engines] == [run_id], timeout=60)
        assert app.screen.query_one(SnapshotView).snapshot.engines[0].status == "ready"
        reader = Reader(paths.db)
        (gen,) = reader.series(run_id, "vllm:generation_tokens_total", None, t_quit, t_quit + 6)
        assert len(gen.ts) >= 3, "no samples were recorded while the TUI was closed"
        reader.close()
        # its history (whole run, following the live edge) covers the gap
        app.open_run(run_id)
        await settle(pilot, lambda: isinstance(app.screen, RunScreen)
                     and app.screen.query_one(SnapshotView).snapshot is not None, timeout=60)
        snap = app.screen.query_one(SnapshotView).snapshot
        (gen_line,) = [line for p in snap.plots if p.key == "tokens" for line in p.lines if line.label == "generation"]
        assert any(t_quit <= t <= t_quit + 6 for t in gen_line.ts)
        await pilot.press("escape")

        # ---- stop it from the Engines screen (y confirms)
        await pilot.press("e")
        await settle(pilot, lambda: app.screen.selected is not None and app.screen.selected["name"] == "tiny")
        await pilot.press("x")
        await settle(pilot)
        await pilot.press("y")
        await settle(pilot, lambda: app.screen.selected["status"] == "stopped", timeout=120)
    assert (await _engine(paths, "tiny"))["status"] == "stopped"
    run = cli(paths.root, "runs", "show", str(run_id))
    assert "stopped" in run.stdout
