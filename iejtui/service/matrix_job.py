"""The matrix job the service owns: variants × workloads × load points × repetitions.

For each variant (file order) the job starts its engine (the profile's argv + the
variant's args, env merged), waits until it is ready, runs its pending cells as bench
jobs (``iejtui.service.bench``), stops it and goes on. An engine that fails to start or
dies mid-grid marks its variant failed (with the reason) and its remaining cells skipped;
the grid goes on. The state (``iejtui.matrix.state``) is written to the matrix run row's
``facts`` after every change; a service that starts again resumes every matrix still
``running`` (``MatrixRunner.resume``, at recovery), re-using an engine
of the current variant that it re-adopted and stopping re-adopted engines of variants with
nothing left to run (they hold the port the next variant needs). ``benchmarks/NAME/`` is
rewritten after each variant and at the end.

Starting, resuming, cancelling and reading grids: ``iejtui.service.matrices``; the job
drives engines through the supervisor and cells through the bench runner; the
progress dict is ``iejtui.matrix.state.progress_view``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from iejtui.errors import UserError
from iejtui.matrix import state as stm
from iejtui.matrix.estimate import Estimate
from iejtui.matrix.spec import MatrixSpec
from iejtui.matrix.state import progress_view
from iejtui.service import procs
from iejtui.store.vocab import RunStatus

if TYPE_CHECKING:
    from iejtui.service.bench import BenchRunner
    from iejtui.service.context import ServiceContext
    from iejtui.service.supervisor import EngineSupervisor

log = logging.getLogger("iejtui.service.matrix")
POLL_S = 0.25
REPORT_S = 120.0


class MatrixJob:
    def __init__(self, ctx: "ServiceContext", supervisor: "EngineSupervisor", benches: "BenchRunner",
                 run_id: int, spec: MatrixSpec, state: dict[str, Any], est: Estimate):
        self.ctx, self.supervisor, self.benches = ctx, supervisor, benches
        self.run_id, self.spec, self.state, self.est = run_id, spec, state, est
        self.cells = {c.key: c for c in spec.cells()}
        self.current: dict[str, Any] = {}
        self.bench = self.engine = self.task = None
        self.cancelled = False
        self.reported = time.monotonic()  # no report before REPORT_S of work (tiny grids: at the end only)

    def public(self) -> dict[str, Any]:
        cur = dict(self.current)
        if self.engine is not None:
            cur.update(engine_status=self.engine.status, engine_phase=self.engine.phase, engine_run=self.engine.run_id)
        if self.bench is not None:
            cur.update(bench_run=self.bench.run_id, bench_status=self.bench.status,
                       bench_progress={k: v for k, v in self.bench.progress.items() if k != "clock"})
        view = progress_view(self.run_id, self.state, self.est, cur)
        if self.task is not None and not self.task.done() and view["state"] != "running":
            view.update(state="running", current={"phase": "writing results"})  # final once the report is out
        return view

    # ---- plumbing ----------------------------------------------------------------------
    def _stopping(self) -> bool:  # the service is shutting down: leave the state as it is
        return self.ctx.stopping.is_set()

    async def _save(self, **fields: Any) -> None:
        self.state["updated_at"] = time.time()
        with contextlib.suppress(RuntimeError):  # the writer is closing with the service: the last state stands
            await self.ctx.db(self.ctx.writer.update_run, self.run_id, facts=self.state, **fields)

    async def _event(self, message: str, level: str = "info", run_id: int | None = None) -> None:
        with contextlib.suppress(RuntimeError):
            await self.ctx.event(run_id or self.run_id, "matrix", f"matrix {self.spec.name}: {message}", level)

    async def _report(self, final: bool = False) -> None:
        """benchmarks/NAME/ again: at the end, and between variants at most every REPORT_S."""
        from iejtui.matrix.entry import config_cost, write_entry
        from iejtui.store import Reader
        s = self.ctx
        if not final and time.monotonic() - self.reported < REPORT_S:
            return
        self.reported = time.monotonic()
        self.current = {"variant": self.current.get("variant"), "phase": "writing results"}

        def write() -> Path:
            reader = Reader(s.paths.db)
            try:
                return write_entry(s.paths.root, reader, reader.run(self.run_id), config_cost(s.config))
            finally:
                reader.close()
        try:
            await s.db(s.writer.flush)
            await asyncio.to_thread(write)
        except Exception as exc:  # noqa: BLE001 - a report error must not stop the grid
            log.exception("matrix report")
            await self._event(f"could not write benchmarks/{self.spec.name}: {type(exc).__name__}: {exc}", "warning")

    # ---- the grid ----------------------------------------------------------------------
    async def run(self) -> None:
        while not self.ctx.loops_started.is_set() and not self._stopping():  # resumed during _recover: wait for the loops
            await asyncio.sleep(0.1)
        try:
            c = stm.counts(self.state)
            await self._event(f"{c['total'] - c['finished']} of {c['total']} cells to run, "
                              f"about {self.est.total_s / 60:.0f} min")
            while not self.cancelled and not self._stopping() and (v := stm.next_variant(self.state)):
                await self._variant(v)
            if self._stopping():
                return  # the state stays "running": the next service resumes it
            await self._finish("cancelled" if self.cancelled else "done")
        except asyncio.CancelledError:
            return
        except Exception as exc:  # noqa: BLE001 - a job's failure must not take the service down
            log.exception("matrix %s", self.spec.name)
            if not self._stopping():
                await self._finish("failed", f"{type(exc).__name__}: {exc}")

    async def _finish(self, final: str, reason: str | None = None) -> None:
        await self._stop_strays()
        now = time.time()
        self.state.update(state=final, ended_at=now, reason=reason or ("cancelled by the user" if final == "cancelled"
                                                                       else None))
        self.current = {}
        c = stm.counts(self.state)
        status = {"done": "stopped", "cancelled": "interrupted", "failed": "failed"}[final]
        await self._save(status=status, ended_at=now, reason=self.state["reason"], summary=c)
        await self._report(final=True)
        await self._event(f"{final}: {c['done']} cells measured, {c['failed']} failed, {c['skipped']} skipped, "
                          f"{c['pending']} not run; results in benchmarks/{self.spec.name}/",
                          "info" if final == "done" else "warning")

    async def _stop_strays(self, keep: str | None = None) -> None:
        """Stop the engines of this grid's other variants that are still up. Only a restart
        leaves one: the service was killed after a variant's last cell and before the job
        stopped its engine (or while it was stopping); re-adopted, it would hold the port
        and the memory the next variant needs."""
        names = {self.spec.engine_name(v) for v in self.state["variants"] if v != keep}
        for h in list(self.supervisor.engines.values()):
            if h.final or h.name not in names:
                continue
            await self._event(f"engine {h.name} (r{h.run_id}) outlived a service restart with no cells "
                              "left to run: stopping it")
            h.stop_timeout = self.spec.stop_timeout  # a re-adopted handle does not know the profile's
            with contextlib.suppress(UserError):
                await self.supervisor.stop_engine(h.name)

    async def _variant(self, v: str) -> None:
        await self._stop_strays(keep=v)
        vs = self.state["variants"][v]
        vs.update(status="starting", starting_at=time.time())
        self.current = {"variant": v, "engine": self.spec.engine_name(v), "phase": "engine starting"}
        await self._save()
        h, why = await self._start_engine(v)
        if h is None:
            self.engine = None
            if self._stopping():
                return
            if self.cancelled:
                vs["status"] = "pending"
                await self._stop_engine(v)
                await self._save()
                return
            n = stm.fail_variant(self.state, v, why)
            stm.note(self.state, f"variant {v} failed: {why}")
            await self._save()
            await self._event(f"variant {v} failed ({why}); {n} cells skipped, the grid goes on", "error")
            await self._report()
            return
        vs.update(status="running", facts=dict(h.facts))
        await self._save()
        for key in stm.cells_of(self.state, v, "pending"):
            if self.cancelled or self._stopping():
                break
            outcome = await self._cell(key, h)
            if outcome == "stopping":
                return
            if outcome == "engine":
                why = await self._engine_reason(h)
                n = stm.fail_variant(self.state, v, f"engine {h.status} during {key}: {why}")
                await self._save()
                await self._event(f"variant {v}: engine {h.status} during {key} ({why}); {n} cells skipped", "error")
                break
        if self._stopping():
            return
        self.current = {"variant": v, "engine": self.spec.engine_name(v), "phase": "stopping the engine"}
        await self._stop_engine(v)
        self.engine = None
        if vs["status"] != RunStatus.FAILED:
            vs["status"] = "pending" if stm.cells_of(self.state, v, "pending") else "done"
        await self._save()
        await self._report()

    async def _engine_reason(self, h) -> str:
        with contextlib.suppress(RuntimeError):
            return (await self.ctx.db(self.ctx.writer.run_row, h.run_id)).get("reason") or h.status
        return h.status

    async def _start_engine(self, v: str):
        s, vs = self.ctx, self.state["variants"][v]
        name = self.spec.engine_name(v)
        h = self.supervisor.engines.get(name)
        if h is not None and not h.final:
            if h.run_id == vs.get("engine_run"):
                stm.note(self.state, f"variant {v}: re-using its engine r{h.run_id} (adopted after a restart)")
            else:
                await self._stop_engine(v)
                h = None
        if h is None or h.final:
            try:
                await self.supervisor.start_engine({"name": name, "kind": self.spec.kind, "argv": self.spec.engine_argv(v),
                                      "url": self.spec.url, "env": self.spec.engine_env(v)})
            except UserError as exc:
                return None, str(exc)
            h = self.supervisor.engines[name]
            h.ready_timeout, h.stop_timeout = self.spec.ready_timeout, self.spec.stop_timeout
            vs["engine_run"] = h.run_id
            vs.setdefault("engine_runs", []).append(h.run_id)
            await s.db(s.writer.update_run, h.run_id, tags=[f"matrix:{self.spec.name}", f"variant:{v}"])
            await self._save()
        self.engine = h
        while h.status != RunStatus.READY:
            if h.final:
                return None, await self._engine_reason(h)
            if self.cancelled or self._stopping():
                return None, "cancelled"
            await asyncio.sleep(POLL_S)
        if vs.get("start_s") is None:
            row = await s.db(s.writer.run_row, h.run_id)
            if row.get("ready_at"):
                vs["start_s"] = row["ready_at"] - row["started_at"]
        return h, None

    async def _stop_engine(self, v: str) -> None:
        h = self.supervisor.engines.get(self.spec.engine_name(v))
        if h is not None and not h.final:
            with contextlib.suppress(UserError):
                await self.supervisor.stop_engine(h.name)

    async def _cell(self, key: str, h) -> str:
        s, cell = self.ctx, self.cells[key]
        stm.mark_cell(self.state, key, "running", run_id=None, reason=None)
        self.current.update(phase="benchmark", cell=key, workload=cell.workload, load=cell.load.label, rep=cell.rep)
        await self._save()
        try:
            job = await self.benches.start({"engine": h.name, "argv": self.spec.bench_argv(cell),
                                        "name": f"{self.spec.name}.{key.replace('/', '.')}", "cwd": str(s.paths.root)})
        except UserError as exc:
            if h.final:
                stm.mark_cell(self.state, key, "pending")
                return "engine"
            stm.mark_cell(self.state, key, "failed", reason=str(exc))
            await self._save()
            return "failed"
        self.bench = job
        self.state["cells"][key]["run_id"] = job.run_id
        await s.db(s.writer.update_run, job.run_id, tags=[f"matrix:{self.spec.name}"],
                   facts={"matrix": self.spec.name, "matrix_run": self.run_id, "cell": key, "variant": cell.variant,
                          "workload": cell.workload, "load": cell.load.label, "rep": cell.rep})
        await self._save()
        await asyncio.wait([job.task])
        self.bench = None
        if self._stopping():
            return "stopping"
        if (job.result or {}).get("failed") and h.pid is not None:  # failures: is the engine still there?
            for _ in range(40):
                if h.final or (procs.alive(h.pid.pid, h.pid.create_time) and procs.read_exit(h.pid) is None):
                    break
                await asyncio.sleep(POLL_S)
        if self.cancelled and job.status == RunStatus.INTERRUPTED:
            stm.mark_cell(self.state, key, "pending")
            await self._save()
            return "cancelled"
        if h.final:
            stm.mark_cell(self.state, key, "failed", reason=job.reason or f"engine {h.status}")
            await self._save()
            return "engine"
        res = job.result or {}
        if job.status == RunStatus.STOPPED and res.get("completed"):
            stm.mark_cell(self.state, key, "done")
        else:
            first = await s.db(s.writer.first_request_error, job.run_id)
            why = job.reason or f"no request completed ({res.get('failed', '?')} failed)"
            stm.mark_cell(self.state, key, "failed", reason=why + (f": {first}" if first else ""))
            await self._event(f"cell {key} failed: {self.state['cells'][key]['reason']}", "warning", job.run_id)
        await self._save()
        return self.state["cells"][key]["status"]
