"""``iejtui matrix run|status|cancel|report`` and ``iejtui compare``: thin over iejtui.matrix."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import click

from iejtui import fmt
from iejtui.cli.common import Command, Ctx, Group, emit_json
from iejtui.errors import ServiceError, UserError


def _plan(paths, file: str, fresh: bool, retry_failed: bool):
    """Validate the file here (one-line errors, nothing started) and estimate what is left."""
    from iejtui.config import load_config
    from iejtui.matrix import state as stm
    from iejtui.matrix.estimate import estimate, gather_history, History
    from iejtui.matrix.parse import load_matrix
    spec = load_matrix(Path(file), load_config(paths.config))
    prev, hist = None, History()
    if paths.db.exists():
        from iejtui.store import Reader
        try:
            reader = Reader(paths.db)
        except UserError:
            reader = None
        if reader is not None:
            try:
                hist = gather_history(reader, spec)
                prev = next((r for r in reader.runs(kind="matrix", limit=200) if r["name"] == spec.name), None)
            finally:
                reader.close()
    st = stm.new_state(spec)
    if prev and not fresh and isinstance(prev.get("facts"), dict) and prev["facts"].get("cells"):
        st = stm.merge(stm.reset_running(dict(prev["facts"])), spec, retry_failed)
    todo = {k for k, c in st["cells"].items() if c["status"] == "pending"}
    return spec, st, estimate(spec, hist, todo), len(todo)


def _line(p: dict) -> str:
    c, cur = p["cells"], p.get("current") or {}
    head = f"[{c['finished']}/{c['total']}]"
    if cur.get("cell"):
        bp = cur.get("bench_progress") or {}
        now = (f"{cur['variant']} · {cur['workload']} · {cur['load']} · rep {cur['rep']}: benchmark "
               f"{bp.get('done', 0)}/{bp.get('total', '?')} requests")
    elif cur.get("phase") in ("stopping the engine", "writing results"):
        now = f"{cur.get('variant') or p['name']}: {cur['phase']}"
    elif cur.get("variant"):
        now = f"{cur['variant']}: engine {cur.get('engine_status', 'starting')} ({cur.get('engine_phase') or 'launching'})"
    else:
        now = p["state"]
    eta = f" · ETA {fmt.duration(p['eta_s'])}" if p.get("eta_s") is not None and p["state"] == "running" else ""
    return (f"{head} {now} · {c['done']} done, {c['failed']} failed, {c['skipped']} skipped"
            f" · {fmt.duration(p['elapsed_s'])} elapsed{eta}")


def _show(p: dict) -> None:
    c = p["cells"]
    click.echo(f"matrix {p['name']} (run r{p['run_id']}): {p['state']}, {c['finished']}/{c['total']} cells "
               f"({c['done']} done, {c['failed']} failed, {c['skipped']} skipped, {c['pending']} to run), "
               f"{fmt.duration(p['elapsed_s'])} elapsed"
               + (f", ETA {fmt.duration(p['eta_s'])}" if p.get("eta_s") and p["state"] == "running" else ""))
    if p["state"] == "running" and p.get("offline"):
        click.echo("  the service is not running: the grid resumes when it starts (`iejtui service start`)")
    elif p["state"] == "running":
        click.echo(f"  now: {_line(p)}")
    for v in p["variants"]:
        extra = f" (startup {fmt.duration(v['startup_s'])})" if v.get("startup_s") else ""
        click.echo(f"  variant {v['name']}: {v['status']}{extra}" + (f": {v['reason']}" if v.get("reason") else ""))
    if p.get("reason"):
        click.echo(f"  reason: {p['reason']}")
    click.echo(f"  results: {p['results']}/README.md")


def _status_offline(paths, name: str | None) -> list[dict]:
    from iejtui.matrix.state import progress_view
    from iejtui.store import Reader
    if not paths.db.exists():
        return []
    reader = Reader(paths.db)
    try:
        rows = [r for r in reader.runs(kind="matrix", limit=200) if not name or r["name"] == name]
    finally:
        reader.close()
    return [{**progress_view(rows[0]["id"], rows[0]["facts"]), "offline": True}] if rows else []


@click.group(cls=Group)
def matrix() -> None:
    """Benchmark grids: engine variants × workloads × load points × repetitions."""

@matrix.command("run")
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--detach", is_flag=True, help="Start it and return; the service runs the grid.")
@click.option("--fresh", is_flag=True, help="Start again from the first cell instead of resuming.")
@click.option("--retry-failed", is_flag=True, help="Run failed and skipped cells again when resuming.")
@click.option("--dry-run", is_flag=True, help="Validate the file and print the plan and estimate only.")
@click.option("--json", "as_json", is_flag=True)
@click.pass_obj
def matrix_run(obj: Ctx, file: str, detach: bool, fresh: bool, retry_failed: bool, dry_run: bool,
               as_json: bool) -> None:
    """Run (or resume) the grid of a matrix file under the service.

    Ctrl-C stops following; the grid goes on (`iejtui matrix cancel` stops it).
    """
    from iejtui.client import MatrixRequest, ServiceClient
    from iejtui.client import ensure_service
    spec, st, est, todo = _plan(obj.paths, file, fresh, retry_failed)
    total = len(st["order"])
    nl = len({lp for w in spec.workloads for lp in w.loads})
    plan = {"name": spec.name, "cells": total, "to_run": todo, "kept": total - todo, "estimate_s": est.total_s,
            "estimate_basis": est.basis, "variants": [v.name for v in spec.variants],
            "workloads": [w.name for w in spec.workloads], "repetitions": spec.repetitions}
    if as_json and dry_run:
        emit_json(plan)
        return
    if not as_json:
        click.echo(f"matrix {spec.name}: {len(spec.variants)} variants × {len(spec.workloads)} workloads × "
                   f"{nl} load points × {spec.repetitions} repetitions = {total} cells; "
                   f"{todo} to run" + (f", {total - todo} kept from the earlier run" if total - todo else ""))
        click.echo(f"estimate: about {fmt.duration(est.total_s)} ({'; '.join(est.basis)})")
    if dry_run:
        return
    ensure_service(obj.paths)
    p = ServiceClient(obj.paths).start_matrix(MatrixRequest(file=str(Path(file).resolve()), fresh=fresh,
                                                             retry_failed=retry_failed))
    if not as_json:
        click.echo(f"matrix run r{p['run_id']} " + ("is already running: following it" if p.get("attached")
                                                      else "started under the service"))
    if detach:
        if as_json:
            emit_json(p)
        else:
            click.echo(f"follow it with `iejtui matrix status {spec.name}`; results in {p['results']}/")
        return
    last = ""
    try:
        while p["state"] == "running":
            time.sleep(2.0)
            p = ServiceClient(obj.paths).matrix(spec.name)
            line = _line(p)
            if line != last and not as_json:
                click.echo(line, err=True)
                last = line
    except KeyboardInterrupt:
        click.echo(f"\nstopped following; the grid goes on under the service "
                   f"(`iejtui matrix status {spec.name}`, `iejtui matrix cancel {spec.name}`)", err=True)
        return
    except ServiceError:
        raise ServiceError(f"the service stopped answering; matrix {spec.name} resumes where it stopped when "
                           "the service starts again (`iejtui service start`)") from None
    if as_json:
        emit_json(p)
    else:
        _show(p)
    if p["state"] == "failed":
        raise ServiceError(f"matrix {spec.name} stopped: {p.get('reason')}")

@matrix.command("format")
def matrix_format() -> None:
    """Print every key a matrix file may hold (TOML), with a comment each."""
    from iejtui.matrix.spec import FORMAT
    click.echo(FORMAT, nl=False)

@matrix.command("status")
@click.argument("name", required=False)
@click.option("--json", "as_json", is_flag=True)
@click.pass_obj
def matrix_status(obj: Ctx, name: str | None, as_json: bool) -> None:
    """Progress of the running matrix (or the last one): cells done/total, current cell, ETA."""
    from iejtui.client import ServiceClient
    from iejtui.client import service_running
    if service_running(obj.paths):
        items = [ServiceClient(obj.paths).matrix(name)] if name else ServiceClient(obj.paths).matrices()
    else:
        items = _status_offline(obj.paths, name)
    if not items and name:
        raise UserError(f"no matrix named {name!r} in {obj.paths.root}")
    if as_json:
        emit_json(items if not name else items[0])
        return
    if not items:
        click.echo("no matrix has run in this journal: `iejtui matrix run FILE`")
        return
    for p in items:
        _show(p)

@matrix.command("cancel")
@click.argument("name", required=False)
@click.pass_obj
def matrix_cancel(obj: Ctx, name: str | None) -> None:
    """Stop the running grid (its finished cells are kept; run the file again to resume)."""
    from iejtui.client import ServiceClient
    from iejtui.client import service_running
    if not service_running(obj.paths):
        raise UserError(f"no service running for {obj.paths.root}, so no matrix is running")
    items = ServiceClient(obj.paths).matrices()
    running = [p for p in items if p["state"] == "running" and (not name or p["name"] == name)]
    if not running:
        raise UserError(f"no matrix {name + ' ' if name else ''}is running")
    p = ServiceClient(obj.paths).cancel_matrix(running[0]["name"])
    click.echo(f"matrix {p['name']}: cancelling ({p['cells']['finished']}/{p['cells']['total']} cells finished)")

@matrix.command("report")
@click.argument("name")
@click.pass_obj
def matrix_report(obj: Ctx, name: str) -> None:
    """Write benchmarks/NAME/ again from journal.db (README.md, results.json, charts)."""
    from iejtui.config import load_config
    from iejtui.matrix.entry import config_cost, write_entry
    from iejtui.store import Reader
    if not obj.paths.db.exists():
        raise UserError(f"{obj.paths.root} has no journal.db")
    reader = Reader(obj.paths.db)
    try:
        run = next((r for r in reader.runs(kind="matrix", limit=200) if r["name"] == name), None)
        if run is None:
            raise UserError(f"no matrix named {name!r} in this journal (`iejtui matrix status`)")
        dest = write_entry(obj.paths.root, reader, run, config_cost(load_config(obj.paths.config)))
    finally:
        reader.close()
    click.echo(f"wrote {dest}/README.md")

@click.command("compare", cls=Command)
@click.argument("entries", nargs=-1)
@click.option("--workload", help="Only this workload (a name or a shape such as 'random 128/64').")
@click.option("--json", "as_json", is_flag=True)
@click.option("-o", "--output", type=click.Path(dir_okay=False), help="Write the markdown to this file.")
@click.option("--pareto", "pareto_svg", type=click.Path(dir_okay=False),
              help="Runs only: write the bench runs' Pareto frontiers (tok/s against p99 TTFT and ITL) as SVG here.")
@click.pass_obj
def compare(obj: Ctx, entries: tuple, workload: str | None, as_json: bool, output: str | None,
            pareto_svg: str | None) -> None:
    """benchmarks/ matrix entries side by side (by name: same workload, by hardware and
    variant), or runs (r12 r14 [r15…]): per figure both values, the difference and its 95 %
    confidence interval (bootstrap; Bonferroni over the figures), each run against the first."""
    from iejtui.matrix import compare as cmp
    from iejtui.matrix import compare_runs as cr
    if any(cr.is_run_ref(e) for e in entries):
        cr.check_refs(list(entries))
        if workload:
            raise UserError("--workload applies to benchmarks/ entries, not to runs")
        _compare_runs(obj, list(entries), as_json, output, pareto_svg)
        return
    if pareto_svg:
        raise UserError("--pareto applies to runs (r12 r14 …): a matrix entry's README links its own Pareto SVG")
    docs, notes = cmp.load_entries(obj.paths.root, list(entries) or None)
    if as_json:
        emit_json({"entries": [d["entry"] for d in docs], "rows": cmp.rows(docs, workload), "notes": notes})
        return
    text = cmp.render(docs, workload, notes)
    if output:
        Path(output).write_text(text + "\n")
        click.echo(f"wrote {output}")
    else:
        sys.stdout.write(text + "\n")


def _compare_runs(obj: Ctx, refs: list[str], as_json: bool, output: str | None, pareto_svg: str | None) -> None:
    from iejtui.matrix import compare_runs as cr
    from iejtui.store import Reader
    if not obj.paths.db.exists():
        raise UserError(f"{obj.paths.root} has no journal.db, so no run {refs[0]}")
    reader = Reader(obj.paths.db)
    try:
        res = cr.compare_runs(reader, refs)
    finally:
        reader.close()
    if pareto_svg:
        from iejtui.matrix.charts import render_frontiers_svg
        if res["kind"] != "bench":
            raise UserError("--pareto needs bench runs (engine runs have no per-request latencies)")
        svg = render_frontiers_svg("Pareto frontiers: " + " ".join(refs), res["pareto_items"])
        if svg is None:
            raise UserError("no run has both a throughput and a p99 latency: nothing to draw")
        Path(pareto_svg).write_text(svg)
        if not as_json:
            click.echo(f"wrote {pareto_svg}", err=True)
    if as_json:
        emit_json(res)
        return
    text = cr.render_text(res)
    if output:
        Path(output).write_text(text + "\n")
        click.echo(f"wrote {output}")
    else:
        sys.stdout.write(text + "\n")


COMMANDS = [matrix, compare]
