"""JOURNAL_INDEX.md and benchmarks/README.md rows (pure text edits + two small writers).

A row is recognised by its first cell's link target (``days/day-007-…/LOG.md`` or
``NAME/README.md``), so re-tagging or re-promoting replaces the row in place and never
duplicates it; rows a person added by hand are left alone.
"""

from __future__ import annotations

import re
from pathlib import Path

from iejtui.journal.init import BENCHMARKS, INDEX
from iejtui.journal.mdsafe import esc

INDEX_HEADER = "| Day | Date | Topic | Runs | Headline |"
BENCH_HEADER = "| Benchmark | Date | Engine | Hardware | Headline |"


def upsert_row(text: str, key: str, row: str, header: str) -> str:
    """``text`` with the table row whose first cell links to ``key`` replaced by ``row``;
    a new row goes after the last row of the table under ``header`` (added if missing)."""
    lines = text.split("\n")
    pat = re.compile(r"^\|\s*\[[^\]]*\]\(" + re.escape(key) + r"\)")
    for i, ln in enumerate(lines):
        if pat.match(ln):
            lines[i] = row
            return "\n".join(lines)
    hdr = next((i for i, ln in enumerate(lines) if ln.replace(" ", "") == header.replace(" ", "")), None)
    if hdr is None:
        body = text.rstrip("\n")
        sep = "|" + "|".join("---" for _ in header.strip("|").split("|")) + "|"
        return f"{body}\n\n{header}\n{sep}\n{row}\n"
    end = hdr + 1
    while end < len(lines) and lines[end].lstrip().startswith("|"):
        end += 1
    lines.insert(end, row)
    return "\n".join(lines)


def day_row(number: int, date: str, topic: str, dirname: str, runs: list[int], headline: str) -> str:
    runs_txt = ", ".join(f"r{r}" for r in runs) or "—"
    return (f"| [{number:03d}](days/{dirname}/LOG.md) | {esc(date)} | {esc(topic, limit=80)} | {runs_txt} "
            f"| {esc(headline, limit=160)} |")


def write_day_row(root: Path, number: int, date: str, topic: str, dirname: str, runs: list[int],
                  headline: str) -> None:
    path = root / "JOURNAL_INDEX.md"
    text = path.read_text() if path.exists() else INDEX
    key = f"days/{dirname}/LOG.md"
    path.write_text(upsert_row(text, key, day_row(number, date, topic, dirname, runs, headline), INDEX_HEADER))


def bench_row(name: str, date: str, engine: str, hardware: str, headline: str) -> str:
    return (f"| [{esc(name)}]({name}/README.md) | {esc(date)} | {esc(engine, limit=60)} | {esc(hardware, limit=80)} "
            f"| {esc(headline, limit=160)} |")


def write_bench_row(root: Path, name: str, date: str, engine: str, hardware: str, headline: str) -> None:
    path = root / "benchmarks" / "README.md"
    text = path.read_text() if path.exists() else BENCHMARKS
    path.write_text(upsert_row(text, f"{name}/README.md", bench_row(name, date, engine, hardware, headline),
                               BENCH_HEADER))
