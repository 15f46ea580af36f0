"""Engines of this journal's service: start (profile or ad-hoc), stop, restart, log tail."""

from __future__ import annotations

from textual import on, work
from textual.binding import Binding
from textual.content import Content
from textual.widgets import DataTable, Header, Log, Static

from iejtui.client import ServiceClient
from iejtui.config import load_config
from iejtui.errors import ServiceError, UserError
from iejtui.store.vocab import ENGINE_LIVE
from iejtui.ui.feed import with_reader
from iejtui.ui.modals import ConfirmModal, ProfileModal, StartEngineModal
from iejtui.ui.screens.polled import PolledScreen
from iejtui.ui.widgets.cells import cell
from iejtui.ui.widgets.footer import QuietFooter
from iejtui.viewmodel.restart import restart_request
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
    advice = e.get("advisor") or []  # the advisor's findings firing on this engine now
    if advice:
        note = (f"{'✗' if advice[0]['severity'] == 'critical' else '!'} {advice[0]['title']}"
                + (f" (+{len(advice) - 1})" if len(advice) > 1 else "") + (" · " + note if note else ""))
    return {
        "name": cell(e["name"], "bold"), "kind": e.get("kind") or "",
        "status": cell(e["status"], STATUS_STYLE.get(e["status"], "")),
        "phase": e.get("phase") or "", "pid": str(e.get("pid") or "—"), "run": f"r{e['run_id']}",
        "url": e.get("url") or "", "started": clock(e.get("started_at")),
        "note": cell(note, ("$error" if advice and advice[0]["severity"] == "critical" else "$warning") if note else ""),
    }


class EnginesScreen(PolledScreen):
    """Engines the service knows (this session), their state and the selected one's log."""

    BINDINGS = [
        Binding("s", "start", "Start", tooltip="Start an engine from a profile or a command line"),
        Binding("x", "stop", "Stop", tooltip="Stop the selected engine (detach if attached)"),
        Binding("R", "restart", "Restart", key_display="R", tooltip="Stop the selected engine and start it again"),
        Binding("f", "follow", "Follow log", tooltip="Follow the selected engine's log (on/off)"),
        Binding("enter", "open", "Open run", tooltip="Open the selected engine's run in the history view"),
        Binding("p", "profile", "Profile", show=False,
                tooltip="Profile the selected engine for N seconds (launched with profile = true)"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.engines: list[dict] = []
        self.follow = True
        self.error: str | None = None
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
        self.load()

    @property
    def selected(self) -> dict | None:
        table = self.query_one(DataTable)
        if not table.row_count or not self.engines:
            return None
        key = table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value
        return next((e for e in self.engines if e["name"] == key), None)

    # ---- polling the service -------------------------------------------------------------------
    def start_read(self) -> None:
        self._poll()

    @work(group="engines-poll", exit_on_error=False)
    async def _poll(self) -> None:
        """The engines, then the selected one's log (async: on the UI thread, between awaits)."""
        paths = self.app.paths
        try:
            engines, error = await service(paths).engines(timeout=5), None
        except (ServiceError, UserError) as exc:
            engines, error = [], str(exc)
        self.hand_back(self._show, engines, error)
        sel = self.selected if self.is_attached else None
        if sel is not None and (self.follow or sel["name"] != self._log_for):
            try:
                data = await service(paths).engine_log(sel["name"], LOG_LINES, timeout=5)
                self.hand_back(self._show_log, sel["name"], data.get("lines") or [], data.get("path"))
            except (ServiceError, UserError) as exc:
                self.hand_back(self._show_log, sel["name"], [f"(log unavailable: {exc})"], None)
        self.hand_back(self.read_again, POLL_S)

    def _show(self, engines: list[dict], error: str | None) -> None:
        self.engines, self.error = engines, error
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
            self.load()

    # ---- actions --------------------------------------------------------------------------------
    def action_start(self) -> None:
        self._open_start()

    @work(thread=True, group="engines-dialog", exit_on_error=False)
    def _open_start(self) -> None:
        """iejtui.toml read on a worker; the dialog opens with its profiles (none if it is broken)."""
        try:
            profiles, error = load_config(self.app.paths.config).engines, None
        except UserError as exc:
            profiles, error = {}, str(exc)
        self.hand_back(self._start_dialog, profiles, error)

    def _start_dialog(self, profiles: dict, error: str | None) -> None:
        if error:
            self.notify(error, title="iejtui.toml", severity="error")
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
        if e is not None:
            self._plan_restart(e)

    @work(thread=True, group="engines-plan", exit_on_error=False)
    def _plan_restart(self, e: dict) -> None:
        """The profiles and the run's stored command line, read here; the decision is
        ``viewmodel.restart.restart_request``'s."""
        try:
            profiles = load_config(self.app.paths.config).engines
        except UserError:
            profiles = {}
        try:
            run = with_reader(self.app.paths, lambda reader: reader.run(e["run_id"]))
        except UserError:
            run = None
        plan = restart_request(e, profiles, run)
        if plan.body is None:
            self.hand_back(self.notify, plan.refusal, severity="warning")
        else:
            self.hand_back(self._restart, e, plan.body)

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
        self.load()

    @work(group="engines-cmd", exit_on_error=False)
    async def _send(self, request, what: str) -> None:
        """``request(client)``: one ServiceClient call (its coroutine), reported as ``what``."""
        self.notify(what + "…")
        try:
            await request(service(self.app.paths))
        except (ServiceError, UserError) as exc:
            self.notify(str(exc), title=what, severity="error", timeout=8)
        self.load()

    def action_profile(self) -> None:
        e = self.selected
        if e is None or e["status"] != "ready":
            self.notify("select a ready engine first", severity="warning")
            return
        self.app.push_screen(ProfileModal(e["name"]),
                             lambda body: body and self._send(lambda c: c.start_profile(body),
                                                              f"profiling {body['engine']} for {body['seconds']:g} s"))

    def action_follow(self) -> None:
        self.follow = not self.follow
        self.notify("following the log" if self.follow else "log frozen")
        self.load()

    def action_open(self) -> None:
        e = self.selected
        if e is not None:
            self.app.open_run(e["run_id"])
