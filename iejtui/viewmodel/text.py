"""Panel figures as text: units, "n/a" for what a source does not report, stale notices.

Pure functions from the view models to ``Field`` rows; the widgets only lay them out and
map ``Field.level`` to theme variables.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from iejtui.fmt import duration, size
from iejtui.store.deletion import counts_text
from iejtui.store.vocab import ENGINE_LIVE, RunStatus
from iejtui.viewmodel.models import EnginePanel, Field, GpuPanel, ProcPanel, TritonView

if TYPE_CHECKING:
    from iejtui.derive.engine import LatencySummary

NA = "n/a"
GIB = 1024 ** 3
HW_REASONS = ("hw_slowdown", "hw_thermal_slowdown", "hw_power_brake_slowdown")


def clock(ts: float | None) -> str:
    return "—" if ts is None else time.strftime("%H:%M:%S", time.localtime(ts))


def span(seconds: float) -> str:
    """A window length the way people say it: 10 s, 5 min, 1 h, 1 h 30 min, 2 d
    (``iejtui.fmt.duration``'s spoken style)."""
    return duration(seconds, "spoken")


def pct(v: float | None, digits: int = 0) -> str:
    return NA if v is None else f"{v:.{digits}f}%"


def num(v: float | None, digits: int = 1, unit: str = "") -> str:
    if v is None:
        return NA
    text = f"{v:,.0f}" if abs(v) >= 1000 else f"{v:.{digits}f}"
    return f"{text} {unit}".rstrip()


def tokens(v: float | None) -> str:
    if v is None:
        return NA
    if v >= 1e6:
        return f"{v / 1e6:.2f}M"
    if v >= 1e4:
        return f"{v / 1e3:.0f}k"
    return f"{v:,.0f}"


def ms(seconds: float | None) -> str:
    if seconds is None:
        return NA
    if seconds >= 10:
        return f"{seconds:.1f} s"
    if seconds >= 1:
        return f"{seconds:.2f} s"
    value = seconds * 1000
    return f"{value:.0f} ms" if value >= 100 else f"{value:.1f} ms"


def _lvl(value: float | None, warn: float, bad: float) -> str:
    if value is None:
        return "muted"
    return "bad" if value >= bad else "warn" if value >= warn else ""


def _frac(v: float | None, top: float | None = 100.0) -> float | None:
    if v is None or not top:
        return None
    return max(0.0, min(1.0, v / top))


# ---- engine process tree (CPU-only hosts) -------------------------------------------------------
def _gib(v: float | None) -> str:
    return NA if v is None else f"{v / GIB:.1f} GiB"


def proc_fields(p: ProcPanel, live: bool = True) -> list[Field]:
    """The engine's process tree on the host: CPU (100% = one core), RSS, host memory and
    memory bandwidth, which is said to be unreadable rather than guessed."""
    top = None if p.cpus is None else p.cpus * 100.0
    cpu = pct(p.cpu_pct, 0)
    if p.cpu_pct is not None and p.cpus:
        cpu += f" of {p.cpus:.0f} cores"
    frac = _frac(p.cpu_pct, top)
    mem = NA
    if p.host_mem_used is not None and p.host_mem_total:
        mem = f"{p.host_mem_used / GIB:.1f}/{p.host_mem_total / GIB:.0f} GiB"
    return [
        Field("CPU" if live else "CPU mean", cpu, "" if frac is None else _lvl(frac * 100, 90, 98), frac),
        Field("CPU peak", pct(p.cpu_pct_peak, 0), "" if p.cpu_pct_peak is not None else "muted"),
        Field("RSS", _gib(p.rss_bytes if live else p.rss_bytes_peak), "" if p.rss_bytes is not None else "muted"),
        Field("procs", num(p.count, 0), "muted" if p.count is None else ""),
        Field("host mem", mem, _lvl(None if mem == NA else p.host_mem_used / p.host_mem_total * 100, 90, 97),
              _frac(p.host_mem_used, p.host_mem_total)),
        Field("mem BW", "PMU present, not read" if p.mem_bw_pmu else "not readable", "muted"),
    ]


# ---- GPU ---------------------------------------------------------------------------------------
def gpu_fields(p: GpuPanel) -> list[Field]:
    """The figures of a GPU panel, most telling first (kernel-active vs SM-active)."""
    if p.stale_since is not None:
        return [Field("status", f"no sample since {clock(p.stale_since)}", "bad")]
    if p.newest is None:
        return [Field("samples", "none in this window", "muted")]
    mem = NA
    mem_frac = None
    if p.mem_used is not None and p.mem_total:
        mem = f"{p.mem_used / GIB:.1f}/{p.mem_total / GIB:.1f} GiB"
        mem_frac = p.mem_used / p.mem_total
    power = NA if p.power_w is None else (
        f"{p.power_w:.0f}/{p.power_limit_w:.0f} W" if p.power_limit_w else f"{p.power_w:.0f} W")
    power_frac = _frac(p.power_w, p.power_limit_w) if p.power_limit_w else None
    temp = "" if p.temp_c is None else f" · {p.temp_c:.0f}°C"
    power_level = _lvl(None if power_frac is None else power_frac * 100, 95, 101)
    if p.temp_c is not None and _lvl(p.temp_c, 80, 87) in ("warn", "bad"):
        power_level = _lvl(p.temp_c, 80, 87)
    sm_clk = NA if p.clock_sm_mhz is None else f"{p.clock_sm_mhz:.0f}"
    if p.clock_sm_mhz is not None and p.clock_sm_max_mhz and p.clock_sm_mhz < p.clock_sm_max_mhz:
        sm_clk += f"/{p.clock_sm_max_mhz:.0f}"
    clk = f"{sm_clk} · {NA if p.clock_mem_mhz is None else f'{p.clock_mem_mhz:.0f}'} MHz"
    if p.clock_sm_mhz is None and p.clock_mem_mhz is None:
        clk = NA
    if p.throttle is None:
        throttle = Field("throttle", NA, "muted")
    elif not p.throttle:
        throttle = Field("throttle", "none", "muted")
    else:
        level = "bad" if any(r in HW_REASONS for r in p.throttle) else (
            "muted" if p.throttle == ("gpu_idle",) else "warn")
        throttle = Field("throttle", ", ".join(p.throttle), level)
    return [
        Field("kernel-active", pct(p.kernel_active), "" if p.kernel_active is not None else "muted",
              _frac(p.kernel_active)),
        Field("SM-active", pct(p.sm_active), "" if p.sm_active is not None else "muted", _frac(p.sm_active)),
        Field("tensor·DRAM", f"{pct(p.tensor_active)} · {pct(p.dram_active)}",
              "" if p.tensor_active is not None or p.dram_active is not None else "muted"),
        Field("memory", mem, _lvl(None if mem_frac is None else mem_frac * 100, 95, 99), mem_frac),
        Field("power·temp", power + temp, power_level if p.power_w is not None else "muted", power_frac),
        Field("clock SM·mem", clk, "" if clk != NA else "muted"),
        throttle,
    ]


def gpu_subtitle(p: GpuPanel, live: bool) -> str:
    if p.stale_since is not None:
        return f"stale since {clock(p.stale_since)}"
    return "now" if live else "window mean"


# ---- engines -------------------------------------------------------------------------------------
def bounded_ms(value: float | None, bounds: tuple[float, float] | None) -> str:
    """A histogram quantile as text; in the first bucket it is only known to be below its
    bound (interpolating from 0 would invent a number), in the last at or above it."""
    if value is None or bounds is None:
        return ms(value)
    first, last = bounds
    if first > 0 and value <= first:
        return f"<{ms(first)}"
    if value >= last:
        return f"≥{ms(last)}"
    return ms(value)


def _lat(label: str, s: LatencySummary | None, bounds: tuple[float, float] | None = None) -> Field:
    if s is None:
        return Field(label, NA, "muted")
    if not s.count:
        return Field(label, "no requests", "muted")
    return Field(label, f"p50 {bounded_ms(s.p50, bounds)}  p99 {bounded_ms(s.p99, bounds)}")


def engine_state(p: EnginePanel) -> tuple[str, str]:
    """(text, level) of the engine's lifecycle, for the panel's title."""
    if p.stale_since is not None:
        return f"stale since {clock(p.stale_since)}", "bad"
    if p.status == RunStatus.STARTING:
        return f"starting: {p.phase or 'launching'}", "warn"
    if p.status == RunStatus.READY:
        return "ready", "good"
    if p.status == RunStatus.CRASHED:
        return f"crashed {clock(p.ended_at)}", "bad"
    if p.status in (RunStatus.FAILED, RunStatus.INTERRUPTED):
        return f"{p.status} {clock(p.ended_at)}", "bad"
    return f"{p.status} {clock(p.ended_at)}", "muted"


#: panel row label → the canonical figure it shows (iejtui.derive.metric_map.CANONICAL_FIGURES)
ROW_FIGURE = {"gen": "generation_tokens", "prompt": "prompt_tokens", "running": "running",
              "waiting": "waiting", "KV": "kv_usage", "KV peak": "kv_usage", "TTFT": "ttft",
              "ITL": "itl", "e2e": "e2e", "queue": "queue", "prefix hit": "prefix_cache_hit",
              "preempt": "preemptions"}
NOT_REPORTED = "not reported"  # by this engine kind: the same rows for every engine, never a 0


def _mark_unreported(unreported: frozenset[str], rows: list[Field]) -> list[Field]:
    return [Field(r.label, NOT_REPORTED, "muted") if ROW_FIGURE.get(r.label) in unreported else r
            for r in rows]


def engine_fields(p: EnginePanel) -> list[Field]:
    """The figures of an engine panel (rates, queue, KV, latencies), or why there are none."""
    if p.stale_since is not None:
        return [Field("stale", f"no metrics since {clock(p.stale_since)}", "bad"),
                Field("url", p.url or NA, "muted")]
    if set(ROW_FIGURE.values()) <= p.unreported and p.status == RunStatus.READY:  # an OpenAI endpoint
        return [Field("metrics", "not reported (OpenAI endpoint: bench it)", "muted"),
                Field("url", p.url or NA, "muted")]
    f, lat = p.figures, p.latency
    ended = p.status not in ENGINE_LIVE
    if f is None or (ended and f.generation_tok_s is None and f.running is None and f.kv_usage_pct is None):
        if p.status == RunStatus.STARTING:
            return [Field("phase", p.phase or "launching", "warn"), Field("url", p.url or NA, "muted")]
        if ended:  # nothing measured in the window: one line, not a panel of n/a
            return [Field("ended", p.reason or p.status, "bad" if p.status == RunStatus.CRASHED else "muted")]
        return [Field("metrics", "no samples yet", "muted"), Field("url", p.url or NA, "muted")]
    kv = pct(f.kv_usage_pct, 1)
    if f.kv_usage_pct is not None and f.kv_capacity_tokens:
        kv += f" of {tokens(f.kv_capacity_tokens)} tok"
    out = _mark_unreported(p.unreported, [
        Field("gen", num(f.generation_tok_s, 1, "tok/s"), "" if f.generation_tok_s is not None else "muted"),
        Field("prompt", num(f.prompt_tok_s, 1, "tok/s"), "" if f.prompt_tok_s is not None else "muted"),
        Field("running", num(f.running, 0), "" if f.running is not None else "muted"),
        Field("waiting", num(f.waiting, 0), "muted" if f.waiting is None else ("warn" if f.waiting > 0 else "")),
        Field("KV", kv, _lvl(f.kv_usage_pct, 90, 98), _frac(f.kv_usage_pct)),
        Field("KV peak", pct(f.kv_usage_pct_peak, 1), _lvl(f.kv_usage_pct_peak, 90, 98)),
        _lat("TTFT", lat.ttft if lat else None, p.latency_bounds.get("ttft")),
        _lat("ITL", lat.itl if lat else None, p.latency_bounds.get("itl")),
        _lat("e2e", lat.e2e if lat else None, p.latency_bounds.get("e2e")),
        _lat("queue", lat.queue if lat else None, p.latency_bounds.get("queue")),
        Field("prefix hit", pct(f.prefix_cache_hit_pct, 0), "" if f.prefix_cache_hit_pct is not None else "muted"),
        Field("preempt", num(f.preemptions_per_s, 2, "/s"),
              "muted" if f.preemptions_per_s is None else ("warn" if f.preemptions_per_s > 0 else "")),
    ])
    out += extra_fields(p.extras)
    if p.triton is not None:
        out += triton_fields(p.triton)
    if p.status not in ENGINE_LIVE:
        out.insert(0, Field("ended", p.reason or p.status, "bad" if p.status == RunStatus.CRASHED else "muted"))
    return out


def _bytes_s(v: float | None) -> str:
    if v is None:
        return NA
    for unit, div in (("GB/s", 1e9), ("MB/s", 1e6), ("kB/s", 1e3)):
        if v >= div:
            return f"{v / div:.1f} {unit}"
    return f"{v:.0f} B/s"


def extra_fields(x) -> list[Field]:
    """Rows for spec decoding, LoRA and KV offload: only those the engine reports."""
    if x is None:
        return []
    out = []
    if x.spec is not None:
        s = x.spec
        if s.drafts <= 0 and s.draft_tokens <= 0:
            out.append(Field("spec acc", "no drafts", "muted"))
        else:
            out.append(Field("spec acc", pct(s.acceptance_pct, 0), "" if s.acceptance_pct is not None else "muted"))
            out.append(Field("spec len", num(s.mean_accepted_len, 2), ""))
            if s.per_position_pct:
                out.append(Field("spec pos", " ".join("–" if v is None else f"{v:.0f}" for v in s.per_position_pct)
                                 + " %", "muted"))
    if x.lora is not None:
        lo = x.lora
        text = f"{len(lo.running)} run · {len(lo.waiting)} wait"
        if lo.max_lora is not None:
            text += f" / {lo.max_lora}"
        out.append(Field("LoRA", text, "warn" if lo.waiting else ""))
        if lo.running:
            out.append(Field("adapters", ",".join(lo.running), "muted"))
    if x.kv_offload is not None:
        k = x.kv_offload
        out.append(Field("KV load", _bytes_s(k.load_bytes_s), "" if k.load_bytes_s is not None else "muted"))
        out.append(Field("KV store", _bytes_s(k.store_bytes_s), "" if k.store_bytes_s is not None else "muted"))
    return out


def _ms_short(seconds: float | None) -> str:
    return NA if seconds is None else f"{seconds * 1000:.1f}"


def triton_fields(t: TritonView) -> list[Field]:
    """Triton's own rows under the canonical ones: the model shown, its requests, the batch
    Triton formed, per-request queue / compute means, first response (never "TTFT": for a
    decoupled streaming model it is the first chunk), the host CPU and the GPU cross-check."""
    m = t.model
    shown = (m.model if m else NA) + (f" (+{t.models - 1})" if t.models > 1 else "")
    out = [Field("triton", f"{t.backend or NA} · {shown}", "muted" if t.backend is None else "")]
    if m is not None:
        failed = sum(m.failures.values())
        by = " ".join(f"{r} {v:.0f}" for r, v in m.failures.items() if v > 0)
        req = f"{num(m.success_per_s, 1, '/s')} ok · {failed:.0f} failed" + (f" ({by})" if by else "")
        out.append(Field("requests", req, "warn" if failed > 0 else ("" if m.success is not None else "muted")))
        out.append(Field("batch", num(m.batch_size, 2), "" if m.batch_size is not None else "muted"))
        mean = m.mean_s
        out.append(Field("q/infer", f"{_ms_short(mean.get('queue'))} / {_ms_short(mean.get('compute_infer'))} ms",
                         "" if mean.get("compute_infer") is not None else "muted"))
        out.append(Field("in/out", f"{_ms_short(mean.get('compute_input'))} / "
                                   f"{_ms_short(mean.get('compute_output'))} ms",
                         "" if mean.get("compute_input") is not None else "muted"))
        q = m.summary_s.get("request", {})
        if q:
            out.append(Field("req p99", f"{ms(q.get(0.99))} (Triton's own)"))
        out.append(_lat("1st resp", m.first_response) if m.first_response is not None
                   else Field("1st resp", NOT_REPORTED, "muted"))
    h = t.host
    if h is not None and h.cpu_util_pct is not None:
        mem = ""
        if h.cpu_mem_used_bytes is not None and h.cpu_mem_total_bytes:
            mem = f" · mem {h.cpu_mem_used_bytes / GIB:.1f}/{h.cpu_mem_total_bytes / GIB:.0f} GiB"
        out.append(Field("host CPU", f"{h.cpu_util_pct:.0f}%{mem}"))
    for uuid, checks in t.gpu_check:
        bad = [a.figure for a in checks if a.agree is False]
        known = [a for a in checks if a.agree is not None]
        if not known:
            continue
        verdict = "disagree on " + ", ".join(bad) if bad else "agree"
        out.append(Field(f"GPU {uuid[4:12]}", f"Triton vs NVML: {verdict}", "warn" if bad else "good"))
    return out


def engine_subtitle(p: EnginePanel, live: bool) -> str:
    if live:
        return f"r{p.run_id} · rates {span(p.rate_window_s)} · latency {span(p.latency_window_s)}"
    return f"r{p.run_id} · over {span(p.rate_window_s)}"


def deletion_question(preview: dict, file_bytes: int) -> str:
    """The Runs screen's question before ``runs delete`` (``Reader.deletion_preview``)."""
    runs = preview["runs"]
    names = ", ".join(f"r{r['id']} {r['name']}" for r in runs[:6]) + (f" and {len(runs) - 6} more" if len(runs) > 6 else "")
    files = f", files {size(file_bytes)}" if file_bytes else ""
    return (f"Delete {len(runs)} run(s): {names}?\n"
            f"{counts_text(preview)}{files}. "
            "They are gone for good (a day log keeps its own copy).")
