"""Engines of this journal's service: start (profile or ad-hoc), stop, restart, log tail."""

from __future__ import annotations

from textual import on, work
from textual.binding import Binding
from textual.content import Content
from textual.screen import Screen
from textual.timer import Timer
from textual.widgets import DataTable, Header, Log, Static

from iejtui.client import ServiceClient
from iejtui.config import load_config
from iejtui.errors import ServiceError, UserError
from iejtui.redact import MASK
from iejtui.store.vocab import ENGINE_LIVE
from iejtui.ui.modals import ConfirmModal, StartEngineModal
from iejtui.ui.widgets.cells import cell
from iejtui.ui.widgets.footer import QuietFooter
from iejtui.viewmodel.text import clock


def service(paths) -> ServiceClient:
    """The async service client (aiohttp loads on its first call: a faster first frame)."""
    return ServiceClient(paths, use_async=True)

COLUMNS = (("name", "name"), ("kind", "kind"), ("status", "status"), ("phase", "phase"), ("pid", "pid"),
           ("run", "run"), ("url", "url"), ("started", "started"), ("note", "note"))
STATUS_STYLE = {"ready": "$success", "starting": "$warning", "crashed": "$error", "failed": "$error",
                "interrupted": "$warning", "stopped": "dim"}
POLL_S = 1.0
LOG_LINES = 200


def engine_cells(e: dict) -> dict:
    note = e.get("scrape_error") or ("; ".join(e.get("error_lines") or [])[-60:]) or ""
    if not e.get("owned", True):
        note = ("attached · " + note).strip(" ·")
    return {
        "name": cell(e["name"], "bold"), "kind": e.get("kind") or "",
        "status": cell(e["status"], STATUS_STYLE.get(e["status"], "")),
        "phase": e.get("phase") or "", "pid": str(e.get("pid") or "—"), "run": f"r{e['run_id']}",
        "url": e.get("url") or "", "started": clock(e.get("started_at")),
        "note": cell(note, "$warning" if note else ""),
    }


class EnginesScreen(Screen):
    """Engines the service knows (this session), their state and the selected one's log."""

    BINDINGS = [
        Binding("s", "start", "Start", tooltip="Start an engine from a profile or a command line"),
        Binding("x", "stop", "Stop", tooltip="Stop the selected engine (detach if attached)"),
        Binding("R", "restart", "Restart", key_display="R", tooltip="Stop the selected engine and start it again"),
        Binding("f", "follow", "Follow log", tooltip="Follow the selected engine's log (on/off)"),
        Binding("enter", "open", "Open run", tooltip="Open the selected engine's run in the history view"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.engines: list[dict] = []
        self.follow = True
        self.error: str | None = None
        self._timer: Timer | None = None
        self._log_for: str | None = None
        self._log_lines: list[str] = []
        self._cells: dict[str, dict] = {}

    def compose(self):
        yield Header()
        yield Static("", id="service-state")
        yield DataTable(id="engine-table", cursor_type="row", zebra_stripes=True)
        yield Log(id="log", max_lines=2000, auto_scroll=True)
        yield QuietFooter()

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        for key, label in COLUMNS:
            table.add_column(label, key=key)
        table.focus()
        self.sub_title = "engines"
        self.query_one(Log).border_title = "log"
        self.poll()

    def on_screen_resume(self) -> None:
        if self._timer is None:
            self.poll()

    def on_screen_suspend(self) -> None:
        if self._timer is not None:
            self._timer.stop()
            self._timer = None

    @property
    def selected(self) -> dict | None:
        table = self.query_one(DataTable)
        if not table.row_count or not self.engines:
            return None
        key = table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value
        return next((e for e in self.engines if e["name"] == key), None)

    # ---- polling the service -------------------------------------------------------------------
    def poll(self) -> None:
        if self._timer is not None:
            self._timer.stop()
            self._timer = None
        self._poll()

    @work(exclusive=True, group="engines-poll", exit_on_error=False)
    async def _poll(self) -> None:
        paths = self.app.paths
        try:
            engines = await service(paths).engines(timeout=5)
            self.error = None
        except (ServiceError, UserError) as exc:
            engines, self.error = [], str(exc)
        self._show(engines)
        sel = self.selected
        if sel is not None and (self.follow or sel["name"] != self._log_for):
            try:
                data = await service(paths).engine_log(sel["name"], LOG_LINES, timeout=5)
                self._show_log(sel["name"], data.get("lines") or [], data.get("path"))
            except (ServiceError, UserError) as exc:
                self._show_log(sel["name"], [f"(log unavailable: {exc})"], None)
        if self.is_current:
            self._timer = self.set_timer(POLL_S, self.poll)

    def _show(self, engines: list[dict]) -> None:
        self.engines = engines
        state = self.query_one("#service-state", Static)
        if self.error:
            state.update(cell(f"service: {self.error}", "$error"))
        else:
            live = sum(e["status"] in ENGINE_LIVE for e in engines)
            state.update(Content.assemble(("service ", "$text-muted"), ("answering", "$success"),
                                          (f" · {live} running · {len(engines)} this session"
                                           " · s start · x stop · R restart · f follow log", "$text-muted")))
        table = self.query_one(DataTable)
        keys = [e["name"] for e in engines]
        current = [str(k.value) for k in table.rows]
        if keys != current:
            cursor = table.cursor_row
            table.clear()
            self._cells = {}
            for e in engines:
                c = self._cells[e["name"]] = engine_cells(e)
                table.add_row(*(c[k] for k, _ in COLUMNS), key=e["name"])
            if engines:
                table.move_cursor(row=min(max(cursor, 0), len(engines) - 1))
        else:
            for e in engines:  # only what changed: nothing is redrawn while engines idle
                old = self._cells.get(e["name"], {})
                new = self._cells[e["name"]] = engine_cells(e)
                for k, v in new.items():
                    if old.get(k) != v:
                        table.update_cell(e["name"], k, v, update_width=True)

    def _show_log(self, name: str, lines: list[str], path: str | None) -> None:
        log = self.query_one(Log)
        log.border_title = f"log · {name}" + (" · following" if self.follow else "")
        log.border_subtitle = path or ""
        if name != self._log_for or lines[: len(self._log_lines)] != self._log_lines[: len(lines)]:
            log.clear()
            log.write_lines(lines)
        elif len(lines) > len(self._log_lines):
            log.write_lines(lines[len(self._log_lines):])
        elif lines != self._log_lines:
            log.clear()
            log.write_lines(lines)
        self._log_for, self._log_lines = name, lines

    @on(DataTable.RowSelected)
    def _row_selected(self) -> None:
        self.action_open()

    @on(DataTable.RowHighlighted)
    def _highlighted(self) -> None:
        sel = self.selected
        if sel is not None and sel["name"] != self._log_for:
            self.poll()

    # ---- actions --------------------------------------------------------------------------------
    def action_start(self) -> None:
        try:
            profiles = load_config(self.app.paths.config).engines
        except UserError as exc:
            self.notify(str(exc), title="iejtui.toml", severity="error")
            profiles = {}
        self.app.push_screen(StartEngineModal(profiles), self._start)

    def _start(self, body: dict | None) -> None:
        if body:
            self._send(lambda c: c.start_engine(body), f"starting {body['name']}")

    def action_stop(self) -> None:
        e = self.selected
        if e is None or e["status"] not in ENGINE_LIVE:
            self.notify("select a running engine first", severity="warning")
            return
        verb = "Stop" if e.get("owned", True) else "Detach from"
        question = f"{verb} engine {e['name']} (run r{e['run_id']}, pid {e.get('pid') or '—'})?"
        self.app.push_screen(ConfirmModal(question),
                             lambda yes: yes and self._send(lambda c: c.stop_engine(e["name"]),
                                                            f"stopping {e['name']}"))

    def action_restart(self) -> None:
        e = self.selected
        if e is None:
            return
        body = self._restart_body(e)
        if body is None:
            return
        self._restart(e, body)

    def _restart_body(self, e: dict) -> dict | None:
        try:
            profiles = load_config(self.app.paths.config).engines
        except UserError:
            profiles = {}
        if e["name"] in profiles:
            return {"name": e["name"], "profile": e["name"]}
        if not e.get("owned", True):
            return {"name": e["name"], "url": e.get("url"), "kind": e.get("kind"), "attach": True}
        run = self._run_row(e["run_id"])
        argv = (run or {}).get("argv") or []
        if not argv or any(MASK in a for a in argv):
            self.notify(f"{e['name']} was started ad hoc with secrets in its command line; start it again "
                        "from a profile (s)", severity="warning")
            return None
        body = {"name": e["name"], "kind": e.get("kind") or "vllm", "argv": argv}
        if e.get("url"):
            body["url"] = e["url"]
        return body

    def _run_row(self, run_id: int) -> dict | None:
        from iejtui.store import Reader
        try:
            reader = Reader(self.app.paths.db)
        except UserError:
            return None
        try:
            return reader.run(run_id)
        finally:
            reader.close()

    @work(exclusive=True, group="engines-cmd", exit_on_error=False)
    async def _restart(self, e: dict, body: dict) -> None:
        try:
            if e["status"] in ENGINE_LIVE:
                self.notify(f"restarting {e['name']}: stopping…")
                await service(self.app.paths).stop_engine(e["name"])
            await service(self.app.paths).start_engine(body)
            self.notify(f"{e['name']} starting again")
        except (ServiceError, UserError) as exc:
            self.notify(str(exc), title=f"restart {e['name']}", severity="error", timeout=8)
        self.poll()

    @work(group="engines-cmd", exit_on_error=False)
    async def _send(self, request, what: str) -> None:
        """``request(client)``: one ServiceClient call (its coroutine), reported as ``what``."""
        self.notify(what + "…")
        try:
            await request(service(self.app.paths))
        except (ServiceError, UserError) as exc:
            self.notify(str(exc), title=what, severity="error", timeout=8)
        self.poll()

    def action_follow(self) -> None:
        self.follow = not self.follow
        self.notify("following the log" if self.follow else "log frozen")
        self.poll()

    def action_open(self) -> None:
        e = self.selected
        if e is not None:
            self.app.open_run(e["run_id"])
