"""The journal's day logs: the list, the selected day's LOG.md, and the journal commands.

Every write goes through the library functions the CLI calls (``iejtui.journal``:
``create_day``, ``tag_runs``, ``refresh_day``, ``write_export``), on a thread worker; tags
reach journal.db through the service the same way (``service_ops.push_tags``). A
``UserError`` becomes one line in an error notification.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from textual import on, work
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.widgets import DataTable, Header, Markdown, Static

from iejtui.errors import UserError
from iejtui.ui.feed import with_reader
from iejtui.ui.journal_modals import ExportModal, NewDayModal, TagRunsModal
from iejtui.ui.screens.polled import PolledScreen
from iejtui.ui.widgets.cells import cell
from iejtui.ui.widgets.footer import QuietFooter
from iejtui.viewmodel import journal as vm

POLL_S = 5.0  # a look at the journal's files (a day made from a shell, LOG.md edited); x app.refresh_s
COLUMNS = (("day", "day"), ("date", "date"), ("topic", "topic"), ("runs", "runs"), ("headline", "headline"))


def cells(row: vm.DayRow, widths: tuple[int, int]) -> tuple:
    topic_w, headline_w = widths
    return (cell(row.label, "bold"), row.date, cell(vm.fit(row.topic, topic_w), "bold"), row.runs,
            cell(vm.fit(row.headline, headline_w) if row.headline else "no figures yet",
                 "" if row.headline else "$text-muted"))


def _mtime(path: Path | None) -> int | None:
    try:
        return path.stat().st_mtime_ns if path else None
    except OSError:
        return None


def files_stamp(root: Path) -> tuple:
    """The modification times that tell a day was made or written: days/ and the index
    (every day write rewrites JOURNAL_INDEX.md). Call it on a worker."""
    return _mtime(root / "days"), _mtime(root / "JOURNAL_INDEX.md")


def one_line(exc: BaseException) -> str:
    text = str(exc) if isinstance(exc, UserError) else f"{type(exc).__name__}: {exc}"
    return " ".join(text.split()) or type(exc).__name__


class JournalScreen(PolledScreen):
    """Day logs (days/day-NNN-topic/): list, read, create from runs, tag, refresh, export."""

    BINDINGS = [
        Binding("n", "new_day", "New day", tooltip="A day log from runs (Runs screen selection)"),
        Binding("t", "tag", "Tag runs", tooltip="Add runs to the selected day (iejtui tag)"),
        Binding("f", "refresh_day", "Refresh", tooltip="Recompute the day's figures (day refresh)"),
        Binding("x", "export", "Export", tooltip="The day as markdown (iejtui export -o FILE)"),
        Binding("o", "folder", "Folder", tooltip="Show and copy the day's folder path"),
        Binding("escape", "list", "Day list", show=False, tooltip="From LOG.md back to the list of days"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.rows: list[vm.DayRow] = []
        self.due: str | None = None
        self.busy: str | None = None  # what a write worker is doing
        self._shown_log: tuple[str, float] | None = None
        self._want: int | None = None  # select this day once the list is read
        self._widths: tuple[int, int] = (0, 0)  # (screen width, rows) the cells were cut for
        self._stamp: tuple | None = None  # the files' modification times at the last list read
        self._force = False  # the next look reads the list whatever the files' times

    def compose(self):
        yield Header()
        yield DataTable(id="days", cursor_type="row", zebra_stripes=True)
        yield Static("", id="days-info")
        with VerticalScroll(id="day-log"):
            yield Markdown("", id="day-md")
        yield Static(vm.EMPTY_TEXT, id="days-empty", markup=False)
        yield QuietFooter()

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        for key, label in COLUMNS:
            table.add_column(label, key=key)
        self.query_one("#day-log").can_focus = True
        self.sub_title = "journal"
        self.set_class(True, "-empty")
        table.focus()
        self.load()

    # ---- the look every few seconds: a day made from a shell, LOG.md edited by hand ------------
    def can_read(self) -> bool:
        return self.busy is None  # a write worker reads the list again when it is done

    def returned(self) -> None:
        self._force = True  # the list read again on every return (and the reminder looked at)

    def start_read(self) -> None:
        force, self._force = self._force or self._stamp is None, False
        self._look(force, self._stamp)

    @work(thread=True, exit_on_error=False, group="journal-poll")
    def _look(self, force: bool, seen: tuple | None) -> None:
        """Two stat calls: the list is read again when a day was made or written (or ``force``);
        else only the selected LOG.md is looked at again (edited by hand)."""
        root = self.app.paths.root
        stamp = files_stamp(root)  # before reading: a write meanwhile is seen next time
        if not force and stamp == seen:
            self.hand_back(self._unchanged)
            return
        from iejtui.journal import days, promotion_due
        try:
            rows = vm.day_rows(days(root))
            due = promotion_due(root, now=self.app.now())
            error = None
        except Exception as exc:  # a day folder the user broke: say so, keep the old list
            rows, due, error = None, None, one_line(exc)
        self.hand_back(self._apply, rows, due, error, stamp)

    def _unchanged(self) -> None:
        self._show_selected()
        self._read_later()

    def _read_later(self) -> None:
        self.read_again(max(POLL_S, POLL_S * self.app.refresh_s))

    # ---- reading ------------------------------------------------------------------------------
    @property
    def selected(self) -> vm.DayRow | None:
        table = self.query_one(DataTable)
        if not self.rows or not table.row_count:
            return None
        key = table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value
        return next((r for r in self.rows if r.key == key), None)

    def reload(self, select: int | None = None) -> None:
        """Read the list now (after a write), then select day ``select``."""
        if select is not None:
            self._want = select
        self._force = True
        self.load()

    def _apply(self, rows, due, error, stamp: tuple) -> None:
        self._stamp = stamp
        if error:
            self.notify(error, title="journal", severity="error")
            self._read_later()
            return
        if due and due != self.due:  # `iejtui day list`'s reminder, once per new text
            self.notify(" ".join(due.split()), title="reminder: promote lessons", timeout=12)
        self.rows, self.due = rows, due
        table = self.query_one(DataTable)
        keep = self._want if self._want is not None else (int(self.selected.key) if self.selected else None)
        self._want = None
        self._fill()
        self.set_class(not rows, "-empty")
        if rows:
            index = next((i for i, r in enumerate(rows) if r.number == keep), 0)
            table.move_cursor(row=index)
        self._show_selected()
        self._read_later()

    def _fill(self) -> None:
        table = self.query_one(DataTable)
        widths = vm.column_widths(self.rows, self.size.width)
        self._widths = (self.size.width, len(self.rows))
        table.clear()
        for r in self.rows:
            table.add_row(*cells(r, widths), key=r.key)

    def on_resize(self) -> None:
        if self.rows and self._widths != (self.size.width, len(self.rows)):
            keep = self.query_one(DataTable).cursor_row
            self._fill()
            self.query_one(DataTable).move_cursor(row=keep)

    def _show_selected(self) -> None:
        row = self.selected
        info = vm.summary(self.rows, row)
        if self.busy:
            info = f"{self.busy}… · {info}"
        self.query_one("#days-info", Static).update(info)
        pane = self.query_one("#day-log")
        if row is None:
            pane.border_title, pane.border_subtitle = "LOG.md", ""
            return
        pane.border_title = f"day {row.label} · {row.topic}"
        pane.border_subtitle = vm.shown_path(self.app.paths.root, row.log_path)
        self._read_log(row.log_path)

    @work(thread=True, exclusive=True, exit_on_error=False, group="journal-log")
    def _read_log(self, path: Path) -> None:
        try:
            stamp = path.stat().st_mtime
            if self._shown_log == (str(path), stamp):
                return
            text = path.read_text()
        except OSError as exc:
            stamp, text = 0.0, f"_{path.name} cannot be read: {exc.strerror}_"
        self.hand_back(self._show_log, str(path), stamp, text)

    async def _show_log(self, path: str, stamp: float, text: str) -> None:
        row = self.selected
        if row is None or str(row.log_path) != path or self._shown_log == (path, stamp):
            return  # the cursor moved on meanwhile, or the file did not change
        other_day = self._shown_log is None or self._shown_log[0] != path
        self._shown_log = (path, stamp)
        await self.query_one("#day-md", Markdown).update(text)
        if other_day:  # the same day written again keeps the reader's place
            self.query_one("#day-log").scroll_home(animate=False)

    @on(DataTable.RowHighlighted, "#days")
    def _highlighted(self) -> None:
        self._show_selected()

    @on(DataTable.RowSelected, "#days")
    def _open_log(self) -> None:
        self.query_one("#day-log").focus()

    def action_list(self) -> None:
        self.query_one(DataTable).focus()

    @on(Markdown.LinkClicked)
    def _link(self, event: Markdown.LinkClicked) -> None:
        event.prevent_default()  # relative links point into the day folder, not at a browser
        row = self.selected
        target = event.href if "://" in event.href or row is None else str(row.path / event.href)
        self.notify(target, title="link")

    # ---- writing ------------------------------------------------------------------------------
    def _day(self) -> vm.DayRow | None:
        row = self.selected
        if row is None:
            self.notify("no day log yet: press n to make one", severity="warning")
        return row

    def _selection(self) -> tuple[str, bool]:
        chosen = tuple(getattr(self.app, "run_selection", ()) or ())
        return vm.runs_text(chosen), bool(chosen)

    def _write(self, what: str, job: Callable, done: Callable[[object], str], select: int | None = None) -> None:
        """Run ``job(reader, on_note)`` on a thread; ``done(result)`` is the success line; the
        list is read again with day ``select`` (default: the day ``job`` returned the path of)."""
        if self.busy:
            self.notify(f"still {self.busy}: wait for it to finish", severity="warning")
            return
        self.busy = what
        self._show_selected()
        self._write_worker(what, job, done, select)

    @work(thread=True, exit_on_error=False, group="journal-write")
    def _write_worker(self, what: str, job: Callable, done: Callable[[object], str], select: int | None) -> None:
        notes: list[str] = []
        result, error = None, None
        try:
            if not self.app.paths.db.exists():
                raise UserError(f"{self.app.paths.root} has no journal.db yet: record a run first "
                                "(`iejtui engine start NAME`)")
            result = with_reader(self.app.paths, lambda reader: job(reader, notes.append))
        except Exception as exc:
            error = one_line(exc)
        if error is None and select is None and isinstance(result, Path):
            select = vm.day_number(result)
        self.hand_back(self._written, what, None if error else done(result), error, notes, select)

    def _written(self, what: str, message: str | None, error: str | None, notes: list[str],
                 select: int | None) -> None:
        self.busy = None
        if error:
            self.notify(error, title=what, severity="error", timeout=10)
        else:
            self.notify(message, title=what, timeout=8)
        for note in notes:
            self.notify(" ".join(note.split()), title="note", severity="warning", timeout=8)
        self.reload(select=select)

    @work(thread=True, exclusive=True, exit_on_error=False, group="journal-dialog")
    def _with_runs(self, open_dialog: Callable[[frozenset[int]], None]) -> None:
        """``open_dialog(run ids)`` once the journal's runs are read (fresh: a run may have
        started since the list was read), so a dialog can refuse an unknown id inline."""
        try:
            runs = with_reader(self.app.paths, lambda reader: reader.runs()) if self.app.paths.db.exists() else []
            known = frozenset(r["id"] for r in runs)
        except Exception as exc:
            self.hand_back(self.notify, one_line(exc), title="journal.db", severity="error")
            return
        self.hand_back(open_dialog, known)

    def action_new_day(self) -> None:
        runs, chosen = self._selection()
        self._with_runs(lambda known: self.app.push_screen(NewDayModal(runs, known, chosen), self._create))

    def _create(self, answer: dict | None) -> None:
        if not answer:
            return
        from iejtui.journal import create_day
        root = self.app.paths.root

        def job(reader, on_note):
            return create_day(root, reader, answer["topic"], answer["runs"], answer["note"], on_note=on_note)

        def done(path) -> str:
            return f"created {vm.shown_path(root, path / 'LOG.md')} ({len(answer['runs'])} run(s))"
        self._write("creating the day log", job, done)

    def action_tag(self) -> None:
        row = self._day()
        if row is None:
            return
        runs, chosen = self._selection()
        self._with_runs(lambda known: self.app.push_screen(TagRunsModal(row.label, row.topic, runs, known, chosen),
                                                           lambda ids: self._tag(row, ids)))

    def _tag(self, row: vm.DayRow, ids: list[int] | None) -> None:
        if not ids:
            return
        from iejtui.journal import tag_runs
        root = self.app.paths.root
        self._write(f"tagging into day {row.label}",
                    lambda reader, on_note: tag_runs(root, reader, ids, row.number, on_note=on_note),
                    lambda path: f"tagged {', '.join(f'r{i}' for i in ids)} into {vm.shown_path(root, path)}",
                    select=row.number)

    def action_refresh_day(self) -> None:
        row = self._day()
        if row is None:
            return
        from iejtui.journal import refresh_day
        root = self.app.paths.root
        self._write(f"refreshing day {row.label}",
                    lambda reader, on_note: refresh_day(root, reader, row.number, on_note=on_note),
                    lambda path: f"refreshed {vm.shown_path(root, path)}", select=row.number)

    def action_export(self) -> None:
        row = self._day()
        if row is None:
            return
        root = self.app.paths.root
        default = vm.shown_path(root, vm.export_target(root, row))
        self.app.push_screen(ExportModal(row.label, root, default), lambda text: self._export(row, text))

    def _export(self, row: vm.DayRow, text: str | None) -> None:
        if not text:
            return
        from iejtui.journal import write_export
        root = self.app.paths.root
        target = vm.export_target(root, row, text)
        self._write(f"exporting day {row.label}",
                    lambda reader, on_note: write_export(root, reader, target, row.number),
                    lambda n: f"wrote {target} ({n:,} characters)", select=row.number)

    def action_folder(self) -> None:
        row = self._day()
        if row is None:
            return
        self.app.copy_to_clipboard(str(row.path))
        self.notify(f"{row.path}", title=f"day {row.label} folder (copied)", timeout=10)
