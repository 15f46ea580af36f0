"""The fleet: hosts read from Prometheus (iejtui services, scraped vLLMs, DCGM exporters).

The table lists one page of hosts (only the visible rows are queried); the selected host
is drawn below with the local dashboard's own widgets (GPU panels, engine panels, plots).
``i`` imports the selected host's plotted window into this journal as an ``imported`` run.
"""

from __future__ import annotations

import os
import time

from textual import on, work
from textual.binding import Binding
from textual.widgets import DataTable, Header, Static

from iejtui.ui.screens.polled import PolledScreen
from iejtui.ui.widgets.cells import cell
from iejtui.ui.widgets.footer import QuietFooter
from iejtui.ui.widgets.panels import EnginePanelView
from iejtui.ui.widgets.snapshot_view import SnapshotView
from iejtui.viewmodel.text import span

PLOT_WINDOWS = (900.0, 3600.0, 6 * 3600.0, 300.0)
PLOT_EVERY = 5  # plots (range queries) every this many refreshes, or when the host/window changes
COLUMNS = (("host", "host"), ("up", "up"), ("gpus", "GPUs"), ("kernel", "kernel %"), ("sm", "SM %"),
           ("power", "power W"), ("mem", "mem GiB"), ("engines", "engines"), ("gen", "gen tok/s"),
           ("kv", "KV %"), ("ttft", "TTFT p99"), ("runs", "runs"))


def _mean(vals):
    vs = [v for v in vals if v is not None]
    return sum(vs) / len(vs) if vs else None


def _f(v, digits=0):
    return "—" if v is None else f"{v:.{digits}f}"


def host_cells(h) -> dict:
    """One table row: GPU means and sums, engine sums (pure, over a ``FleetHost``)."""
    live = [g for g in h.gpus if g.stale_since is None]
    figs = [e.panel.figures for e in h.engines if e.panel.figures is not None and e.panel.stale_since is None]
    gen = [f.generation_tok_s for f in figs if f.generation_tok_s is not None]
    ttft = [f.ttft.p99 for f in figs if f.ttft is not None and f.ttft.p99 is not None]
    mem = [g.mem_used for g in live if g.mem_used is not None]
    power = [g.power_w for g in live if g.power_w is not None]
    up = "yes" if h.up else ("DOWN" if h.up is False else "?")
    stale = len(h.gpus) - len(live)
    return {
        "host": cell(h.instance + ("" if h.iejtui else " ·"), "bold"),
        "up": cell(up, "$error" if h.up is False else ""),
        "gpus": f"{len(h.gpus)}" + (f" ({stale} stale)" if stale else ""),
        "kernel": _f(_mean(g.kernel_active for g in live)), "sm": _f(_mean(g.sm_active for g in live)),
        "power": _f(sum(power)) if power else "—", "mem": _f(sum(mem) / 2 ** 30, 1) if mem else "—",
        "engines": str(len(h.engines)), "gen": _f(sum(gen), 1) if gen else "—",
        "kv": _f(_mean(f.kv_usage_pct for f in figs), 1),
        "ttft": f"{max(ttft) * 1000:.0f} ms" if ttft else "—",
        "runs": ", ".join(r.get("run_name") or "" for r in h.runs if r.get("run_kind") != "record")[:40],
    }


class FleetScreen(PolledScreen):
    """Hosts → GPUs, engines and runs from PromQL; the selected host with the dashboard's panels."""

    DEFAULT_CSS = """
    FleetScreen #fleet-state { height: auto; padding: 0 1; color: $text-muted; }
    FleetScreen #hosts { height: 35%; min-height: 6; }
    FleetScreen #host-view { height: 1fr; border-top: solid $panel-lighten-2; }
    """

    BINDINGS = [
        Binding("w", "window", "Window", tooltip="Cycle the plotted (and imported) window: 15 min, 1 h, 6 h, 5 min"),
        Binding("i", "import_window", "Import", tooltip="Import the selected host's plotted window as a local run"),
        Binding("n", "page(1)", "Next page", tooltip="The next page of hosts"),
        Binding("p", "page(-1)", "Prev page", tooltip="The previous page of hosts"),
    ]

    def __init__(self, url: str | None = None, window_s: float = 60.0, timeout_s: float = 5.0,
                 refresh_s: float | None = None) -> None:
        super().__init__()
        self.url = url
        self.window_s = window_s
        self.timeout_s = timeout_s
        self.refresh_s = refresh_s
        self.plot_window_s = PLOT_WINDOWS[0]
        self.page_offset = 0
        self.snapshot = None
        self.selected: str | None = None
        self.client = None
        self.last_refresh_s: float | None = None
        self.refreshes = 0
        self._plots = None
        self._plots_for: tuple | None = None

    def compose(self):
        yield Header()
        yield Static("", id="fleet-state")
        yield DataTable(id="hosts", cursor_type="row", zebra_stripes=True)
        yield SnapshotView(id="host-view")
        yield QuietFooter()

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        for key, label in COLUMNS:
            table.add_column(label, key=key)
        table.focus()
        self.url = self.url or getattr(self.app, "prometheus_url", None) or os.environ.get("IEJTUI_PROMETHEUS")
        self.sub_title = "fleet"
        if not self.url:
            self._state("[$warning]No Prometheus: run `iejtui fleet --prometheus URL` "
                        "(or set IEJTUI_PROMETHEUS) to see the fleet[/]")
            return
        from iejtui.fleet.promql import PromClient
        self.client = PromClient(self.url, self.timeout_s)
        self.call_after_refresh(self.load)

    def can_read(self) -> bool:
        return self.client is not None

    async def close_sources(self) -> None:
        if self.client is not None:
            await self.client.close()

    def _state(self, text: str) -> None:
        self.query_one("#fleet-state", Static).update(text)

    # ---- refresh --------------------------------------------------------------------------
    def _page_size(self) -> int:
        h = self.query_one(DataTable).size.height
        return max(5, (h - 1) if h else 10)

    def start_read(self) -> None:
        self._refresh()

    @work(group="fleet", exit_on_error=False)
    async def _refresh(self) -> None:
        from iejtui.fleet.promql import PromError
        from iejtui.fleet.view import fleet_snapshot, host_plots
        t0 = time.perf_counter()
        snap = await fleet_snapshot(self.client, window_s=self.window_s, offset=self.page_offset, limit=self._page_size(),
                                    detail=[self.selected] if self.selected else [])
        load = dict(snap.load)
        plots, plot_error = self._plots, None
        inst = self.selected or (snap.hosts[0].instance if snap.hosts else None)
        key = (inst, self.plot_window_s)
        if inst and not snap.error and (key != self._plots_for or self.refreshes % PLOT_EVERY == 0):
            try:
                self.client.load.reset()
                plots = await host_plots(self.client, inst, snap.t, self.plot_window_s)
                self._plots, self._plots_for = plots, key
                for k, v in self.client.load.as_dict().items():
                    load[k] = load.get(k, 0) + v
            except PromError as exc:
                plot_error = str(exc)
        self.refreshes += 1
        self.hand_back(self._apply, snap, plots, load, plot_error, time.perf_counter() - t0)

    def _apply(self, snap, plots, load, plot_error, cost: float) -> None:
        self.last_refresh_s = cost
        if snap.error:  # keep the last table, say what is wrong
            self._state(f"[$error]{snap.error}[/] · last good refresh shown" if self.snapshot else
                        f"[$error]{snap.error}[/]")
        else:
            self.snapshot = snap
            self._fill(snap)
            first, last = snap.offset + 1, snap.offset + len(snap.hosts)
            self._state(f"{self.url} · {snap.total_hosts} host(s), showing {first}–{last} · stats over "
                        f"{span(snap.window_s)}, plots {span(self.plot_window_s)} · {load.get('queries', 0)} "
                        f"queries + {load.get('range_queries', 0)} range · {load.get('bytes', 0) // 1024} KiB · "
                        f"refresh {cost:.2f} s" + (f" · [$error]{plot_error}[/]" if plot_error else ""))
            self._show_host(snap, plots)
        wait = self.refresh_s or getattr(self.app, "refresh_s", 1.0)
        self.read_again(max(wait, 1.0))

    def _fill(self, snap) -> None:
        table = self.query_one(DataTable)
        keys = [h.instance for h in snap.hosts]
        existing = [str(k.value) for k in table.rows]
        if existing != keys:
            table.clear()
            for h in snap.hosts:
                table.add_row(*host_cells(h).values(), key=h.instance)
            if self.selected in keys:
                table.move_cursor(row=keys.index(self.selected))
        else:
            for h in snap.hosts:
                for col, value in host_cells(h).items():
                    table.update_cell(h.instance, col, value)

    def _show_host(self, snap, plots) -> None:
        from iejtui.viewmodel.models import Snapshot
        host = next((h for h in snap.hosts if h.instance == (self.selected or "")), None) or (
            snap.hosts[0] if snap.hosts else None)
        if host is None:
            return
        show_plots = plots if plots and self._plots_for and self._plots_for[0] == host.instance else ()
        note = None if host.gpus else ("no GPU series on this host" if host.up is not False else "host down")
        view = Snapshot(t0=snap.t - snap.window_s, t1=snap.t, live=True, gpus=host.gpus, gpu_note=note,
                        engines=tuple(e.panel for e in host.engines), plots=tuple(show_plots or ()),
                        title=host.instance)
        self.query_one(SnapshotView).show(view)
        self.query_one(SnapshotView).border_title = host.instance

    @on(DataTable.RowHighlighted)
    def _highlight(self, event: DataTable.RowHighlighted) -> None:
        if event.row_key is None or event.row_key.value == self.selected:
            return
        self.selected = str(event.row_key.value)
        if self.snapshot is not None:
            self._show_host(self.snapshot, None)
        if self.client is not None:
            self.load()

    def on_engine_panel_view_open(self, message: EnginePanelView.Open) -> None:
        message.stop()  # not a run of this journal: import its window first
        self.notify("This engine lives on another host: press i to import its window as a local run.")

    # ---- actions --------------------------------------------------------------------------
    def action_window(self) -> None:
        i = PLOT_WINDOWS.index(self.plot_window_s) if self.plot_window_s in PLOT_WINDOWS else 0
        self.plot_window_s = PLOT_WINDOWS[(i + 1) % len(PLOT_WINDOWS)]
        if self.client is not None:
            self.load()

    def action_page(self, step: int) -> None:
        if self.snapshot is None:
            return
        size = self._page_size()
        new = max(0, min(self.page_offset + step * size, max(0, self.snapshot.total_hosts - 1)))
        if new != self.page_offset:
            self.page_offset = new
            self.load()

    def action_import_window(self) -> None:
        if self.snapshot is None or not self.snapshot.hosts:
            self.notify("No host to import yet.", severity="warning")
            return
        inst = self.selected or self.snapshot.hosts[0].instance
        t1 = time.time()
        self._import(getattr(self.app, "paths", None), inst, t1 - self.plot_window_s, t1)

    @work(thread=True, group="fleet-import", exit_on_error=False)
    def _import(self, paths, inst: str, t0: float, t1: float) -> None:
        from iejtui.errors import ServiceError, UserError
        from iejtui.client import ImportRequest, ServiceClient
        from iejtui.client import ensure_service
        if paths is None or not (paths.db.exists() or paths.config.exists()):
            self.hand_back(self.notify, "No journal to import into: run from a journal (or pass --journal DIR; "
                           "`iejtui init` makes one).", severity="error")
            return
        try:
            ensure_service(paths)
            res = ServiceClient(paths).import_window(ImportRequest(prometheus=self.url, instance=inst, start=t0, end=t1),
                                                     timeout=600)
            msg, sev = (f"Imported {inst} ({span(t1 - t0)}) as run r{res['run_id']}: {res['ticks']} ticks, "
                        f"{res['samples']} samples"), "information"
        except (UserError, ServiceError) as exc:
            msg, sev = str(exc), "error"
        self.hand_back(self.notify, msg, title="import", severity=sev, timeout=10)
