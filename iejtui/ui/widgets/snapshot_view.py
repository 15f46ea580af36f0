"""The dashboard body: engine panels, GPU panels, four time plots and the event log.

The live dashboard and the history view both draw a ``Snapshot`` with this widget, so a
past window looks exactly like the live edge did.
"""

from __future__ import annotations

from textual.containers import Container, Grid, VerticalScroll
from textual.widgets import Static

from iejtui.ui.widgets.event_log import EventLog
from iejtui.ui.widgets.panels import EnginePanelView, GpuPanelView, ProcPanelView
from iejtui.ui.widgets.time_plot import TimePlot
from iejtui.viewmodel.models import Snapshot

PLOT_KEYS = ("tokens", "kv", "gpu", "ttft")
GPU_MIN_WIDTH = 40  # panels per row: as many of this width as fit
ENGINE_MIN_WIDTH = 78


class SnapshotView(VerticalScroll):
    """Draws a ``Snapshot``; panels are mounted or removed as engines and GPUs come and go."""

    DEFAULT_CSS = """
    SnapshotView { height: 1fr; }
    SnapshotView #panels { height: auto; layout: vertical; }
    SnapshotView #engines { height: auto; layout: grid; grid-size: 1; grid-gutter: 0 1; grid-rows: auto; }
    SnapshotView #gpus { height: auto; layout: grid; grid-size: 2; grid-gutter: 0 1; grid-rows: auto; }
    SnapshotView #plots { height: auto; grid-size: 2; grid-gutter: 0 1; grid-rows: 9; }
    SnapshotView #plots > TimePlot { height: 9; }
    SnapshotView EventLog { height: 10; }
    SnapshotView #advice { height: auto; max-height: 3; padding: 0 1; color: $warning; display: none;
                           text-wrap: nowrap; text-overflow: ellipsis; }
    SnapshotView #advice.critical { color: $error; }
    SnapshotView .note { color: $text-muted; padding: 0 2; height: auto; }
    SnapshotView #gpus > .note { column-span: 2; }
    """

    def __init__(self, *, id: str | None = None, classes: str | None = None):
        super().__init__(id=id, classes=classes)
        self.snapshot: Snapshot | None = None

    def compose(self):
        yield Static("", id="advice", markup=False)
        with Container(id="panels"):
            yield Container(id="engines")
            yield Container(id="gpus")
        with Grid(id="plots"):
            for key in PLOT_KEYS:
                yield TimePlot(key)
        yield EventLog(id="events")

    def show(self, snap: Snapshot) -> None:
        self.snapshot = snap
        self._sync_advice(snap)
        self._sync_engines(snap)
        self._sync_gpus(snap)
        by_key = {p.key: p for p in snap.plots}
        for plot in self.query(TimePlot):
            plot.show(by_key.get(plot.key), snap.live)
        self.query_one(EventLog).show(snap.events)

    def _sync_advice(self, snap: Snapshot) -> None:
        """The advisor's strip: what fires now, most severe first, one line each (the first
        three; `a` opens them all with why and knob). Hidden while nothing fires."""
        strip = self.query_one("#advice", Static)
        advice = snap.advice
        if not advice:
            if strip.display:
                strip.display = False
            return
        lines = [a.short() for a in advice[:3]]
        if len(advice) > 3:
            lines[-1] = f"(+{len(advice) - 2} more: press a)"
        text = "\n".join(lines)
        if str(strip.render()) != text:
            strip.update(text)
        strip.set_class(advice[0].severity == "critical", "critical")
        strip.display = True

    def _sync_engines(self, snap: Snapshot) -> None:
        box = self.query_one("#engines")
        views = {v.run_id: v for v in box.query_children(EnginePanelView)}
        wanted = [p.run_id for p in snap.engines]
        for rid, view in views.items():
            if rid not in wanted:
                view.remove()
        notes = list(box.query_children(".note"))
        if not snap.engines:
            if not notes:
                box.mount(Static("No engine in this window. Start one on the Engines screen (e), "
                                 "or with `iejtui engine start NAME`.", classes="note"))
            return
        for n in notes:
            n.remove()
        cols = max(1, min(len(snap.engines), (self.size.width or 80) // ENGINE_MIN_WIDTH))
        if box.styles.grid_size_columns != cols:
            box.styles.grid_size_columns = cols
        for panel in snap.engines:
            view = views.get(panel.run_id)
            if view is None:
                view = EnginePanelView(panel.run_id, id=f"engine-{panel.run_id}")
                box.mount(view)
            view.show(panel, snap.live)

    def _sync_procs(self, snap: Snapshot, box, notes) -> bool:
        """No GPU panels but engines with process figures (a CPU-only box): their CPU panels
        take the GPU panels' place, the reason there is no GPU in their subtitle."""
        engines = [p for p in snap.engines if p.procs is not None] if not snap.gpus else []
        views = {v.run_id: v for v in box.query_children(ProcPanelView)}
        for rid, view in views.items():
            if rid not in [p.run_id for p in engines]:
                view.remove()
        if not engines:
            return False
        for n in notes:
            n.remove()
        cols = max(1, min(len(engines), (self.size.width or 80) // ENGINE_MIN_WIDTH))
        if box.styles.grid_size_columns != cols:
            box.styles.grid_size_columns = cols
        for panel in engines:
            view = views.get(panel.run_id)
            if view is None:
                view = ProcPanelView(panel.run_id, id=f"procs-{panel.run_id}")
                box.mount(view)
            view.show(panel, snap.live, snap.gpu_note)
        return True

    def _sync_gpus(self, snap: Snapshot) -> None:
        box = self.query_one("#gpus")
        views = {v.uuid: v for v in box.query_children(GpuPanelView)}
        wanted = [p.uuid for p in snap.gpus]
        for uuid, view in views.items():
            if uuid not in wanted:
                view.remove()
        notes = list(box.query_children(".note"))
        if self._sync_procs(snap, box, notes):
            return
        if not snap.gpus:
            text = f"No GPU panels: {snap.gpu_note or 'no GPU recording in this window'}"
            if notes:
                if str(notes[0].render()) != text:  # Static.update re-lays out the screen
                    notes[0].update(text)
            else:
                box.mount(Static(text, classes="note", markup=False))
            return
        for n in notes:
            n.remove()
        cols = max(1, min(len(snap.gpus), (self.size.width or 80) // GPU_MIN_WIDTH))
        if box.styles.grid_size_columns != cols:
            box.styles.grid_size_columns = cols
        for i, panel in enumerate(snap.gpus):
            view = views.get(panel.uuid)
            if view is None:
                view = GpuPanelView(panel.uuid, id=f"gpu-{i}")
                box.mount(view)
            view.show(panel, snap.live)
