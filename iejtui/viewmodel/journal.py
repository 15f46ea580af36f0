"""The Journal screen's values: day-log rows and the checks of what a person types.

Pure (no Textual, no SQLite): the rows come from ``iejtui.journal.days()`` (what
``iejtui day list`` prints), the checks run before anything is written, so a dialog can show
its error inline and write nothing.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from pathlib import Path

from iejtui.journal.daylog import DAY_DIR
from iejtui.journal.mdsafe import slug

_RUN_TOKEN = re.compile(r"^[rR]?(\d+)$")
EXPORT_DIR = "exports"


@dataclass(frozen=True, slots=True)
class DayRow:
    """One day log as the Journal screen lists it."""

    number: int
    date: str
    topic: str
    run_ids: tuple[int, ...]
    headline: str  # "" until the day has figures
    path: Path

    @property
    def key(self) -> str:
        return str(self.number)

    @property
    def label(self) -> str:
        return f"{self.number:03d}"

    @property
    def runs(self) -> str:
        """The run count (the ids are in LOG.md's header)."""
        return str(len(self.run_ids))

    @property
    def log_path(self) -> Path:
        return self.path / "LOG.md"

    @property
    def dirname(self) -> str:
        return self.path.name


def day_rows(days: Iterable) -> list[DayRow]:
    """``DayInfo``s (``iejtui.journal.days``) as rows, newest day first."""
    rows = [DayRow(d.number, d.date or "", d.topic or d.slug, tuple(d.runs), d.headline or "", d.path)
            for d in days]
    return sorted(rows, key=lambda r: r.number, reverse=True)


TOPIC_WIDTH = 28
FIXED_WIDTH = 3 + 10 + 4 + 5 * 2 + 2  # day, date, runs, each column's padding, a scrollbar


def fit(text: str, width: int) -> str:
    """``text`` cut to ``width`` cells with an ellipsis."""
    width = max(1, width)
    return text if len(text) <= width else text[: width - 1].rstrip() + "…"


def column_widths(rows: list[DayRow], table_width: int) -> tuple[int, int]:
    """(topic, headline) widths so a row fits the table without a horizontal scrollbar."""
    topic = min(TOPIC_WIDTH, max((len(r.topic) for r in rows), default=5))
    return topic, max(12, table_width - FIXED_WIDTH - topic)


def day_number(path: Path) -> int | None:
    """The number of a day folder (``days/day-007-topic`` → 7)."""
    m = DAY_DIR.match(Path(path).name)
    return int(m.group(1)) if m else None


def parse_topic(text: str) -> str:
    """The topic as ``iejtui day new`` will store it; ValueError when it cannot name a folder."""
    topic = " ".join(str(text or "").split())
    if not topic:
        raise ValueError("give the day a topic, e.g. fp8 kv cache")
    if not slug(topic):
        raise ValueError(f"topic {topic!r} has no letters or digits to name the folder days/day-NNN-<topic> with")
    return topic


def parse_run_ids(text: str, known: Collection[int] | None = None, required: bool = False) -> list[int]:
    """Run ids from ``"3 5 7"``, ``"r3, r5"``…, in the order given, without repeats.

    ``known`` (the journal's run ids) turns an unknown id into an error here, before
    anything is written; ``required`` refuses an empty list.
    """
    out: list[int] = []
    for token in re.split(r"[\s,;]+", str(text or "").strip()):
        if not token:
            continue
        m = _RUN_TOKEN.match(token)
        if not m:
            raise ValueError(f"{token!r} is not a run id: give numbers like 3 5 7 (or r3 r5 r7)")
        rid = int(m.group(1))
        if known is not None and rid not in known:
            raise ValueError(f"no run {rid} in this journal ({_known_text(known)})")
        if rid not in out:
            out.append(rid)
    if required and not out:
        raise ValueError("give at least one run id, e.g. 3 5 7 (see the Runs screen, key r)")
    return out


def _known_text(known: Collection[int]) -> str:
    if not known:
        return "it has no runs yet"
    ids = sorted(known)
    if len(ids) <= 6:
        return "runs: " + " ".join(f"r{i}" for i in ids)
    return f"runs r{ids[0]}…r{ids[-1]}"


def runs_text(run_ids: Iterable[int]) -> str:
    """What a dialog's run field starts with (the Runs screen's selection)."""
    return " ".join(str(i) for i in run_ids)


def export_target(root: Path, row: DayRow, text: str | None = None) -> Path:
    """Where an export goes: ``text`` (relative paths are under the journal folder), else
    ``exports/day-NNN-topic.md`` in the journal."""
    text = (text or "").strip()
    if not text:
        return Path(root) / EXPORT_DIR / f"{row.dirname}.md"
    p = Path(text).expanduser()
    return p if p.is_absolute() else Path(root) / p


def shown_path(root: Path, path: Path) -> str:
    """``path`` relative to the journal folder when it lies inside it."""
    try:
        return str(Path(path).relative_to(root))
    except ValueError:
        return str(path)


def summary(rows: list[DayRow], selected: DayRow | None) -> str:
    """The line under the table."""
    if not rows:
        return "no day logs yet"
    n = len(rows)
    text = f"{n} day log{'s' if n != 1 else ''}, newest first"
    if selected is not None:
        runs = ", ".join(f"r{i}" for i in selected.run_ids[:10]) or "no runs"
        more = "…" if len(selected.run_ids) > 10 else ""
        text += f" · day {selected.label}: {runs}{more}"
    return text


EMPTY_TEXT = ("No day logs in this journal yet.\n\n"
              "Press n to make one: give it a topic and the runs it covers (select runs on the "
              "Runs screen with space first, key r, and they are filled in).\n\n"
              "From a shell: iejtui day new TOPIC --run RUN")
