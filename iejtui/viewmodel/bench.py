"""The Benchmark screen's rows: one per bench run, live progress while it runs.

A running benchmark's progress is what the service stores once a second in the run's
``bench`` frame (``bench.done``, ``bench.total``, ``bench.failed``,
``bench.output_tokens_per_s``, ``bench.ttft_p50_ms``, ``bench.ttft_p99_ms``,
``bench.elapsed_s``): the same numbers ``iejtui bench`` prints on the terminal, read from
the journal like every other figure. A finished one shows its result (the keys of
``vllm bench serve``'s JSON, kept as the run's summary).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from iejtui.store.vocab import BENCH_LIVE
from iejtui.values import finite as _f

PROGRESS_KEYS = ("done", "total", "failed", "output_tokens_per_s", "ttft_p50_ms", "ttft_p99_ms", "elapsed_s")


@dataclass(frozen=True, slots=True)
class BenchRow:
    """One benchmark run as the screen shows it (``None``: not known yet / not measured)."""

    id: int
    name: str
    target: str  # the engine run it measured (r12 tiny) or its URL
    status: str
    started_at: float
    ended_at: float | None
    done: int | None
    total: int | None
    failed: int | None
    out_tok_s: float | None  # live: the last 5 s; finished: the whole run's output throughput
    ttft_p50_ms: float | None
    ttft_p99_ms: float | None
    tpot_p50_ms: float | None  # finished runs only (the live progress does not carry it)
    itl_p50_ms: float | None
    progress_at: float | None  # when the live figures were stored
    reason: str | None
    workload: str  # the flags that define the load, shortened

    @property
    def live(self) -> bool:
        return self.status in BENCH_LIVE

    @property
    def fraction(self) -> float | None:
        if self.done is None or not self.total:
            return None
        return max(0.0, min(1.0, self.done / self.total))


def _i(x: Any) -> int | None:
    v = _f(x)
    return None if v is None else int(v)


WORKLOAD_FLAGS = ("--dataset-name", "--num-prompts", "--max-concurrency", "--request-rate", "--burstiness",
                  "--random-input-len", "--random-output-len", "--random-prefix-len", "--dataset-path")
SHORT = {"--dataset-name": "", "--num-prompts": "n=", "--max-concurrency": "c=", "--request-rate": "rate=",
         "--burstiness": "b=", "--random-input-len": "in=", "--random-output-len": "out=",
         "--random-prefix-len": "prefix=", "--dataset-path": ""}


def workload_text(argv: list[str] | None) -> str:
    """The load-defining flags of a bench argv, short: ``random n=64 c=8 in=128 out=64``."""
    if not argv:
        return ""
    out = []
    it = iter(range(len(argv)))
    for i in it:
        a = argv[i]
        key, _, val = a.partition("=")
        if key in WORKLOAD_FLAGS:
            if not val and i + 1 < len(argv):
                val = argv[i + 1]
                next(it, None)
            if key == "--dataset-path":
                val = val.rsplit("/", 1)[-1]
            out.append(SHORT[key] + val)
    return " ".join(out)


def total_of(argv: list[str] | None) -> int | None:
    """``--num-prompts`` of a bench argv (vLLM's default is 1000)."""
    argv = argv or []
    for i, a in enumerate(argv):
        if a == "--num-prompts" and i + 1 < len(argv):
            return _i(argv[i + 1])
        if a.startswith("--num-prompts="):
            return _i(a.split("=", 1)[1])
    return 1000


def progress_values(latest: tuple[float, Mapping[tuple[str, str], float]] | None) -> dict[str, float]:
    """``Reader.latest(run, "bench")`` as {key: value} (keys of ``PROGRESS_KEYS``) + "ts"."""
    if latest is None:
        return {}
    ts, values = latest
    out: dict[str, float] = {"ts": ts}
    for (name, _labels), v in values.items():
        if name.startswith("bench."):
            out[name[6:]] = v
    return out


def bench_row(run: Mapping[str, Any], progress: Mapping[str, float], parent: Mapping[str, Any] | None) -> BenchRow:
    """The row of bench run ``run``; ``progress``: its newest stored progress (may be empty);
    ``parent``: the engine run it targeted (or None)."""
    argv = run.get("argv") if isinstance(run.get("argv"), list) else None
    summary = run.get("summary") if isinstance(run.get("summary"), dict) else None
    target = f"r{parent['id']} {parent['name']}" if parent else (run.get("url") or "")
    common = dict(id=run["id"], name=run["name"], target=target, status=run["status"],
                  started_at=run["started_at"], ended_at=run.get("ended_at"), reason=run.get("reason"),
                  workload=workload_text(argv), progress_at=progress.get("ts"))
    if summary is not None and run["status"] not in BENCH_LIVE:
        done = _i(summary.get("completed"))
        failed = _i(summary.get("failed"))
        total = _i(summary.get("num_prompts"))
        if total is None and done is not None:
            total = done + (failed or 0)
        return BenchRow(**common, done=(done or 0) + (failed or 0) if done is not None else None, total=total,
                        failed=failed, out_tok_s=_f(summary.get("output_throughput")),
                        ttft_p50_ms=_f(summary.get("median_ttft_ms")), ttft_p99_ms=_f(summary.get("p99_ttft_ms")),
                        tpot_p50_ms=_f(summary.get("median_tpot_ms")), itl_p50_ms=_f(summary.get("median_itl_ms")))
    total = _i(progress.get("total")) or total_of(argv)
    return BenchRow(**common, done=_i(progress.get("done")), total=total, failed=_i(progress.get("failed")),
                    out_tok_s=_f(progress.get("output_tokens_per_s")),
                    ttft_p50_ms=_f(progress.get("ttft_p50_ms")) if progress.get("done") else None,
                    ttft_p99_ms=_f(progress.get("ttft_p99_ms")) if progress.get("done") else None,
                    tpot_p50_ms=None, itl_p50_ms=None)


def bench_rows(reader, limit: int = 200) -> list[BenchRow]:
    """Every bench run of the journal, newest first (progress read only for live ones,
    and for ended ones that have no result: cancelled or failed mid-way)."""
    runs = reader.runs("bench", limit=limit)
    parents: dict[int, dict | None] = {}
    out = []
    for run in runs:
        pid = run.get("parent_id")
        if pid is not None and pid not in parents:
            parents[pid] = reader.run(pid)
        need = run["status"] in BENCH_LIVE or not isinstance(run.get("summary"), dict)
        progress = progress_values(reader.latest(run["id"], "bench")) if need else {}
        out.append(bench_row(run, progress, parents.get(pid) if pid is not None else None))
    return out


def detail_lines(row: BenchRow, now: float) -> list[tuple[str, str]]:
    """(label, text) pairs for the selected benchmark's detail pane."""
    from iejtui.viewmodel.text import clock, ms, num, span
    lines = [("run", f"r{row.id} {row.name}"), ("target", row.target or "—"), ("workload", row.workload or "—")]
    state = row.status
    if row.live:
        state += f" · {span(now - row.started_at)}"
        if row.progress_at is not None and now - row.progress_at > 5:
            state += f" · no progress since {clock(row.progress_at)}"
    elif row.ended_at:
        state += f" · took {span(row.ended_at - row.started_at)}"
    if row.reason:
        state += f" · {row.reason}"
    lines.append(("status", state))
    done = "—" if row.done is None else f"{row.done}/{row.total or '?'}"
    if row.failed:
        done += f" ({row.failed} failed)"
    lines += [("requests", done),
              ("out tok/s", num(row.out_tok_s, 1) + (" (last 5 s)" if row.live and row.out_tok_s is not None else "")),
              ("TTFT", f"p50 {ms(None if row.ttft_p50_ms is None else row.ttft_p50_ms / 1000)}  "
                       f"p99 {ms(None if row.ttft_p99_ms is None else row.ttft_p99_ms / 1000)}")]
    if not row.live:
        lines += [("TPOT p50", ms(None if row.tpot_p50_ms is None else row.tpot_p50_ms / 1000)),
                  ("ITL p50", ms(None if row.itl_p50_ms is None else row.itl_p50_ms / 1000))]
    return lines


def check_lines(reader, run: Mapping[str, Any]) -> list[str]:
    """A finished bench run's client vs server table, client-bound verdict and steady state
    as plain lines (``iejtui.bench_sections``), for the run view."""
    from iejtui.bench_sections import bench_lines, bench_sections
    return bench_lines(bench_sections(reader, run))


def pareto_items(rows: list[BenchRow]) -> list[dict]:
    """Finished bench runs as Pareto items (``derive.pareto``): output tok/s against TTFT p99."""
    return [{"label": f"r{r.id}", "output_tok_s": r.out_tok_s, "ttft_p99_ms": r.ttft_p99_ms}
            for r in rows if not r.live and r.status == "stopped"]
