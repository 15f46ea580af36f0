"""``iejtui runs``, ``runs show``, ``status`` and ``record``."""

from __future__ import annotations

import time

import click

from iejtui import fmt
from iejtui.cli.common import Command, Ctx, Group, emit_json
from iejtui.store.vocab import BROKE


def _headline(run: dict) -> str:
    f = run.get("facts") or {}
    s = run.get("summary") or {}
    bits = []
    if run["kind"] == "bench" and s.get("output_throughput") is not None:
        bits.append(f"{s['output_throughput']:.0f} tok/s, TTFT p50 {s.get('median_ttft_ms', 0):.0f} ms, "
                    f"{s.get('completed', 0)}/{s.get('num_prompts', '?')} ok")
    if run["kind"] == "search" and s.get("search"):
        from iejtui.load_search import headline
        bits.append(headline(s["search"]))
    if f.get("kv_cache_tokens"):
        bits.append(f"KV {int(f['kv_cache_tokens']):,} tok")
    if run.get("exit_code") not in (None, 0):
        bits.append(f"exit {run['exit_code']}")
    return ", ".join(bits)


def profile_of(run: dict) -> dict | None:
    """The profiled window a run keeps (``summary["profile"]``), None without one."""
    stored = run.get("summary")
    return stored.get("profile") if isinstance(stored, dict) else None


def _print_run(run: dict, summary: dict, counts: dict, events: list[dict]) -> None:
    dur = (run.get("ended_at") or time.time()) - run["started_at"]
    click.echo(f"run {run['id']}  {run['kind']} {run['name']}  {run['status']}"
               + (f" ({run['reason']})" if run.get("reason") else ""))
    rows = [("started", fmt.clock(run["started_at"], True)), ("duration", fmt.duration(dur)),
            ("engine", run.get("engine_kind")), ("url", run.get("url")), ("model", run.get("model")),
            ("pid", run.get("pid")), ("exit code", run.get("exit_code")),
            ("command", " ".join(run.get("argv") or []) or None), ("log", run.get("log_path")),
            ("tags", ", ".join(run.get("tags") or []) or None)]
    for k, v in rows:
        if v not in (None, ""):
            click.echo(f"  {k:<10} {v}")
    if counts:
        click.echo("  samples    " + ", ".join(f"{s}: {n}" for s, n in sorted(counts.items())))
    from iejtui.summary_text import summary_rows
    click.echo("  summary")
    for title, rows in summary_rows(summary):
        click.echo(f"    {title}")
        for label, value in rows:
            click.echo(f"      {label:<26} {value}")
    if summary.get("search"):  # a load search (bench --find-max-load)
        from iejtui.load_search import search_text
        click.echo("    search")
        click.echo("\n".join("      " + ln for ln in search_text(summary["search"]).splitlines()))
    if summary.get("bench"):  # client vs server, client-bound verdict, steady state
        from iejtui.bench_sections import bench_lines
        for ln in bench_lines(summary["bench"]):
            click.echo(f"  {ln}")
    if profile := profile_of(run):  # bench --profile, `iejtui profile`
        from iejtui.profiling.render import profile_lines
        click.echo("  profile")
        click.echo("\n".join("    " + ln for ln in profile_lines(profile)))
        from iejtui.profiling.render import steady_line
        if line := steady_line(profile, (summary.get("bench") or {}).get("steady")):
            click.echo("    " + line)
    if run.get("log_tail") and run["status"] in BROKE:
        click.echo("  log tail")
        for ln in run["log_tail"].splitlines()[-15:]:
            click.echo(f"    | {ln}")
    if events:
        click.echo("  events")
        for e in events[-12:]:
            click.echo(f"    {fmt.clock(e['ts'])}  {e['level']:<7} {e['message']}")


@click.group(cls=Group, invoke_without_command=True)
@click.option("--json", "as_json", is_flag=True)
@click.option("--kind", type=click.Choice(["engine", "bench", "record", "imported", "search", "profile"]))
@click.option("-n", "--limit", type=click.IntRange(1), default=None)
@click.pass_context
def runs(ctx: click.Context, as_json: bool, kind: str | None, limit: int | None) -> None:
    """List runs (newest first); `runs show RUN` for one."""
    if ctx.invoked_subcommand is not None:
        return
    from iejtui.store import Reader
    reader = Reader(ctx.obj.paths.db)
    rows = reader.runs(kind=kind, limit=limit)
    if as_json:
        emit_json(rows)
        return
    if not rows:
        click.echo("no runs yet: start one with `iejtui engine start NAME`")
        return
    now = time.time()
    click.echo(fmt.table(
        ["RUN", "KIND", "NAME", "STATUS", "STARTED", "DURATION", "HEADLINE", "TAGS"],
        [[r["id"], r["kind"], r["name"], r["status"], fmt.clock(r["started_at"], True),
          fmt.duration((r.get("ended_at") or now) - r["started_at"]), _headline(r),
          ",".join(r.get("tags") or [])] for r in rows], right={0}))

@runs.command("show")
@click.argument("run_ref", metavar="RUN")
@click.option("--json", "as_json", is_flag=True)
@click.pass_obj
def runs_show(obj: Ctx, run_ref: str, as_json: bool) -> None:
    """One run: its fields, sample counts per source and summary figures."""
    from iejtui.store import Reader
    from iejtui.summary import run_summary
    reader = Reader(obj.paths.db)
    run = reader.resolve_run(run_ref)
    counts = reader.sample_counts(run["id"])
    summary = run_summary(reader, run)
    events = reader.events(run["id"], limit=200)
    from iejtui.advisor.stored import run_advice
    advice = run_advice(reader, run)
    if as_json:
        emit_json({**run, "samples": counts, "summary": summary, "advisor": advice, "profile": profile_of(run),
                   "events": [{k: e[k] for k in ("ts", "kind", "level", "message")} for e in events]})
        return
    _print_run(run, summary, counts, events)
    _print_advice(advice)


@runs.command("delete")
@click.argument("run_refs", metavar="RUN...", nargs=-1, required=True)
@click.option("--with-children", is_flag=True,
              help="Also delete the runs that belong to these (an engine's benchmarks and profiles, "
                   "a search's probes, a matrix's cells).")
@click.option("--force", is_flag=True, help="Delete runs written into a day log too (the day folder keeps its copy).")
@click.option("-y", "--yes", is_flag=True, help="Do not ask.")
@click.option("--json", "as_json", is_flag=True)
@click.pass_obj
def runs_delete(obj: Ctx, run_refs: tuple[str, ...], with_children: bool, force: bool, yes: bool,
                as_json: bool) -> None:
    """Delete ended runs: their samples, requests, events and files (engine log, profile traces).

    Refused for a run still going, for one other runs belong to (unless --with-children) and
    for one in a day log (unless --force). Asks first unless --yes."""
    import sys

    from iejtui import runfiles
    from iejtui.client import DeleteRequest, ServiceClient, ensure_service
    from iejtui.errors import UserError
    from iejtui.store import Reader
    from iejtui.store.deletion import counts_text
    reader = Reader(obj.paths.db)
    ids = [reader.resolve_run(ref)["id"] for ref in run_refs]
    preview = reader.deletion_preview(ids, with_children, force)
    if not yes:
        if as_json or not sys.stdin.isatty():
            raise UserError("runs delete asks before deleting: pass --yes to delete without asking")
        taken = set(preview["taken_along"])
        click.echo(f"delete {len(preview['runs'])} run(s) from {obj.paths.db}:")
        for run in preview["runs"]:
            size = runfiles.owned_bytes(obj.paths, run["id"])
            click.echo(f"  r{run['id']:<5} {run['kind']:<8} {run['name']:<20} {run['status']:<11}"
                       + (f" files {fmt.size(size)}" if size else "")
                       + ("  (belongs to a named run)" if run["id"] in taken else ""))
        click.echo(f"  with {counts_text(preview)}")
        if not click.confirm("Delete them?", default=False):
            click.echo("nothing deleted")
            return
    ensure_service(obj.paths)
    out = ServiceClient(obj.paths).delete_runs(DeleteRequest(ids=ids, with_children=with_children, force=force))
    if as_json:
        emit_json(out)
        return
    click.echo(f"deleted run(s) {', '.join(str(r['id']) for r in out['deleted'])}: {counts_text(out)}; "
               f"{out['files']} file(s) removed ({fmt.size(out['bytes'])})")


def _print_advice(advice: dict) -> None:
    """``runs show``'s "what the advisor saw" (``iejtui advise`` prints the same lines)."""
    from iejtui.advisor.text import result_lines
    if advice.get("source") == "none":
        click.echo(f"  advisor    {advice['note']}")
        return
    if not advice.get("signals"):
        return
    click.echo("  advisor" + (" (as found live)" if advice.get("source") == "live" else ""))
    for line in result_lines(advice, indent="    "):
        click.echo(line)

@click.command(cls=Command)
@click.option("--json", "as_json", is_flag=True)
@click.pass_obj
def status(obj: Ctx, as_json: bool) -> None:
    """Service, engines and GPUs at a glance."""
    from iejtui.client import ServiceClient
    from iejtui.client import service_running
    if not service_running(obj.paths):
        if obj.paths.db.exists():  # a damaged journal.db is said so here too (cheap: newest runs only)
            from iejtui.store import Reader
            reader = Reader(obj.paths.db)
            reader.runs(limit=20)
            reader.close()
        from iejtui.client.lockholder import lock_holder
        stuck = lock_holder(obj.paths)  # holds the lock, does not answer: say so with its pid
        if as_json:
            emit_json({"service": None, "engines": [], "gpus": None, "journal": str(obj.paths.root),
                       **({"stuck_pid": stuck} if stuck is not None else {})})
        elif stuck is not None:
            click.echo(f"a service holds the lock of {obj.paths.root} (pid {stuck}) but its socket does not "
                       f"answer: `iejtui service stop` ends it")
        else:
            click.echo(f"no service running for {obj.paths.root} (start it with `iejtui service start`)")
        return
    st = ServiceClient(obj.paths).status()
    if as_json:
        emit_json(st)
        return
    s = st["service"]
    click.echo(f"service  pid {s['pid']}, up {fmt.duration(time.time() - s['started_at'])}, {s['journal']}")
    if st.get("write_error"):
        click.echo(f"journal  NOT RECORDING: cannot write journal.db: {st['write_error']} "
                   "— samples are held in memory meanwhile")
    if (st.get("journal_check") or {}).get("problem"):
        click.echo(f"journal  DAMAGED: {st['journal_check']['problem']}")
    gpus = st["gpus"]
    if isinstance(gpus, dict):
        click.echo(f"gpus     {gpus.get('reason') or 'none'}")
    else:
        for g in gpus:
            lt = g.get("latest") or {}
            click.echo(f"gpu {g.get('index')}    {g.get('name')}  kernel-active {fmt.num(lt.get('gpu.util_gpu'), 0)}%"
                       f"  SM-active {fmt.num(lt.get('gpu.sm_active'), 1)}%  "
                       f"mem {fmt.size(lt.get('gpu.mem_used'))}  power {fmt.num((lt.get('gpu.power_mw') or 0) / 1000, 0)} W")
    if not st["engines"]:
        click.echo("engines  none running")
    for e in st["engines"]:
        state = e["status"] if e["status"] != "starting" else f"starting ({e['phase']})"
        stale = f"  scrape failing: {e['scrape_error']}" if e.get("scrape_error") else ""
        click.echo(f"engine   {e['name']} ({e['kind']}) {state} {e['url']} run {e['run_id']}{stale}")
    from iejtui.advisor.text import SEV, knob_text
    for f in (st.get("advisor") or {}).get("firing") or []:  # most severe first
        click.echo(f"advisor  {SEV[f['severity']]} r{f['run_id']} {f['title']}: {f['message']}")
        if (f.get("knob") or {}).get("suggested"):
            click.echo(f"         knob: {knob_text(f['knob'])}")

@click.command(cls=Command)
@click.option("--duration", type=click.FloatRange(min=1), default=None,
              help="Seconds to record (default: until Ctrl-C).")
@click.option("--name", default="record", show_default=True)
@click.pass_obj
def record(obj: Ctx, duration: float | None, name: str) -> None:
    """Record GPUs and engines without the TUI, as a `record` run you can tag and export."""
    from iejtui.client import RecordingRequest, ServiceClient
    from iejtui.client import ensure_service
    ensure_service(obj.paths)
    st = ServiceClient(obj.paths).status()
    gpus = st["gpus"]
    gdesc = gpus.get("reason") if isinstance(gpus, dict) else f"{len(gpus)} GPU(s)"
    rec = ServiceClient(obj.paths).start_recording(RecordingRequest(name=name, duration=duration))
    click.echo(f"run {rec['run_id']}: recording {gdesc}; engines: {', '.join(rec['engines']) or 'none'}"
               + (f", for {duration:.0f} s" if duration else "; Ctrl-C ends it"))
    t_end = time.monotonic() + duration if duration else None
    try:
        while t_end is None or time.monotonic() < t_end:
            time.sleep(min(1.0, max(0.0, (t_end or 1e18) - time.monotonic())))
    except KeyboardInterrupt:
        ServiceClient(obj.paths).stop_recording(rec["run_id"])
    else:
        time.sleep(0.5)  # the service ends it on its own clock
    click.echo(f"recorded run {rec['run_id']}: `iejtui runs show {rec['run_id']}`")


COMMANDS = [runs, status, record]
