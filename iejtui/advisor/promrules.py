"""The rules that PromQL can express, as a Prometheus alerting-rules file (pure).

Two namings: ``vllm`` reads a site's own ``vllm:*`` series and a dcgm-exporter's
``DCGM_FI_*`` fields; ``iejtui`` reads what ``iejtui service start --metrics-listen``
exports (``iejtui_engine_*`` and ``iejtui_DCGM_FI_*``, DCGM's units: ratios 0–1 for the
profiling fields, W for power). Engine expressions are summed per ``instance`` and GPU
expressions taken per ``UUID``, so a rule's conditions join with ``and on(…)``. A rule mixing
engine and GPU signals (their labels cannot be joined), or reading a signal PromQL cannot
compute (launch flags, "cut before max_tokens", trends of percentiles), is left out and
listed by ``expressible``.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

from iejtui.advisor.model import Rule

_W = "5m"  # rate window: the peers' (llm-d) choice for rates and shares

_ENGINE_NAMES = {
    "vllm": {"running": "vllm:num_requests_running", "waiting": "vllm:num_requests_waiting",
             "kv": "vllm:kv_cache_usage_perc", "preempt": "vllm:num_preemptions_total",
             "success": "vllm:request_success_total", "reason": "finished_reason",
             "ttft": "vllm:time_to_first_token_seconds", "e2e": "vllm:e2e_request_latency_seconds",
             "hits": "vllm:prefix_cache_hits_total", "queries": "vllm:prefix_cache_queries_total",
             "gen": "vllm:generation_tokens_total", "draft": "vllm:spec_decode_num_draft_tokens_total",
             "accepted": "vllm:spec_decode_num_accepted_tokens_total"},
    "iejtui": {"running": "iejtui_engine_requests_running", "waiting": "iejtui_engine_requests_waiting",
               "kv": "iejtui_engine_kv_cache_usage_ratio", "preempt": "iejtui_engine_preemptions_total",
               "success": "iejtui_engine_request_success_total", "reason": "finished_reason",
               "ttft": "iejtui_engine_ttft_seconds", "e2e": "iejtui_engine_e2e_seconds",
               "hits": "iejtui_engine_prefix_cache_hits_total", "queries": "iejtui_engine_prefix_cache_queries_total",
               "gen": "iejtui_engine_generation_tokens_total", "draft": None, "accepted": None},
}
_GPU_PREFIX = {"vllm": "", "iejtui": "iejtui_"}


def _engine_expr(signal: str, n: dict) -> str | None:
    by = "sum by (instance)"
    rate = lambda m, sel="": f"{by} (rate({m}{sel}[{_W}]))"  # noqa: E731
    err = "{" + n["reason"] + '=~"error|abort"}'
    hist = lambda q, m: f"histogram_quantile({q}, sum by (instance, le) (rate({m}_bucket[{_W}])))"  # noqa: E731
    return {
        "running": f"{by} ({n['running']})",
        "waiting": f"{by} ({n['waiting']})",
        "kv_usage_pct": f"100 * max by (instance) ({n['kv']})",
        "preemptions_per_s": rate(n["preempt"]),
        "generation_tok_s": rate(n["gen"]),
        "error_share_pct": f"100 * {rate(n['success'], err)} / {rate(n['success'])}",
        "ttft_p99_s": hist(0.99, n["ttft"]),
        "e2e_p99_s": hist(0.99, n["e2e"]),
        "prefix_hit_pct": f"100 * {rate(n['hits'])} / {rate(n['queries'])}",
        "spec_accept_pct": (f"100 * {rate(n['accepted'])} / {rate(n['draft'])}" if n["draft"] else None),
        "waiting_slope_per_s": f"{by} (deriv({n['waiting']}[1m]))",
    }.get(signal)


def _gpu_expr(signal: str, p: str) -> str | None:
    by = "max by (UUID)"
    bits = lambda *b: "clamp_max(" + " + ".join(  # noqa: E731
        f"(floor({by} ({p}DCGM_FI_DEV_CLOCK_THROTTLE_REASONS) / {x}) % 2)" for x in b) + ", 1)"
    return {
        "kernel_active_pct": f"{by} ({p}DCGM_FI_DEV_GPU_UTIL)",
        "sm_active_pct": f"100 * {by} ({p}DCGM_FI_PROF_SM_ACTIVE)",
        "sm_occupancy_pct": f"100 * {by} ({p}DCGM_FI_PROF_SM_OCCUPANCY)",
        "tensor_active_pct": f"100 * {by} ({p}DCGM_FI_PROF_PIPE_TENSOR_ACTIVE)",
        "dram_active_pct": f"100 * {by} ({p}DCGM_FI_PROF_DRAM_ACTIVE)",
        "temp_c": f"{by} ({p}DCGM_FI_DEV_GPU_TEMP)",
        "sm_per_kernel_pct": (f"clamp_max(100 * 100 * {by} ({p}DCGM_FI_PROF_SM_ACTIVE)"
                              f" / {by} ({p}DCGM_FI_DEV_GPU_UTIL > 0), 100)"),
        "throttle_power": bits(4, 8, 128),
        "throttle_thermal": bits(32, 64),
        # power against its limit: only a dcgm-exporter exports the enforced limit
        "power_pct_of_limit": (f"100 * {by} (DCGM_FI_DEV_POWER_USAGE) / {by} (DCGM_FI_DEV_ENFORCED_POWER_LIMIT)"
                               if not p else None),
    }.get(signal)


def _family(rule: Rule) -> str | None:
    fams = {"gpu" if _gpu_expr(s, "") is not None or s == "power_pct_of_limit" else "engine" for s in rule.signals}
    return fams.pop() if len(fams) == 1 else None


def rule_expr(rule: Rule, naming: str = "vllm") -> str | None:
    """The PromQL condition of ``rule`` (its conditions joined with ``and on(…)``), or None."""
    fam = _family(rule)
    if fam is None:
        return None
    parts = []
    for c in rule.conds:
        e = _engine_expr(c.signal, _ENGINE_NAMES[naming]) if fam == "engine" else _gpu_expr(c.signal, _GPU_PREFIX[naming])
        if e is None:
            return None
        parts.append(f"({e}) {c.op} {c.threshold:g}")
    join = " and on (instance) " if fam == "engine" else " and on (UUID) "
    return join.join(parts)


def expressible(rules: Sequence[Rule], naming: str = "vllm") -> tuple[list[Rule], list[Rule]]:
    ok = [r for r in rules if r.enabled and rule_expr(r, naming) is not None]
    return ok, [r for r in rules if r not in ok]


SUMMARY_VALUE = ': value {{ printf "%.3g" $value }}'


def _dur(seconds: float) -> str:
    s = int(round(seconds))
    return f"{s // 60}m" if s and s % 60 == 0 else f"{s}s"


def _camel(rule_id: str) -> str:
    return "IEJTUI" + "".join(p.capitalize() for p in rule_id.split("-"))


def rules_yaml(rules: Sequence[Rule], naming: str = "vllm") -> str:
    """A ``promtool check rules``-clean alerting-rules file (YAML; strings JSON-quoted)."""
    ok, left = expressible(rules, naming)
    q = json.dumps
    out = [f"# iejtui advisor rules as Prometheus alerts ({naming} naming); generated by",
           "# `iejtui advise --prometheus-rules`. Not expressible in PromQL, so left out:",
           *(f"#   {r.id}" for r in left),
           "groups:", "  - name: iejtui-advisor", "    interval: 30s", "    rules:"]
    for r in ok:
        k = r.knob[0] if isinstance(r.knob, tuple) else r.knob
        knob = f"; knob: {k.flag}" if k else ""
        out += [f"      - alert: {_camel(r.id)}",
                f"        expr: {q(rule_expr(r, naming))}",
                f"        for: {_dur(r.for_s)}",
                "        labels:",
                f"          severity: {r.severity}",
                f"          iejtui_rule: {q(r.id)}",
                f"          source: {q(r.source)}",
                "        annotations:",
                f"          summary: {q(r.title + SUMMARY_VALUE)}",
                f"          description: {q(r.why + knob)}"]
    return "\n".join(out) + "\n"
