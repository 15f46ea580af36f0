"""Day logs: ``days/day-NNN-topic/`` with LOG.md, metrics.json, TODO.md, code/ and charts.

The day folder is the journal's truth: ``metrics.json`` lists the day's runs (with their
figures), so a day works even when journal.db's tags lag (they are pushed to the service
on every write, best effort, see ``service_ops``). Writing a day is idempotent: generated
files are rewritten, LOG.md and TODO.md only inside their generated sections.
"""

from __future__ import annotations

import json
import os
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from iejtui.errors import UserError
from iejtui.journal import index, logmd, metrics, scripts, sections
from iejtui.journal.mdsafe import slug
from iejtui.paths import journal_paths

DAY_DIR = re.compile(r"^day-(\d{3,})-([a-z0-9][a-z0-9-]*)$")


@dataclass(frozen=True)
class DayInfo:
    number: int
    slug: str
    topic: str
    date: str
    path: Path
    runs: list[int]
    headline: str | None

    @property
    def log_path(self) -> Path:
        return self.path / "LOG.md"


def day_dirs(root: Path) -> dict[int, Path]:
    out: dict[int, Path] = {}
    base = root / "days"
    if base.is_dir():
        for p in base.iterdir():
            m = DAY_DIR.match(p.name)
            if m and p.is_dir():
                out.setdefault(int(m.group(1)), p)
    return out


def find_day(root: Path, number: int) -> Path:
    path = day_dirs(root).get(number)
    if path is None:
        have = ", ".join(str(n) for n in sorted(day_dirs(root))) or "none yet"
        raise UserError(f"no day {number} in {root / 'days'} (days: {have}); create one with `iejtui day new TOPIC`")
    return path


def load_doc(path: Path) -> dict[str, Any]:
    """A day's metrics.json (a minimal one rebuilt from the folder name when missing)."""
    f = path / "metrics.json"
    m = DAY_DIR.match(path.name)
    try:
        doc = json.loads(f.read_text())
    except FileNotFoundError:
        doc = metrics.new_document(int(m.group(1)) if m else 0, m.group(2).replace("-", " ") if m else path.name,
                                   m.group(2) if m else path.name, time.strftime("%Y-%m-%d"), None)
    except ValueError as exc:
        raise UserError(f"{f} is not valid JSON ({exc}); fix or delete it (it is regenerated)") from None
    if not isinstance(doc, dict) or doc.get("schema_version", 0) > metrics.SCHEMA_VERSION:
        raise UserError(f"{f} was written by a newer iejtui (schema {doc.get('schema_version')}); upgrade iejtui")
    doc.setdefault("runs", [])
    return doc


def days(root: Path) -> list[DayInfo]:
    """Every day log of the journal, oldest first."""
    out = []
    for n, path in sorted(day_dirs(root).items()):
        try:
            doc = load_doc(path)
        except UserError:
            doc = {"runs": []}
        out.append(DayInfo(n, DAY_DIR.match(path.name).group(2), doc.get("topic") or path.name,
                           doc.get("date") or "", path, [e["id"] for e in doc.get("runs", []) if "id" in e],
                           doc.get("headline")))
    return out


def _atomic_write(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def log_tail(root: Path, run: dict) -> str | None:
    """The run's stored log tail, masked again with the service's secret fingerprints."""
    from iejtui.logs import fingerprints_path
    from iejtui.redact import redact_by_fingerprints
    tail = run.get("log_tail")
    if not tail:
        return None
    try:
        rec = json.loads(fingerprints_path(journal_paths(root), run["id"]).read_text())
    except (OSError, ValueError):
        rec = None
    return "\n".join(redact_by_fingerprints(ln, rec) for ln in str(tail).splitlines())


def broke_items(root: Path, reader, entries: list[dict]) -> list[tuple[dict, list[dict], str | None]]:
    items = []
    for e in entries:
        run = reader.run(e["id"])
        events = reader.events(e["id"], limit=500) if run else []
        items.append((e, events, log_tail(root, run) if run else None))
    return items


def _resolve(reader, refs: list[str | int]) -> list[dict]:
    out, seen = [], set()
    for ref in refs:
        run = reader.resolve_run(str(ref))
        if run["id"] not in seen:
            seen.add(run["id"])
            out.append(run)
    return out


def _write_chart(path: Path, reader, run: dict) -> str | None:
    from iejtui.charts import render_svg, run_chart_data
    data = run_chart_data(reader, run)
    if not data.has_data():
        return None
    name = f"run-{run['id']}-{slug(run.get('name')) or 'run'}.svg"
    _atomic_write(path / name, render_svg(data))
    return name


def _advice(reader, run: dict) -> dict | None:
    """What the advisor saw in the run (stored live findings, or a replay of a short run),
    without its repeated run header; ``None`` if it could not be read (a day still writes)."""
    from iejtui.advisor.stored import run_advice
    try:
        adv = run_advice(reader, run)
    except Exception:  # noqa: BLE001 - advice is optional; a broken series must not lose the day
        return None
    adv.pop("run", None)
    adv["run"] = {"ended": bool(run.get("ended_at"))}
    return adv


def write_day(root: Path, reader, path: Path, doc: dict, new_runs: list[dict],
              on_note: Callable[[str], None] | None = None, charts: bool = True) -> Path:
    """(Re)compute every run of the day and write its files; hand-written text is kept."""
    number = doc["day"]
    old = {e["id"]: e for e in doc.get("runs", []) if "id" in e}
    ids = list(old)
    for r in new_runs:
        if r["id"] not in ids:
            ids.append(r["id"])
    for r in reader.runs():
        if r.get("day") == number and r["id"] not in ids:
            ids.append(r["id"])
    entries, present = [], []
    for rid in ids:
        run = reader.run(rid)
        if run is None:  # journal.db lost it (another journal.db?): keep what we knew
            entries.append(old[rid])
            continue
        present.append(run)
        e = metrics.run_metrics(reader, run)
        e["advisor"] = _advice(reader, run)
        if e.get("argv"):
            e["script"] = scripts.script_name(e)
        chart = (old.get(rid) or {}).get("chart")
        if charts:
            try:
                chart = _write_chart(path, reader, run)
            except ImportError as exc:  # matplotlib missing: the day still works, without SVGs
                charts = False
                if on_note:
                    on_note(f"charts skipped ({exc.name or exc} is not installed)")
        e["chart"] = chart
        entries.append(e)
    doc["runs"] = entries
    doc["headline"] = metrics.headline(entries)
    doc["updated_at"] = time.time()
    doc["schema"], doc["schema_version"] = metrics.SCHEMA, metrics.SCHEMA_VERSION
    code_dir = path / "code"
    code_dir.mkdir(exist_ok=True)
    for e in entries:
        if e.get("script") and e["id"] in {r["id"] for r in present}:
            f = code_dir / e["script"]
            _atomic_write(f, scripts.command_script(e, doc.get("date") or ""))
            f.chmod(0o700)  # it holds argv: yours to run, nobody else's to read
    readme = code_dir / "README.md"
    _atomic_write(readme, sections.replace(readme.read_text() if readme.exists() else "",
                                           {"scripts": scripts.readme(entries)}).lstrip("\n"))
    _atomic_write(path / "metrics.json", json.dumps(doc, indent=2, sort_keys=False, default=str) + "\n")
    items = broke_items(root, reader, entries)
    log = path / "LOG.md"
    if log.exists():
        _atomic_write(log, sections.replace(log.read_text(), logmd.generated(doc, items)))
    else:
        _atomic_write(log, logmd.log_template(doc, items))
    todo = path / "TODO.md"
    if todo.exists():
        _atomic_write(todo, sections.replace(todo.read_text(), {"todo": logmd.todo_items(doc)}))
    else:
        _atomic_write(todo, logmd.todo_template(doc))
    index.write_day_row(root, number, doc.get("date") or "", doc.get("topic") or "", path.name,
                        [e["id"] for e in entries], doc["headline"])
    from iejtui.journal.service_ops import push_tags
    note = push_tags(journal_paths(root), present, number)
    if note and on_note:
        on_note(note)
    return path


def create_day(root: Path, reader, topic: str, run_ids: list[str | int] | None = None, note: str | None = None,
               on_note: Callable[[str], None] | None = None, charts: bool = True) -> Path:
    """``days/day-NNN-topic/`` for ``run_ids`` (ids, ``rN`` or names); returns its path."""
    root = Path(root)
    topic = " ".join(str(topic or "").split())
    s = slug(topic)
    if not s:
        raise UserError(f"topic {topic!r} has no letters or digits to name a folder with")
    runs = _resolve(reader, list(run_ids or []))
    (root / "days").mkdir(parents=True, exist_ok=True)
    for _ in range(100):  # two writers racing for the same number: mkdir decides
        number = max(day_dirs(root), default=0) + 1
        path = root / "days" / f"day-{number:03d}-{s}"
        try:
            path.mkdir()
            break
        except FileExistsError:
            continue
    else:
        raise UserError(f"could not create a new day folder in {root / 'days'}")
    doc = metrics.new_document(number, topic, s, time.strftime("%Y-%m-%d"), note)
    return write_day(root, reader, path, doc, runs, on_note, charts)


def tag_runs(root: Path, reader, run_ids: list[str | int], day: int,
             on_note: Callable[[str], None] | None = None, charts: bool = True) -> Path:
    """Add runs to day ``day`` (re-tagging is harmless) and refresh its generated parts."""
    root = Path(root)
    path = find_day(root, day)
    runs = _resolve(reader, list(run_ids))
    if not runs:
        raise UserError("name at least one run to tag (see `iejtui runs`)")
    return write_day(root, reader, path, load_doc(path), runs, on_note, charts)


def refresh_day(root: Path, reader, day: int, on_note: Callable[[str], None] | None = None) -> Path:
    """Recompute an existing day (runs that were still live when it was written)."""
    path = find_day(Path(root), day)
    return write_day(Path(root), reader, path, load_doc(path), [], on_note)
