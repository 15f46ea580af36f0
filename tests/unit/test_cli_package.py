"""The CLI package has no import loops: each command module imports only ``iejtui.cli.common``
(and ``waiting``, shared helpers), never another command module nor the root, and no name
starting with ``_`` from another file; only ``root`` gathers the command modules."""
from __future__ import annotations

import ast
from pathlib import Path

CLI = Path(__file__).resolve().parents[2] / "iejtui" / "cli"
SHARED = {"iejtui.cli.common", "iejtui.cli.waiting"}


def _is_cli(module: str) -> bool:
    return module == "iejtui.cli" or module.startswith("iejtui.cli.")


def _cli_imports(path: Path) -> list[tuple[str, list[str]]]:
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and _is_cli(node.module):
            found.append((node.module, [a.name for a in node.names]))
        elif isinstance(node, ast.Import):
            found += [(a.name, []) for a in node.names if _is_cli(a.name)]
    return found


def test_command_modules_import_only_the_shared_helpers():
    offenders = {}
    for path in sorted(CLI.glob("*.py")):
        if path.stem in ("root", "__init__", "__main__", "web_session"):
            continue
        bad = [m for m, _ in _cli_imports(path) if m not in SHARED or path.stem in ("common", "waiting")]
        if bad:
            offenders[path.name] = bad
    assert not offenders, offenders


def test_no_private_names_cross_files():
    offenders = [(p.name, m, n) for p in sorted(CLI.glob("*.py")) for m, names in _cli_imports(p)
                 for n in names if n.startswith("_")]
    assert not offenders, offenders


def test_every_command_module_is_registered():
    from iejtui.cli import main
    from iejtui.cli import root
    modules = {p.stem for p in CLI.glob("*.py")} - {"root", "common", "waiting", "__init__", "__main__",
                                                     "web_session"}
    imported = {m for m, names in _cli_imports(CLI / "root.py") for m in names if m in modules}
    assert imported == modules
    for name in modules:
        for cmd in getattr(root, name).COMMANDS:
            assert main.commands[cmd.name] is cmd
