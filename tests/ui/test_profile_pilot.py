"""The Engines screen's profile key through Pilot, against the real service and the session's
real CPU vLLM (launched with ``profile = true``): p → seconds → a ``profile`` run that stops
with its trace kept."""

from __future__ import annotations

import pytest
from conftest import settle

from helpers import wait_for
from iejtui.paths import JournalPaths
from iejtui.store import Reader
from iejtui.ui.app import make_app
from iejtui.ui.modals import ProfileModal, profile_payload
from iejtui.ui.screens.engines import EnginesScreen

pytestmark = pytest.mark.integration


def test_profile_payload_checks_the_seconds():
    assert profile_payload("tiny", " 2.5 ") == {"engine": "tiny", "seconds": 2.5}
    for bad in ("", "x", "0", "-1", "4000"):
        with pytest.raises(ValueError, match="seconds"):
            profile_payload("tiny", bad)


@pytest.mark.timeout(300)
async def test_engines_screen_profiles_the_selected_engine(shared_engine):
    paths = JournalPaths(shared_engine["journal"])
    before = {r["id"] for r in Reader(paths.db).runs(kind="profile")}
    app = make_app(paths, refresh_s=1.0)
    async with app.run_test(size=(160, 48)) as pilot:
        await pilot.press("e")
        await settle(pilot, lambda: isinstance(app.screen, EnginesScreen)
                     and (e := app.screen.selected) is not None and e["status"] == "ready", timeout=60)
        await pilot.press("p")
        await settle(pilot, lambda: isinstance(app.screen, ProfileModal))
        await pilot.press("ctrl+a", "ctrl+k", "1", "ctrl+s")
        await settle(pilot, lambda: isinstance(app.screen, EnginesScreen))  # the request went out

    def finished():
        runs = [r for r in Reader(paths.db).runs(kind="profile") if r["id"] not in before]
        return runs[0] if runs and runs[0]["status"] == "stopped" else None
    run = wait_for(finished, 120, 0.5, "the profile run to stop")
    prof = run["summary"]["profile"]
    # an idle engine: a trace with the profiler's span and (maybe) no operators
    assert run["name"] == "profile-tiny" and prof["files"] and prof["summary"]["window_us"] > 0
    assert all(f["name"].startswith(f"iejtui-run{run['id']}_") for f in prof["files"])


def test_bench_dialog_profile_field():
    from iejtui.ui.modals import bench_profile
    assert bench_profile("") == {} and bench_profile(" off ") == {}
    assert bench_profile("all") == {"profile": True}
    assert bench_profile("3") == {"profile": True, "profile_seconds": 3.0}
    for bad in ("-1", "0", "soon"):
        with pytest.raises(ValueError, match="profile"):
            bench_profile(bad)
