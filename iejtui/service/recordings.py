"""Headless recordings (``iejtui record``): a ``record`` run marking a window of samples.

The service records GPUs and engines all the time; a recording is a named window of that
(with the engines it covered) that can be tagged into a day log and exported.
"""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING, Any

from iejtui.config import validate_name
from iejtui.errors import UserError
from iejtui.store.vocab import RunKind, RunStatus

if TYPE_CHECKING:
    from iejtui.service.core import Service


async def start_recording(service: "Service", spec: dict[str, Any]) -> dict[str, Any]:
    """A ``record`` run marking a window of GPU and engine samples (``iejtui record``)."""
    name = validate_name(spec.get("name") or "record", "recording name")
    duration = spec.get("duration")
    if duration is not None and (not isinstance(duration, (int, float)) or duration <= 0):
        raise UserError("duration must be a positive number of seconds")
    engines = [h.name for h in service.engines.values() if not h.final]
    run_id = await service.db(service.writer.create_run, kind=RunKind.RECORD, name=name, status=RunStatus.READY,
                           ready_at=time.time(), gpus=service.gpus.uuids(), versions=service._versions(),
                           facts={"engines": engines, "duration_s": duration})
    await service.event(run_id, "recording", f"{name}: recording GPUs and {', '.join(engines) or 'no engines'}")
    if duration:
        task = asyncio.create_task(_end_recording_later(service, run_id, float(duration)))
        service._tasks.append(task)
    return {"run_id": run_id, "name": name, "engines": engines}

async def _end_recording_later(service: "Service", run_id: int, delay: float) -> None:
    await asyncio.sleep(delay)
    await stop_recording(service, run_id)

async def stop_recording(service: "Service", run_id: int) -> dict[str, Any]:
    run = await service.db(service.writer.run_row, run_id)
    if run["kind"] != RunKind.RECORD or run["status"] != RunStatus.READY:
        raise UserError(f"run {run_id} is not an active recording")
    await service.db(service.writer.update_run, run_id, status=RunStatus.STOPPED, ended_at=time.time())
    await service.event(run_id, "stopped", f"{run['name']}: recording ended")
    return {"run_id": run_id, "status": "stopped"}

