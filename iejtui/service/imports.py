"""Import a window from Prometheus (``iejtui fleet import``) as an ``imported`` run.

The service fetches (raw samples, see ``iejtui.fleet.importer``) and writes through the
store's normal path, so it stays the only writer of journal.db.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit, urlunsplit

from iejtui import __version__
from iejtui.errors import UserError
from iejtui.store.vocab import RunKind, RunStatus

if TYPE_CHECKING:
    from iejtui.service.core import Service

BATCH = 2000


def _public_url(url: str) -> str:
    """The URL without user:password (never stored)."""
    p = urlsplit(url)
    host = p.hostname or ""
    if p.port:
        host = f"{host}:{p.port}"
    return urlunsplit((p.scheme, host, p.path, "", ""))


async def import_window(service: "Service", spec: dict[str, Any]) -> dict[str, Any]:
    from iejtui.fleet.importer import MAX_WINDOW_S, fetch_window, rows_to_frames
    from iejtui.fleet.promql import PromClient, PromError
    url, instance = spec.get("prometheus") or "", (spec.get("instance") or "").strip()
    engine = spec.get("engine") or None
    try:
        t0, t1 = float(spec["from"]), float(spec["to"])
    except (KeyError, TypeError, ValueError):
        raise UserError("an import needs from and to (Unix seconds)") from None
    if not instance:
        raise UserError("an import needs the host: its Prometheus instance label (see `iejtui fleet --json`)")
    if not t1 > t0:
        raise UserError(f"empty window: --to ({t1:.0f}) must be after --from ({t0:.0f})")
    if t1 - t0 > MAX_WINDOW_S:
        raise UserError(f"window of {(t1 - t0) / 3600:.0f} h is too long: import at most {MAX_WINDOW_S / 86400:.0f} days at once")
    try:
        async with PromClient(url, timeout_s=float(spec.get("timeout") or 30.0)) as client:
            rows, query = await fetch_window(client, instance, t0, t1, engine)
    except PromError as exc:
        raise UserError(str(exc)) from None
    frames, info = rows_to_frames(rows, engine)
    if not frames:
        raise UserError(f"Prometheus has no samples of {instance}{' engine ' + engine if engine else ''} "
                        f"between {time.strftime('%Y-%m-%d %H:%M:%S', time.localtime(t0))} and "
                        f"{time.strftime('%H:%M:%S', time.localtime(t1))}")
    kinds = sorted(set(info["engines"].values()))
    name = spec.get("name") or f"{engine or 'host'}@{instance}"
    facts = {"source": "prometheus", "prometheus": _public_url(url), "instance": instance, "engine": engine,
             "query": query, "window": [t0, t1], "engines": info["engines"], "source_runs": info["runs"],
             "source_engine_kinds": kinds, "gpus": [{"uuid": u, "name": n} for u, n in info["gpus"].items()],
             "names": "engine series stored under vLLM's names; GPU series as gpu.* (iejtui units)"}
    w = service.writer
    run_id = await service.db(
        w.create_run, kind=RunKind.IMPORTED, name=name[:120], engine_kind="vllm" if info["engines"] else None, owned=0,
        status=RunStatus.STOPPED, started_at=t0, ready_at=t0, ended_at=t1, url=None, gpus=list(info["gpus"]),
        versions={"iejtui": __version__}, facts=facts, reason=f"imported from Prometheus ({instance})")
    for i in range(0, len(frames), BATCH):
        await service.db(w.add_frames, run_id, frames[i:i + BATCH])
        await service.db(w.flush)
    await service.db(w.seal, True, run_id)
    samples = sum(len(f.samples) for f in frames)
    await service.event(run_id, "imported", f"{name}: imported {len(frames)} ticks ({samples} samples) of {instance} "
                        f"from Prometheus", instance=instance, engine=engine, ticks=len(frames))
    return {"run_id": run_id, "name": name, "ticks": len(frames), "samples": samples, "instance": instance,
            "engines": info["engines"], "gpus": list(info["gpus"]), "query": query}
