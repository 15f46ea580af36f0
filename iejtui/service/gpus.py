"""The service side of GPU sampling: NVML on its own thread, frames into the host run.

GPU samples belong to the machine, not to one engine, so the service records them once,
under a ``record`` run that spans the service's lifetime (``gpu@HOST``). Engine runs
read the GPU series of that run over their own time window (energy, J/token, peaks).
"""

from __future__ import annotations

import asyncio
import socket
import time
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any, Mapping

import psutil
from iejtui.store.vocab import RunKind, RunStatus

if TYPE_CHECKING:
    from iejtui.service.context import ServiceContext
    from iejtui.service.engines import EngineHandle


class GpuSampler:
    def __init__(self, ctx: "ServiceContext", engines: Mapping[str, "EngineHandle"], backend=None):
        self.ctx = ctx
        self.engines = engines  # the supervisor's table: a GPU process maps to an engine run
        self.backend = backend
        self.collector = None
        self.available = False
        self.run_id: int | None = None
        self.static: list[dict[str, Any]] = []
        self.latest: dict[str, dict[str, float]] = {}
        self.latest_ts: float | None = None
        self.latest_frames: dict[str, Any] = {}  # newest frame per gpu:<uuid>[:slow] source (metrics endpoint)
        self.reason: str | None = None
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="iejtui-nvml")
        self._busy = False

    async def _nvml(self, fn, *args):
        return await asyncio.get_running_loop().run_in_executor(self._pool, fn, *args)

    async def open(self) -> None:
        try:
            from collectors.gpu import GpuCollector
        except ImportError as exc:  # the collector module is optional at this stage
            self.reason = f"GPU collector unavailable: {exc}"
            return
        self.collector = GpuCollector(self.backend or _backend_from_env())
        events = await self._nvml(self.collector.open)
        self.available = bool(getattr(self.collector, "available", False))
        for ev in events:
            await self.ctx.db(self.ctx.writer.add_event, None, ev)
            if not self.available:
                self.reason = ev.message
        if not self.available and self.backend is None:
            await self._try_amd()
        if not self.available:
            self.reason = self.reason or "NVML not available"
            return
        self.static = await self._nvml(self.collector.static_info)
        host = socket.gethostname()
        self.run_id = await self.ctx.db(
            self.ctx.writer.create_run, kind=RunKind.RECORD, name=f"gpu@{host}", status=RunStatus.READY,
            ready_at=time.time(), gpus=self.uuids(), versions=self.versions(),
            facts={"gpus": self.static})

    async def _try_amd(self) -> None:
        """No NVIDIA driver: AMD GPUs through amdsmi when it is installed (with ROCm), the
        same canonical rows (``collectors.gpu_amd``; untested on real AMD hardware)."""
        import importlib.util
        if importlib.util.find_spec("amdsmi") is None:
            return
        from collectors.gpu_amd import AmdGpuCollector
        amd = AmdGpuCollector()
        events = await self._nvml(amd.open)
        for ev in events:
            await self.ctx.db(self.ctx.writer.add_event, None, ev)
        if amd.available:
            await self._nvml(self.collector.close)
            self.collector, self.available, self.reason = amd, True, None

    def uuids(self) -> list[str]:
        return [g.get("uuid") for g in self.static]

    def versions(self) -> dict[str, Any]:
        if not self.static:
            return {}
        g = self.static[0]
        return {k: g.get(src) for k, src in (("driver", "driver"), ("cuda", "cuda_driver_version"),
                                             ("gpu", "name")) if g.get(src) is not None} | {"gpu_count": len(self.static)}

    async def tick(self) -> None:
        if not self.available or self._busy:
            return
        self._busy = True
        try:
            frames, events = await self._nvml(self.collector.tick, time.time())
        finally:
            self._busy = False
        for f in frames:
            if f.source.startswith("gpu:") and f.source.count(":") <= 2:
                self.latest_frames[f.source] = f
            if f.source.startswith("gpu:") and f.source.count(":") == 1:
                uuid = f.source.split(":", 1)[1]
                self.latest.setdefault(uuid, {}).update({s.name: s.value for s in f.samples})
                self.latest_ts = f.ts
        if frames:
            await self.ctx.db(self.ctx.writer.add_frames, self.run_id, frames)
        for ev in events:
            await self.ctx.db(self.ctx.writer.add_event, self.run_id, ev)

    def status(self) -> list[dict[str, Any]] | dict[str, Any]:
        if not self.available:
            return {"available": False, "reason": self.reason}
        procs = self.collector.processes() if self.collector else {}
        out = []
        for g in self.static:
            uuid = g.get("uuid")
            entry = dict(g)
            entry["latest"] = self.latest.get(uuid, {})
            entry["latest_ts"] = self.latest_ts
            entry["processes"] = [self._match(pid, used) for pid, used in procs.get(uuid, [])]
            out.append(entry)
        return out

    def _match(self, pid: int, used: int | None) -> dict[str, Any]:
        """Map a GPU process (host pid) to an engine run through its process group."""
        for h in self.engines.values():
            if h.pid and not h.final:
                try:
                    import os
                    if os.getpgid(pid) == h.pid.pgid:
                        return {"pid": pid, "used_bytes": used, "engine": h.name, "run_id": h.run_id}
                except (ProcessLookupError, PermissionError):
                    break
        note = None if psutil.pid_exists(pid) else "pid not visible here (container PID namespace?)"
        return {"pid": pid, "used_bytes": used, "engine": None, "run_id": None, "note": note}

    async def close(self) -> None:
        if self.run_id is not None:
            await self.ctx.db(self.ctx.writer.update_run, self.run_id, status=RunStatus.STOPPED, ended_at=time.time())
        if self.collector is not None:
            await self._nvml(self.collector.close)
        self._pool.shutdown(wait=False)


def _backend_from_env():
    """IEJTUI_NVML_REPLAY=path serves a recorded NVML trace instead of the driver (tests, demos)."""
    import os
    path = os.environ.get("IEJTUI_NVML_REPLAY")
    if not path:
        return None
    from collectors.gpu import ReplayNvml
    return ReplayNvml(path, rebase_to=time.time())
