"""``iejtui day …``, ``tag``, ``export``, ``promote``: the journal from the shell.

    iejtui day new TOPIC [--run RUN ...] [--note TEXT]   days/day-NNN-topic/ + index row
    iejtui day list [--json]                             the day logs (and the promotion reminder)
    iejtui day refresh N                                 recompute a day (runs that were still live)
    iejtui day promote N --topic T [--text TEXT]         its lessons → topics/T/notes.md
    iejtui day chart RUN [--panel P] [--width W]         a run's charts in the terminal
    iejtui tag RUN ... --day N                           add runs to day N
    iejtui export (--day N | --run RUN ...) [-o FILE]    GitHub-renderable markdown
    iejtui promote RUN --as NAME [--force]               benchmarks/NAME/
"""

from __future__ import annotations

from pathlib import Path

import click

from iejtui.cli.common import Command, Ctx, Group, emit_json
from iejtui.errors import UserError


def _reader(obj):
    from iejtui.store import Reader
    if not obj.paths.db.exists():
        raise UserError(f"{obj.paths.root} has no journal.db yet: record a run first (`iejtui engine start NAME`)")
    return Reader(obj.paths.db)


def _rel(obj, p: Path) -> str:
    try:
        return str(p.relative_to(obj.paths.root))
    except ValueError:
        return str(p)


def _note(line: str) -> None:
    click.echo(f"note: {line}", err=True)


@click.group(cls=Group)
def day() -> None:
    """Day logs: days/day-NNN-topic/ with LOG.md, metrics.json, TODO.md, code/, charts."""

@day.command("new")
@click.argument("topic")
@click.option("--run", "runs", multiple=True, metavar="RUN", help="A run (id, rN or name); repeatable.")
@click.option("--note", default=None, help="The day's goal, written under '## Goal' in LOG.md.")
@click.pass_obj
def day_new(obj: Ctx, topic: str, runs: tuple[str, ...], note: str | None) -> None:
    """Create the next day log for TOPIC, with RUNs tagged into it."""
    from iejtui.journal import create_day
    reader = _reader(obj)
    path = create_day(obj.paths.root, reader, topic, list(runs), note, on_note=_note)
    click.echo(f"created {_rel(obj, path)}/LOG.md ({len(runs)} run(s)); edit it outside the iejtui: markers")

@day.command("list")
@click.option("--json", "as_json", is_flag=True)
@click.pass_obj
def day_list(obj: Ctx, as_json: bool) -> None:
    """The day logs of this journal."""
    from iejtui import fmt
    from iejtui.journal import days, promotion_due
    items = days(obj.paths.root)
    due = promotion_due(obj.paths.root)
    if as_json:
        emit_json({"days": [{"day": d.number, "topic": d.topic, "date": d.date, "path": str(d.path),
                             "runs": d.runs, "headline": d.headline} for d in items], "promotion_due": due})
        return
    if not items:
        click.echo("no day logs yet: `iejtui day new TOPIC --run RUN`")
        return
    click.echo(fmt.table(["DAY", "DATE", "TOPIC", "RUNS", "HEADLINE"],
                         [[f"{d.number:03d}", d.date, d.topic, ",".join(f"r{r}" for r in d.runs),
                           d.headline or ""] for d in items]))
    if due:
        click.echo(f"\nreminder: {due}")

@day.command("refresh")
@click.argument("number", type=click.IntRange(1))
@click.pass_obj
def day_refresh(obj: Ctx, number: int) -> None:
    """Recompute day N's figures, charts and generated sections."""
    from iejtui.journal import refresh_day
    path = refresh_day(obj.paths.root, _reader(obj), number, on_note=_note)
    click.echo(f"refreshed {_rel(obj, path)}")

@day.command("promote")
@click.argument("number", type=click.IntRange(1))
@click.option("--topic", required=True, help="topics/TOPIC/ (created if new), e.g. vllm.")
@click.option("--text", default=None, help="Lessons to promote instead of LOG.md's '## Lessons'.")
@click.pass_obj
def day_promote(obj: Ctx, number: int, topic: str, text: str | None) -> None:
    """Append day N's lessons to topics/TOPIC/notes.md with a back-link."""
    from iejtui.journal import promote_day
    path = promote_day(obj.paths.root, number, topic, text)
    click.echo(f"lessons of day {number:03d} promoted to {_rel(obj, path)}")

@day.command("chart")
@click.argument("run_ref", metavar="RUN")
@click.option("--panel", type=click.Choice(["all", "throughput", "kv", "gpu", "ttft"]), default="all")
@click.option("--width", type=click.IntRange(20, 400), default=80)
@click.option("--height", type=click.IntRange(5, 100), default=12)
@click.pass_obj
def day_chart(obj: Ctx, run_ref: str, panel: str, width: int, height: int) -> None:
    """A run's key series as terminal charts."""
    from iejtui.charts import run_chart_data
    from iejtui.charts.term import render_term, render_term_all
    reader = _reader(obj)
    data = run_chart_data(reader, reader.resolve_run(run_ref))
    click.echo(render_term_all(data, width, height) if panel == "all" else render_term(data, panel, width, height))

@click.command(cls=Command)
@click.argument("runs", nargs=-1, required=True, metavar="RUN...")
@click.option("--day", "number", type=click.IntRange(1), required=True, help="The day number (see `iejtui day list`).")
@click.pass_obj
def tag(obj: Ctx, runs: tuple[str, ...], number: int) -> None:
    """Add RUNs to an existing day log (hand-written text in LOG.md is kept)."""
    from iejtui.journal import tag_runs
    path = tag_runs(obj.paths.root, _reader(obj), list(runs), number, on_note=_note)
    click.echo(f"tagged {', '.join(runs)} into {_rel(obj, path)}")

@click.command(cls=Command)
@click.option("--day", "number", type=click.IntRange(1), default=None, help="Export day N.")
@click.option("--run", "runs", multiple=True, metavar="RUN", help="Export a run; repeatable.")
@click.option("-o", "--output", type=click.Path(dir_okay=False, writable=True), default=None,
              help="Write to FILE (chart links relative to it) instead of stdout.")
@click.pass_obj
def export(obj: Ctx, number: int | None, runs: tuple[str, ...], output: str | None) -> None:
    """A day or runs as GitHub-renderable markdown (secrets masked)."""
    from iejtui.journal import export_markdown, write_export
    if (number is None) == (not runs):
        raise UserError("give either --day N or --run RUN (one or more)")
    if output:
        n = write_export(obj.paths.root, _reader(obj), output, number, list(runs) or None)
        click.echo(f"wrote {output} ({n:,} characters)")
    else:
        click.echo(export_markdown(obj.paths.root, _reader(obj), number, list(runs) or None), nl=False)

@click.command(cls=Command)
@click.argument("run_ref", metavar="RUN")
@click.option("--as", "name", required=True, help="benchmarks/NAME/ (lower-case, digits, . _ -).")
@click.option("--force", is_flag=True, help="Replace an existing benchmarks/NAME/.")
@click.pass_obj
def promote(obj: Ctx, run_ref: str, name: str, force: bool) -> None:
    """A run's cleaned result and chart into benchmarks/NAME/ and its index."""
    from iejtui.journal import promote_run
    path = promote_run(obj.paths.root, _reader(obj), run_ref, name, force)
    click.echo(f"promoted {run_ref} to {_rel(obj, path)}/ (results.json, README.md)")


COMMANDS = [day, tag, export, promote]
