"""The TUI's screens share one lifecycle and do no I/O on the UI thread (issue 15, item 5).

An AST check over ``iejtui/ui/screens/*.py``:

- timers (``set_interval``/``set_timer``) and ``call_from_thread`` appear only in
  ``polled.py`` (the one timer, the one way back to the UI thread: ``hand_back``);
- a class with ``@work`` methods (a screen that reads) is a ``PolledScreen``;
- I/O (opening a store ``Reader``, a file, ``stat``/``exists``, iejtui.toml, a service or
  feed call) happens only inside ``@work`` functions, or in helpers that only workers call
  (a helper handed to ``hand_back`` runs on the UI thread, so it counts as a UI caller).

Each rule is shown to fail on a synthetic screen that breaks it.
"""
from __future__ import annotations

import ast
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SCREENS = ROOT / "iejtui" / "ui" / "screens"

IO_NAMES = {"Reader", "Writer", "open", "load_config", "ServiceClient", "service", "ensure_service", "with_reader",
            "urlopen", "days", "promotion_due", "fleet_snapshot", "host_plots", "read_journal"}
IO_ATTRS = {"read_text", "write_text", "read_bytes", "write_bytes", "stat", "exists", "is_dir", "is_file",
            "iterdir", "glob", "rglob", "connect", "mkdir", "unlink"}
SOURCES = {"feed", "client"}  # self.feed.X(...) / self.client.X(...): reads, except closing them
TIMERS = {"set_interval", "set_timer", "call_from_thread"}


def _is_worker(fn: ast.AST) -> bool:
    for d in getattr(fn, "decorator_list", []):
        target = d.func if isinstance(d, ast.Call) else d
        if (isinstance(target, ast.Name) and target.id == "work") or (
                isinstance(target, ast.Attribute) and target.attr == "work"):
            return True
    return False


def _io_call(call: ast.Call) -> str | None:
    f = call.func
    if isinstance(f, ast.Name) and f.id in IO_NAMES:
        return f.id
    if isinstance(f, ast.Attribute):
        if f.attr in IO_ATTRS:
            return f.attr
        if f.attr in IO_NAMES and f.attr[0].isupper():
            return f.attr
        owner = f.value
        if (isinstance(owner, ast.Attribute) and owner.attr in SOURCES and isinstance(owner.value, ast.Name)
                and owner.value.id == "self" and f.attr != "close"):
            return f"self.{owner.attr}.{f.attr}"
    return None


def _referenced(node: ast.AST) -> str | None:
    if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "self":
        return node.attr
    if isinstance(node, ast.Name):
        return node.id
    return None


def check_source(source: str, name: str = "<screen>") -> list[str]:
    """The rule breaks in one screens/ module's source (empty: it keeps the rules)."""
    tree = ast.parse(source)
    problems: list[str] = []
    polled_file = name == "polled.py"
    funcs: dict[str, ast.AST] = {}
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            funcs[node.name] = node
        elif isinstance(node, ast.ClassDef):
            for item in node.body:
                if isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef)):
                    funcs[item.name] = item
            bases = {b.id if isinstance(b, ast.Name) else getattr(b, "attr", "") for b in node.bases}
            workers = [i.name for i in node.body if _is_worker(i)]
            if workers and "PolledScreen" not in bases and not polled_file:
                problems.append(f"{name}: {node.name} has workers ({', '.join(workers)}) but is not a PolledScreen")

    direct: dict[str, list[str]] = {}  # function -> the I/O it does itself
    ui_callers: dict[str, set[str]] = {}  # function -> non-worker functions that call or pass it
    worker_callers: dict[str, set[str]] = {}
    handed: dict[str, set[str]] = {}  # function -> workers that hand it back (it runs on the UI thread)
    for fname, fn in funcs.items():
        worker = _is_worker(fn)
        for node in ast.walk(fn):
            if isinstance(node, ast.Call):
                f = node.func
                if isinstance(f, ast.Attribute) and f.attr in TIMERS and not polled_file:
                    problems.append(f"{name}: {fname} calls {f.attr} (only PolledScreen keeps timers and "
                                    "hands results back)")
                io = _io_call(node)
                if io:
                    direct.setdefault(fname, []).append(io)
                if isinstance(f, ast.Attribute) and f.attr == "hand_back" and node.args:
                    ref = _referenced(node.args[0])
                    if ref in funcs:
                        handed.setdefault(ref, set()).add(fname)
            ref = _referenced(node)
            if ref in funcs and ref != fname:
                (worker_callers if worker else ui_callers).setdefault(ref, set()).add(fname)

    # I/O helpers: non-worker functions doing I/O themselves or through another such helper
    tainted = {f for f in direct if not _is_worker(funcs[f])}
    changed = True
    while changed:
        changed = False
        for fname, fn in funcs.items():
            if fname not in tainted and not _is_worker(fn) and any(
                    c in tainted for c, callers in ui_callers.items() if fname in callers):
                tainted.add(fname)
                changed = True
    for fname in sorted(tainted):
        # a helper called only by workers (or by other helpers, judged themselves) is fine;
        # one called by UI code, handed back to the UI thread, or called by nobody here
        # (a handler, an action, a callback) runs on the UI thread
        on_ui = (ui_callers.get(fname, set()) - tainted) | handed.get(fname, set())
        if not on_ui and not worker_callers.get(fname) and not ui_callers.get(fname):
            on_ui = {"the UI thread: a handler, action or callback"}
        if on_ui:
            what = ", ".join(sorted(set(direct.get(fname, [])))) or "through an I/O helper"
            problems.append(f"{name}: {fname} does I/O ({what}) on the UI thread (from {', '.join(sorted(on_ui))});"
                            " move it into a @work function")
    return problems


def test_screens_share_one_lifecycle_and_keep_io_on_workers():
    problems = []
    for path in sorted(SCREENS.glob("*.py")):
        problems += check_source(path.read_text(encoding="utf-8"), path.name)
    assert not problems, "\n".join(problems)


def test_every_screen_that_reads_is_a_polled_screen():
    """The seven screens that refresh themselves, by name: none was left on its own loop."""
    import sys
    sys.path.insert(0, str(ROOT))
    from iejtui.ui.screens.bench import BenchScreen
    from iejtui.ui.screens.dashboard import DashboardScreen
    from iejtui.ui.screens.engines import EnginesScreen
    from iejtui.ui.screens.fleet import FleetScreen
    from iejtui.ui.screens.journal import JournalScreen
    from iejtui.ui.screens.polled import PolledScreen
    from iejtui.ui.screens.run_view import RunScreen
    from iejtui.ui.screens.runs import RunsScreen
    for screen in (BenchScreen, DashboardScreen, EnginesScreen, FleetScreen, JournalScreen, RunScreen, RunsScreen):
        assert issubclass(screen, PolledScreen), screen
        for handler in ("on_screen_resume", "on_screen_suspend", "on_unmount"):  # Textual runs each class's own
            assert handler not in vars(screen), f"{screen.__name__} overrides {handler}: use the lifecycle's hooks"


def test_one_modal_base():
    from iejtui.ui import journal_modals, modals
    from textual.screen import ModalScreen
    dialogs = [c for m in (modals, journal_modals) for c in vars(m).values()
               if isinstance(c, type) and issubclass(c, ModalScreen) and c.__module__ == m.__name__]
    assert {c.__name__ for c in dialogs} >= {"Dialog", "StartEngineModal", "ConfirmModal", "StartBenchModal",
                                             "NewDayModal", "TagRunsModal", "ExportModal", "TextModal"}
    assert [c for c in dialogs if ModalScreen in c.__bases__] == [modals.Dialog]
    assert all(issubclass(c, modals.Dialog) for c in dialogs)


# ---- the check fails on each kind of break ----------------------------------------------------
BAD_READER = """
class S(PolledScreen):
    def action_restart(self):
        reader = Reader(self.app.paths.db)
        return reader.run(1)
"""

BAD_HELPER = """
class S(PolledScreen):
    def _row(self):
        return self.feed.run(1)

    def on_mount(self):
        self._row()

    @work(thread=True)
    def _read(self):
        self.hand_back(self._draw)

    def _draw(self):
        pass
"""

BAD_HANDED_BACK = """
def _stamp(root):
    return (root / "days").stat().st_mtime

class S(PolledScreen):
    @work(thread=True)
    def _read(self):
        self.hand_back(self._draw)

    def _draw(self):
        _stamp(self.app.paths.root)
"""

BAD_TIMER = """
class S(Screen):
    def on_mount(self):
        self.set_interval(1, self.poll)

    @work(thread=True)
    def poll(self):
        self.app.call_from_thread(self.refresh)
"""

GOOD = """
def _stamp(root):
    return (root / "days").stat().st_mtime

class S(PolledScreen):
    def on_mount(self):
        self.load()

    def start_read(self):
        self._read()

    @work(thread=True)
    def _read(self):
        stamp = _stamp(self.app.paths.root)
        rows = with_reader(self.app.paths, lambda r: r.runs())
        self.hand_back(self._draw, rows, stamp)

    def _draw(self, rows, stamp):
        self.read_again(1.0)
"""


def test_the_check_fails_on_each_break_and_passes_a_good_screen():
    assert any("action_restart does I/O (Reader)" in p for p in check_source(textwrap.dedent(BAD_READER)))
    assert any("on_mount does I/O (through an I/O helper)" in p for p in check_source(textwrap.dedent(BAD_HELPER)))
    assert any("_draw does I/O (through an I/O helper)" in p and "from _read" in p
               for p in check_source(textwrap.dedent(BAD_HANDED_BACK)))
    timer = check_source(textwrap.dedent(BAD_TIMER))
    assert any("calls set_interval" in p for p in timer) and any("calls call_from_thread" in p for p in timer)
    assert any("is not a PolledScreen" in p for p in timer)
    assert check_source(textwrap.dedent(GOOD)) == []
