"""A matrix run's resumable state (pure functions over a JSON-able dict).

The state lives in the ``facts`` of the matrix's run row in journal.db (kind ``matrix``),
rewritten after every change, so a service that dies mid-grid loses at most the cell it
was running. Cell states::

    pending → running → done | failed          (a bench that ran; failed: no request completed)
    pending → skipped                          (its variant's engine failed or crashed)

A cell is identified by ``variant/workload/load/rep`` and carries the hash of everything
that defines it (engine argv and env, workload, load point); ``merge`` keeps the finished
cells of an earlier run whose hash still matches, so re-running a file after editing it
only runs what changed. ``state["state"]`` is ``running`` until the grid ends (``done``),
is cancelled (``cancelled``) or breaks (``failed``); a service that starts again resumes
every matrix still ``running``.
"""

from __future__ import annotations

import time
from typing import Any

from iejtui.matrix.estimate import Estimate, eta
from iejtui.matrix.spec import MatrixSpec

FINISHED = ("done", "failed", "skipped")
STATE_VERSION = 1


def new_state(spec: MatrixSpec, now: float | None = None, hardware: dict | None = None) -> dict[str, Any]:
    now = time.time() if now is None else now
    st: dict[str, Any] = {"version": STATE_VERSION, "name": spec.name, "file": spec.path, "state": "running",
                          "created_at": now, "updated_at": now, "resumes": 0, "hardware": hardware or {},
                          "variants": {}, "cells": {}, "order": [], "log": []}
    return merge(st, spec, now=now)


def merge(state: dict[str, Any], spec: MatrixSpec, retry_failed: bool = False,
          now: float | None = None) -> dict[str, Any]:
    """``state`` brought to ``spec``: cells kept where their hash matches, new ones pending.

    Finished cells of an unchanged definition are kept (``failed``/``skipped`` ones too,
    unless ``retry_failed``); running ones go back to pending (their bench was cut short).
    """
    now = time.time() if now is None else now
    old_cells = state.get("cells") or {}
    old_vars = state.get("variants") or {}
    cells: dict[str, dict[str, Any]] = {}
    order = []
    for c in spec.cells():
        prev = old_cells.get(c.key)
        keep = prev is not None and prev.get("hash") == c.hash and prev.get("status") in FINISHED
        if keep and retry_failed and prev["status"] in ("failed", "skipped"):
            keep = False
        if keep:
            cells[c.key] = dict(prev)
        else:
            cells[c.key] = {"variant": c.variant, "workload": c.workload, "load": c.load.label, "rep": c.rep,
                            "hash": c.hash, "status": "pending", "run_id": None, "reason": None,
                            "attempts": (prev or {}).get("attempts", 0) if prev and prev.get("hash") == c.hash else 0,
                            "started_at": None, "ended_at": None,
                            "max_concurrency": c.load.max_concurrency, "request_rate": c.load.request_rate}
        order.append(c.key)
    variants = {}
    for v in spec.variants:
        vh = spec.variant_hash(v.name)
        prev = old_vars.get(v.name) or {}
        mine = [cells[k] for k in order if cells[k]["variant"] == v.name]
        if prev.get("hash") == vh and all(c["status"] in FINISHED for c in mine):
            variants[v.name] = dict(prev)
        else:
            variants[v.name] = {"hash": vh, "status": "pending", "engine_run": prev.get("engine_run") if prev.get(
                "hash") == vh else None, "engine_runs": list(prev.get("engine_runs") or []) if prev.get("hash") == vh
                                else [], "reason": None, "start_s": prev.get("start_s") if prev.get("hash") == vh
                                else None, "facts": prev.get("facts") or {} if prev.get("hash") == vh else {}}
    out = dict(state)
    out.update(name=spec.name, file=spec.path, spec=spec.to_dict(), cells=cells, order=order, variants=variants,
               state="running", updated_at=now)
    out.pop("ended_at", None)
    out.pop("reason", None)
    return out


def reset_running(state: dict[str, Any]) -> dict[str, Any]:
    """After a restart: cells caught running go back to pending (their bench was cut short)."""
    for c in state["cells"].values():
        if c["status"] == "running":
            c.update(status="pending", reason=None)
    for name, v in state["variants"].items():
        if v["status"] in ("starting", "running"):  # cut after its last cell: done, not to be started again
            v["status"] = "pending" if cells_of(state, name, "pending") else "done"
    return state


def cells_of(state: dict[str, Any], variant: str, status: str | None = None) -> list[str]:
    return [k for k in state["order"] if state["cells"][k]["variant"] == variant
            and (status is None or state["cells"][k]["status"] == status)]


def next_variant(state: dict[str, Any]) -> str | None:
    """The first variant (file order) that still has pending cells."""
    for k in state["order"]:
        c = state["cells"][k]
        if c["status"] == "pending":
            return c["variant"]
    return None


def mark_cell(state: dict[str, Any], key: str, status: str, now: float | None = None, **fields: Any) -> None:
    now = time.time() if now is None else now
    c = state["cells"][key]
    c.update(status=status, **fields)
    if status == "running":
        c["started_at"], c["ended_at"] = now, None
        c["attempts"] = c.get("attempts", 0) + 1
    elif status in FINISHED:
        c["ended_at"] = now
    state["updated_at"] = now


def fail_variant(state: dict[str, Any], variant: str, reason: str, now: float | None = None) -> int:
    """The variant failed: its pending cells are skipped with the reason; returns how many."""
    now = time.time() if now is None else now
    state["variants"][variant].update(status="failed", reason=reason)
    n = 0
    for k in cells_of(state, variant, "pending"):
        mark_cell(state, k, "skipped", now, reason=f"variant failed: {reason}")
        n += 1
    return n


def counts(state: dict[str, Any]) -> dict[str, int]:
    out = {"total": len(state["order"]), "pending": 0, "running": 0, "done": 0, "failed": 0, "skipped": 0}
    for c in state["cells"].values():
        out[c["status"]] = out.get(c["status"], 0) + 1
    out["finished"] = out["done"] + out["failed"] + out["skipped"]
    return out


def note(state: dict[str, Any], what: str, now: float | None = None, keep: int = 50) -> None:
    """A line in the state's short history (starts, resumes, failures)."""
    state.setdefault("log", []).append({"at": time.time() if now is None else now, "what": what})
    del state["log"][:-keep]


def progress_view(run_id: int, st: dict[str, Any], est: Estimate | None = None, current: dict | None = None,
                  now: float | None = None) -> dict[str, Any]:
    """The progress dict of the API and ``iejtui matrix status`` (pure)."""
    now = time.time() if now is None else now
    running = st.get("state") == "running"
    return {"name": st["name"], "run_id": run_id, "file": st.get("file"), "state": st.get("state"),
            "reason": st.get("reason"), "cells": counts(st),
            "variants": [{"name": n, "status": v["status"], "reason": v.get("reason"), "engine_run": v.get("engine_run"),
                          "startup_s": v.get("start_s")} for n, v in st["variants"].items()],
            "current": current or {}, "started_at": st.get("created_at"),
            "elapsed_s": (now if running else st.get("ended_at") or now) - st.get("created_at", now),
            "eta_s": eta(st, est, now) if est and running else (0.0 if not running else None),
            "estimate_s": est.total_s if est else None, "estimate_basis": est.basis if est else [],
            "results": f"benchmarks/{st['name']}", "log": (st.get("log") or [])[-8:]}
