"""``iejtui fleet``: hosts, GPUs, engines and runs read from Prometheus; ``fleet import``."""

from __future__ import annotations

import re
import sys
import time
from datetime import datetime

import click

from iejtui.cli.common import Group, emit_json
from iejtui.errors import UserError

_REL = re.compile(r"^(now)?-(\d+(?:\.\d+)?)([smhd])$")
_UNIT = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_time(text: str, now: float | None = None) -> float:
    """``now``, ``-15m`` (relative to now), Unix seconds, or an ISO date-time (local time)."""
    now = time.time() if now is None else now
    t = (text or "").strip()
    if t == "now":
        return now
    m = _REL.match(t)
    if m:
        return now - float(m.group(2)) * _UNIT[m.group(3)]
    try:
        return float(t)
    except ValueError:
        pass
    try:
        return datetime.fromisoformat(t).timestamp()
    except ValueError:
        raise UserError(f"invalid time {text!r}: use now, -15m, -2h, Unix seconds or 2026-01-31T14:05:00") from None


def _prom_option(f):
    return click.option("--prometheus", "prometheus", envvar="IEJTUI_PROMETHEUS", required=True, metavar="URL",
                        help="Prometheus base URL (env IEJTUI_PROMETHEUS), e.g. http://127.0.0.1:9090")(f)


@click.group("fleet", cls=Group, invoke_without_command=True)
@_prom_option
@click.option("--json", "as_json", is_flag=True, help="Print one snapshot as JSON instead of opening the TUI.")
@click.option("--window", "window", default=60.0, type=float, show_default=True,
              help="Seconds the rates and latency percentiles cover.")
@click.option("--at", "at", default=None, metavar="TIME", help="Evaluate at TIME (default: now).")
@click.option("--host", "hosts", multiple=True, metavar="INSTANCE", help="Only these hosts (repeatable).")
@click.option("--limit", type=int, default=None, help="At most this many hosts (JSON).")
@click.option("--timeout", type=float, default=5.0, show_default=True, help="Seconds per Prometheus query.")
@click.pass_context
def fleet(ctx: click.Context, prometheus: str, as_json: bool, window: float, at: str | None,
          hosts: tuple[str, ...], limit: int | None, timeout: float) -> None:
    """Hosts, GPUs, engines and runs read from Prometheus (iejtui services, vLLM, DCGM exporter)."""
    from iejtui.fleet.promql import normalize_url
    url = normalize_url(prometheus)
    ctx.meta["fleet_url"] = url
    if ctx.invoked_subcommand is not None:
        return
    if window <= 0:
        raise UserError("--window must be a positive number of seconds")
    if as_json:
        from iejtui.fleet.model import to_json
        from iejtui.fleet.view import snapshot_sync
        snap = snapshot_sync(url, timeout, at=parse_time(at) if at else None, window_s=window,
                             limit=limit, only=list(hosts) or None)
        emit_json(to_json(snap))
        if snap.error:
            click.echo(f"iejtui: {snap.error}", err=True)
            sys.exit(1)
        return
    try:
        from iejtui.ui.fleet_app import run_fleet_app
    except ImportError:
        raise UserError("the fleet TUI is not available in this build; use --json") from None
    run_fleet_app(url, window_s=window, timeout_s=timeout, paths=ctx.obj.paths)

@fleet.command("import")
@click.option("--instance", "--host", "instance", required=True, metavar="INSTANCE",
              help="The host: its Prometheus instance label (as `iejtui fleet --json` lists it).")
@click.option("--engine", default=None, help="Only this engine of the host (GPU series are always taken).")
@click.option("--from", "t_from", required=True, metavar="TIME", help="Window start: -15m, Unix seconds, ISO time.")
@click.option("--to", "t_to", default="now", show_default=True, metavar="TIME", help="Window end.")
@click.option("--name", default=None, help="Name of the new run (default ENGINE@INSTANCE or host@INSTANCE).")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def fleet_import(ctx: click.Context, instance: str, engine: str | None, t_from: str, t_to: str,
                 name: str | None, as_json: bool) -> None:
    """Import a window of one host (or engine) from Prometheus as a run of this journal."""
    from iejtui.client import ImportRequest, ServiceClient
    from iejtui.client import ensure_service
    paths = ctx.obj.paths
    now = time.time()
    t0, t1 = parse_time(t_from, now), parse_time(t_to, now)
    if not t1 > t0:
        raise UserError(f"empty window: --to must be after --from")
    if not paths.db.exists() and not paths.config.exists():
        raise UserError(f"{paths.root} is not a journal yet: run `iejtui init` there (or pass --journal DIR)")
    ensure_service(paths)
    res = ServiceClient(paths).import_window(ImportRequest(prometheus=ctx.meta["fleet_url"], instance=instance,
                                                     engine=engine, start=t0, end=t1, name=name), timeout=600)
    if as_json:
        emit_json(res)
        return
    click.echo(f"run {res['run_id']} ({res['name']}): {res['ticks']} ticks, {res['samples']} samples of "
               f"{instance} imported; `iejtui runs show {res['run_id']}`")


COMMANDS = [fleet]
