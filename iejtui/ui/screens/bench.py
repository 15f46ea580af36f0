"""Benchmarks: every bench run with live progress, start one against an engine, cancel, open.

Progress comes from the journal (the ``bench`` frame the service stores each second), so
the screen shows the same figures as ``iejtui bench`` on a terminal, for benchmarks started
anywhere: here, the CLI or a matrix.
"""

from __future__ import annotations

import time

from textual import on, work
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.widgets import DataTable, Header, ProgressBar, Static

from iejtui.client import ServiceClient
from iejtui.errors import ServiceError, UserError
from iejtui.ui.feed import Feed
from iejtui.ui.screens.polled import PolledScreen
from iejtui.ui.widgets.cells import Cell, cell
from iejtui.ui.widgets.footer import QuietFooter
from iejtui.viewmodel.bench import BenchRow, detail_lines
from iejtui.viewmodel.text import clock, num

COLUMNS = (("id", "run"), ("name", "name"), ("status", "status"), ("progress", "done"), ("tok", "out tok/s"),
           ("ttft", "TTFT p50/p99 ms"), ("target", "target"), ("started", "started"), ("workload", "workload"))
NARROW = ("id", "name", "status", "progress", "tok", "ttft")  # below 120 columns: the rest is in the pane
STATUS_STYLE = {"running": "$warning", "stopped": "$success", "failed": "$error", "interrupted": "$warning",
                "cancelled": "$warning"}
LIVE_S, IDLE_S = 1.0, 3.0


def service(paths) -> ServiceClient:
    return ServiceClient(paths, use_async=True)  # aiohttp on first call: a faster first frame


def bench_cells(r: BenchRow) -> dict:
    prog = "—" if r.done is None else f"{r.done}/{r.total or '?'}"
    if r.failed:
        prog = Cell.assemble(prog + " ", (f"✗{r.failed}", "$error"))
    ttft = "—" if r.ttft_p50_ms is None else f"{num(r.ttft_p50_ms, 1)} / {num(r.ttft_p99_ms, 1)}"
    status = cell(r.status, STATUS_STYLE.get(r.status, ""))
    if r.marks:  # the advisor: ⚠ invalid / ~ caveats, ✗ critical / ! warning findings (the pane says which)
        style = "$error" if "⚠" in r.marks or "✗" in r.marks else "$warning"
        status = Cell.assemble((r.status, STATUS_STYLE.get(r.status, "")), " ", (r.marks, style))
    return {"id": f"r{r.id}", "name": cell(r.name, "bold"), "status": status,
            "progress": prog, "tok": num(r.out_tok_s, 1) if r.out_tok_s is not None else "—", "ttft": ttft,
            "target": r.target, "started": time.strftime("%m-%d %H:%M", time.localtime(r.started_at)),
            "workload": cell(r.workload, "dim")}


class BenchScreen(PolledScreen):
    """Bench runs, newest first; the selected one's progress and result below."""

    BINDINGS = [
        Binding("n", "new", "New", tooltip="Start a benchmark against a running engine (vllm bench serve flags)"),
        Binding("c", "cancel", "Cancel", tooltip="Cancel the selected running benchmark (finished requests are kept)"),
        Binding("enter", "open", "Open", tooltip="Open the selected benchmark run in the history view"),
        Binding("p", "pareto", "Pareto", show=False,
                tooltip="Pareto frontier of the finished runs: output tok/s against TTFT p99"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.rows: list[BenchRow] = []
        self._shown: dict[str, dict] = {}
        self.columns = COLUMNS

    def compose(self):
        yield Header()
        yield DataTable(id="benches", cursor_type="row", zebra_stripes=True)
        with Vertical(id="bench-detail"):
            with Horizontal(id="bench-bar"):
                yield ProgressBar(total=None, show_eta=False, id="bench-progress")
            yield Static("", id="bench-figures")
        yield QuietFooter()

    def on_mount(self) -> None:
        self.feed = Feed(self.app.paths, self.app.clock)
        table = self.query_one(DataTable)
        narrow = self.app.size.width < 120
        self.columns = tuple((k, label) for k, label in COLUMNS if not narrow or k in NARROW)
        for key, label in self.columns:
            table.add_column(label, key=key)
        table.focus()
        self.sub_title = "benchmarks"
        self.query_one("#bench-detail").border_title = "selected"
        self.load()


    # ---- reading ----------------------------------------------------------------------------
    def start_read(self) -> None:
        self._read()

    @work(thread=True, exit_on_error=False, group="benches")
    def _read(self) -> None:
        try:
            rows, error = self.feed.benches(), self.feed.error
        except Exception as exc:  # a journal being migrated, a locked read: say so, try again
            rows, error = None, f"{type(exc).__name__}: {exc}"
        self.hand_back(self._apply, rows, error)

    def _apply(self, rows: list[BenchRow] | None, error: str | None) -> None:
        if not self.is_attached:
            return
        if rows is not None:
            self.rows = rows
            self._refresh_table()
            self._refresh_detail()
        elif error:
            self.notify(error, title="benchmarks", severity="warning")
        self.read_again(LIVE_S if any(r.live for r in self.rows) else IDLE_S)

    def _refresh_table(self) -> None:
        table = self.query_one(DataTable)
        keys = [str(r.id) for r in self.rows]
        if keys != list(self._shown):
            cursor = table.cursor_row
            table.clear()
            self._shown = {}
            for r in self.rows:
                c = bench_cells(r)
                table.add_row(*(c[k] for k, _ in self.columns), key=str(r.id))
                self._shown[str(r.id)] = c
            if self.rows:
                table.move_cursor(row=min(max(cursor, 0), len(self.rows) - 1))
            return
        for r in self.rows:
            c, old = bench_cells(r), self._shown[str(r.id)]
            for k, _ in self.columns:
                if c[k] != old.get(k):
                    table.update_cell(str(r.id), k, c[k], update_width=True)
            self._shown[str(r.id)] = c

    def _refresh_detail(self) -> None:
        row = self.selected
        bar = self.query_one("#bench-progress", ProgressBar)
        fig = self.query_one("#bench-figures", Static)
        if row is None:
            bar.update(total=None, progress=0)
            fig.update("No benchmarks in this journal yet. Press n to benchmark a running engine "
                       "(start one on the Engines screen, key e), or run `iejtui bench --engine NAME …`.")
            return
        if row.total:
            bar.update(total=row.total, progress=row.done or 0)
        else:
            bar.update(total=None, progress=0)
        now = self.app.now()
        width = max(len(k) for k, _ in detail_lines(row, now))
        fig.update("\n".join(f"[$text-muted]{k:<{width}}[/]  {v}" for k, v in
                             ((k, v.replace("[", r"\[")) for k, v in detail_lines(row, now))))

    @on(DataTable.RowHighlighted)
    def _highlighted(self) -> None:
        self._refresh_detail()

    @property
    def selected(self) -> BenchRow | None:
        table = self.query_one(DataTable)
        if not table.row_count:
            return None
        key = table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value
        return next((r for r in self.rows if str(r.id) == key), None)

    # ---- actions ----------------------------------------------------------------------------
    @on(DataTable.RowSelected)
    def _row_selected(self) -> None:
        self.action_open()

    def action_open(self) -> None:
        row = self.selected
        if row is not None:
            self.app.open_run(row.id)

    def action_pareto(self) -> None:
        from iejtui.charts.pareto_term import render_pareto_term
        from iejtui.derive.pareto import frontier
        from iejtui.ui.modals import TextModal
        from iejtui.viewmodel.bench import pareto_items
        items = pareto_items(self.rows)
        f = frontier([(it["label"], it["output_tok_s"], it["ttft_p99_ms"]) for it in items],
                     "output_tok_s", "ttft_p99_ms")
        size = self.app.size
        self.app.push_screen(TextModal(render_pareto_term(f, min(size.width - 6, 100), min(size.height - 6, 24))))

    def action_new(self) -> None:
        self._new()

    @work(exclusive=True, group="bench-new", exit_on_error=False)
    async def _new(self) -> None:
        try:
            engines = await service(self.app.paths).engines(timeout=5)
        except (ServiceError, UserError) as exc:
            self.notify(str(exc), title="benchmark", severity="error")
            return
        ready = [e["name"] for e in engines if e.get("status") == "ready"]
        if not ready:
            self.notify("no engine is ready: start one on the Engines screen (key e) first",
                        title="benchmark", severity="warning")
            return
        from iejtui.ui.modals import StartBenchModal
        self.app.push_screen(StartBenchModal(ready), self._start)

    def _start(self, body: dict | None) -> None:
        if body is not None:
            self._post(dict(body, cwd=str(self.app.paths.root)))

    @work(group="bench-new", exit_on_error=False)
    async def _post(self, body: dict) -> None:
        try:
            job = await service(self.app.paths).start_bench(body, timeout=30)
        except (ServiceError, UserError) as exc:
            self.notify(str(exc), title="benchmark", severity="error")
            return
        self.notify(f"benchmark r{job['run_id']} started against {body['engine']}", title="benchmark")
        self.load()

    def action_cancel(self) -> None:
        row = self.selected
        if row is None or not row.live:
            self.notify("the selected benchmark is not running", title="benchmark", severity="warning")
            return
        self._cancel(row.id)

    @work(group="bench-cancel", exit_on_error=False)
    async def _cancel(self, run_id: int) -> None:
        try:
            await service(self.app.paths).cancel_bench(run_id, timeout=30)
        except (ServiceError, UserError) as exc:
            self.notify(str(exc), title="benchmark", severity="error")
            return
        self.notify(f"benchmark r{run_id} cancelled at {clock(self.app.now())}; finished requests are kept",
                    title="benchmark")
        self.load()
