"""Rows of the runs table and their headline figures."""

from __future__ import annotations

from collections.abc import Mapping

from iejtui.derive.engine import engine_figures
from iejtui.store import Reader, vocab
from iejtui.store.vocab import RunKind
from iejtui.viewmodel import engine as eng
from iejtui.viewmodel.models import RunRow
from iejtui.viewmodel.text import num, pct, tokens
from iejtui.viewmodel.thin import ThinGetter, read_thinned



def run_rows(reader: Reader, now: float, headlines: Mapping[int, str] | None = None) -> list[RunRow]:
    """Every run, newest first; ``headlines`` (by run id) fills the headline column."""
    out = []
    for r in reader.runs():
        end = r.get("ended_at")
        live = r["status"] in vocab.LIVE and end is None
        out.append(RunRow(
            id=r["id"], kind=r["kind"], name=r["name"], status=r["status"], started_at=r["started_at"],
            ended_at=end, duration_s=max(0.0, (end if end is not None else (now if live else r["started_at"]))
                                          - r["started_at"]),
            headline=(headlines or {}).get(r["id"], "") or static_headline(r),
            tags=tuple(r.get("tags") or ()), engine_kind=r.get("engine_kind"), model=r.get("model")))
    return out


def static_headline(run: Mapping) -> str:
    """What the run row itself says (no sample reads): benchmark summary, GPU count, exit."""
    bits = []
    summary = run.get("summary") or {}
    if run["kind"] == RunKind.BENCH and summary:
        if summary.get("output_throughput") is not None:
            bits.append(f"{num(summary['output_throughput'], 1)} out tok/s")
        if summary.get("request_throughput") is not None:
            bits.append(f"{num(summary['request_throughput'], 2)} req/s")
    if run["kind"] == RunKind.RECORD:
        gpus = (run.get("facts") or {}).get("gpus") or run.get("gpus") or []
        bits.append(f"{len(gpus)} GPU" + ("s" if len(gpus) != 1 else ""))
    if run.get("exit_code") not in (None, 0):
        bits.append(f"exit {run['exit_code']}")
    return " · ".join(bits)


def run_headline(reader: Reader, run: Mapping, now: float, points: int = 64) -> str:
    """Headline figures of an engine run over its whole life: tokens generated, mean gen
    tok/s, KV peak (a thinned read: cheap even for a 24 h run)."""
    if run["kind"] != RunKind.ENGINE:
        return static_headline(run)
    mmap = eng.metric_map(run.get("engine_kind"))
    window = reader.time_range(run["id"])  # the samples' span, not run_window
    if mmap is None or window is None:
        return static_headline(run)
    t0, t1 = window
    if t1 <= t0:
        return static_headline(run)
    names = set(mmap.names("generation_tokens"))
    get = ThinGetter(read_thinned(reader, run["id"], names, t0, t1, 1, None))  # engine + engine-iter frames
    kv_names = set(mmap.names("kv_usage"))
    kv_get = ThinGetter(read_thinned(reader, run["id"], kv_names | set(mmap.names("cache_config_info")), t0, t1,
                                     points, None, {n: "max" for n in kv_names}))

    def both(name, flt=None):
        return get(name, flt) or kv_get(name, flt)

    figs = engine_figures(both, t0, t1, eng.panel_map(run.get("engine_kind"), "rates"))
    bits = []
    gen = get(mmap.names("generation_tokens")[0])
    if gen:
        total = sum(vs[-1] - vs[0] for _, _, vs in gen if vs)
        bits.append(f"{tokens(total)} tok")
    if figs.generation_tok_s is not None:
        bits.append(f"{num(figs.generation_tok_s, 1)} tok/s")
    if figs.kv_usage_pct_peak is not None:
        bits.append(f"KV peak {pct(figs.kv_usage_pct_peak, 0)}")
    rest = static_headline(run)
    return " · ".join(bits + ([rest] if rest else []))
