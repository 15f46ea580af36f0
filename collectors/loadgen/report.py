"""vLLM-compatible result JSON and printed summary (``vllm bench serve`` 0.32 layout).

``result_json`` produces the keys of the file ``vllm bench serve --save-result`` writes,
in the same order (per-request arrays only with ``--save-detailed``, except
``latencies`` and ``queue_times`` which vLLM always keeps); iejtui's additions live
under the single extra key ``"iejtui"``.  ``format_summary`` renders the
"Serving Benchmark Result" block from such a dict, character for character as vLLM
prints it (40-column labels, ``{:<10}`` / ``{:<10.2f}`` values).
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from .client import RequestRecord
from .config import BenchConfig
from .metrics import _METRIC_SECTIONS, BenchmarkMetrics, metric_stats, p_word

DETAILED_KEYS = ("input_lens", "output_lens", "ttfts", "itls", "start_times",
                 "generated_texts", "errors")


def result_json(cfg: BenchConfig, m: BenchmarkMetrics, records: Sequence[RequestRecord],
                duration: float, *, model_id: str, tokenizer_id: str | None,
                date: str | None = None, extras: dict[str, Any] | None = None
                ) -> dict[str, Any]:
    res: dict[str, Any] = {
        "date": date or datetime.now().strftime("%Y%m%d-%H%M%S"),
        "endpoint_type": cfg.backend,
        "backend": cfg.backend,
        "label": cfg.label,
        "model_id": model_id,
        "tokenizer_id": tokenizer_id,
        "num_prompts": cfg.num_prompts,
    }
    res.update(cfg.metadata)
    res["request_rate"] = cfg.request_rate if cfg.request_rate < math.inf else "inf"
    res["burstiness"] = cfg.burstiness
    res["max_concurrency"] = cfg.max_concurrency
    if cfg.ramp_up_strategy is not None:
        res["ramp_up_strategy"] = cfg.ramp_up_strategy
        res["ramp_up_start_rps"] = cfg.ramp_up_start_rps
        res["ramp_up_end_rps"] = cfg.ramp_up_end_rps
    res.update({
        "duration": duration,
        "completed": m.completed,
        "failed": m.failed,
        "total_input_tokens": m.total_input,
        "total_output_tokens": m.total_output,
        "request_throughput": m.request_throughput,
        "request_goodput": m.request_goodput if cfg.goodput else None,
        "output_throughput": m.output_throughput,
        "total_token_throughput": m.total_token_throughput,
        "input_lens": [r.prompt_len for r in records],
        "output_lens": m.output_lens,
        "ttfts": [r.ttft for r in records],
        "itls": [r.itl for r in records],
        "latencies": [r.latency for r in records],
        "start_times": [r.send_time for r in records],
        "queue_times": [r.queue_time for r in records],
        "generated_texts": [r.generated_text for r in records],
        "errors": [r.error for r in records],
        "max_output_tokens_per_s": m.max_output_tokens_per_s,
        "max_concurrent_requests": m.max_concurrent_requests,
        "rtfx": m.rtfx,
    })
    for attr, _name, _header, st in metric_stats(m, records, cfg.percentile_metrics,
                                                cfg.metric_percentiles, cfg.max_concurrency,
                                                cfg.request_rate):
        res[f"mean_{attr}_ms"] = st.mean
        res[f"median_{attr}_ms"] = st.median
        res[f"std_{attr}_ms"] = st.std
        for p, v in st.percentiles:
            res[f"p{p_word(p)}_{attr}_ms"] = v
    if not cfg.save_detailed:
        for k in DETAILED_KEYS:
            res.pop(k, None)
    if extras:
        res["iejtui"] = extras
    return res


def _line(label: str, value: Any, fmt: str = "{:<10}") -> str:
    return "{:<40} ".format(label) + fmt.format(value)


def format_summary(res: dict[str, Any], metric_percentiles: Sequence[float]) -> str:
    """The block ``vllm bench serve`` prints, from a result dict."""
    f2 = "{:<10.2f}"
    out = ["{s:{c}^{n}}".format(s=" Serving Benchmark Result ", n=50, c="=")]
    out.append(_line("Successful requests:", res["completed"]))
    out.append(_line("Failed requests:", res["failed"]))
    if res.get("max_concurrency") is not None:
        out.append(_line("Maximum request concurrency:", res["max_concurrency"]))
    if res.get("request_rate") != "inf":
        out.append(_line("Request rate configured (RPS):", float(res["request_rate"]), f2))
    out.append(_line("Benchmark duration (s):", res["duration"], f2))
    out.append(_line("Total input tokens:", res["total_input_tokens"]))
    out.append(_line("Total generated tokens:", res["total_output_tokens"]))
    out.append(_line("Request throughput (req/s):", res["request_throughput"], f2))
    if res.get("request_goodput") is not None:
        out.append(_line("Request goodput (req/s):", res["request_goodput"], f2))
    out.append(_line("Output token throughput (tok/s):", res["output_throughput"], f2))
    out.append(_line("Peak output token throughput (tok/s):", res["max_output_tokens_per_s"], f2))
    out.append(_line("Peak concurrent requests:", res["max_concurrent_requests"], f2))
    if res.get("rtfx", 0.0) > 0.0:
        out.append(_line("RTFx (Inverse Real-Time Factor):", res["rtfx"], f2))
    out.append(_line("Total token throughput (tok/s):", res["total_token_throughput"], f2))
    for attr, name, header in _METRIC_SECTIONS:
        if f"mean_{attr}_ms" not in res:
            continue
        out.append("{s:{c}^{n}}".format(s=header, n=50, c="-"))
        out.append(_line(f"Mean {name} (ms):", res[f"mean_{attr}_ms"], f2))
        out.append(_line(f"Median {name} (ms):", res[f"median_{attr}_ms"], f2))
        for p in metric_percentiles:
            key = f"p{p_word(p)}_{attr}_ms"
            if key in res:
                out.append(_line(f"P{p_word(p)} {name} (ms):", res[key], f2))
    out.append("=" * 50)
    return "\n".join(out)


def format_errors(records: Sequence[RequestRecord]) -> str:
    """vLLM's "Failed requests ..." lines (first 10), empty when nothing failed."""
    failed = [r for r in records if not r.success]
    if not failed:
        return ""
    lines = ["Failed requests during benchmark run detected (capping to 10):"]
    lines += [f"Error {i}: {r.error}" for i, r in enumerate(failed[:10])]
    return "\n".join(lines)


def result_path(cfg: BenchConfig, model_id: str, date: str) -> str | None:
    """vLLM's ``compute_result_filename``."""
    if not (cfg.save_result or cfg.append_result):
        return None
    base_model_id = model_id.split("/")[-1]
    conc = f"-concurrency{cfg.max_concurrency}" if cfg.max_concurrency is not None else ""
    label = cfg.label or cfg.backend
    if cfg.ramp_up_strategy is not None:
        name = (f"{label}-ramp-up-{cfg.ramp_up_strategy}-{cfg.ramp_up_start_rps}qps-"
                f"{cfg.ramp_up_end_rps}qps{conc}-{base_model_id}-{date}.json")
    else:
        name = f"{label}-{cfg.request_rate}qps{conc}-{base_model_id}-{date}.json"
    if cfg.result_filename:
        name = cfg.result_filename
    if cfg.result_dir:
        os.makedirs(cfg.result_dir, exist_ok=True)
        name = os.path.join(cfg.result_dir, name)
    return name


def save_result(cfg: BenchConfig, res: dict[str, Any]) -> str | None:
    path = result_path(cfg, res.get("model_id") or "", res["date"])
    if path is None:
        return None
    with open(path, "a+" if cfg.append_result else "w", encoding="utf-8") as f:
        if cfg.append_result and f.tell() != 0:
            f.write("\n")
        json.dump(res, f)
    return path
