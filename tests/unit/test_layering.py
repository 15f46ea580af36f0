"""Textual lives only under iejtui/ui/: nothing else imports it, statically or at run time.

Like harlequin's import-hygiene test: the store, service, derive, view models, collectors
and CLI must import (and `iejtui export`/`runs` must run) without loading Textual.
"""
from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("iejtui", "collectors")
UI = ROOT / "iejtui" / "ui"
FORBIDDEN = ("textual", "textual_serve")


def _python_files():
    for pkg in PACKAGES:
        for path in sorted((ROOT / pkg).rglob("*.py")):
            if UI not in path.parents:
                yield path


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module.split(".")[0])
            if node.module.startswith("iejtui.ui"):
                found.add("iejtui.ui")
    return found


def test_no_module_outside_ui_imports_textual():
    offenders = {}
    for path in _python_files():
        bad = _imports(path) & set(FORBIDDEN)
        if bad:
            offenders[str(path.relative_to(ROOT))] = sorted(bad)
    assert not offenders, f"Textual imported outside iejtui/ui/: {offenders}"


def test_only_the_cli_reaches_into_the_ui():
    """The CLI may open the dashboard (lazily); no other module depends on the TUI."""
    allowed = {"iejtui/cli/root.py", "iejtui/cli/web.py", "iejtui/cli/fleet.py"}
    offenders = [str(p.relative_to(ROOT)) for p in _python_files()
                 if "iejtui.ui" in _imports(p) and str(p.relative_to(ROOT)) not in allowed]
    assert not offenders, offenders


def test_view_models_are_pure():
    """iejtui/viewmodel imports neither Textual nor Rich (plain values for any front end)."""
    for path in sorted((ROOT / "iejtui" / "viewmodel").rglob("*.py")):
        assert not _imports(path) & {"textual", "rich"}, path


def test_headless_modules_import_without_textual():
    """At run time: import every non-UI module in a fresh interpreter; Textual stays unloaded."""
    modules = []
    for path in _python_files():
        rel = path.relative_to(ROOT).with_suffix("")
        parts = list(rel.parts)
        if parts[-1] == "__main__":
            continue
        if parts[-1] == "__init__":
            parts = parts[:-1]
        modules.append(".".join(parts))
    code = (
        "import importlib, json, sys\n"
        f"mods = {modules!r}\n"
        "failed = {}\n"
        "for m in mods:\n"
        "    try:\n"
        "        importlib.import_module(m)\n"
        "    except Exception as exc:\n"
        "        failed[m] = repr(exc)\n"
        "print(json.dumps({'textual': sorted(k for k in sys.modules if k == 'textual' or k.startswith('textual.')),"
        " 'failed': failed}))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["textual"] == [], f"importing headless modules loaded Textual: {result['textual'][:5]}"
    # modules that fail for unrelated reasons (optional drivers) must not hide a Textual import
    assert all("textual" not in err for err in result["failed"].values()), result["failed"]
