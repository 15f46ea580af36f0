"""Generated sections inside hand-edited markdown (pure functions).

iejtui owns only the text between ``<!-- iejtui:NAME -->`` and ``<!-- /iejtui:NAME -->``
(each marker alone on its line); everything outside belongs to the person writing the
journal and is never rewritten. A section whose markers were deleted is appended again at
the end of the file (so new runs never vanish silently); delete its content, not its
markers, to keep it empty.
"""

from __future__ import annotations

import re

_OPEN = "<!-- iejtui:{} -->"
_CLOSE = "<!-- /iejtui:{} -->"


def block(name: str, content: str) -> str:
    """A complete generated section: markers around ``content``."""
    return f"{_OPEN.format(name)}\n{content.strip(chr(10))}\n{_CLOSE.format(name)}"


def _span(text: str, name: str) -> tuple[int, int] | None:
    """Character span of the section (markers included), if both markers are present."""
    o = re.search(r"^[ \t]*" + re.escape(_OPEN.format(name)) + r"[ \t]*$", text, re.M)
    if not o:
        return None
    c = re.compile(r"^[ \t]*" + re.escape(_CLOSE.format(name)) + r"[ \t]*$", re.M).search(text, o.end())
    if not c:
        return None
    return o.start(), c.end()


def read(text: str, name: str) -> str | None:
    """The current content of a section, or ``None`` when it is absent."""
    sp = _span(text, name)
    if sp is None:
        return None
    inner = text[sp[0]:sp[1]]
    return inner.split("\n", 1)[1].rsplit("\n", 1)[0] if "\n" in inner else ""


def replace(text: str, sections: dict[str, str]) -> str:
    """``text`` with each named section's content replaced; missing ones appended."""
    missing = []
    for name, content in sections.items():
        sp = _span(text, name)
        if sp is None:
            missing.append(name)
            continue
        text = text[:sp[0]] + block(name, content) + text[sp[1]:]
    for name in missing:
        text = text.rstrip("\n") + "\n\n" + block(name, sections[name]) + "\n"
    return text


def markdown_section(text: str, heading: str) -> str | None:
    """The hand-written body under ``## heading`` up to the next ``## `` heading, generated
    sections and HTML comments removed; ``None`` when the heading is absent."""
    m = re.search(r"^##[ \t]+" + re.escape(heading) + r"[ \t]*$", text, re.M | re.I)
    if not m:
        return None
    nxt = re.compile(r"^##[ \t]+\S", re.M).search(text, m.end())
    body = text[m.end(): nxt.start() if nxt else len(text)]
    body = re.sub(r"<!-- iejtui:(\S+) -->.*?<!-- /iejtui:\1 -->", "", body, flags=re.S)
    body = re.sub(r"<!--.*?-->", "", body, flags=re.S)
    return body.strip("\n")
