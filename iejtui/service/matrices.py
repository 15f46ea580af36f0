"""The service's grids: the API handlers (``iejtui.service.api.matrices``: start or
resume a matrix file, status, cancel) and the recovery's ``resume_matrices``. Each running
grid is a ``MatrixJob`` (``iejtui.service.matrix_job``) in ``service.matrices``."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from iejtui.errors import UserError
from iejtui.matrix import state as stm
from iejtui.matrix.estimate import Estimate, estimate_from_db
from iejtui.matrix.spec import MatrixSpec, spec_from_dict
from iejtui.matrix.state import progress_view
from iejtui.service.matrix_job import MatrixJob
from iejtui.store.vocab import RunKind, RunStatus

if TYPE_CHECKING:
    from iejtui.service.core import Service


def _latest_row(service: "Service", name: str | None) -> dict | None:
    rows = service.writer.latest_runs(RunKind.MATRIX, name)
    if not rows:
        return None
    row = dict(rows[0])
    row["facts"] = json.loads(row["facts"] or "{}")
    return row


async def _estimate(service: "Service", spec: MatrixSpec, todo: set[str]) -> Estimate:
    return await asyncio.to_thread(estimate_from_db, service.paths.db, spec, todo)


def _launch(service: "Service", run_id: int, spec: MatrixSpec, st: dict, est: Estimate) -> MatrixJob:
    job = MatrixJob(service, run_id, spec, st, est)
    service.matrices[spec.name] = job
    job.task = asyncio.create_task(job.run(), name=f"matrix-{spec.name}")
    return job


def running_job(service: "Service") -> MatrixJob | None:
    return next((j for j in getattr(service, "matrices", {}).values() if j.task and not j.task.done()), None)


async def start_matrix(service: "Service", data: dict[str, Any]) -> dict[str, Any]:
    """POST /v1/matrices: validate the file, then start it or resume its earlier run."""
    from iejtui.config import load_config
    from iejtui.matrix.hardware import describe
    from iejtui.matrix.parse import load_matrix
    if not isinstance(data.get("file"), str):
        raise UserError("give the matrix file: {\"file\": PATH}")
    service.config = load_config(service.paths.config)
    spec = await asyncio.to_thread(load_matrix, Path(data["file"]), service.config)
    busy = running_job(service)
    if busy is not None:
        if busy.spec.name == spec.name and not data.get("fresh"):
            return {**busy.public(), "attached": True}
        raise UserError(f"matrix {busy.spec.name!r} is running ({stm.counts(busy.state)['finished']}/"
                        f"{len(busy.state['order'])} cells): wait for it or `iejtui matrix cancel {busy.spec.name}`")
    if not any(not h.final and h.name.startswith(spec.name + ".") for h in service.engines.values()):
        from iejtui.service import procs
        from iejtui.service.core import _adapter
        adapter = _adapter(spec.kind)
        url = spec.url or adapter.default_url(adapter.build_argv(spec.base_argv))
        try:
            await asyncio.to_thread(procs.check_port_free, url)
        except UserError as exc:
            raise UserError(f"profile {spec.profile!r}: {exc} (every variant of the matrix listens there)") from None
    prev = await service.db(_latest_row, service, spec.name)
    hw = describe(service.gpus.static)
    if prev and not data.get("fresh") and prev["facts"].get("cells"):
        old_host = (prev["facts"].get("hardware") or {}).get("host")
        if old_host and old_host != hw["host"]:
            raise UserError(f"matrix {spec.name!r} was started on host {old_host}, this is {hw['host']}: "
                            "pass --fresh to run it here from the start")
        st = stm.merge(stm.reset_running(prev["facts"]), spec, retry_failed=bool(data.get("retry_failed")))
        st["resumes"] = st.get("resumes", 0) + 1
        stm.note(st, f"run again from {spec.path}: {stm.counts(st)['finished']} cells kept")
        run_id = prev["id"]
        await service.db(service.writer.update_run, run_id, status=RunStatus.RUNNING, ended_at=None, reason=None, facts=st)
    else:
        st = stm.new_state(spec, hardware=hw)
        stm.note(st, f"started from {spec.path}")
        run_id = await service.db(service.writer.create_run, kind=RunKind.MATRIX, name=spec.name, status=RunStatus.RUNNING,
                                  argv=["iejtui", "matrix", "run", spec.path], cwd=str(service.paths.root),
                                  versions=service._versions(), facts=st, tags=[f"matrix:{spec.name}"])
    todo = {k for k, c in st["cells"].items() if c["status"] == "pending"}
    est = await _estimate(service, spec, todo)
    job = _launch(service, run_id, spec, st, est)
    return job.public()


async def cancel_matrix(service: "Service", name: str | None) -> dict[str, Any]:
    from iejtui.service.bench import cancel_bench
    job = running_job(service)
    if job is None or (name and job.spec.name != name):
        raise UserError(f"no matrix {name + ' ' if name else ''}is running in this service")
    job.cancelled = True
    stm.note(job.state, "cancelled by the user")
    if job.bench is not None and job.bench.status == RunStatus.RUNNING:
        await cancel_bench(service, job.bench.run_id, f"matrix {job.spec.name} cancelled")
    return job.public()


async def matrix_status(service: "Service", name: str | None = None) -> list[dict[str, Any]]:
    """Progress of this service's matrices, or of the latest run of ``name`` from journal.db."""
    jobs = getattr(service, "matrices", {})
    if name:
        if name in jobs:
            return [jobs[name].public()]
        row = await service.db(_latest_row, service, name)
        if row is None:
            raise UserError(f"no matrix named {name!r} in this journal")
        return [progress_view(row["id"], row["facts"])]
    out = sorted((j.public() for j in jobs.values()), key=lambda p: p["state"] != "running")
    if not out:
        row = await service.db(_latest_row, service, None)
        out = [progress_view(row["id"], row["facts"])] if row else []
    return out


async def resume_matrices(service: "Service") -> None:
    """At service start: resume every matrix whose state is still ``running``."""
    rows = await service.db(service.writer.latest_runs, RunKind.MATRIX, None, 50)
    seen = set()
    for row in rows:
        if row["name"] in seen:
            continue
        seen.add(row["name"])
        st = json.loads(row["facts"] or "{}")
        if st.get("state") != "running" or running_job(service) is not None:
            continue
        spec = spec_from_dict(st["spec"])
        st = stm.reset_running(st)
        st["resumes"] = st.get("resumes", 0) + 1
        stm.note(st, "resumed after a service restart")
        await service.db(service.writer.update_run, row["id"], status=RunStatus.RUNNING, ended_at=None, reason=None, facts=st)
        await service.event(row["id"], "matrix", f"matrix {spec.name}: resumed after a service restart "
                                                 f"({stm.counts(st)['finished']}/{len(st['order'])} cells done)")
        todo = {k for k, c in st["cells"].items() if c["status"] == "pending"}
        _launch(service, row["id"], spec, st, await _estimate(service, spec, todo))
