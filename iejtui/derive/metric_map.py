"""Which stored metric names feed each canonical engine figure, per engine kind.

An alias table maps a canonical key to candidate names, newest first; the
first candidate with stored data wins (vLLM renamed several metrics between
V0/0.9 and V1/0.12, see reference/engine-telemetry.md §1.3). Counter names are
wire sample names (with ``_total``); histogram names are base names (without
``_bucket``/``_sum``/``_count``). Another engine module supplies its own
``EngineMetricMap``; keys it cannot serve are simply left out (the figure is
then ``None``: "not reported by this engine").
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

__all__ = ["EngineMetricMap", "VLLM", "VLLM_ALIASES", "COUNTER_KEYS", "GAUGE_KEYS", "HISTOGRAM_KEYS"]

#: Canonical counter keys (monotonic; rates and window increases).
COUNTER_KEYS = (
    "prompt_tokens",  # all prompt tokens, cached included (tokens)
    "prompt_tokens_by_source",  # prompt tokens split by label `source` (tokens)
    "generation_tokens",  # generated tokens (tokens)
    "prefix_cache_queries",  # tokens looked up in the prefix cache (tokens)
    "prefix_cache_hits",  # tokens found there (tokens)
    "preemptions",  # preemption events
    "request_success",  # finished requests, label `finished_reason`
)
#: Canonical gauge keys (latest / peak reading).
GAUGE_KEYS = (
    "running",  # requests in the running batch
    "waiting",  # requests waiting
    "kv_usage",  # KV-cache usage (unit: see EngineMetricMap.kv_usage_scale)
    "cache_config_info",  # info gauge: KV capacity in its labels
)
#: Canonical histogram keys (seconds).
HISTOGRAM_KEYS = (
    "ttft",  # time to first token
    "itl",  # inter-token latency (between output events)
    "tpot",  # per-request mean time per output token
    "e2e",  # arrival to last token
    "queue",  # time in WAITING
    "prefill",  # scheduled to first token
    "decode",  # first to last token
)

#: vLLM names, V1 (0.12+) first, then the V0-era / deprecated spelling.
VLLM_ALIASES: dict[str, tuple[str, ...]] = {
    "prompt_tokens": ("vllm:prompt_tokens_total",),
    "prompt_tokens_by_source": ("vllm:prompt_tokens_by_source_total",),
    "generation_tokens": ("vllm:generation_tokens_total",),
    "prefix_cache_queries": ("vllm:prefix_cache_queries_total", "vllm:gpu_prefix_cache_queries_total"),
    "prefix_cache_hits": ("vllm:prefix_cache_hits_total", "vllm:gpu_prefix_cache_hits_total"),
    "preemptions": ("vllm:num_preemptions_total",),
    "request_success": ("vllm:request_success_total",),
    "running": ("vllm:num_requests_running",),
    "waiting": ("vllm:num_requests_waiting",),
    "kv_usage": ("vllm:kv_cache_usage_perc", "vllm:gpu_cache_usage_perc"),
    "cache_config_info": ("vllm:cache_config_info",),
    "ttft": ("vllm:time_to_first_token_seconds",),
    "itl": ("vllm:inter_token_latency_seconds", "vllm:time_per_output_token_seconds"),
    "tpot": ("vllm:request_time_per_output_token_seconds",),
    "e2e": ("vllm:e2e_request_latency_seconds",),
    "queue": ("vllm:request_queue_time_seconds",),
    "prefill": ("vllm:request_prefill_time_seconds",),
    "decode": ("vllm:request_decode_time_seconds",),
}


@dataclass(frozen=True)
class EngineMetricMap:
    """Everything engine-specific the canonical computation needs.

    ``aliases``: canonical key → candidate names (first stored wins).
    ``kv_usage_scale``: multiplier from the stored KV gauge to percent (vLLM
    exposes a 0–1 fraction despite the ``_perc`` name → 100).
    ``computed_prompt_filter``: labels selecting computed (non-cached) prompt
    tokens within ``prompt_tokens_by_source``.
    ``reason_label``: label of ``request_success`` holding the finish reason.
    ``engine_label``: label distinguishing data-parallel engines.
    ``capacity_labels``: labels of ``cache_config_info`` giving KV capacity:
    ``tokens`` (preferred when present) or ``blocks`` × ``block_size``.
    """

    kind: str
    aliases: Mapping[str, tuple[str, ...]]
    kv_usage_scale: float = 100.0
    computed_prompt_filter: Mapping[str, str] = field(default_factory=lambda: {"source": "local_compute"})
    reason_label: str = "finished_reason"
    engine_label: str = "engine"
    capacity_labels: Mapping[str, str] = field(
        default_factory=lambda: {
            "tokens": "kv_cache_size_tokens",
            "blocks": "num_gpu_blocks",
            "block_size": "block_size",
        }
    )

    def names(self, key: str) -> tuple[str, ...]:
        """Candidate names for ``key``; empty when this engine has none."""
        return tuple(self.aliases.get(key, ()))


VLLM = EngineMetricMap(kind="vllm", aliases=VLLM_ALIASES)
