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
    # the advisor: the validity verdict stored with the result (None: none stored) and the
    # findings that fired during the run, by severity ({"critical": 1, "warning": 2})
    validity: Mapping[str, Any] | None = None
    findings: Mapping[str, int] | None = None

    @property
    def live(self) -> bool:
        return self.status in BENCH_LIVE

    @property
    def marks(self) -> str:
        """The row's advisor marks: ``⚠`` invalid benchmark, ``~`` valid with caveats, then
        ``✗`` a critical / ``!`` a warning finding fired during it (empty: nothing to say)."""
        v, f = self.validity, self.findings or {}
        out = ("⚠" if not v.get("valid", True) else "~" if v.get("caveats") else "") if v else ""
        return out + ("✗" if f.get("critical") else "!" if f.get("warning") else "")

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


def bench_row(run: Mapping[str, Any], progress: Mapping[str, float], parent: Mapping[str, Any] | None,
              findings: Mapping[str, int] | None = None) -> BenchRow:
    """The row of bench run ``run``; ``progress``: its newest stored progress (may be empty);
    ``parent``: the engine run it targeted (or None); ``findings``: the advisor's firing
    findings during it by severity."""
    argv = run.get("argv") if isinstance(run.get("argv"), list) else None
    summary = run.get("summary") if isinstance(run.get("summary"), dict) else None
    target = f"r{parent['id']} {parent['name']}" if parent else (run.get("url") or "")
    from iejtui.advisor.stored import stored_verdict
    common = dict(id=run["id"], name=run["name"], target=target, status=run["status"],
                  started_at=run["started_at"], ended_at=run.get("ended_at"), reason=run.get("reason"),
                  workload=workload_text(argv), progress_at=progress.get("ts"), validity=stored_verdict(run),
                  findings=findings)
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


def bench_findings(reader, runs: list[Mapping[str, Any]],
                   known: dict[int, dict[str, int]] | None = None) -> dict[int, dict[str, int]]:
    """The advisor's findings that fired during each bench run, by severity: the service
    evaluates a running benchmark as a run of its own and stores each firing as an
    ``advisor.firing`` event of it (level ``error`` for critical). One query for the runs not
    in ``known``; a finished run's counts cannot change, so they are added to ``known``
    (pass the same dict on every refresh: only live and new runs are read again)."""
    from iejtui.advisor.stored import SEVERITY_OF_LEVEL
    known = {} if known is None else known
    todo = [r["id"] for r in runs if r["id"] not in known or r["status"] in BENCH_LIVE]
    levels = reader.event_levels(todo, "advisor.firing") if todo else {}
    out = {}
    for r in runs:
        if r["id"] in todo:
            counts: dict[str, int] = {}
            for level, n in levels.get(r["id"], {}).items():
                sev = SEVERITY_OF_LEVEL.get(level, "info")
                counts[sev] = counts.get(sev, 0) + n
            if r["status"] not in BENCH_LIVE:
                known[r["id"]] = counts
            out[r["id"]] = counts
        else:
            out[r["id"]] = known[r["id"]]
    return out


def bench_rows(reader, limit: int = 200, known_findings: dict[int, dict[str, int]] | None = None) -> list[BenchRow]:
    """Every bench run of the journal, newest first (progress read only for live ones,
    and for ended ones that have no result: cancelled or failed mid-way). The advisor's
    marks: the verdict stored with the result (``runs()`` reads it anyway) and the findings
    (``bench_findings``, cached in ``known_findings`` for finished runs)."""
    runs = reader.runs("bench", limit=limit)
    parents: dict[int, dict | None] = {}
    found = bench_findings(reader, runs, known_findings)
    out = []
    for run in runs:
        pid = run.get("parent_id")
        if pid is not None and pid not in parents:
            parents[pid] = reader.run(pid)
        need = run["status"] in BENCH_LIVE or not isinstance(run.get("summary"), dict)
        progress = progress_values(reader.latest(run["id"], "bench")) if need else {}
        out.append(bench_row(run, progress, parents.get(pid) if pid is not None else None, found.get(run["id"])))
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
    if row.validity is not None:
        lines.append(("validity", validity_text(row.validity)))
    if row.findings is not None:
        lines.append(("advisor", findings_text(row.findings, row.live)))
    return lines


def validity_text(v: Mapping[str, Any]) -> str:
    """``INVALID: client-bound …`` / ``valid · caveat: p99 from 40 requests …`` / ``valid``."""
    if not v.get("valid", True):
        why = list(v.get("invalid_reasons") or [])
        return "⚠ INVALID: " + (why[0] if why else "see the run view") + (f" (+{len(why) - 1} more)" if len(why) > 1 else "")
    cav = list(v.get("caveats") or [])
    return "valid" + (f" · caveat: {cav[0]}" + (f" (+{len(cav) - 1} more)" if len(cav) > 1 else "") if cav else "")


def findings_text(counts: Mapping[str, int], live: bool) -> str:
    """``1 critical, 2 warning findings (enter: what the advisor saw)`` or ``nothing fired``."""
    parts = [f"{counts[s]} {s}" for s in ("critical", "warning", "info") if counts.get(s)]
    if not parts:
        return "nothing fired" + (" yet" if live else "")
    return ", ".join(parts) + " finding(s) fired" + (" so far" if live else "") + " (enter: what the advisor saw)"


def check_lines(reader, run: Mapping[str, Any]) -> list[str]:
    """A finished bench run's client vs server table, client-bound verdict and steady state
    as plain lines (``iejtui.bench_sections``), for the run view."""
    from iejtui.bench_sections import bench_lines, bench_sections
    return bench_lines(bench_sections(reader, run))


def pareto_items(rows: list[BenchRow]) -> list[dict]:
    """Finished bench runs as Pareto items (``derive.pareto``): output tok/s against TTFT p99."""
    return [{"label": f"r{r.id}", "output_tok_s": r.out_tok_s, "ttft_p99_ms": r.ttft_p99_ms}
            for r in rows if not r.live and r.status == "stopped"]
