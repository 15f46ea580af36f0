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


def _need(var: str, what: str) -> str:
    what = re.sub(r"[^A-Za-z0-9 _.-]", "", what)  # inside "${VAR:?...}": no quote, brace or $
    return f'"${{{var}:?{what} was masked by iejtui: export {var} first}}"'


def _var_name(*parts: str) -> str:
    name = re.sub(r"[^A-Z0-9]+", "_", "_".join(p for p in parts if p).upper()).strip("_") or "SECRET"
    return "IEJTUI_" + name


def _label_before(prefix: str, prev: str) -> str:
    """What a masked value belongs to, from the text just before it: a URL's user
    (``http://alice:***@`` -> ``ALICE_PASSWORD``), a header or key name
    (``Authorization: Bearer ***`` -> ``AUTHORIZATION``, ``?token=***`` -> ``TOKEN``),
    else the flag before the word (``--api-key ***`` -> ``API_KEY``)."""
    m = re.search(r"://([^:/@\s]*):$", prefix)
    if m:
        return (m.group(1) + "_password") if m.group(1) else "url_password"
    prefix = re.sub(r"(?i)(?<=[\s:=])(?:bearer|basic|token|digest|apikey)\s+$", " ", prefix)
    words = re.findall(r"[A-Za-z][A-Za-z0-9_.-]*", prefix)
    if words:
        return words[-1].lstrip("-")
    return prev.lstrip("-") if prev.startswith("-") else "secret"


class _Vars:
    """Environment variable names for masked values, one per place (a repeated name gets
    ``_2``, ``_3``: two secrets under one label are not assumed to be the same)."""

    def __init__(self) -> None:
        self.used: list[str] = []

    def take(self, name: str) -> str:
        var, n = name, 1
        while var in self.used:
            n += 1
            var = f"{name}_{n}"
        self.used.append(var)
        return var


def _word(text: str, prev: str, names: _Vars, what: str) -> str:
    """``text`` as one shell word, each ``***`` in it replaced by a required variable."""
    if MASK not in text:
        return shlex.quote(text)
    parts = text.split(MASK)
    out = []
    for i, part in enumerate(parts):
        if part:
            out.append(shlex.quote(part))
        if i < len(parts) - 1:
            label = _label_before("".join(parts[: i + 1]), prev)
            var = names.take(_var_name(what, label) if what else _var_name(label))
            out.append(_need(var, f"the secret {label}"))
    return "".join(out)


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
    names = _Vars()
    for k, v in sorted(env.items()):
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", str(k)):
            lines.append(f"# skipped variable with an unusual name: {_comment(k)}")
            continue
        value = clean(v)
        if value == MASK:  # the whole value: the variable of the same name, as the run had it
            names.used.append(str(k))
            lines.append(f"export {k}={_need(k, k)}")
        else:
            lines.append(f"export {k}={_word(value, '', names, str(k))}")
    words: list[str] = []
    prev = ""
    for a in argv:
        text = clean(a)  # masks any secret a journal written by an older iejtui still holds
        words.append(_word(text, prev, names, ""))
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
