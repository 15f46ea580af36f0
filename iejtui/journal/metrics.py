"""metrics.json: every tagged run's figures in one versioned schema.

``run_metrics(reader, run)`` gathers them (engine figures from the stored histograms and
counters, benchmark figures from the stored requests, GPU figures from the host GPU
recording). Anything not measured is ``null``, never a made-up zero. Units are in the key
names: ``_s`` seconds, ``_pct`` 0–100, ``_tok_s`` tokens per second, ``_w`` watts,
``_j`` joules, ``_bytes`` bytes.
"""

from __future__ import annotations

import math
import statistics
import time
from typing import Any

from iejtui import __version__
from iejtui.derive.gpu_window import gpu_block, token_rate
from iejtui.redact import redact_argv, redact_env, redact_obj, redact_text
from iejtui.store.vocab import BROKE, RunKind
from iejtui.values import finite as _finite

SCHEMA = "iejtui.day-metrics"
SCHEMA_VERSION = 1
LATENCY_KEYS = ("ttft", "itl", "tpot", "e2e", "queue")
_NO_LATENCY = {"p50": None, "p90": None, "p99": None, "mean": None, "count": None}
RUN_FIELDS = ("id", "kind", "name", "engine_kind", "status", "model", "url", "cwd", "started_at", "ready_at",
              "ended_at", "exit_code", "parent_id", "day")


def safe_argv(run: dict) -> list[str]:
    """The run's command line with secrets masked (again: journal.db should already hold it
    masked). A benchmark run stores only its arguments: ``iejtui bench`` is put in front."""
    argv = [str(a) for a in (run.get("argv") or [])]
    if run.get("kind") in ("bench", "search") and argv and argv[0].startswith("-"):
        argv = ["iejtui", "bench", *argv]
    return [redact_text(a) for a in redact_argv(argv)[0]]


def safe_env(run: dict) -> dict[str, str]:
    env = {str(k): str(v) for k, v in (run.get("env") or {}).items()} if isinstance(run.get("env"), dict) else {}
    return {k: redact_text(v) for k, v in redact_env(env)[0].items()}


def model_of(run: dict) -> str | None:
    """The served model: the run's ``model``, unless that is the module of ``python -m X``
    (a launcher, not a model), then what the engine reported at startup."""
    model = run.get("model")
    argv = [str(a) for a in run.get("argv") or []]
    facts = run.get("facts") if isinstance(run.get("facts"), dict) else {}
    if model and "-m" in argv[:-1] and argv[argv.index("-m") + 1] == model:
        return str(facts["model"]) if facts.get("model") else None
    return model or facts.get("model")


def _latency(d: dict | None) -> dict[str, float | None]:
    if not d:
        return dict(_NO_LATENCY)
    return {k: _finite(d.get(k)) for k in _NO_LATENCY}


def _token_counters(kind: str | None) -> tuple[str, str]:
    """The generated- and prompt-token counters of an engine kind (its canonical map)."""
    from iejtui.derive.metric_map import metric_map_for
    mmap = metric_map_for(kind)
    gen = (mmap.names("generation_tokens") if mmap else ()) or ("vllm:generation_tokens_total",)
    prompt = (mmap.names("prompt_tokens") if mmap else ()) or (mmap.names("prompt_tokens_by_source") if mmap else ()) \
        or ("vllm:prompt_tokens_total",)
    return gen[0], prompt[0]


def engine_metrics(reader, run: dict) -> dict[str, Any]:
    from iejtui.derive.metric_map import unreported
    from iejtui.summary import run_summary
    s = run_summary(reader, run)
    facts = run.get("facts") if isinstance(run.get("facts"), dict) else {}
    win = s.get("window")
    gen_peak = gen_mean = prompt_mean = None
    if win:
        gen_name, prompt_name = _token_counters(run.get("engine_kind"))
        _, gen = token_rate(reader, run["id"], gen_name, win[0], win[1])
        busy = [v for v in gen if v > 0]
        gen_peak = max(gen) if gen else None
        gen_mean = statistics.fmean(busy) if busy else (0.0 if gen else None)
        _, prm = token_rate(reader, run["id"], prompt_name, win[0], win[1])
        busy_p = [v for v in prm if v > 0]
        prompt_mean = statistics.fmean(busy_p) if busy_p else (0.0 if prm else None)
    dur = (win[1] - win[0]) if win else None
    finished = _finite(s.get("requests_finished"))
    kv_cap = _finite(s.get("kv_capacity_tokens")) or _finite(facts.get("kv_cache_tokens"))
    kv_pct = _finite(s.get("kv_usage_pct_peak"))
    return {
        "tokens": {"generated": _finite(s.get("generation_tokens")), "prompt": _finite(s.get("prompt_tokens"))},
        "throughput": {
            "generation_tok_s_peak": gen_peak,
            "generation_tok_s_mean_busy": gen_mean,
            "prompt_tok_s_mean_busy": prompt_mean,
            "generation_tok_s_mean": (_finite(s.get("generation_tokens")) / dur
                                      if dur and s.get("generation_tokens") is not None else None),
            "requests_finished": finished,
            "requests_per_s": finished / dur if finished is not None and dur else None,
        },
        "latency_s": {k: _latency(s.get(f"{k}_s")) for k in LATENCY_KEYS},
        "kv": {"peak_pct": kv_pct, "capacity_tokens": kv_cap,
               "peak_tokens": kv_pct / 100.0 * kv_cap if kv_pct is not None and kv_cap else None},
        "prefix_cache_hit_pct": _finite(s.get("prefix_cache_hit_pct")),
        # canonical figures this engine kind cannot report: "not reported by this engine"
        "not_reported": sorted(unreported(run.get("engine_kind") or "vllm")),
        "window": win,
        "gpu_summary": s.get("gpu"),
    }


def _pcts(values: list[float]) -> dict[str, float | None]:
    vals = sorted(v for v in values if v is not None and math.isfinite(v))
    if not vals:
        return dict(_NO_LATENCY)

    def q(p: float) -> float:
        k = (len(vals) - 1) * p
        lo, hi = math.floor(k), math.ceil(k)
        return vals[lo] + (vals[hi] - vals[lo]) * (k - lo)

    return {"p50": q(0.5), "p90": q(0.9), "p99": q(0.99), "mean": statistics.fmean(vals), "count": float(len(vals))}


def bench_metrics(reader, run: dict) -> dict[str, Any]:
    """Client-side figures of a benchmark run from its stored requests."""
    reqs = reader.requests(run["id"])
    ok = [r for r in reqs if r.get("ok")]
    out_tok = sum(r.get("output_tokens") or 0 for r in ok)
    in_tok = sum(r.get("prompt_tokens") or 0 for r in ok)
    if reqs:
        t_start = min(r["t_sent"] for r in reqs)
        t_end = max(r["t_sent"] + (r.get("e2el") or 0.0) for r in reqs)
        dur = t_end - t_start
    else:
        dur = None
    itl: list[float] = []
    tpot: list[float] = []
    for r in ok:
        ct = r.get("chunk_times") or []
        itl.extend(b - a for a, b in zip(ct, ct[1:]))
        n = r.get("output_tokens") or 0
        if n > 1 and r.get("e2el") is not None and r.get("ttft") is not None:
            tpot.append((r["e2el"] - r["ttft"]) / (n - 1))
    return {
        "requests": {"total": len(reqs), "ok": len(ok), "failed": len(reqs) - len(ok)} if reqs else None,
        "tokens": {"generated": float(out_tok) if reqs else None, "prompt": float(in_tok) if reqs else None},
        "throughput": {
            "output_tok_s": out_tok / dur if reqs and dur else None,
            "total_tok_s": (out_tok + in_tok) / dur if reqs and dur else None,
            "requests_per_s": len(ok) / dur if reqs and dur else None,
        },
        "latency_s": {"ttft": _pcts([r.get("ttft") for r in ok]), "itl": _pcts(itl), "tpot": _pcts(tpot),
                      "e2e": _pcts([r.get("e2el") for r in ok])},
        "requests_span_s": dur,
        "result": run.get("summary") if isinstance(run.get("summary"), dict) else None,
    }


def _events(reader, run_id: int) -> dict[str, Any]:
    evs = reader.events(run_id, limit=1000)
    return {"errors": sum(1 for e in evs if e.get("level") == "error"),
            "warnings": sum(1 for e in evs if e.get("level") == "warning"),
            "crashes": sum(1 for e in evs if e.get("kind") in ("crashed", "failed"))}


def run_metrics(reader, run: dict) -> dict[str, Any]:
    """One run's entry in metrics.json (see the module doc for units)."""
    entry: dict[str, Any] = {k: run.get(k) for k in RUN_FIELDS}
    entry["name"] = redact_text(str(run.get("name") or ""))
    entry["model"] = redact_text(str(model_of(run))) if model_of(run) else None
    entry["reason"] = redact_text(str(run["reason"])) if run.get("reason") else None
    entry["argv"] = safe_argv(run)
    entry["env"] = safe_env(run)
    entry["versions"] = run.get("versions") if isinstance(run.get("versions"), dict) else {}
    entry["facts"] = run.get("facts") if isinstance(run.get("facts"), dict) else {}
    end = run.get("ended_at")
    entry["duration_s"] = (end - run["started_at"]) if end else None
    entry["startup_s"] = (run["ready_at"] - run["started_at"]) if run.get("ready_at") else None
    entry["tags"] = list(run.get("tags") or [])
    if run["kind"] == RunKind.ENGINE:
        entry.update(engine_metrics(reader, run))
    elif run["kind"] == RunKind.BENCH:
        entry.update(bench_metrics(reader, run))
    gen = (entry.get("tokens") or {}).get("generated")
    if "gpu_summary" in entry:
        gsum = entry.pop("gpu_summary")
    else:
        from iejtui.derive.gpu import gpu_window_summary
        gsum = gpu_window_summary(reader, run) if run["kind"] in ("bench", "record") else None
    entry["gpu"] = gpu_block(gsum, gen)
    entry["events"] = _events(reader, run["id"])
    entry["computed_at"] = time.time()
    return redact_obj(entry)  # every string once more (url, cwd, facts, versions: a journal.db
    # written before masking covered them, or by an older iejtui, must not leak through here)


def headline(entries: list[dict[str, Any]]) -> str:
    """One line for JOURNAL_INDEX.md: the best generation rate and its TTFT, or what broke."""
    best = None
    for e in entries:
        tp = e.get("throughput") or {}
        rate = tp.get("generation_tok_s_peak") or tp.get("output_tok_s")
        if rate is not None and (best is None or rate > best[0]):
            best = (rate, e)
    if best is None:
        bad = [e for e in entries if e.get("status") in BROKE]
        if bad:
            return f"{len(bad)} run(s) crashed, no tokens measured"
        return "no throughput measured"
    rate, e = best
    bits = [f"{rate:,.0f} tok/s peak (r{e['id']})"]
    ttft = (e.get("latency_s") or {}).get("ttft") or {}
    if ttft.get("p50") is not None and ttft.get("p99") is not None:
        bits.append(f"TTFT p50/p99 {ttft['p50'] * 1000:.0f}/{ttft['p99'] * 1000:.0f} ms")
    jpt = (e.get("gpu") or {}).get("joules_per_token")
    if jpt is not None:
        bits.append(f"{jpt:.2f} J/tok")
    crashed = sum(1 for x in entries if x.get("status") in BROKE)
    if crashed:
        bits.append(f"{crashed} crashed")
    return ", ".join(bits)


def new_document(day: int, topic: str, slug: str, date: str, note: str | None) -> dict[str, Any]:
    now = time.time()
    return {"schema": SCHEMA, "schema_version": SCHEMA_VERSION, "iejtui": __version__, "day": day,
            "topic": topic, "slug": slug, "date": date, "note": note, "created_at": now, "updated_at": now,
            "headline": None, "runs": []}
