"""All runs of the journal: filter, multi-select, open one in the history view."""

from __future__ import annotations

import time

from textual import on, work
from textual.binding import Binding
from textual.widgets import DataTable, Header, Input, Static

from iejtui.errors import ServiceError, UserError
from iejtui.store.vocab import LIVE, RunKind
from iejtui.ui.feed import Feed, with_reader
from iejtui.ui.modals import ConfirmModal
from iejtui.ui.screens.polled import PolledScreen
from iejtui.ui.widgets.cells import cell
from iejtui.ui.widgets.footer import QuietFooter
from iejtui.viewmodel.models import RunRow
from iejtui.viewmodel.text import deletion_question, span

# the headline right after the status: at 80 columns it is what scrolls off last
COLUMNS = (("sel", " "), ("id", "run"), ("kind", "kind"), ("name", "name"), ("status", "status"),
           ("headline", "headline"), ("duration", "duration"), ("started", "started"), ("tags", "tags"))
STATUS_STYLE = {"ready": "$success", "starting": "$warning", "crashed": "$error", "failed": "$error",
                "interrupted": "$warning", "stopped": "dim"}
RELOAD_S = 2.0
HEADLINE_WIDTH = 44  # "16k tok · 322.9 tok/s · KV peak 55% · exit 1"
# headline figures come once a run has ended (vocab.LIVE: still going)


def cells(row: RunRow, selected: bool) -> dict:
    when = time.strftime("%m-%d %H:%M:%S", time.localtime(row.started_at))
    return {
        "sel": cell("●", "$accent") if selected else " ",
        "id": f"r{row.id}", "kind": row.kind, "name": cell(row.name, "bold"),
        "status": cell(row.status, STATUS_STYLE.get(row.status, "")),
        "started": when, "duration": span(row.duration_s),
        "headline": cell(row.headline, "$text-muted" if not row.headline else ""),
        "tags": ", ".join(row.tags),
    }


class RunsScreen(PolledScreen):
    """Every run: kind, name, status, start, duration, headline figures, tags."""

    BINDINGS = [
        Binding("slash", "filter", "Filter", key_display="/", tooltip="Filter runs by name, kind, status or tag"),
        Binding("space", "toggle", "Select", tooltip="Select or unselect the run under the cursor"),
        Binding("enter", "open", "Open", tooltip="Open the run under the cursor in the history view"),
        Binding("a", "select_all", "Select all", tooltip="Select every run the filter shows"),
        Binding("escape", "clear", "Clear", tooltip="Clear the filter, then the selection"),
        Binding("D,delete", "delete", "Delete", key_display="D", show=False, tooltip="Delete the selected runs (or the one under the cursor): "
                "their rows, engine logs and profile traces (iejtui runs delete)"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.rows: list[RunRow] = []
        self.selected: set[int] = set()
        self.headlines: dict[int, str] = {}
        self._shown: dict[int, dict] = {}

    def compose(self):
        yield Header()
        yield Input(placeholder="filter: name, kind, status, tag…  (/ to focus, esc to clear)", id="filter")
        yield DataTable(id="runs", cursor_type="row", zebra_stripes=True)
        yield Static("", id="runs-info")
        yield QuietFooter()

    def on_mount(self) -> None:
        self.feed = Feed(self.app.paths, self.app.clock)
        self.query_one("#filter", Input).cursor_blink = False  # no redraw twice a second over SSH
        table = self.query_one(DataTable)
        for key, label in COLUMNS:
            # the headline arrives after the first draw: a fixed width keeps the columns from
            # jumping when it does
            table.add_column(label, key=key, width=HEADLINE_WIDTH if key == "headline" else None)
        table.focus()
        self.sub_title = "runs"
        self.load()


    @property
    def selected_run_ids(self) -> list[int]:
        """The selected runs, newest first (for features that act on several runs)."""
        return [r.id for r in self.rows if r.id in self.selected]

    # ---- loading ----------------------------------------------------------------------------
    def start_read(self) -> None:
        self._read()

    @work(thread=True, exit_on_error=False, group="runs")
    def _read(self) -> None:
        """The table first, then the headline figures of a few ended runs at a time."""
        try:
            rows = self.feed.runs(self.headlines)
            error = self.feed.error
        except Exception as exc:
            rows, error = None, f"{type(exc).__name__}: {exc}"
        self.hand_back(self._apply, rows, error, False)
        if rows is None:
            return
        todo = [r for r in rows if r.kind == RunKind.ENGINE and r.id not in self.headlines and r.status not in LIVE][:8]
        if not todo:
            self.hand_back(self._done)
            return
        for r in todo:
            try:
                self.headlines[r.id] = self.feed.headline(r.id)
            except Exception:  # a run whose samples cannot be read keeps an empty headline
                self.headlines[r.id] = ""
        self.hand_back(self._apply, self.feed.runs(self.headlines), None, True)

    def _apply(self, rows: list[RunRow] | None, error: str | None, last: bool) -> None:
        if not self.is_attached:  # the screen left (a reader finished after esc): nothing to draw
            return
        if rows is not None:
            self.rows = rows
            self._refresh_table()
        elif error:
            self.notify(error, title="runs", severity="warning")
        if last or rows is None:
            self._done()

    def _done(self) -> None:
        if not self.is_attached:  # the screen left (a reader finished after esc): nothing to draw
            return
        self.read_again(max(RELOAD_S, 2 * self.app.refresh_s))  # tests: never

    def _visible(self) -> list[RunRow]:
        text = self.query_one("#filter", Input).value.strip()
        return [r for r in self.rows if r.matches(text)]

    def _refresh_table(self) -> None:
        table = self.query_one(DataTable)
        visible = self._visible()
        keys = [str(r.id) for r in visible]
        if keys != list(self._shown):
            cursor = table.cursor_row
            table.clear()
            self._shown = {}
            for r in visible:
                c = cells(r, r.id in self.selected)
                table.add_row(*(c[k] for k, _ in COLUMNS), key=str(r.id))
                self._shown[str(r.id)] = c
            if visible:
                table.move_cursor(row=min(cursor, len(visible) - 1))
        else:
            for r in visible:
                c = cells(r, r.id in self.selected)
                old = self._shown[str(r.id)]
                for k, _ in COLUMNS:
                    if c[k] != old.get(k):
                        table.update_cell(str(r.id), k, c[k], update_width=True)
                self._shown[str(r.id)] = c
        self.app.run_selection = tuple(self.selected_run_ids)  # the Journal screen's dialogs start with it
        n = len(self.selected)
        info = f"{len(visible)} of {len(self.rows)} runs"
        if n:
            info += f" · {n} selected: " + ", ".join(f"r{i}" for i in self.selected_run_ids[:12])
        self.query_one("#runs-info", Static).update(info)

    # ---- actions ----------------------------------------------------------------------------
    @on(Input.Changed, "#filter")
    def _filter_changed(self) -> None:
        self._refresh_table()

    @on(Input.Submitted, "#filter")
    def _filter_done(self) -> None:
        self.query_one(DataTable).focus()

    @on(DataTable.RowSelected)
    def _row_selected(self, event: DataTable.RowSelected) -> None:
        self.app.open_run(int(event.row_key.value))

    def _cursor_id(self) -> int | None:
        table = self.query_one(DataTable)
        if not table.row_count:
            return None
        key = table.coordinate_to_cell_key(table.cursor_coordinate).row_key
        return int(key.value)

    def action_filter(self) -> None:
        self.query_one("#filter", Input).focus()

    def action_toggle(self) -> None:
        rid = self._cursor_id()
        if rid is None:
            return
        self.selected.symmetric_difference_update({rid})
        self._refresh_table()
        table = self.query_one(DataTable)
        if table.cursor_row < table.row_count - 1:
            table.move_cursor(row=table.cursor_row + 1)

    def action_select_all(self) -> None:
        visible = {r.id for r in self._visible()}
        self.selected = set() if visible <= self.selected else self.selected | visible
        self._refresh_table()

    def action_open(self) -> None:
        rid = self._cursor_id()
        if rid is not None:
            self.app.open_run(rid)

    def action_clear(self) -> None:
        box = self.query_one("#filter", Input)
        if box.value:
            box.value = ""
        elif self.selected:
            self.selected.clear()
        self.query_one(DataTable).focus()
        self._refresh_table()

    def action_delete(self) -> None:
        ids = self.selected_run_ids or [i for i in (self._cursor_id(),) if i is not None]
        if not ids:
            self.notify("no run to delete", severity="warning")
            return
        self._plan_delete(ids)

    @work(thread=True, group="runs-delete", exit_on_error=False)
    def _plan_delete(self, ids: list[int]) -> None:
        """What would go (the store's refusals, as ``runs delete`` says them), then ask."""
        from iejtui import runfiles
        paths = self.app.paths
        try:
            preview = with_reader(paths, lambda reader: reader.deletion_preview(ids))
        except UserError as exc:
            self.hand_back(self.notify, str(exc), title="delete", severity="warning", timeout=10)
            return
        size = sum(runfiles.owned_bytes(paths, r["id"]) for r in preview["runs"])
        self.hand_back(self._ask_delete, ids, deletion_question(preview, size))

    def _ask_delete(self, ids: list[int], question: str) -> None:
        self.app.push_screen(ConfirmModal(question), lambda yes: yes and self._delete(ids))

    @work(thread=True, group="runs-delete", exit_on_error=False)
    def _delete(self, ids: list[int]) -> None:
        """The service deletes (the one writer; it checks again)."""
        from iejtui.client import DeleteRequest, ServiceClient, ensure_service
        from iejtui.fmt import size
        from iejtui.store.deletion import counts_text
        try:
            ensure_service(self.app.paths)
            out = ServiceClient(self.app.paths).delete_runs(DeleteRequest(ids=ids), timeout=60)
        except (UserError, ServiceError) as exc:
            self.hand_back(self.notify, str(exc), title="delete", severity="error", timeout=10)
            return
        gone = [r["id"] for r in out["deleted"]]
        self.hand_back(self._deleted, gone, f"deleted {', '.join(f'r{i}' for i in gone)}: {counts_text(out)}, "
                       f"{out['files']} file(s) ({size(out['bytes'])})")

    def _deleted(self, gone: list[int], message: str) -> None:
        self.selected -= set(gone)
        self.notify(message, title="delete")
        self.load()
