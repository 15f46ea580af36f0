"""The fleet screen (Pilot): against a real Prometheus scraping a real iejtui service (the
recorded H100 replayed), and against a Prometheus that is not there."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from helpers import cli, free_port, stop_service  # noqa: E402
from iejtui.paths import JournalPaths  # noqa: E402
from iejtui.store import Reader  # noqa: E402
from iejtui.ui.fleet_app import FleetApp  # noqa: E402
from iejtui.ui.screens.fleet import FleetScreen  # noqa: E402
from iejtui.ui.widgets.panels import GpuPanelView  # noqa: E402

TRACE = Path(__file__).resolve().parents[1] / "data" / "nvml-h100-trace.jsonl.gz"


async def _until(pilot, cond, timeout=30.0):
    for _ in range(int(timeout / 0.1)):
        if cond():
            return True
        await pilot.pause(0.1)
    return False


def test_unreachable_prometheus_is_one_clear_state():
    port = free_port()  # nothing listens there

    async def go():
        app = FleetApp(f"http://127.0.0.1:{port}", timeout_s=1.0)
        async with app.run_test(size=(120, 40)) as pilot:
            screen = app.screen
            assert isinstance(screen, FleetScreen)
            state = screen.query_one("#fleet-state")
            assert await _until(pilot, lambda: "Prometheus unreachable" in str(state.render()), 10)
            assert screen.query_one("DataTable").row_count == 0
    asyncio.run(go())


def test_fleet_screen_lists_a_host_and_draws_its_gpu_panel(tmp_path):
    from prom import prometheus_binary, run_prometheus
    if prometheus_binary() is None:
        if os.environ.get("CI"):
            pytest.fail("prometheus is not installed: .ci/run installs Debian's package")
        pytest.skip("prometheus is not installed")
    root = tmp_path / "host"
    laptop = tmp_path / "laptop"  # the journal the fleet screen imports into
    assert cli(root, "init", str(root)).returncode == 0
    assert cli(laptop, "init", str(laptop)).returncode == 0
    mport = free_port()
    try:
        p = cli(root, "service", "start", "--metrics-listen", str(mport), env={"IEJTUI_NVML_REPLAY": str(TRACE)})
        assert p.returncode == 0, p.stderr
        with run_prometheus(tmp_path / "prom", {"iejtui": [f"127.0.0.1:{mport}"]}) as url:
            async def go():
                app = FleetApp(url, timeout_s=3.0, paths=JournalPaths(laptop))
                async with app.run_test(size=(160, 48)) as pilot:
                    screen = app.screen
                    table = screen.query_one("DataTable")
                    assert await _until(pilot, lambda: table.row_count == 1 and screen.query(GpuPanelView), 40)
                    row = table.get_row_at(0)
                    assert str(row[0]).startswith(f"127.0.0.1:{mport}") and str(row[1]) == "yes" and str(row[2]) == "1"
                    (gpu,) = screen.query(GpuPanelView)
                    assert "H100" in str(gpu.border_title)
                    state = str(screen.query_one("#fleet-state").render())
                    assert "1 host(s)" in state and "queries" in state
                    # the query load stays what one page needs
                    assert screen.snapshot.load["queries"] == 6
                    # i: the selected host's plotted window becomes a run of this journal
                    await pilot.press("i")
                    db = laptop / "journal.db"

                    def imported():
                        if not db.exists():
                            return None
                        try:
                            return [r for r in Reader(db).runs() if r["kind"] == "imported"]
                        except Exception:  # noqa: BLE001 - the service is still creating it
                            return None
                    assert await _until(pilot, imported, 60)
                    (run,) = imported()
                    assert run["facts"]["instance"] == f"127.0.0.1:{mport}" and run["facts"]["prometheus"] == url
                    assert Reader(db).sample_counts(run["id"])  # GPU samples came with it
            asyncio.run(go())

            async def bad_query():  # Prometheus refuses a query: "query failed", in one line
                from iejtui.fleet.promql import PromClient, PromError
                async with PromClient(url) as c:
                    with pytest.raises(PromError) as err:
                        await c.query("sum(")
                    return err.value
            err = asyncio.run(bad_query())
            assert err.kind == "failed" and str(err).startswith("query failed: bad_data")
    finally:
        stop_service(root)
        stop_service(laptop)
