"""What the service does when it starts again: re-adopt engines still alive (pidfiles and
process start times), mark the rest of the unfinished runs, resume unfinished matrices.

It runs once, from ``Service.start``, before the loops: re-adopted engines go into the
supervisor's table (``EngineSupervisor.adopt``), runs whose engine is gone end through
``EngineSupervisor.finish``, matrices go on through ``MatrixRunner.resume``."""

from __future__ import annotations

import json
import time
from pathlib import Path
from iejtui.logs import load_fingerprints
from iejtui.service import procs
from iejtui.service.context import ServiceContext
from iejtui.service.engines import EngineHandle
from iejtui.service.matrices import MatrixRunner
from iejtui.service.supervisor import EngineSupervisor
from iejtui.store.vocab import RunKind, RunStatus


async def recover(ctx: ServiceContext, supervisor: EngineSupervisor, matrices: MatrixRunner) -> None:
    """Re-adopt engines still alive, mark the rest of the unfinished runs."""
    recs = {r.run_id: r for r in procs.PidRecord.load_all(ctx.paths.pids)}
    open_runs = await ctx.db(ctx.writer.live_runs)
    for run in open_runs:
        rid = run["id"]
        rec = recs.pop(rid, None)
        if run["kind"] == RunKind.ENGINE and run["owned"] and rec is not None:
            await _recover_owned(ctx, supervisor, run, rec)
        elif run["kind"] == RunKind.ENGINE and not run["owned"] and "***" in (run["url"] or ""):
            # its URL's credentials were kept in memory only (journal.db has them masked)
            reason = "its URL carried credentials that iejtui does not store: attach it again"
            await ctx.db(ctx.writer.update_run, rid, status=RunStatus.INTERRUPTED, ended_at=time.time(), reason=reason)
            await ctx.event(rid, "interrupted", f"{run['name']}: service restarted; {reason}", "warning")
        elif run["kind"] == RunKind.ENGINE and not run["owned"]:
            h = EngineHandle(rid, run["name"], run["engine_kind"], run["url"], owned=False,
                             status=RunStatus.STARTING, phase="attaching", started_at=run["started_at"],
                             facts=json.loads(run["facts"] or "{}"), resumed=True)
            supervisor.adopt(h)
            await ctx.event(rid, "attached", f"{h.name}: watching {h.url} again after a service restart")
        else:
            await ctx.db(ctx.writer.update_run, rid, status=RunStatus.INTERRUPTED, ended_at=time.time(),
                         reason="the service stopped while this run was active")
            await ctx.event(rid, "interrupted", f"{run['name']}: interrupted (service restarted)", "warning")
    for rec in recs.values():  # pidfiles of runs already final
        (ctx.paths.pids / f"{rec.run_id}.json").unlink(missing_ok=True)
    await matrices.resume()  # a grid that was running goes on


async def _recover_owned(ctx: ServiceContext, supervisor: EngineSupervisor, run: dict, rec: procs.PidRecord) -> None:
    rid = run["id"]
    h = EngineHandle(rid, run["name"], run["engine_kind"], run["url"], owned=True,
                     status=run["status"], phase=run["phase"] or "launching", pid=rec,
                     started_at=run["started_at"], facts=json.loads(run["facts"] or "{}"),
                     fingerprints=load_fingerprints(ctx.paths, rid))
    try:  # what the adapter learns from the launch argv (Triton's metrics port, llama.cpp's KV layout)
        h.adapter.default_url(json.loads(run["argv"] or "[]"))
    except (ValueError, TypeError):
        pass
    if procs.engine_is_ours(rec):
        try:
            size = Path(rec.log_path).stat().st_size
            with open(rec.log_path, "rb") as f:
                start = max(0, size - 65536)
                f.seek(start)
                lines = f.read(size - start).decode("utf-8", "replace").splitlines()
                for line in lines[1:] if start else lines:  # (past a cut, the first is partial)
                    h.log_lines.append(h.mask(line))
            h.log_offset = size
        except OSError:
            pass
        supervisor.adopt(h)
        await ctx.event(rid, "adopted", f"{h.name}: re-adopted running engine (pid {rec.pid}) after a service restart")
        return
    ex = procs.read_exit(rec)
    supervisor.adopt(h)
    if ex is None and not procs.group_is_ours(rec) and procs.group_alive(rec.pgid):
        # a reboot or pid reuse: the pids of the record now belong to strangers
        await supervisor.finish(h, None, "engine gone while the service was down; its pidfile is stale "
                                f"(pid {rec.pgid} is now another process: nothing signalled)",
                                status=RunStatus.INTERRUPTED)
    elif ex is not None:
        await supervisor.finish(h, ex.get("code"), f"exited with code {ex.get('code')} while the service was down")
    else:
        await supervisor.finish(h, None, "engine gone while the service was down; exit status unknown",
                                status=RunStatus.INTERRUPTED)

