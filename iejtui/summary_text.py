"""``iejtui.summary.run_summary`` as plain (label, value) rows: what ``runs show`` prints
and what any other plain-text front end shows (pure; no terminal, no Textual).

Every figure of the summary is printed, section by section (``engine`` / ``bench`` then
``gpu``); a figure that was not measured prints "—"; a ``gpu`` section with no GPU prints
one row saying so, so a summary is never silently empty.
"""

from __future__ import annotations

import time
from typing import Any

from iejtui import fmt

_LAT = (("ttft", "TTFT"), ("tpot", "TPOT"), ("itl", "ITL"), ("e2e", "E2E"), ("queue", "queue"))


def _g(d: Any, *keys: str) -> Any:
    for k in keys:
        if not isinstance(d, dict):
            return None
        d = d.get(k)
    return d


def _n(x: float | None, digits: int = 1, unit: str = "") -> str:
    """A figure with thousands separators, "—" when not measured."""
    return "—" if x is None else f"{x:,.{digits}f}" + (f" {unit}" if unit else "")


def _pair(a: float | None, b: float | None, digits: tuple[int, int] = (1, 1), unit: str = "") -> str:
    return f"{_n(a, digits[0])} / {_n(b, digits[1])}{(' ' + unit) if unit else ''}"


def counting_line(ts: float | None) -> str | None:
    return f"counting from attach at {time.strftime('%H:%M:%S', time.localtime(ts))}" if ts else None


def _latency_rows(lat: dict) -> list[tuple[str, str]]:
    rows = []
    for key, label in _LAT:
        d = lat.get(key) or {}
        if d.get("count"):
            rows.append((f"{label} p50/p90/p99", f"{fmt.ms(d.get('p50'))} / {fmt.ms(d.get('p90'))} / "
                                                 f"{fmt.ms(d.get('p99'))}  (mean {fmt.ms(d.get('mean'))}, "
                                                 f"n={d['count']:.0f})"))
    return rows


def engine_rows(e: dict) -> list[tuple[str, str]]:
    tp, cc = e.get("throughput") or {}, e.get("concurrency") or {}
    rows = []
    if counting_line(e.get("counting_from")):
        rows.append(("counting", counting_line(e.get("counting_from"))))
    rows += [
        ("tokens gen / prompt", _pair(_g(e, "tokens", "generated"), _g(e, "tokens", "prompt"), (0, 0))),
        ("gen tok/s peak / mean", _pair(tp.get("generation_tok_s_peak"), tp.get("generation_tok_s_mean"))
         + f"  (mean while busy {_n(tp.get('generation_tok_s_mean_busy'))})"),
        ("requests finished", f"{_n(tp.get('requests_finished'), 0)}  ({_n(tp.get('requests_per_s'), 2)} req/s)"),
        ("running peak / mean", _pair(cc.get("running_peak"), cc.get("running_mean"), (0, 1))),
        ("waiting peak / mean", _pair(cc.get("waiting_peak"), cc.get("waiting_mean"), (0, 1))),
        ("preemptions", _n(e.get("preemptions"), 0)),
        ("KV peak", "—" if _g(e, "kv", "peak_pct") is None else
         f"{_n(_g(e, 'kv', 'peak_pct'), 2)} % = {_n(_g(e, 'kv', 'peak_tokens'), 0)} of "
         f"{_n(_g(e, 'kv', 'capacity_tokens'), 0)} tok"),
        ("prefix-cache hit", _n(e.get("prefix_cache_hit_pct"), 1, "%")),
    ]
    rows += _latency_rows(e.get("latency_s") or {})
    rows += _extra_rows(e)
    if e.get("not_reported"):
        rows.append(("not reported", ", ".join(e["not_reported"])))
    return rows


def _extra_rows(e: dict) -> list[tuple[str, str]]:
    """Spec decoding, LoRA, KV offload: rows only for the families the engine reported."""
    rows = []
    if (s := e.get("spec_decode")) is not None:
        pos = " ".join("–" if v is None else f"{v:.0f}" for v in s.get("per_position_pct") or [])
        rows.append(("spec-decode acceptance", f"{_n(s.get('acceptance_pct'), 1, '%')}  mean accepted length "
                     f"{_n(s.get('mean_accepted_len'), 2)}  ({_n(s.get('accepted_tokens'), 0)} of "
                     f"{_n(s.get('draft_tokens'), 0)} draft tokens, {_n(s.get('drafts'), 0)} drafts)"))
        if pos:
            rows.append(("spec-decode by position", pos + " %"))
    if (lo := e.get("lora")) is not None:
        rows.append(("LoRA running / waiting", f"{','.join(lo.get('running') or []) or '—'} / "
                     f"{','.join(lo.get('waiting') or []) or '—'}  (max {_n(lo.get('max_lora'), 0)})"))
    if (k := e.get("kv_offload")) is not None:
        mb = lambda v: _n(None if v is None else v / 1e6, 1, "MB/s")  # noqa: E731
        rows.append(("KV offload load / store", f"{mb(k.get('load_bytes_s'))} / {mb(k.get('store_bytes_s'))}"))
    return rows


def bench_rows(b: dict) -> list[tuple[str, str]]:
    tp, rq = b.get("throughput") or {}, b.get("requests") or {}
    rows = [
        ("requests ok / failed", f"{_n(rq.get('ok'), 0)} / {_n(rq.get('failed'), 0)}"
         + (f"  ({', '.join(f'{k}: {n}' for k, n in sorted((b.get('errors') or {}).items()))})"
            if b.get("errors") else "")),
        ("duration", f"{_n(b.get('duration_s'), 2)} s"
         + ("  (span of the requests)" if b.get("duration_from") == "requests" else "")),
        ("tokens out / in", _pair(_g(b, "tokens", "generated"), _g(b, "tokens", "prompt"), (0, 0))),
        ("output tok/s (peak)", f"{_n(tp.get('output_tok_s'))}  ({_n(tp.get('output_tok_s_peak'))})"),
        ("total tok/s", _n(tp.get("total_tok_s"))),
        ("req/s, goodput", f"{_n(tp.get('requests_per_s'), 2)}, {_n(tp.get('goodput_req_s'), 2)}"),
        ("peak concurrency", _n(tp.get("concurrency_peak"), 0)),
    ]
    return rows + _latency_rows(b.get("latency_s") or {})


def gpu_rows(g: dict) -> list[tuple[str, str]]:
    if not g or not g.get("count"):
        return [("GPU", "not measured (no NVIDIA GPU sampled during this run)")]

    def pm(key: str, scale: float = 1.0, digits: int = 0, unit: str = "") -> str:
        d = g.get(key) or {}
        peak, mean = (None if d.get(k) is None else d[k] * scale for k in ("peak", "mean"))
        return _pair(peak, mean, (digits, digits), unit)

    names = ", ".join(g.get("names") or [])
    return [("GPUs", f"{g['count']} × {names}" if names else str(g["count"])),
            ("SM-active peak / mean", pm("sm_active_pct", unit="%")),
            ("tensor peak / mean", pm("tensor_active_pct", unit="%")),
            ("kernel-active peak / mean", pm("kernel_active_pct", unit="%")),
            ("DRAM peak / mean", pm("dram_active_pct", unit="%")),
            ("memory peak / mean", pm("memory_used_bytes", 1 / 2 ** 30, 1, "GiB")),
            ("power peak / mean", pm("power_w", unit="W")),
            ("energy", f"{_n(g.get('energy_j'), 0)} J  ({_n(g.get('joules_per_token'), 3)} J/token)")]


def summary_rows(summary: dict) -> list[tuple[str, list[tuple[str, str]]]]:
    """(section title, rows) for each section of the summary, in print order."""
    out = []
    if isinstance(summary.get("engine"), dict):
        out.append(("engine", engine_rows(summary["engine"])))
    if isinstance(summary.get("bench"), dict):
        out.append(("benchmark (client side)", bench_rows(summary["bench"])))
    out.append(("gpu", gpu_rows(summary.get("gpu") or {})))
    return out


def _ms_pair(d: dict | None) -> str | None:
    if not d or not d.get("count") or d.get("p50") is None:
        return None
    return f"{d['p50'] * 1000:,.0f}/{(d.get('p99') or 0) * 1000:,.0f} ms"


def summary_line(summary: dict) -> str:
    """The summary's headline figures on one line (the TUI's run view): the same numbers
    as ``runs show``, fewer of them."""
    bits: list[str] = []
    e, b, g = summary.get("engine"), summary.get("bench"), summary.get("gpu") or {}
    if isinstance(e, dict):
        tp, cc = e.get("throughput") or {}, e.get("concurrency") or {}
        if counting_line(e.get("counting_from")):
            bits.append(counting_line(e.get("counting_from")))
        bits += [f"{_n(_g(e, 'tokens', 'generated'), 0)} tok out",
                 f"{_n(tp.get('generation_tok_s_peak'))} tok/s peak (mean {_n(tp.get('generation_tok_s_mean'))})",
                 f"running ≤{_n(cc.get('running_peak'), 0)} (mean {_n(cc.get('running_mean'))})",
                 f"waiting ≤{_n(cc.get('waiting_peak'), 0)}", f"{_n(e.get('preemptions'), 0)} preemptions"]
        if _ms_pair(_g(e, "latency_s", "ttft")):
            bits.append(f"TTFT p50/p99 {_ms_pair(_g(e, 'latency_s', 'ttft'))}")
    if isinstance(b, dict):
        rq, tp = b.get("requests") or {}, b.get("throughput") or {}
        bits += [f"{_n(rq.get('ok'), 0)}/{_n(rq.get('total'), 0)} ok", f"{_n(tp.get('output_tok_s'))} tok/s"]
        if _ms_pair(_g(b, "latency_s", "ttft")):
            bits.append(f"TTFT p50/p99 {_ms_pair(_g(b, 'latency_s', 'ttft'))}")
    gbits = [text for value, text in (
        (_g(g, "sm_active_pct", "peak"), f"SM-active peak {_n(_g(g, 'sm_active_pct', 'peak'), 0)} %"),
        (_g(g, "power_w", "peak"), f"power peak {_n(_g(g, 'power_w', 'peak'), 0)} W"),
        (g.get("energy_j"), f"{_n(g.get('energy_j'), 0)} J"),
        (g.get("joules_per_token"), f"{_n(g.get('joules_per_token'), 3)} J/tok")) if value is not None]
    bits += gbits or ["GPU not measured"]
    return " · ".join(bits)
