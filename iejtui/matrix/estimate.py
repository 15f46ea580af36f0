"""How long a grid will take: before it starts (from the journal's history) and live (ETA).

Model (pure functions): a variant costs an engine start (plus ~5 s to stop), a cell
``max(num_prompts / rate, num_prompts × output_len × s_tok / streams) + 2 s`` where
``streams = min(concurrency, num_prompts)`` and ``s_tok`` is the time one stream takes per
output token. History, when the journal has it: engine start times of earlier runs of the
same command line (else of the same engine kind), ``s_tok`` of earlier benchmarks, and
the measured duration of identical cells of earlier matrix runs. Without history: 90 s
per engine start and 0.05 s per token, said as a guess. While a grid runs, the remaining
estimate is scaled by how the finished cells compared to their estimates.
"""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass, field
from typing import Any

from iejtui.matrix.spec import Cell, MatrixSpec

DEFAULT_START_S = 90.0
DEFAULT_S_PER_TOKEN = 0.05
STOP_S = 5.0
CELL_OVERHEAD_S = 2.0


@dataclass
class History:
    start_s: float | None = None          # median engine start (launch → ready)
    start_basis: str = ""
    s_per_token: float | None = None      # median seconds per output token per stream
    token_basis: str = ""
    cell_s: dict[str, float] = field(default_factory=dict)  # cell hash → measured seconds


@dataclass
class Estimate:
    total_s: float
    start_s: float
    cells_s: dict[str, float]
    basis: list[str]


def cell_seconds(spec: MatrixSpec, cell: Cell, s_per_token: float) -> float:
    w = spec.workload(cell.workload)
    out_len = w.output_len or 256
    streams = min(cell.load.max_concurrency or w.num_prompts, w.num_prompts)
    decode = w.num_prompts * out_len * s_per_token / max(streams, 1)
    paced = w.num_prompts / cell.load.request_rate if cell.load.request_rate else 0.0
    return max(decode, paced) + CELL_OVERHEAD_S + spec.warmups * out_len * s_per_token


def estimate(spec: MatrixSpec, hist: History, only: set[str] | None = None) -> Estimate:
    """The grid's duration (``only``: the cell keys still to run; default all)."""
    s_tok = hist.s_per_token or DEFAULT_S_PER_TOKEN
    start = hist.start_s or DEFAULT_START_S
    cells = {}
    for c in spec.cells():
        if only is not None and c.key not in only:
            continue
        cells[c.key] = hist.cell_s.get(c.hash) or cell_seconds(spec, c, s_tok)
    variants = {k.split("/", 1)[0] for k in cells}
    total = sum(cells.values()) + len(variants) * (start + STOP_S)
    basis = [
        f"engine start {start:.0f} s: {hist.start_basis}" if hist.start_s else
        f"engine start {start:.0f} s: a guess (no earlier start of this engine in the journal)",
        f"{s_tok * 1000:.0f} ms per output token per stream: {hist.token_basis}" if hist.s_per_token else
        f"{s_tok * 1000:.0f} ms per output token per stream: a guess (no earlier benchmark in the journal)",
    ]
    reused = sum(1 for c in spec.cells() if c.key in cells and c.hash in hist.cell_s)
    if reused:
        basis.append(f"{reused} cell(s) timed from identical cells of earlier matrix runs")
    return Estimate(total, start, cells, basis)


def eta(state: dict[str, Any], est: Estimate, now: float | None = None) -> float | None:
    """Seconds left: pending cells' estimates scaled by actual/estimated so far, plus the
    engine starts still to come (at the mean start measured in this grid, when any)."""
    now = time.time() if now is None else now
    done_est = done_act = 0.0
    left = 0.0
    variants_left = set()
    for k, c in state["cells"].items():
        e = est.cells_s.get(k)
        if e is None:
            continue
        if c["status"] == "done" and c.get("started_at") is not None and c.get("ended_at") is not None:
            done_est += e
            done_act += c["ended_at"] - c["started_at"]
        elif c["status"] == "running" and c.get("started_at") is not None:
            left += max(e - (now - c["started_at"]), 0.0)
        elif c["status"] == "pending":
            left += e
            variants_left.add(c["variant"])
    scale = done_act / done_est if done_est > 0 else 1.0
    starts = [v["start_s"] for v in state["variants"].values() if v.get("start_s")]
    start = statistics.fmean(starts) if starts else est.start_s
    current = next((n for n, v in state["variants"].items() if v["status"] in ("starting", "running")), None)
    variants_left.discard(current)
    starting = state["variants"][current] if current else {}
    if starting.get("status") == "starting" and starting.get("starting_at") is not None:
        left += max(start - (now - starting["starting_at"]), 0.0)  # the engine now starting
    return left * scale + len(variants_left) * (start + STOP_S)


def _median(xs: list[float]) -> float | None:
    return statistics.median(xs) if xs else None


def gather_history(reader, spec: MatrixSpec, limit: int = 200) -> History:
    """What the journal knows: earlier engine starts, benchmark token rates, matrix cells."""
    from iejtui.redact import redact_argv
    h = History()
    want = redact_argv(spec.base_argv)[0]
    same, kind = [], []
    for r in reader.runs(kind="engine", limit=limit):
        if not r.get("ready_at") or not r.get("owned") or r.get("engine_kind") != spec.kind:
            continue
        took = r["ready_at"] - r["started_at"]
        if (r.get("argv") or [])[:len(want)] == want:
            same.append(took)
        else:
            kind.append(took)
    if same:
        h.start_s, h.start_basis = _median(same[:10]), f"median of {len(same[:10])} earlier start(s) of this command line"
    elif kind:
        h.start_s, h.start_basis = _median(kind[:10]), f"median of {len(kind[:10])} earlier {spec.kind} start(s)"
    rates = []
    for r in reader.runs(kind="bench", limit=limit):
        s = r.get("summary")
        if r.get("status") != "stopped" or not isinstance(s, dict) or not s.get("total_output_tokens"):
            continue
        n = s.get("num_prompts") or s.get("completed") or 1
        streams = min(s.get("max_concurrency") or n, n)
        if s.get("duration"):
            rates.append(s["duration"] * streams / s["total_output_tokens"])
    if rates:
        h.s_per_token = _median(rates[:20])
        h.token_basis = f"median of {len(rates[:20])} earlier benchmark(s) in this journal"
    for r in reader.runs(kind="matrix", limit=20):
        st = r.get("facts") if isinstance(r.get("facts"), dict) else {}
        for c in (st.get("cells") or {}).values():
            if c.get("status") == "done" and c.get("started_at") and c.get("ended_at"):
                h.cell_s.setdefault(c["hash"], c["ended_at"] - c["started_at"])
    return h


def estimate_from_db(db_path, spec: MatrixSpec, only: set[str] | None = None) -> Estimate:
    """``estimate`` with the history of the journal at ``db_path`` (read-only)."""
    from iejtui.store import Reader
    reader = Reader(db_path)
    try:
        return estimate(spec, gather_history(reader, spec), only)
    finally:
        reader.close()
