"""Import hygiene, Harlequin's way: no import loop between packages, no forbidden edge.

Every ``import`` of ``iejtui/`` and ``collectors/`` is parsed with ``ast``: top-level AND
function-local ones (a lazy import still ties two packages together; it only hides the
loop from the interpreter). Imports under ``if TYPE_CHECKING:`` are left out: they never
run.

A *package* is ``iejtui/<pkg>/``, or a loose module of ``iejtui/`` on its own, except the
CLI files (``iejtui/cli.py`` and ``iejtui/cli_*.py``), which count as one package
``iejtui.cli`` (what they are becoming: ``iejtui/cli/``); ``collectors`` is one package.
The data path runs collector → service → store → viewmodel/derive → ui/journal/export, so
the forbidden edges point back up it (see ``FORBIDDEN``).

The checker (``problems``) is pure: it takes a mapping module → imported names, so the
unit tests below feed it synthetic loops and edges and see it fail.

Module loops (two modules importing each other, even lazily) are counted too, and must be
none: the last ones were the service's free functions over ``Service`` (core → recovery →
matrices → core). Within ``iejtui/service/`` no module touches another's private names
(``obj._name`` on anything but ``self``/``cls``, ``from m import _name``): the service's
collaborators talk through public interfaces (``private_access``).
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterable, Mapping
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SCANNED = ("iejtui", "collectors")

#: (importing package, imported package or module prefix, why it is forbidden)
FORBIDDEN: tuple[tuple[str, str, str], ...] = (
    ("collectors", "iejtui", "collectors are the bottom layer: they know nothing of iejtui"),
    *((("iejtui.store", p, "the store is below everything that reads or fills it"))
      for p in ("iejtui.service", "iejtui.ui", "iejtui.journal", "iejtui.cli")),
    *((("iejtui.journal", p, "the journal reads the store and asks the service through the client"))
      for p in ("iejtui.service", "iejtui.ui", "iejtui.cli")),
    *((("iejtui.service", p, "the service knows no front end")) for p in ("iejtui.ui", "iejtui.cli")),
    ("iejtui.ui", "iejtui.cli", "the UI never imports the CLI (the CLI opens the UI)"),
    *(((p, w, "derive and view models only read journal.db"))
      for p in ("iejtui.derive", "iejtui.viewmodel") for w in ("iejtui.store.writer", "iejtui.store.Writer")),
)

#: Edges allowed in spite of the rules, each (importing module, imported name): none since the
#: typed client (``iejtui/client/``) and the CLI package broke the last three. An entry must
#: say why and is reported once its edge is gone.
KNOWN_UNTIL_CLIENT: frozenset[tuple[str, str]] = frozenset()


# ---- the scan ---------------------------------------------------------------------------
def _module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _imports_of(tree: ast.AST, module: str, is_package: bool) -> set[str]:
    """Names a module imports: ``a.b`` for ``import a.b``, ``a.b.c`` for ``from a.b import c``
    (relative imports resolved); ``if TYPE_CHECKING:`` bodies skipped."""
    found: set[str] = set()

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            for child in node.orelse:
                visit(child)
            return
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = module.split(".")
                base = base if is_package else base[:-1]
                base = base[:len(base) - (node.level - 1)]
                mod = ".".join(base + ([node.module] if node.module else []))
            else:
                mod = node.module or ""
            found.update(f"{mod}.{alias.name}" if alias.name != "*" else mod for alias in node.names)
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree)
    return found


def scan(root: Path = ROOT, packages: Iterable[str] = SCANNED) -> dict[str, set[str]]:
    """Module → imported names, for every module of ``packages`` under ``root``."""
    out = {}
    for pkg in packages:
        for path in sorted((root / pkg).rglob("*.py")):
            name = _module_name(path, root)
            tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
            out[name] = _imports_of(tree, name, path.name == "__init__.py")
    return out


# ---- the checker (pure) -------------------------------------------------------------------
def package_of(name: str) -> str | None:
    """The package a module (or imported name) belongs to; None outside iejtui/collectors."""
    parts = name.split(".")
    if parts[0] == "collectors":
        return "collectors"
    if parts[0] != "iejtui":
        return None
    if len(parts) == 1:
        return "iejtui"
    if parts[1] == "cli" or parts[1].startswith("cli_"):
        return "iejtui.cli"
    return f"iejtui.{parts[1]}"


def _resolve(name: str, modules: Mapping[str, object]) -> str:
    """The longest known module that ``name`` names or lies in (``a.b.func`` → ``a.b``)."""
    parts = name.split(".")
    for i in range(len(parts), 0, -1):
        cand = ".".join(parts[:i])
        if cand in modules:
            return cand
    return name


def module_graph(imports: Mapping[str, Iterable[str]],
                 allow: Iterable[tuple[str, str]] = ()) -> dict[str, set[str]]:
    allowed = set(allow)
    graph: dict[str, set[str]] = {m: set() for m in imports}
    for mod, names in imports.items():
        for name in names:
            if (mod, name) in allowed:
                continue
            target = _resolve(name, imports)
            if target in imports and target != mod:
                graph[mod].add(target)
    return graph


def package_graph(imports: Mapping[str, Iterable[str]],
                  allow: Iterable[tuple[str, str]] = ()) -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {}
    for mod, targets in module_graph(imports, allow).items():
        src = package_of(mod)
        if src is None:
            continue
        graph.setdefault(src, set())
        for t in targets:
            dst = package_of(t)
            if dst is not None and dst != src:
                graph[src].add(dst)
    return graph


def loops(graph: Mapping[str, Iterable[str]]) -> list[list[str]]:
    """Strongly connected groups of more than one node (Tarjan), each sorted; sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    out: list[list[str]] = []
    counter = [0]

    def strong(v: str) -> None:  # iterative enough for our depth; recursion is fine here
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                strong(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while True:
                w = stack.pop()
                on.discard(w)
                group.append(w)
                if w == v:
                    break
            if len(group) > 1:
                out.append(sorted(group))

    for v in sorted(graph):
        if v not in index:
            strong(v)
    return sorted(out)


def _cycle_in(graph: Mapping[str, Iterable[str]], group: list[str]) -> list[str]:
    """One concrete cycle through a loop's first node, for the message."""
    members = set(group)
    start = group[0]
    path, seen = [start], {start}
    while True:
        nxt = sorted(w for w in graph.get(path[-1], ()) if w in members)
        back = [w for w in nxt if w == start]
        if back and len(path) > 1:
            return path + [start]
        fresh = [w for w in nxt if w not in seen]
        if not fresh:
            return path + [start]
        path.append(fresh[0])
        seen.add(fresh[0])


def problems(imports: Mapping[str, Iterable[str]], allow: Iterable[tuple[str, str]] = ()) -> list[str]:
    """Every package loop and forbidden edge, as one line each (empty: hygienic)."""
    allow = set(allow)
    out = []
    pg = package_graph(imports, allow)
    for group in loops(pg):
        out.append("import loop between packages: " + " → ".join(_cycle_in(pg, group)))
    for mod, names in sorted(imports.items()):
        src = package_of(mod)
        for name in sorted(names):
            if (mod, name) in allow:
                continue
            for frm, to, why in FORBIDDEN:
                if src == frm and (name == to or name.startswith(to + ".")
                                   or (to == "iejtui.cli" and package_of(name) == "iejtui.cli")):
                    out.append(f"forbidden edge {frm} → {to}: {mod} imports {name} ({why})")
    return out


def module_loops(imports: Mapping[str, Iterable[str]]) -> list[str]:
    """Every loop between modules, as one line each (a loop inside one package is still a loop)."""
    graph = module_graph(imports)
    return ["import loop between modules: " + " → ".join(_cycle_in(graph, group)) for group in loops(graph)]


#: the packages whose modules may not reach into each other's private names
PRIVATE_GUARDED = ("iejtui/service",)
_PRIVATE = re.compile(r"_[A-Za-z0-9]")  # ``_x``, not a dunder


def _is_private(name: str) -> bool:
    return bool(_PRIVATE.match(name)) and not name.startswith("__")


def private_access(source: str, where: str = "<src>") -> list[str]:
    """Private names a module takes from other objects or modules (pure: source text in).

    ``self._x``/``cls._x`` is the object's own business; ``anything_else._x`` (another
    collaborator, a module, the Service) and ``from mod import _x`` are not."""
    out: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Attribute) and _is_private(node.attr):
            if not (isinstance(node.value, ast.Name) and node.value.id in ("self", "cls")):
                out.append((node.lineno, ast.unparse(node)))
        elif isinstance(node, ast.ImportFrom):
            out += [(node.lineno, f"from {node.module or '.'} import {a.name}")
                    for a in node.names if _is_private(a.name)]
    return [f"{where}:{line}: {what}" for line, what in sorted(out)]


# ---- the guard ----------------------------------------------------------------------------
def test_no_package_loops_and_no_forbidden_edges():
    found = problems(scan(), KNOWN_UNTIL_CLIENT)
    assert not found, "\n".join(found)


def test_no_module_loops():
    """Zero, everywhere (the service's core → recovery → matrices → core was the last)."""
    found = module_loops(scan())
    assert found == [], "\n".join(found)


def test_service_modules_touch_no_private_names_of_others():
    found = [hit for base in PRIVATE_GUARDED for path in sorted((ROOT / base).rglob("*.py"))
             for hit in private_access(path.read_text(encoding="utf-8"), str(path.relative_to(ROOT)))]
    assert found == [], "\n".join(found)


def test_known_edges_still_exist():
    """An allowed edge that is gone must leave the allow-list (so it cannot hide a new one)."""
    imports = scan()
    stale = [edge for edge in KNOWN_UNTIL_CLIENT if edge[1] not in imports.get(edge[0], ())]
    assert not stale, f"remove from KNOWN_UNTIL_CLIENT: {stale}"


def test_scan_sees_function_local_imports_and_skips_type_checking():
    tree = ast.parse("from typing import TYPE_CHECKING\n"
                     "if TYPE_CHECKING:\n    from iejtui.service.core import Service\n"
                     "def f():\n    from iejtui.ui import app\n    from . import sibling\n")
    found = _imports_of(tree, "iejtui.journal.x", is_package=False)
    assert "iejtui.ui.app" in found and "iejtui.journal.sibling" in found
    assert "iejtui.service.core.Service" not in found


# ---- the checker fails where it must --------------------------------------------------------
def test_checker_reports_a_synthetic_loop():
    imports = {
        "iejtui.journal.ops": {"iejtui.service.daemon.service_running"},
        "iejtui.service.daemon": {"iejtui.service.api"},
        "iejtui.service.api": {"iejtui.journal.ops.apply_tags"},
        "iejtui.viewmodel.a": {"iejtui.derive.b"},
        "iejtui.derive.b": set(),
    }
    assert loops(package_graph(imports)) == [["iejtui.journal", "iejtui.service"]]
    found = problems(imports)
    assert any("import loop between packages: iejtui.journal → iejtui.service → iejtui.journal" in p
               for p in found), found
    # allowing the journal's edge breaks the loop (and the forbidden edge goes with it)
    assert problems(imports, {("iejtui.journal.ops", "iejtui.service.daemon.service_running")}) == []


def test_checker_reports_a_synthetic_module_loop_inside_one_package():
    """The shape main had: core imports recovery, recovery matrices, matrices core (lazily)."""
    imports = {
        "iejtui.service.core": {"iejtui.service.recovery.recover"},
        "iejtui.service.recovery": {"iejtui.service.matrices.resume_matrices"},
        "iejtui.service.matrices": {"iejtui.service.core._adapter"},
        "iejtui.service.bench": set(),
    }
    assert problems(imports) == []  # one package: no package loop ...
    assert module_loops(imports) == [  # ... but a module loop
        "import loop between modules: iejtui.service.core → iejtui.service.recovery → "
        "iejtui.service.matrices → iejtui.service.core"]
    assert module_loops({**imports, "iejtui.service.matrices": set()}) == []


def test_private_access_check_finds_what_main_had():
    main_had = ("from iejtui.service.core import _adapter\n"
                "async def f(service, h):\n"
                "    await service._finish(h, None, 'gone')\n"
                "    v = service._versions()\n"
                "    service._tasks.append(1)\n"
                "    return self._own, cls._own, obj.__dict__, obj.public\n")
    found = private_access(main_had, "m.py")
    assert found == ["m.py:1: from iejtui.service.core import _adapter", "m.py:3: service._finish",
                     "m.py:4: service._versions", "m.py:5: service._tasks"], found


def test_checker_reports_a_loop_between_loose_modules_and_packages():
    imports = {"iejtui.summary": {"iejtui.derive.x"}, "iejtui.derive.x": {"iejtui.summary.run_window"}}
    assert any("iejtui.derive → iejtui.summary → iejtui.derive" in p for p in problems(imports))


def test_checker_reports_synthetic_forbidden_edges():
    imports = {
        "collectors.gpu": {"iejtui.paths.Paths"},
        "iejtui.paths": set(),
        "iejtui.store.queries": {"iejtui.service.client"},
        "iejtui.service.client": set(),
        "iejtui.ui.app": {"iejtui.cli_engine.register"},
        "iejtui.cli_engine": set(),
        "iejtui.viewmodel.cache": {"iejtui.store.Writer"},
        "iejtui.store": set(),
        "iejtui.derive.gpu": {"iejtui.store.writer"},
        "iejtui.store.writer": set(),
    }
    found = problems(imports)
    for frm, to in (("collectors", "iejtui"), ("iejtui.store", "iejtui.service"), ("iejtui.ui", "iejtui.cli"),
                    ("iejtui.viewmodel", "iejtui.store.Writer"), ("iejtui.derive", "iejtui.store.writer")):
        assert any(p.startswith(f"forbidden edge {frm} → {to}:") for p in found), (frm, to, found)
    assert not any("loop" in p for p in found), found


def test_cli_files_are_one_package():
    assert package_of("iejtui.cli") == package_of("iejtui.cli_engine") == package_of("iejtui.cli.bench") == "iejtui.cli"
    assert package_of("iejtui.summary") == "iejtui.summary" and package_of("collectors.engines.vllm") == "collectors"
    assert package_of("textual.app") is None
