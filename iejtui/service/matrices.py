"""The service's grids: ``MatrixRunner`` starts or resumes a matrix file, cancels it and
reports progress (the API's ``/matrices``), and resumes at recovery every matrix still
``running``. Each running grid is a ``MatrixJob`` (``iejtui.service.matrix_job``) in
``MatrixRunner.jobs``."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

from iejtui.errors import UserError
from iejtui.matrix import state as stm
from iejtui.matrix.estimate import Estimate, estimate_from_db
from iejtui.matrix.spec import MatrixSpec, spec_from_dict
from iejtui.matrix.state import progress_view
from iejtui.service.bench import BenchRunner
from iejtui.service.context import ServiceContext
from iejtui.service.matrix_job import MatrixJob
from iejtui.service.supervisor import EngineSupervisor
from iejtui.store.vocab import RunKind, RunStatus


def _latest_row(writer, name: str | None) -> dict | None:
    rows = writer.latest_runs(RunKind.MATRIX, name)
    if not rows:
        return None
    row = dict(rows[0])
    row["facts"] = json.loads(row["facts"] or "{}")
    return row


class MatrixRunner:
    def __init__(self, ctx: ServiceContext, supervisor: EngineSupervisor, benches: BenchRunner):
        self.ctx, self.supervisor, self.benches = ctx, supervisor, benches
        self.jobs: dict[str, MatrixJob] = {}  # matrix name -> its job (running or finished)

    async def _estimate(self, spec: MatrixSpec, todo: set[str]) -> Estimate:
        return await asyncio.to_thread(estimate_from_db, self.ctx.paths.db, spec, todo)

    def _launch(self, run_id: int, spec: MatrixSpec, st: dict, est: Estimate) -> MatrixJob:
        job = MatrixJob(self.ctx, self.supervisor, self.benches, run_id, spec, st, est)
        self.jobs[spec.name] = job
        job.task = asyncio.create_task(job.run(), name=f"matrix-{spec.name}")
        return job

    def running_job(self) -> MatrixJob | None:
        return next((j for j in self.jobs.values() if j.task and not j.task.done()), None)

    async def start(self, data: dict[str, Any]) -> dict[str, Any]:
        """POST /v1/matrices: validate the file, then start it or resume its earlier run."""
        from iejtui.config import load_config
        from iejtui.matrix.hardware import describe
        from iejtui.matrix.parse import load_matrix
        ctx = self.ctx
        if not isinstance(data.get("file"), str):
            raise UserError("give the matrix file: {\"file\": PATH}")
        ctx.config = load_config(ctx.paths.config)
        spec = await asyncio.to_thread(load_matrix, Path(data["file"]), ctx.config)
        busy = self.running_job()
        if busy is not None:
            if busy.spec.name == spec.name and not data.get("fresh"):
                return {**busy.public(), "attached": True}
            raise UserError(f"matrix {busy.spec.name!r} is running ({stm.counts(busy.state)['finished']}/"
                            f"{len(busy.state['order'])} cells): wait for it or `iejtui matrix cancel {busy.spec.name}`")
        if not any(h.name.startswith(spec.name + ".") for h in self.supervisor.running()):
            from iejtui.service import procs
            from iejtui.service.engines import adapter_for
            adapter = adapter_for(spec.kind)
            url = spec.url or adapter.default_url(adapter.build_argv(spec.base_argv))
            try:
                await asyncio.to_thread(procs.check_port_free, url)
            except UserError as exc:
                raise UserError(f"profile {spec.profile!r}: {exc} (every variant of the matrix listens there)") from None
        prev = await ctx.db(_latest_row, ctx.writer, spec.name)
        hw = describe(ctx.gpus.static)
        if prev and not data.get("fresh") and prev["facts"].get("cells"):
            old_host = (prev["facts"].get("hardware") or {}).get("host")
            if old_host and old_host != hw["host"]:
                raise UserError(f"matrix {spec.name!r} was started on host {old_host}, this is {hw['host']}: "
                                "pass --fresh to run it here from the start")
            st = stm.merge(stm.reset_running(prev["facts"]), spec, retry_failed=bool(data.get("retry_failed")))
            st["resumes"] = st.get("resumes", 0) + 1
            stm.note(st, f"run again from {spec.path}: {stm.counts(st)['finished']} cells kept")
            run_id = prev["id"]
            await ctx.db(ctx.writer.update_run, run_id, status=RunStatus.RUNNING, ended_at=None, reason=None, facts=st)
        else:
            st = stm.new_state(spec, hardware=hw)
            stm.note(st, f"started from {spec.path}")
            run_id = await ctx.db(ctx.writer.create_run, kind=RunKind.MATRIX, name=spec.name, status=RunStatus.RUNNING,
                                  argv=["iejtui", "matrix", "run", spec.path], cwd=str(ctx.paths.root),
                                  versions=ctx.versions(), facts=st, tags=[f"matrix:{spec.name}"])
        todo = {k for k, c in st["cells"].items() if c["status"] == "pending"}
        est = await self._estimate(spec, todo)
        job = self._launch(run_id, spec, st, est)
        return job.public()

    async def cancel(self, name: str | None) -> dict[str, Any]:
        job = self.running_job()
        if job is None or (name and job.spec.name != name):
            raise UserError(f"no matrix {name + ' ' if name else ''}is running in this service")
        job.cancelled = True
        stm.note(job.state, "cancelled by the user")
        if job.bench is not None and job.bench.status == RunStatus.RUNNING:
            await self.benches.cancel(job.bench.run_id, f"matrix {job.spec.name} cancelled")
        return job.public()

    async def status(self, name: str | None = None) -> list[dict[str, Any]]:
        """Progress of this service's matrices, or of the latest run of ``name`` from journal.db."""
        ctx, jobs = self.ctx, self.jobs
        if name:
            if name in jobs:
                return [jobs[name].public()]
            row = await ctx.db(_latest_row, ctx.writer, name)
            if row is None:
                raise UserError(f"no matrix named {name!r} in this journal")
            return [progress_view(row["id"], row["facts"])]
        out = sorted((j.public() for j in jobs.values()), key=lambda p: p["state"] != "running")
        if not out:
            row = await ctx.db(_latest_row, ctx.writer, None)
            out = [progress_view(row["id"], row["facts"])] if row else []
        return out

    async def resume(self) -> None:
        """At service start: resume every matrix whose state is still ``running``."""
        ctx = self.ctx
        rows = await ctx.db(ctx.writer.latest_runs, RunKind.MATRIX, None, 50)
        seen = set()
        for row in rows:
            if row["name"] in seen:
                continue
            seen.add(row["name"])
            st = json.loads(row["facts"] or "{}")
            if st.get("state") != "running" or self.running_job() is not None:
                continue
            spec = spec_from_dict(st["spec"])
            st = stm.reset_running(st)
            st["resumes"] = st.get("resumes", 0) + 1
            stm.note(st, "resumed after a service restart")
            await ctx.db(ctx.writer.update_run, row["id"], status=RunStatus.RUNNING, ended_at=None, reason=None, facts=st)
            await ctx.event(row["id"], "matrix", f"matrix {spec.name}: resumed after a service restart "
                                                 f"({stm.counts(st)['finished']}/{len(st['order'])} cells done)")
            todo = {k for k, c in st["cells"].items() if c["status"] == "pending"}
            self._launch(row["id"], spec, st, await self._estimate(spec, todo))
