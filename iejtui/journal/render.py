"""Markdown blocks shared by LOG.md, exports and benchmark READMEs (pure functions).

Inputs are metrics.json run entries (``iejtui.journal.metrics.run_metrics``: the run's
fields plus ``iejtui.summary.run_summary``'s sections, read through ``figures_of`` so an
entry of schema 1 still renders) and, for
"what broke", the run's events and log tail. Every outside string goes through
``mdsafe`` (secrets masked, HTML and markdown neutralised).
"""

from __future__ import annotations

import shlex
import time
from typing import Any

from iejtui import fmt
from iejtui.journal.mdsafe import code, esc, fence, table
from iejtui.store.vocab import ENDED_BADLY
from iejtui.summary import figures_of

LAT_LABELS = {"ttft": "TTFT", "itl": "ITL", "tpot": "TPOT", "e2e": "E2E latency", "queue": "Queue time"}


def ms(x: float | None) -> str:
    if x is None:
        return "—"
    v = x * 1000
    return f"{v:.1f} ms" if v < 100 else f"{v:,.0f} ms"


def num(x: float | None, digits: int = 0, unit: str = "") -> str:
    if x is None:
        return "—"
    return f"{x:,.{digits}f}{(' ' + unit) if unit else ''}"


def _g(d: dict | None, *keys: str) -> Any:
    for k in keys:
        if not isinstance(d, dict):
            return None
        d = d.get(k)
    return d


def pct(x: float | None) -> str:
    """A percentage with the digits it needs (0.05 % is not 0.0 %)."""
    if x is None:
        return "—"
    return f"{x:.2f} %" if 0 < abs(x) < 1 else f"{x:.1f} %"


def run_ref(e: dict) -> str:
    return f"r{e['id']}"


def status_text(e: dict) -> str:
    s = esc(e.get("status"))
    if e.get("exit_code") not in (None, 0):
        s += f" (exit {e['exit_code']})"
    return s


def runs_table(entries: list[dict]) -> str:
    """One row per run with its headline figures."""
    if not entries:
        return "_No runs tagged yet: `iejtui tag RUN --day N`._"
    rows = []
    for e in entries:
        f = figures_of(e)
        tp = f.get("throughput") or {}
        ttft = _g(f, "latency_s", "ttft") or {}
        rate = tp.get("generation_tok_s_peak") if e.get("kind") == "engine" else tp.get("output_tok_s")
        rows.append([
            run_ref(e), esc(e.get("name"), limit=40), esc(e.get("kind")), status_text(e),
            fmt.duration(e.get("duration_s")) if e.get("duration_s") is not None else "running",
            num(_g(f, "tokens", "generated")), num(rate, 1),
            f"{ms(ttft.get('p50'))} / {ms(ttft.get('p99'))}" if ttft.get("count") else "—",
            ms(_g(f, "latency_s", "itl", "p50")),
            pct(_g(f, "kv", "peak_pct")),
            num(_g(e, "gpu", "sm_active_pct", "peak"), 0, "%"),
            num(_g(e, "gpu", "joules_per_token"), 2),
        ])
    return table(["Run", "Name", "Kind", "Status", "Duration", "Tokens out", "Peak tok/s", "TTFT p50 / p99",
                  "ITL p50", "KV peak", "SM-active peak", "J/token"], rows, right={4, 5, 6, 7, 8, 9, 10, 11})


def hardware(e: dict) -> str:
    v = e.get("versions") or {}
    host = code(v.get("host"), table=True) if v.get("host") else "unknown host"
    if v.get("gpu"):
        return f"{int(v.get('gpu_count') or 1)} × {esc(v['gpu'])} on {host}"
    return f"{host}, no NVIDIA GPU recorded (CPU run)"


def setup_table(entries: list[dict]) -> str:
    """Hardware, driver, engine and version, model: one column per distinct engine setup."""
    engines = [e for e in entries if e.get("kind") == "engine"] or entries
    if not engines:
        return "_No runs yet._"
    rows = []
    for e in engines:
        v = e.get("versions") or {}
        facts = e.get("facts") or {}
        eng = esc(e.get("engine_kind") or e.get("kind"))
        ver = v.get("engine") or facts.get("version")
        rows.append([run_ref(e), hardware(e),
                     esc(" / ".join(str(x) for x in (v.get("driver"), v.get("cuda")) if x)) or "—",
                     eng + (f" {esc(ver)}" if ver else ""), code(e.get("model"), limit=80, table=True) or "—",
                     num(_g(figures_of(e), "kv", "capacity_tokens"), 0, "tok"),
                     esc(f"iejtui {v.get('iejtui', '?')}, Python {v.get('python', '?')}")])
    return table(["Run", "Hardware", "Driver / CUDA", "Engine", "Model", "KV capacity", "Tools"], rows)


def _script_line(argv: list[str], env: dict[str, str]) -> str:
    envs = " ".join(f"{k}={shlex.quote(str(v))}" for k, v in sorted(env.items()))
    return (envs + " \\\n  " if envs else "") + shlex.join(argv)


def launch_commands(entries: list[dict], code_dir: str | None = None) -> str:
    """The exact command line of each engine and benchmark run (secrets shown as ***)."""
    parts = []
    for e in entries:
        if not e.get("argv"):
            continue
        what = "benchmark" if e.get("kind") == "bench" else "engine"
        link = f" — script: [{esc(code_dir)}/{e['script']}]({code_dir}/{e['script']})" if code_dir and e.get("script") else ""
        parts.append(f"{what.capitalize()} {run_ref(e)} {code(e.get('name'))}{link}:\n\n"
                     + fence(_script_line(e["argv"], e.get("env") or {}), "sh"))
    if not parts:
        return "_No launch command recorded (attached engines and recordings have none)._"
    return "\n\n".join(parts) + "\n\nSecrets (API keys, tokens) are masked as `***`; they never reach the journal."


NOT_REPORTED = "not reported by this engine"


def _unreported(e: dict) -> set[str] | None:
    """The canonical figures the run's engine kind cannot report; None when unknown (a
    bench run, or metrics.json written before this was recorded)."""
    nr = figures_of(e).get("not_reported")
    return set(nr) if isinstance(nr, list) else None


def latency_table(e: dict) -> str:
    """Engine runs get every canonical latency row (a figure, "no observations", or "not
    reported by this engine"), so engines compare row by row; bench runs only measured rows."""
    lat = figures_of(e).get("latency_s") or {}
    nr = _unreported(e)
    rows, measured = [], False
    for key, label in LAT_LABELS.items():
        d = lat.get(key)
        if nr is not None and key in nr:
            rows.append([label, NOT_REPORTED, "", "", "", ""])
            continue
        if not d or not d.get("count"):
            if nr is not None:
                rows.append([label, "no observations", "", "", "", ""])
            continue
        measured = True
        rows.append([label, ms(d.get("p50")), ms(d.get("p90")), ms(d.get("p99")), ms(d.get("mean")),
                     num(d.get("count"))])
    if not measured and nr is None:
        return "_No latency observations in this run._"
    src = ("the engine's stored histograms (interpolated within buckets, as PromQL does)"
           if e.get("kind") == "engine" else "each request's own timings, measured by the client")
    return (table(["Latency", "p50", "p90", "p99", "mean", "count"], rows, right={1, 2, 3, 4, 5})
            + f"\n\n<sub>Percentiles from {src}.</sub>")


def counting_line(e: dict) -> str | None:
    """"counting from attach at HH:MM:SS" when the engine was counted from attach time."""
    from iejtui.summary_text import counting_line as line
    return line(_g(figures_of(e), "counting_from"))


def figures_table(e: dict) -> str:
    """Every figure of ``iejtui.summary.run_summary``'s ``engine``/``bench`` and ``gpu``
    sections (the same numbers as ``runs show`` and metrics.json)."""
    f = figures_of(e)
    tp = f.get("throughput") or {}
    g = e.get("gpu") or {}
    rows = []
    if e.get("kind") in ("engine", "bench") or f:
        rows += [["Tokens generated / prompt",
                  f"{num(_g(f, 'tokens', 'generated'))} / {num(_g(f, 'tokens', 'prompt'))}"]]
    if e.get("kind") == "engine":
        cc = f.get("concurrency") or {}
        rows += [["Generation tok/s (peak 5 s / mean while busy)",
                  f"{num(tp.get('generation_tok_s_peak'), 1)} / {num(tp.get('generation_tok_s_mean_busy'), 1)}"],
                 ["Generation tok/s (mean over the run)", num(tp.get("generation_tok_s_mean"), 1)],
                 ["Requests finished (req/s)",
                  f"{num(tp.get('requests_finished'))} ({num(tp.get('requests_per_s'), 2)})"]]
        nr = _unreported(e) or set()
        rows += [["Running requests peak / mean", NOT_REPORTED if "running" in nr else
                  f"{num(cc.get('running_peak'))} / {num(cc.get('running_mean'), 1)}"],
                 ["Waiting requests peak / mean", NOT_REPORTED if "waiting" in nr else
                  f"{num(cc.get('waiting_peak'))} / {num(cc.get('waiting_mean'), 1)}"],
                 ["Preemptions", NOT_REPORTED if "preemptions" in nr else num(f.get("preemptions"))]]
        kv = (NOT_REPORTED if "kv_usage" in nr else
              f"{pct(_g(f, 'kv', 'peak_pct'))} = {num(_g(f, 'kv', 'peak_tokens'), 0, 'tok')}"
              f" of {num(_g(f, 'kv', 'capacity_tokens'), 0, 'tok')}")
        rows += [["KV cache peak", kv],
                 ["Prefix-cache hit", NOT_REPORTED if "prefix_cache_hit" in nr else pct(f.get("prefix_cache_hit_pct"))]]
        if "prompt_tokens" in nr:
            rows[0][1] = f"{num(_g(f, 'tokens', 'generated'))} / {NOT_REPORTED}"
        if counting_line(e):
            rows.append(["Counting", counting_line(e)])
    elif e.get("kind") == "bench" or f:
        rq = f.get("requests") or {}
        errs = f.get("errors") or {}
        rows += [["Output tok/s (peak 1 s)", f"{num(tp.get('output_tok_s'), 1)} ({num(tp.get('output_tok_s_peak'), 1)})"],
                 ["Total tok/s", num(tp.get("total_tok_s"), 1)],
                 ["Requests ok / failed (req/s)",
                  f"{num(rq.get('ok'))} / {num(rq.get('failed'))} ({num(tp.get('requests_per_s'), 2)})"],
                 ["Goodput (req/s)", num(tp.get("goodput_req_s"), 2)],
                 ["Peak concurrency", num(tp.get("concurrency_peak"))],
                 ["Benchmark duration", f"{num(f.get('duration_s'), 2, 's')}"
                  + (" (span of the requests)" if f.get("duration_from") == "requests" else "")]]
        if errs:
            rows.append(["Errors", esc(", ".join(f"{k}: {n}" for k, n in sorted(errs.items())))])
    if g.get("count"):
        def pm(key: str, unit: str, scale: float = 1.0, digits: int = 0) -> str:
            d = g.get(key) or {}
            peak, mean = (None if d.get(k) is None else d[k] * scale for k in ("peak", "mean"))
            return f"{num(peak, digits, unit)} / {num(mean, digits, unit)}"
        rows += [["GPU SM-active peak / mean", pm("sm_active_pct", "%")],
                 ["GPU tensor-active peak / mean", pm("tensor_active_pct", "%")],
                 ["GPU kernel-active (NVML util) peak / mean", pm("kernel_active_pct", "%")],
                 ["GPU memory used peak / mean", pm("memory_used_bytes", "GiB", 1 / 2 ** 30, 1)],
                 ["GPU power peak / mean", pm("power_w", "W")],
                 ["Energy / per token", f"{num(g.get('energy_j'), 0, 'J')} / {num(g.get('joules_per_token'), 3, 'J')}"]]
    else:
        rows.append(["GPU", "not measured (no NVIDIA GPU sampled during this run)"])
    return table(["Figure", "Value"], rows)


def versions_line(e: dict) -> str:
    v = e.get("versions") or {}
    keys = ("engine", "iejtui", "python", "driver", "cuda", "gpu", "host")
    bits = [f"{k} {code(v[k])}" for k in keys if v.get(k) is not None]
    return ", ".join(bits) or "_not recorded_"


def broke_section(items: list[tuple[dict, list[dict], str | None]], tail_lines: int = 20) -> str:
    """Crashes, failures and error events: ``items`` = (entry, events, redacted log tail)."""
    out = []
    for e, events, tail in items:
        bad = e.get("status") in ENDED_BADLY
        # Scrapes failing after a requested stop are the stop itself, not a problem.
        stop_ts = min((ev["ts"] for ev in events if ev.get("kind") == "stopping"), default=None)
        errs = [ev for ev in events if ev.get("level") in ("error", "warning")
                and (bad or stop_ts is None or ev["ts"] < stop_ts)]
        if not bad and not errs:
            continue
        head = f"- **{run_ref(e)} {esc(e.get('name'))}** {status_text(e)}"
        if e.get("reason"):
            head += f": {esc(e['reason'], limit=300)}"
        out.append(head)
        for ev in errs[-8:]:
            out.append(f"  - {time.strftime('%H:%M:%S', time.localtime(ev['ts']))} {esc(ev.get('level'))}: "
                       f"{esc(ev.get('message'), limit=300)}")
        if bad and tail:
            lines = tail.splitlines()[-tail_lines:]
            out.append(f"\n  Last {len(lines)} log lines:\n")
            out.append("\n".join("  " + ln for ln in fence("\n".join(lines), "text").splitlines()))
    if not out:
        return "_Nothing crashed and no warnings were recorded._"
    return "\n".join(out)


def profile_sections(entries: list[dict]) -> str:
    """Each profiled run's table and bars (``iejtui.profiling.render``); "" when none is."""
    from iejtui.profiling.render import profile_markdown
    out = []
    for e in entries:
        if isinstance(e.get("profile"), dict):
            out += ["", f"**Profile of {run_ref(e)}** (trace files kept under the journal's runtime "
                        f"folder, not in days/)", "", profile_markdown(e["profile"])]
    return "\n".join(out)
