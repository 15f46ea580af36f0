"""UI test fixtures: a seeded journal (frozen clock), the app factory, waiting helpers."""
from __future__ import annotations

import os
import shutil
import sys
import time
from pathlib import Path

import pytest

os.environ["TZ"] = "UTC"  # panels and axes print local times: pin them for snapshots
time.tzset()
sys.path.insert(0, str(Path(__file__).parent))

from seed import FROZEN_NOW, seed_journal  # noqa: E402

from iejtui.paths import JournalPaths  # noqa: E402
from iejtui.ui.app import make_app  # noqa: E402



@pytest.fixture(scope="session")
def seeded_root(tmp_path_factory) -> Path:
    """The seeded journal, written once per session (read-only for the tests)."""
    root = tmp_path_factory.mktemp("seeded") / "journal"
    seed_journal(root)
    return root


@pytest.fixture
def journal(seeded_root, tmp_path) -> JournalPaths:
    """A private copy of the seeded journal (tests may start a fake service in it)."""
    root = tmp_path / "j"
    shutil.copytree(seeded_root, root)
    return JournalPaths(root)


@pytest.fixture
def app_factory(journal):
    def make(**kwargs):
        kwargs.setdefault("clock", lambda: FROZEN_NOW)
        kwargs.setdefault("refresh_s", 3600.0)  # one read: the frozen journal does not change
        return make_app(journal, **kwargs)
    return make


async def settle(pilot, until=None, timeout: float = 20.0) -> None:
    """Wait for workers (reads on threads) and, optionally, for ``until()`` to hold."""
    deadline = time.monotonic() + timeout
    while True:
        await pilot.pause(0.05)
        await pilot.app.workers.wait_for_complete()
        await pilot.pause(0.05)
        if until is None or until():
            return
        if time.monotonic() > deadline:
            raise AssertionError("UI did not settle in time")
