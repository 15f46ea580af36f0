"""code/: the exact engine and benchmark command lines of a day as runnable scripts (pure).

Secrets were masked before they reached journal.db, so a script cannot replay them: each
masked value becomes a required environment variable (``${HF_TOKEN:?...}``), and the
script says so at its top. Every other argument is shell-quoted exactly as recorded.
"""

from __future__ import annotations

import re
import shlex

from iejtui.journal.mdsafe import clean, esc, slug
from iejtui.redact import MASK


def _comment(text: object) -> str:
    """One safe comment line (no newline can escape the ``#``)."""
    return " ".join(clean(text).split())


def _secret_var(flag: str) -> str:
    name = re.sub(r"[^A-Z0-9]+", "_", flag.lstrip("-").upper()).strip("_") or "SECRET"
    return "IEJTUI_" + name


def _need(var: str, what: str) -> str:
    return f'"${{{var}:?{what} was masked by iejtui: export {var} first}}"'


def script_name(entry: dict) -> str:
    what = "bench" if entry.get("kind") == "bench" else "engine"
    return f"run-{entry['id']}-{what}-{slug(entry.get('name')) or 'run'}.sh"


def command_script(entry: dict, date: str) -> str:
    """A bash script relaunching ``entry``'s command line (``argv``/``env``/``cwd``)."""
    argv = [str(a) for a in entry.get("argv") or []]
    env = entry.get("env") or {}
    what = "benchmark" if entry.get("kind") == "bench" else "engine"
    lines = [
        "#!/usr/bin/env bash",
        f"# {what} command of run r{entry['id']} {_comment(entry.get('name'))!s} recorded by iejtui on {date}.",
        f"# engine: {_comment(entry.get('engine_kind') or '-')}, model: {_comment(entry.get('model') or '-')}",
        "# Secrets (API keys, tokens) were masked before they reached the journal: each one is",
        "# read from an environment variable below, and the script stops if it is not set.",
        "set -euo pipefail",
    ]
    if entry.get("cwd"):
        lines.append(f"cd {shlex.quote(str(entry['cwd']))}")
    for k, v in sorted(env.items()):
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", str(k)):
            lines.append(f"# skipped variable with an unusual name: {_comment(k)}")
            continue
        if str(v) == MASK:
            lines.append(f"export {k}={_need(k, k)}")
        else:
            lines.append(f"export {k}={shlex.quote(clean(v))}")
    words: list[str] = []
    prev = ""
    for a in argv:
        flag, eq, value = a.partition("=")
        if a == MASK:
            words.append(_need(_secret_var(prev), f"the value of {prev or 'an argument'}"))
        elif eq and value == MASK and flag.startswith("-"):
            words.append(f"{shlex.quote(flag + '=')}{_need(_secret_var(flag), f'the value of {flag}')}")
        else:
            words.append(shlex.quote(clean(a)))
        prev = a
    if not words:
        lines.append("echo 'no command line was recorded for this run (attached engine or recording)' >&2")
        lines.append("exit 2")
    else:
        lines.append("exec " + " \\\n  ".join(_wrap(words)))
    return "\n".join(lines) + "\n"


def _wrap(words: list[str]) -> list[str]:
    """One line per flag: every flag starts a line, other words follow on it (the program
    and its positional words share the first line)."""
    out: list[str] = []
    for w in words:
        if out and not w.startswith("-"):
            out[-1] += " " + w
        else:
            out.append(w)
    return out


def readme(entries: list[dict]) -> str:
    rows = [f"- [{script_name(e)}]({script_name(e)}): r{e['id']} {esc(e.get('name'))}"
            for e in entries if e.get("argv")]
    return ("# code/\n\nThe exact command lines of this day's runs, as recorded by iejtui. Secrets were\n"
            "masked before they reached the journal: the scripts read them from environment variables.\n\n"
            + ("\n".join(rows) if rows else "_No command lines recorded._") + "\n")
