"""View models: pure functions that turn the store's runs, samples and events into the plain
values the TUI draws. No Textual here (tests/unit/test_layering.py enforces it), so the
same figures can feed exports, a web view or tests.

snapshot   dashboard_snapshot (live edge) and run_history (any past window), one code path
engine     engine panels (EngineFigures over stat windows) and engine plot lines
gpu        GPU panels (decoded throttle reasons) and the SM-active vs kernel-active lines
runs       rows of the runs table and their headline figures
windows    zoom and seek arithmetic of the history view
text       figures formatted for panels ("n/a", units, stale notices)
cache      incremental reads for the live edge
thin       query-time downsampling of long windows
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING

# Lazy exports (PEP 562): the widgets import the plain models without pulling in the store
# (sqlite-utils loads numpy) before the first frame is painted.
_EXPORTS = {
    "EnginePanel": "models", "EventRow": "models", "Field": "models", "GpuPanel": "models", "Line": "models",
    "Plot": "models", "RunRow": "models", "Snapshot": "models", "SnapshotCache": "cache",
    "build_snapshot": "snapshot", "dashboard_snapshot": "snapshot", "run_history": "snapshot",
}
__all__ = sorted(_EXPORTS)

if TYPE_CHECKING:
    from iejtui.viewmodel.cache import SnapshotCache
    from iejtui.viewmodel.models import EnginePanel, EventRow, Field, GpuPanel, Line, Plot, RunRow, Snapshot
    from iejtui.viewmodel.snapshot import build_snapshot, dashboard_snapshot, run_history


def __getattr__(name: str):
    if name in _EXPORTS:
        return getattr(import_module(f"iejtui.viewmodel.{_EXPORTS[name]}"), name)
    raise AttributeError(f"module 'iejtui.viewmodel' has no attribute {name!r}")
