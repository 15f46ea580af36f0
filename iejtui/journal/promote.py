"""Promotion: clean results to ``benchmarks/NAME/``, a day's lessons to ``topics/T/notes.md``.

``promote_run``  → benchmarks/NAME/{results.json, README.md, chart.svg} + a row in
                   benchmarks/README.md (the single source of truth for results).
``promote_day``  → the day's "## Lessons" (hand-written in LOG.md) appended to
                   topics/T/notes.md inside a ``from-day-NNN`` section with a back-link
                   (promoting the same day again updates that section, never duplicates).
Both are logged in topics/promotions.json; ``promotion_due`` reminds after 5 days
without one (and says "overdue" after 7), the journal's 5–7 day routine.
"""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

from iejtui.errors import UserError
from iejtui.journal import daylog as days_mod
from iejtui.journal import index, metrics, render, sections
from iejtui.journal.mdsafe import code, esc, slug

NAME = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")
REMIND_AFTER_DAYS = 5
OVERDUE_AFTER_DAYS = 7
DAY_S = 86400.0


def _log_path(root: Path) -> Path:
    return root / "topics" / "promotions.json"


def _load_log(root: Path) -> list[dict]:
    try:
        data = json.loads(_log_path(root).read_text())
        return data if isinstance(data, list) else []
    except (OSError, ValueError):
        return []


def _record(root: Path, item: dict) -> None:
    log = _load_log(root)
    log.append({**item, "at": time.time()})
    _log_path(root).parent.mkdir(parents=True, exist_ok=True)
    _log_path(root).write_text(json.dumps(log, indent=2) + "\n")


def promote_run(root: Path, reader, ref: str | int, name: str, force: bool = False) -> Path:
    """Put run ``ref``'s cleaned result and chart into benchmarks/NAME/; returns the folder."""
    root = Path(root)
    if not NAME.match(name or ""):
        raise UserError(f"invalid benchmark name {name!r}: lower-case letters, digits, . _ - (e.g. llama8b-h100-tp1)")
    run = reader.resolve_run(str(ref))
    dest = root / "benchmarks" / name
    if dest.exists() and not force:
        raise UserError(f"benchmarks/{name} exists already; pass --force to replace it with r{run['id']}")
    e = metrics.run_metrics(reader, run)
    engine_run = reader.run(run["parent_id"]) if run.get("parent_id") else None
    dest.mkdir(parents=True, exist_ok=True)
    from iejtui.charts import render_svg, run_chart_data
    chart_src = engine_run or run
    data = run_chart_data(reader, chart_src)
    chart = None
    if data.has_data():
        chart = "chart.svg"
        (dest / chart).write_text(render_svg(data))
    src_day = next((d for d in days_mod.days(root) if run["id"] in d.runs), None)
    result = {"schema": "iejtui.benchmark", "schema_version": 1, "name": name,
              "promoted_at": time.time(), "date": time.strftime("%Y-%m-%d"),
              "source": {"run": run["id"], "day": src_day.number if src_day else None,
                         "engine_run": engine_run["id"] if engine_run else None},
              "run": e, "engine": metrics.run_metrics(reader, engine_run) if engine_run else None}
    (dest / "results.json").write_text(json.dumps(result, indent=2, default=str) + "\n")
    hw = render.hardware(e)
    back = (f"[day {src_day.number:03d}](../../days/{src_day.path.name}/LOG.md)" if src_day else "no day log")
    readme = "\n".join([
        f"# {esc(name)}", "",
        f"Promoted from run r{run['id']} {code(run.get('name'))} ({back}) on {esc(result['date'])}. "
        "`results.json` holds every figure (null where not measured).", "",
        "## Setup", "", render.setup_table([x for x in (result["engine"], e) if x]), "",
        render.launch_commands([x for x in (result["engine"], e) if x]), "",
        "## Results", "", render.figures_table(e), "", render.latency_table(e), "",
        *([f"[![charts of r{chart_src['id']}]({chart})]({chart})", ""] if chart else []),
    ])
    (dest / "README.md").write_text(readme)
    engine_desc = (e.get("engine_kind") or (result["engine"] or {}).get("engine_kind") or e.get("kind") or "")
    ver = (e.get("versions") or {}).get("engine")
    index.write_bench_row(root, name, result["date"], f"{engine_desc} {ver or ''}".strip(),
                          re.sub(r"[`\\]", "", hw), metrics.headline([e]))
    _record(root, {"kind": "benchmark", "name": name, "run": run["id"]})
    return dest


def day_lessons(log_text: str) -> str:
    """The hand-written lessons of a LOG.md, placeholder removed (may be empty)."""
    from iejtui.journal.logmd import LESSONS_PLACEHOLDER
    body = sections.markdown_section(log_text, "Lessons") or ""
    return body.replace(LESSONS_PLACEHOLDER, "").strip()


def promote_day(root: Path, day: int, topic: str, text: str | None = None) -> Path:
    """Append day ``day``'s lessons (or ``text``) to topics/TOPIC/notes.md with a back-link."""
    root = Path(root)
    path = days_mod.find_day(root, day)
    t = slug(topic)
    if not t:
        raise UserError(f"invalid topic {topic!r}: use a word such as vllm or serving-patterns")
    lessons = (text or "").strip() or day_lessons((path / "LOG.md").read_text() if (path / "LOG.md").exists() else "")
    if not lessons:
        raise UserError(f"day {day} has no lessons yet: write them under '## Lessons' in {path / 'LOG.md'} "
                        "or pass --text")
    from iejtui.journal.export import neutralise_user_markdown
    doc = days_mod.load_doc(path)
    folder = root / "topics" / t
    folder.mkdir(parents=True, exist_ok=True)
    if not (folder / "README.md").exists():
        (folder / "README.md").write_text(f"# {t}\n\nNotes promoted from day logs: [notes.md](notes.md).\n")
    notes = folder / "notes.md"
    current = notes.read_text() if notes.exists() else f"# {t}: lessons from the day logs\n"
    body = (f"### Day {day:03d}: {esc(doc.get('topic'))} ({esc(doc.get('date'))})\n\n"
            f"{neutralise_user_markdown(lessons)}\n\n"
            f"<sub>From [day {day:03d}](../../days/{path.name}/LOG.md), promoted {time.strftime('%Y-%m-%d')}.</sub>")
    notes.write_text(sections.replace(current, {f"from-day-{day:03d}": body}))
    _record(root, {"kind": "topic", "topic": t, "day": day})
    return notes


def promotion_due(root: Path, now: float | None = None) -> str | None:
    """A reminder when 5–7 days have passed since the last promotion (None otherwise)."""
    root = Path(root)
    now = time.time() if now is None else now
    log = _load_log(root)
    all_days = days_mod.days(root)
    if not all_days:
        return None
    last = max((p.get("at", 0) for p in log), default=None)
    promoted = {p.get("day") for p in log if p.get("kind") == "topic"}
    pending = [d for d in all_days if d.number not in promoted]
    if not pending:
        return None
    if last is None:
        first = min(_day_time(d) for d in all_days)
        since, what = now - first, "since the first day log, and nothing has been promoted yet"
    else:
        since, what = now - last, "since the last promotion"
    n = int(since // DAY_S)
    if n < REMIND_AFTER_DAYS:
        return None
    urgency = "overdue: " if n >= OVERDUE_AFTER_DAYS else ""
    ids = ", ".join(f"{d.number:03d}" for d in pending[-7:])
    return (f"{urgency}{n} days {what}. Days not promoted: {ids}. "
            f"`iejtui day promote N --topic T` moves lessons to topics/; `iejtui promote RUN --as NAME` "
            "puts clean results in benchmarks/.")


def _day_time(d) -> float:
    try:
        return time.mktime(time.strptime(d.date, "%Y-%m-%d"))
    except (ValueError, TypeError):
        return d.path.stat().st_mtime



