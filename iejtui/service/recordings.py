"""Headless recordings (``iejtui record``): a ``record`` run marking a window of samples.

The service records GPUs and engines all the time; a recording is a named window of that
(with the engines it covered) that can be tagged into a day log and exported.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from iejtui.config import validate_name
from iejtui.errors import UserError
from iejtui.service.context import ServiceContext
from iejtui.service.supervisor import EngineSupervisor
from iejtui.store.vocab import RunKind, RunStatus


class Recordings:
    def __init__(self, ctx: ServiceContext, supervisor: EngineSupervisor):
        self.ctx, self.supervisor = ctx, supervisor

    async def start(self, spec: dict[str, Any]) -> dict[str, Any]:
        """A ``record`` run marking a window of GPU and engine samples (``iejtui record``)."""
        ctx = self.ctx
        name = validate_name(spec.get("name") or "record", "recording name")
        duration = spec.get("duration")
        if duration is not None and (not isinstance(duration, (int, float)) or duration <= 0):
            raise UserError("duration must be a positive number of seconds")
        engines = [h.name for h in self.supervisor.running()]
        run_id = await ctx.db(ctx.writer.create_run, kind=RunKind.RECORD, name=name, status=RunStatus.READY,
                              ready_at=time.time(), gpus=ctx.gpu_uuids(), versions=ctx.versions(),
                              facts={"engines": engines, "duration_s": duration})
        await ctx.event(run_id, "recording", f"{name}: recording GPUs and {', '.join(engines) or 'no engines'}")
        if duration:
            ctx.add_task(asyncio.create_task(self._end_later(run_id, float(duration))))
        return {"run_id": run_id, "name": name, "engines": engines}

    async def _end_later(self, run_id: int, delay: float) -> None:
        await asyncio.sleep(delay)
        await self.stop(run_id)

    async def stop(self, run_id: int) -> dict[str, Any]:
        ctx = self.ctx
        run = await ctx.db(ctx.writer.run_row, run_id)
        if run["kind"] != RunKind.RECORD or run["status"] != RunStatus.READY:
            raise UserError(f"run {run_id} is not an active recording")
        await ctx.db(ctx.writer.update_run, run_id, status=RunStatus.STOPPED, ended_at=time.time())
        await ctx.event(run_id, "stopped", f"{run['name']}: recording ended")
        return {"run_id": run_id, "status": "stopped"}
