"""Markdown that cannot be hijacked by what it quotes (pure functions).

Everything iejtui writes into LOG.md, exports and benchmark READMEs that came from outside
(run and model names, argv, log lines, error messages) goes through one of these:

``esc``    prose and table cells: secrets masked, control characters and ANSI escapes
           dropped, newlines folded, ``& < >`` as entities, every markdown-active ASCII
           punctuation backslash-escaped (links, emphasis, headings, lists, tables, HTML).
``code``   an inline code span whose backtick fence is longer than any run inside.
``fence``  a fenced block (logs, command lines) whose fence is longer than any backtick
           run inside; lines that look like iejtui's own section markers are defused.
``slug``   a safe file-name fragment.
"""

from __future__ import annotations

import re
import unicodedata

from iejtui.redact import redact_text

_ANSI = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?|\x1b[@-Z\\-_]")
# C0/C1 controls except tab and newline; bidi overrides (they reorder what a reader sees).
_CTRL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")
# Inline markdown syntax (code, emphasis, links, tables, strikethrough, math, headings).
_ESCAPE = {c: "\\" + c for c in "\\`*_[]|~$#"}
_ESCAPE.update({"&": "&amp;", "<": "&lt;", ">": "&gt;"})
# Block syntax that only matters at the start of a line: lists, quotes, setext rules.
_LEADING = re.compile(r"^(\d{0,9})([.)](?=\s|$)|[-+](?=\s|$)|=+$)")
_MARKER = re.compile(r"<!--(\s*/?\s*iejtui)")
_BACKTICKS = re.compile(r"`+")


def clean(text: object, secrets: list[str] = ()) -> str:
    """Secrets masked, ANSI escapes and control characters removed (newlines kept)."""
    s = "" if text is None else str(text)
    s = s.replace("\r\n", "\n").replace("\r", "\n")
    s = _ANSI.sub("", s)
    s = _CTRL.sub("", s)
    return redact_text(s, list(secrets))


def esc(text: object, secrets: list[str] = (), limit: int | None = None) -> str:
    """Inline-safe text for prose, headings, link texts and table cells."""
    s = " ".join(clean(text, secrets).split())
    if limit is not None and len(s) > limit:
        s = s[: limit - 1] + "…"
    s = "".join(_ESCAPE.get(c, c) for c in s)
    return _LEADING.sub(lambda m: m.group(1) + "\\" + m.group(2) if m.group(1) or m.group(2)[0] not in ".)"
                        else m.group(0), s)


def code(text: object, secrets: list[str] = (), limit: int | None = None, table: bool = False) -> str:
    """An inline code span holding ``text`` literally (HTML is not interpreted in it).

    ``table=True`` also escapes ``|`` (GFM splits cells on a pipe even inside code spans
    and removes the backslash before rendering the span).
    """
    s = " ".join(clean(text, secrets).split())
    if limit is not None and len(s) > limit:
        s = s[: limit - 1] + "…"
    if not s:
        return ""
    longest = max((len(m) for m in _BACKTICKS.findall(s)), default=0)
    ticks = "`" * (longest + 1)
    pad = " " if s.startswith("`") or s.endswith("`") or (s.startswith(" ") and s.endswith(" ")) else ""
    if table:
        s = s.replace("|", "\\|")
    return f"{ticks}{pad}{s}{pad}{ticks}"


def fence(text: object, lang: str = "", secrets: list[str] = ()) -> str:
    """A fenced code block holding ``text`` literally, whatever backticks it contains."""
    s = clean(text, secrets).rstrip("\n")
    s = _MARKER.sub(lambda m: "<!\u200b--" + m.group(1), s)
    longest = max((len(m) for m in _BACKTICKS.findall(s)), default=0)
    ticks = "`" * max(3, longest + 1)
    lang = re.sub(r"[^A-Za-z0-9_+-]", "", lang)
    return f"{ticks}{lang}\n{s}\n{ticks}"


def slug(text: object, limit: int = 48) -> str:
    """Lower-case ASCII words joined by ``-`` (``'KV cache: sizing!'`` → ``kv-cache-sizing``)."""
    s = unicodedata.normalize("NFKD", str(text or "")).encode("ascii", "ignore").decode()
    s = re.sub(r"[^a-z0-9]+", "-", s.lower()).strip("-")
    return s[:limit].rstrip("-")


def table(headers: list[str], rows: list[list[str]], right: set[int] | None = None) -> str:
    """A GFM table from cells that are already escaped (``esc``/``code(table=True)``)."""
    right = right or set()
    out = ["| " + " | ".join(headers) + " |",
           "|" + "|".join("---:" if i in right else "---" for i in range(len(headers))) + "|"]
    for r in rows:
        out.append("| " + " | ".join(c if c else "—" for c in r) + " |")
    return "\n".join(out)
