"""``iejtui export``: a day or some runs as GitHub-renderable markdown.

Tables, charts linked (relative to where the file will live), launch commands, versions,
percentiles, lifecycle and error events, crash log tails. Secrets are masked (argv, env,
logs: the service's fingerprints are applied again), and everything that came from
outside goes through ``mdsafe``. Figures of ended runs are taken from the day's
metrics.json when it is newer than the run's end, else computed from journal.db.
"""

from __future__ import annotations

import os
import re
import time
from pathlib import Path

from iejtui import __version__, fmt
from iejtui.errors import UserError
from iejtui.journal import daylog as days_mod
from iejtui.journal import metrics, render
from iejtui.journal.mdsafe import code, esc, fence, table
from iejtui.journal.sections import markdown_section
from iejtui.store.vocab import ENDED_BADLY

LIFECYCLE = {"started", "ready", "stopping", "stopped", "crashed", "failed", "interrupted", "timeout",
             "adopted", "attached", "warning", "oom", "error"}


def neutralise_user_markdown(text: str) -> str:
    """A person's markdown kept as written, raw HTML defused outside code (``<`` → ``&lt;``)."""
    out, in_fence, fence_mark = [], False, ""
    for line in text.split("\n"):
        m = re.match(r"^\s*(`{3,}|~{3,})", line)
        if m and (not in_fence or m.group(1)[0] == fence_mark[0] and len(m.group(1)) >= len(fence_mark)):
            in_fence, fence_mark = (not in_fence), m.group(1)
            out.append(line)
            continue
        if in_fence:
            out.append(line)
            continue
        parts = re.split(r"(`+[^`]*`+)", line)
        out.append("".join(p if p.startswith("`") else p.replace("<", "&lt;") for p in parts))
    return "\n".join(out)


def _cached_entries(root: Path) -> dict[int, tuple[dict, Path]]:
    out: dict[int, tuple[dict, Path]] = {}
    for d in days_mod.days(root):
        try:
            doc = days_mod.load_doc(d.path)
        except UserError:
            continue
        for e in doc.get("runs", []):
            if "id" in e:
                out[e["id"]] = (e, d.path)
    return out


def _entry(reader, run: dict, cached: tuple[dict, Path] | None) -> dict:
    if cached:
        e = cached[0]
        # an entry of metrics.json schema 1 (figures at its top level) is computed again
        if run.get("ended_at") and (e.get("computed_at") or 0) >= run["ended_at"] and e.get("status") == run["status"] \
                and "tokens" not in e:
            return e
    e = metrics.run_metrics(reader, run)
    if cached and cached[0].get("chart"):
        e["chart"] = cached[0]["chart"]
    return e


def _link(root: Path, day_path: Path | None, name: str | None, base: Path) -> str | None:
    if not name or day_path is None or not (day_path / name).exists():
        return None
    return os.path.relpath(day_path / name, base).replace(os.sep, "/")


def _events_table(events: list[dict], limit: int = 25) -> str:
    notable = [e for e in events if e.get("level") in ("warning", "error") or e.get("kind") in LIFECYCLE]
    if not notable:
        return "_No events recorded._"
    rows = [[esc(time.strftime("%H:%M:%S", time.localtime(e["ts"]))), esc(e.get("level")), esc(e.get("kind")),
             esc(e.get("message"), limit=200)] for e in notable[-limit:]]
    more = f"\n\n<sub>{len(notable) - limit} earlier events not shown.</sub>" if len(notable) > limit else ""
    return table(["Time", "Level", "Kind", "Message"], rows) + more


def run_section(root: Path, reader, run: dict, e: dict, day_path: Path | None, base: Path) -> str:
    dur = e.get("duration_s")
    lines = [f"### r{e['id']} {code(e.get('name'))}: {esc(e.get('kind'))}"
             + (f" ({esc(e.get('engine_kind'))})" if e.get("engine_kind") else "") + f", {render.status_text(e)}",
             "",
             f"- **Started** {esc(fmt.clock(run['started_at'], True))}, **duration** "
             f"{fmt.duration(dur) if dur is not None else 'still running'}"
             + (f", **ready after** {fmt.duration(e['startup_s'])}" if e.get("startup_s") is not None else ""),
             f"- **Model** {code(e.get('model')) or '—'}"]
    if e.get("reason"):
        lines.append(f"- **Ended because** {esc(e['reason'], limit=300)}")
    lines += [f"- **Versions** {render.versions_line(e)}", ""]
    if e.get("argv"):
        lines += ["**Launch command** (secrets masked as `***`):", "",
                  fence(render._script_line(e["argv"], e.get("env") or {}), "sh"), ""]
    lines += [render.figures_table(e), "", render.latency_table(e), ""]
    if (run.get("summary") or {}).get("search"):  # a load search: its bracket and probes
        from iejtui.load_search import search_markdown
        lines += [search_markdown(run["summary"]["search"], esc, code, table), ""]
    if run.get("kind") == "bench":  # client vs server, client-bound verdict, steady state
        from iejtui.bench_sections import bench_lines, bench_sections
        sec = e.get("bench") if isinstance(e.get("bench"), dict) and "verdict" in e["bench"] else None
        lines += ["**Client vs server, client-bound verdict, steady state**", "",
                  fence("\n".join(bench_lines(sec or bench_sections(reader, run))), "text"), ""]
    if isinstance(e.get("profile"), dict):  # bench --profile, a profile run: the table and bars
        from iejtui.profiling.render import profile_markdown
        lines += ["**Profile** (top operators by self time, top GPU kernels)", "", profile_markdown(e["profile"]), ""]
    from iejtui.journal.advice import advice_markdown
    adv = e.get("advisor") if isinstance(e.get("advisor"), dict) else None
    if adv is None:
        from iejtui.advisor.stored import run_advice
        adv = run_advice(reader, run)
    section = advice_markdown(adv, "####")
    if section:
        lines += [section, ""]
    link = _link(root, day_path, e.get("chart"), base)
    if link:
        alt = esc(f"r{e['id']} charts: tok/s, KV %, SM-active vs kernel-active, TTFT p50/p99")
        lines += [f"[![{alt}]({link})]({link})", ""]
    lines += ["**Events**", "", _events_table(reader.events(run["id"], limit=500)), ""]
    if run.get("status") in ENDED_BADLY:
        tail = days_mod.log_tail(root, run)
        if tail:
            last = tail.splitlines()[-30:]
            lines += [f"**Last {len(last)} log lines**", "", fence("\n".join(last), "text"), ""]
    return "\n".join(lines)


def export_markdown(root: Path, reader, day: int | None = None, run_ids: list[str | int] | None = None,
                    link_base: Path | None = None) -> str:
    """Markdown for day ``day`` or for ``run_ids``; chart links are relative to ``link_base``
    (the folder the markdown will be written to; default: the journal root)."""
    root = Path(root).resolve()
    base = Path(link_base).resolve() if link_base else root
    if (day is None) == (not run_ids):
        raise UserError("export needs either --day N or --run RUN (one or more), not both")
    cache = _cached_entries(root)
    out: list[str] = []
    doc: dict | None = None
    if day is not None:
        path = days_mod.find_day(root, day)
        doc = days_mod.load_doc(path)
        ids = [e["id"] for e in doc.get("runs", []) if "id" in e]
        ids += [r["id"] for r in reader.runs() if r.get("day") == day and r["id"] not in ids]
        runs = [r for r in (reader.run(i) for i in ids) if r is not None]
        missing = [i for i in ids if reader.run(i) is None]
        log = (path / "LOG.md").read_text() if (path / "LOG.md").exists() else ""
        out += [f"# Day {day:03d}: {esc(doc.get('topic'))}", "",
                f"**Date:** {esc(doc.get('date'))} · **Runs:** {', '.join(f'r{i}' for i in ids) or 'none'}"
                f" · **Headline:** {esc(doc.get('headline') or '—')}", ""]
        goal = markdown_section(log, "Goal")
        if goal and "replace this line" not in goal:
            out += ["## Goal", "", neutralise_user_markdown(goal), ""]
        if missing:
            out += [f"_Runs {', '.join(f'r{i}' for i in missing)} are listed in metrics.json but not in "
                    "journal.db; their figures below come from metrics.json._", ""]
    else:
        runs = []
        for ref in run_ids or []:
            r = reader.resolve_run(str(ref))
            if r["id"] not in {x["id"] for x in runs}:
                runs.append(r)
        refs = ", ".join(f"r{r['id']}" for r in runs)
        out += [f"# iejtui runs {refs}", ""]
    entries = []
    for r in runs:
        c = cache.get(r["id"])
        entries.append((r, _entry(reader, r, c), c[1] if c else None))
    es = [e for _, e, _ in entries]
    out += ["## Runs", "", render.runs_table(es), "", "## Setup", "", render.setup_table(es), ""]
    out += ["## Details", ""]
    for r, e, dp in entries:
        out += [run_section(root, reader, r, e, dp, base), ""]
    broke = render.broke_section([(e, reader.events(r["id"], limit=500), None) for r, e, _ in entries])
    out += ["## What broke", "", broke, ""]
    if doc is not None:
        for heading in ("What broke and how it was fixed", "Lessons", "Next steps"):
            body = markdown_section(log, heading)
            if body and body.strip() and "What did this day teach" not in body and "_See [TODO.md]" not in body:
                title = "How it was fixed" if heading.startswith("What broke") else heading
                body = body.replace(render_placeholder(), "").strip()
                if body:
                    out += [f"## {title}", "", neutralise_user_markdown(body), ""]
    out += ["---", "", f"<sub>Exported by iejtui {esc(__version__)} on {esc(time.strftime('%Y-%m-%d %H:%M'))} "
                       f"from {code(root.name)}. Secrets are masked as `***`.</sub>", ""]
    return "\n".join(out)


def write_export(root: Path, reader, output: str | Path, day: int | None = None,
                 run_ids: list[str | int] | None = None) -> int:
    """``export_markdown`` written to ``output`` (folders made, chart links relative to it);
    returns the number of characters written. ``iejtui export -o FILE`` and the TUI use it."""
    output = Path(output)
    text = export_markdown(root, reader, day, run_ids, link_base=output.resolve().parent)
    try:
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text(text)
    except OSError as exc:
        raise UserError(f"cannot write {output}: {exc.strerror}") from None
    return len(text)


def render_placeholder() -> str:
    from iejtui.journal.logmd import FIXED_PLACEHOLDER
    return FIXED_PLACEHOLDER
