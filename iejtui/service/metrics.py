"""The service's Prometheus endpoint (``service start --metrics-listen ADDR:PORT``).

Off by default. A TCP listener serving only ``GET /metrics``: per GPU the NVML/GPM
figures under DCGM field names, per engine the canonical figures, the active runs as
``iejtui_run_info`` labels (see ``iejtui.fleet.names``). Nothing secret is exported: no
argv, environment, URLs or paths (a model path label is reduced to its last component,
secret shapes are masked: ``iejtui.fleet.exposition.label_value``). The endpoint has no
authentication (README says so): loopback unless an address is given.
"""

from __future__ import annotations

import ipaddress
import socket
import time
from typing import TYPE_CHECKING, Any

from aiohttp import web

from iejtui import __version__
from iejtui.errors import UserError
from iejtui.store.vocab import RunStatus

if TYPE_CHECKING:
    from iejtui.service.core import Service

RUN_INFO_TTL_S = 5.0


def parse_listen(text: str) -> tuple[str, int]:
    """``PORT``, ``:PORT``, ``HOST:PORT`` or ``[IPv6]:PORT`` -> (host, port); loopback by default."""
    raw = (text or "").strip()
    host, _, port = raw.rpartition(":") if ":" in raw else ("", "", raw)
    host = host.strip("[]") or "127.0.0.1"
    try:
        p = int(port)
    except ValueError:
        p = -1
    if not 0 < p < 65536:
        raise UserError(f"invalid --metrics-listen {text!r}: give PORT or ADDR:PORT, e.g. 127.0.0.1:9464")
    try:
        ipaddress.ip_address(host)
    except ValueError:
        if not host.replace("-", "").replace(".", "").isalnum():
            raise UserError(f"invalid --metrics-listen {text!r}: {host!r} is not an address or host name") from None
    return host, p


class MetricsExporter:
    def __init__(self, service: "Service"):
        self.service = service
        self.hostname = socket.gethostname()
        self._runs: dict[int, dict[str, Any]] = {}
        self._runs_at = 0.0

    async def _run_rows(self, ids: list[int]) -> dict[int, dict[str, Any]]:
        """Run rows (name, status, tags...) of the active runs, re-read every few seconds."""
        now = time.monotonic()
        if now - self._runs_at > RUN_INFO_TTL_S or any(i not in self._runs for i in ids):
            from iejtui.store.queries import decode_run

            def read():
                return {i: decode_run(self.service.writer.run_row(i)) for i in ids}
            self._runs = await self.service.db(read)
            self._runs_at = now
        return self._runs

    async def families(self) -> list:
        from iejtui.derive.metric_map import metric_map_for
        from iejtui.fleet import exposition as X
        svc = self.service
        engines = [h for h in svc.engines.values() if not h.final]
        gpus = []
        for g in svc.gpus.static:
            uuid = g.get("uuid")
            fast = svc.gpus.latest_frames.get(f"gpu:{uuid}")
            if fast is None:
                continue
            values = {s.name: s.value for s in fast.samples}
            ts_of = {}
            slow = svc.gpus.latest_frames.get(f"gpu:{uuid}:slow")
            if slow is not None:
                for s in slow.samples:
                    if not s.labels or dict(s.labels).keys() <= {"uuid"}:
                        values.setdefault(s.name, s.value)
                        ts_of[s.name] = slow.ts
            gpus.append({"static": g, "values": values, "ts": fast.ts, "ts_of": ts_of})
        eng = [{"name": h.name, "kind": h.kind, "run_id": h.run_id, "mmap": metric_map_for(h.kind),
                "get": X.frames_getter(h.latest_frames.values())} for h in engines if h.latest_frames]
        active = [h.run_id for h in engines]
        if svc.gpus.run_id is not None:
            active.append(svc.gpus.run_id)
        active += [j.run_id for j in svc.benches.values() if j.status == RunStatus.RUNNING]
        rows = await self._run_rows(active)
        runs = []
        for h in engines:
            r = rows.get(h.run_id) or {}
            runs.append({"id": h.run_id, "name": h.name, "kind": "engine", "status": h.status, "tags": r.get("tags"),
                         "engine_name": h.name, "engine_kind": h.kind, "model": r.get("model")})
        for rid in active[len(engines):]:
            r = rows.get(rid)
            if r:
                runs.append({"id": rid, "name": r["name"], "kind": r["kind"], "status": r["status"],
                             "tags": r.get("tags")})
        return [*X.gpu_families(gpus, self.hostname), *X.engine_families(eng),
                *X.info_families(runs, self.hostname, __version__)]

    async def handle(self, request: web.Request) -> web.Response:
        from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
        fams = await self.families()

        class _Static:
            def collect(self):
                return fams
        reg = CollectorRegistry(auto_describe=False)
        reg.register(_Static())
        body = generate_latest(reg)
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})


async def start_listener(service: "Service", listen: str) -> web.AppRunner:
    """Serve ``/metrics`` on ``listen``; raises UserError when the address cannot be bound."""
    host, port = parse_listen(listen)
    exporter = MetricsExporter(service)
    app = web.Application()
    app.router.add_get("/metrics", exporter.handle)
    app.router.add_get("/", lambda r: web.Response(text="iejtui service: Prometheus metrics at /metrics\n"))
    runner = web.AppRunner(app, access_log=None, handle_signals=False)
    await runner.setup()
    try:
        await web.TCPSite(runner, host, port).start()
    except OSError as exc:
        await runner.cleanup()
        raise UserError(f"cannot listen on {host}:{port} for metrics: {exc.strerror or exc}") from None
    return runner
