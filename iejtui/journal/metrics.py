"""metrics.json: every tagged run's figures in one versioned schema.

``run_metrics(reader, run)`` is the run's fields (masked) plus the sections of
``iejtui.summary.run_summary`` as they are — ``engine`` or ``bench``, and ``gpu`` — so
metrics.json, ``runs show`` and the exports print one set of figures. Anything not
measured is ``null``, never a made-up zero. Units are in the key names: ``_s`` seconds,
``_pct`` 0–100, ``_tok_s`` tokens per second, ``_w`` watts, ``_j`` joules, ``_bytes`` bytes.

Schema version 2 (version 1 kept ``tokens``, ``throughput``, ``latency_s``, ``kv``,
``prefix_cache_hit_pct``, ``not_reported``, ``window`` of engine runs and ``requests``,
``tokens``, ``throughput``, ``latency_s``, ``requests_span_s`` of bench runs at the top
level of the entry; they now sit inside ``engine`` / ``bench``; a bench run's stored result
stays in ``result``). Readers take either (``iejtui.summary.figures_of``).
"""

from __future__ import annotations

import time
from typing import Any

from iejtui import __version__
from iejtui.redact import redact_argv, redact_env, redact_obj, redact_text
from iejtui.store.vocab import BROKE, RunKind

SCHEMA = "iejtui.day-metrics"
SCHEMA_VERSION = 2  # = iejtui.summary.SUMMARY_SCHEMA_VERSION (the entry holds its sections)
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
    from iejtui.summary import run_summary
    entry.update(run_summary(reader, run))
    if run["kind"] == RunKind.BENCH:
        entry["result"] = run.get("summary") if isinstance(run.get("summary"), dict) else None
    stored = run.get("summary")
    if isinstance(stored, dict) and isinstance(stored.get("profile"), dict):  # bench --profile, a profile run
        entry["profile"] = {k: v for k, v in stored["profile"].items() if k != "dir"}  # the runtime path stays local
    entry["events"] = _events(reader, run["id"])
    entry["computed_at"] = time.time()
    return redact_obj(entry)  # every string once more (url, cwd, facts, versions: a journal.db
    # written before masking covered them, or by an older iejtui, must not leak through here)


def headline(entries: list[dict[str, Any]]) -> str:
    """One line for JOURNAL_INDEX.md: the best generation rate and its TTFT, or what broke."""
    from iejtui.summary import figures_of
    best = None
    for e in entries:
        tp = figures_of(e).get("throughput") or {}
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
    ttft = (figures_of(e).get("latency_s") or {}).get("ttft") or {}
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
