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

__all__ = ["EngineMetricMap", "VLLM", "VLLM_ALIASES", "TRTLLM", "SGLANG", "LLAMACPP", "OPENAI", "TRITON",
           "METRIC_MAPS", "metric_map_for", "COUNTER_KEYS", "GAUGE_KEYS", "HISTOGRAM_KEYS",
           "CANONICAL_FIGURES", "reports", "unreported"]

#: Canonical counter keys (monotonic; rates and window increases).
COUNTER_KEYS = (
    "prompt_tokens",  # all prompt tokens, cached included (tokens)
    "prompt_tokens_by_source",  # prompt tokens split by label `source` (tokens)
    "generation_tokens",  # generated tokens (tokens)
    "prefix_cache_queries",  # tokens looked up in the prefix cache (tokens)
    "prefix_cache_hits",  # tokens found there (tokens)
    "preemptions",  # preemption events
    "request_success",  # finished requests, label `finished_reason`
    "spec_draft_tokens",  # speculative decoding: draft tokens proposed (only with a draft model)
    "spec_accepted_tokens",  # ... and accepted by the target model
    "spec_drafts",  # speculative decoding: drafts proposed (one per request per step)
    "spec_accepted_per_pos",  # accepted tokens by draft position, label `position`
    "kv_offload_load_bytes",  # KV connector offload: bytes loaded back (offload medium → device)
    "kv_offload_store_bytes",  # ... bytes stored (device → offload medium)
    "kv_offload_load_time",  # ... seconds spent loading
    "kv_offload_store_time",  # ... seconds spent storing
)
#: Canonical gauge keys (latest / peak reading).
GAUGE_KEYS = (
    "running",  # requests in the running batch
    "waiting",  # requests waiting
    "kv_usage",  # KV-cache usage (unit: see EngineMetricMap.kv_usage_scale)
    "cache_config_info",  # info gauge: KV capacity in its labels
    "kv_capacity_tokens",  # plain gauge: KV capacity in tokens (when no info gauge)
    "lora_info",  # info gauge: running/waiting LoRA adapters and max_lora in its labels
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
    "spec_draft_tokens": ("vllm:spec_decode_num_draft_tokens_total",),
    "spec_accepted_tokens": ("vllm:spec_decode_num_accepted_tokens_total",),
    # vllm/v1/spec_decode/metrics.py (SpecDecodingProm), only with --speculative-config
    "spec_drafts": ("vllm:spec_decode_num_drafts_total",),
    "spec_accepted_per_pos": ("vllm:spec_decode_num_accepted_tokens_per_pos_total",),
    # vllm/distributed/kv_transfer/kv_connector/v1/offloading/metrics.py (OffloadingConnector),
    # then the deprecated 0.1x spelling with a `transfer_type` label is not read
    "kv_offload_load_bytes": ("vllm:kv_offload_load_bytes_total",),
    "kv_offload_store_bytes": ("vllm:kv_offload_store_bytes_total",),
    "kv_offload_load_time": ("vllm:kv_offload_load_time_total",),
    "kv_offload_store_time": ("vllm:kv_offload_store_time_total",),
    "running": ("vllm:num_requests_running",),
    "waiting": ("vllm:num_requests_waiting",),
    "kv_usage": ("vllm:kv_cache_usage_perc", "vllm:gpu_cache_usage_perc"),
    "cache_config_info": ("vllm:cache_config_info",),
    # vllm/v1/metrics/loggers.py: one child per label set, value = when it was last set
    "lora_info": ("vllm:lora_requests_info",),
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

    #: Counter keys the engine surely exports once used: absent while the engine is
    #: scraped means zero (not "not reported").
    zero_when_absent: frozenset[str] = frozenset()
    #: Counter/histogram keys whose series the engine creates on first use (children of
    #: labelled prometheus_client families): the scrape before their first sample counts
    #: as zero, so the first observations are not lost from a window.
    lazy: frozenset[str] = frozenset()
    #: Latency keys the engine reports only as a (seconds counter, count counter) pair:
    #: the window mean, no percentiles (llama.cpp).
    mean_pairs: Mapping[str, tuple[str, str]] = field(default_factory=dict)
    #: Whether what the engine reports depends on what it hosts (Triton: a TensorRT-LLM,
    #: vLLM or plain Python backend): a figure none of whose names is stored once the
    #: engine is scraped is then "not reported" (``iejtui.derive.triton.unreported_now``).
    hosted: bool = False

    def names(self, key: str) -> tuple[str, ...]:
        """Candidate names for ``key``; empty when this engine has none."""
        return tuple(self.aliases.get(key, ()))


VLLM = EngineMetricMap(kind="vllm", aliases=VLLM_ALIASES)

#: TensorRT-LLM: ``/prometheus/metrics`` families (``trtllm_`` prefix, or none up to ~1.2)
#: and what iejtui derives from the JSON iteration records (``trtllm:``, see
#: ``collectors.engines.trtllm``): exact token counters and histograms from Prometheus
#: first, state from the records first. Prefix hits pair by position with queries: prompt
#: tokens (Prometheus) or KV blocks (iteration records). TPOT is per-request mean.
TRTLLM_ALIASES: dict[str, tuple[str, ...]] = {
    "prompt_tokens": ("trtllm_prompt_tokens_total",),
    "prompt_tokens_by_source": ("trtllm:context_tokens_total",),
    "generation_tokens": ("trtllm_generation_tokens_total", "trtllm:generation_tokens_total"),
    "prefix_cache_queries": ("trtllm_prompt_tokens_total", "trtllm:kv_cache_lookup_blocks_total"),
    "prefix_cache_hits": ("trtllm_prompt_cached_tokens_total", "trtllm:kv_cache_reused_blocks_total"),
    "request_success": ("trtllm_request_success_total", "request_success_total",
                        "trtllm:completed_requests_total"),  # the last: no finish reason
    "spec_draft_tokens": ("trtllm_spec_decode_num_draft_tokens_total",),
    "spec_accepted_tokens": ("trtllm_spec_decode_num_accepted_tokens_total",),
    # iteration records first here: the wire gauges keep the last iteration's values (the
    # finishing request still counted) for as long as the engine stays idle
    "running": ("trtllm:num_requests_running", "trtllm_num_requests_running"),
    "waiting": ("trtllm:num_requests_waiting", "trtllm_num_requests_waiting"),
    "kv_usage": ("trtllm:kv_cache_utilization", "trtllm_kv_cache_utilization"),
    "kv_capacity_tokens": ("trtllm:kv_capacity_tokens",),
    "ttft": ("trtllm_time_to_first_token_seconds", "time_to_first_token_seconds"),
    "tpot": ("trtllm_time_per_output_token_seconds", "time_per_output_token_seconds"),
    "e2e": ("trtllm_e2e_request_latency_seconds", "e2e_request_latency_seconds"),
    "queue": ("trtllm_request_queue_time_seconds", "request_queue_time_seconds"),
    "prefill": ("trtllm_request_prefill_time_seconds",),
    "decode": ("trtllm_request_decode_time_seconds",),
}
TRTLLM = EngineMetricMap(kind="trtllm", aliases=TRTLLM_ALIASES, computed_prompt_filter={},
                         zero_when_absent=frozenset({"prefix_cache_hits"}),
                         lazy=frozenset({"prompt_tokens", "prompt_tokens_by_source",
                                         "generation_tokens", "prefix_cache_queries",
                                         "prefix_cache_hits", "request_success", "ttft", "tpot",
                                         "e2e", "queue", "prefill", "decode"}))

#: SGLang 0.5.x. Token counters grow when a request finishes; ``cached_tokens`` (by
#: ``cache_source``) and retractions (SGLang's preemptions) appear on first increment.
SGLANG_ALIASES: dict[str, tuple[str, ...]] = {
    "prompt_tokens": ("sglang:prompt_tokens_total",),
    "generation_tokens": ("sglang:generation_tokens_total",),
    "prefix_cache_queries": ("sglang:prompt_tokens_total",),
    "prefix_cache_hits": ("sglang:cached_tokens_total",),
    "preemptions": ("sglang:num_retracted_requests_total",),
    "request_success": ("sglang:num_requests_total",),
    "running": ("sglang:num_running_reqs",),
    "waiting": ("sglang:num_queue_reqs",),
    "kv_usage": ("sglang:token_usage",),
    "kv_capacity_tokens": ("sglang:max_total_num_tokens",),
    "ttft": ("sglang:time_to_first_token_seconds",),
    "itl": ("sglang:inter_token_latency_seconds",),
    "tpot": ("sglang:request_time_per_output_token_seconds",),
    "e2e": ("sglang:e2e_request_latency_seconds",),
    "queue": ("sglang:queue_time_seconds",),
}
_SGLANG_COUNTERS = frozenset({"prompt_tokens", "generation_tokens", "prefix_cache_queries",
                              "prefix_cache_hits", "preemptions", "request_success"})
SGLANG = EngineMetricMap(kind="sglang", aliases=SGLANG_ALIASES, engine_label="dp_rank",
                         zero_when_absent=_SGLANG_COUNTERS,
                         lazy=_SGLANG_COUNTERS | {"ttft", "itl", "tpot", "e2e", "queue"})

#: llama.cpp ``llama-server --metrics``: ``prompt_tokens_total`` counts evaluated prompt
#: tokens only (cache reuse excluded), so it is the *computed* rate; all prompt tokens need
#: ``prompt_tokens_cached_total`` (recent builds). KV use comes from ``/slots``
#: (``llamacpp_slots:*``, see ``collectors.engines.llamacpp``; the KV gauges of builds
#: before mid-2025 first); no latency histograms: TPOT is the window mean of decode
#: seconds per generated token.
LLAMACPP_ALIASES: dict[str, tuple[str, ...]] = {
    "prompt_tokens": ("llamacpp_derived:prompt_tokens_total",),  # evaluated + cached (recent builds)
    "prompt_tokens_by_source": ("llamacpp:prompt_tokens_total",),
    "generation_tokens": ("llamacpp:tokens_predicted_total",),
    "prefix_cache_queries": ("llamacpp_derived:prompt_tokens_total",),
    "prefix_cache_hits": ("llamacpp:prompt_tokens_cached_total",),
    "spec_draft_tokens": ("llamacpp:spec_decode_num_draft_tokens_total",),
    "spec_accepted_tokens": ("llamacpp:spec_decode_num_accepted_tokens_total",),
    "running": ("llamacpp:requests_processing",),
    "waiting": ("llamacpp:requests_deferred",),
    "kv_usage": ("llamacpp:kv_cache_usage_ratio", "llamacpp_slots:context_usage"),
    "kv_capacity_tokens": ("llamacpp_slots:context_capacity_tokens",),
}
LLAMACPP = EngineMetricMap(
    kind="llamacpp", aliases=LLAMACPP_ALIASES, computed_prompt_filter={},
    mean_pairs={"tpot": ("llamacpp:tokens_predicted_seconds_total", "llamacpp:tokens_predicted_total")})

#: Triton Inference Server (2.51 seen live). What it reports depends on the backend it
#: hosts (``hosted``): the TensorRT-LLM backend's ``nv_trt_llm_*`` gauges select their
#: figure by label, so ``collectors.triton_metrics`` copies them under ``triton:`` names
#: (running = ``request_type="active"``, as ``trtllm:num_requests_running`` is the
#: executor's active count; waiting; KV ``fraction``; capacity = ``max`` × ``tokens_per``
#: blocks); its token counts are the ``_sum`` of the ``nv_llm_{input,output}_token_len``
#: histograms (the backend has no token counters). The vLLM backend re-exports ``vllm:*``
#: families (``triton-inference-server/vllm_backend`` ``src/utils/metrics.py``: V0 names such
#: as ``gpu_cache_usage_perc``, no request_success, no cache_config_info), read as vLLM's.
#: Triton's own ``nv_inference_*`` serve only waiting (``pending_request_count``, summed
#: over models: a request waits in one model's queue at a time); its request counts and
#: ``_us`` duration counters are per model (an ensemble counts each request once per
#: composing model, so sums over models mean nothing) and feed the per-model Triton rows
#: (``iejtui.derive.triton``), not these canonical ones. TTFT only ever from the vLLM
#: backend: ``nv_inference_first_response_histogram_ms`` is *first response*, never TTFT.
TRITON_ALIASES: dict[str, tuple[str, ...]] = {
    "prompt_tokens": ("nv_llm_input_token_len_sum", "vllm:prompt_tokens_total"),
    "generation_tokens": ("nv_llm_output_token_len_sum", "vllm:generation_tokens_total"),
    "preemptions": ("vllm:num_preemptions_total",),
    "request_success": ("vllm:request_success_total",),
    "running": ("triton:num_requests_running", "vllm:num_requests_running"),
    "waiting": ("triton:num_requests_waiting", "vllm:num_requests_waiting",
                "nv_inference_pending_request_count"),
    "kv_usage": ("triton:kv_cache_utilization", "vllm:kv_cache_usage_perc", "vllm:gpu_cache_usage_perc"),
    "cache_config_info": ("vllm:cache_config_info",),
    "kv_capacity_tokens": ("triton:kv_capacity_tokens",),
    # the vLLM backend's latency histograms, under vLLM's own names
    **{key: VLLM_ALIASES[key] for key in ("ttft", "itl", "tpot", "e2e", "queue", "prefill", "decode")},
}
TRITON = EngineMetricMap(kind="triton", aliases=TRITON_ALIASES, computed_prompt_filter={},
                         engine_label="model", hosted=True)

#: Any OpenAI-compatible endpoint: no engine metrics at all (benchmarks measure latency).
OPENAI = EngineMetricMap(kind="openai", aliases={})

METRIC_MAPS: dict[str, EngineMetricMap] = {m.kind: m for m in (VLLM, TRTLLM, SGLANG, LLAMACPP, OPENAI, TRITON)}


def metric_map_for(kind: str | None) -> EngineMetricMap | None:
    """The metric map of engine kind ``kind`` (case-insensitive); None for an unknown kind."""
    return METRIC_MAPS.get((kind or "").strip().lower())


#: The canonical figures every engine panel, export and day log shows, in that order.
CANONICAL_FIGURES = ("generation_tokens", "prompt_tokens", "running", "waiting", "kv_usage",
                     "kv_capacity", "ttft", "itl", "tpot", "e2e", "queue", "prefix_cache_hit",
                     "preemptions")


def reports(mmap: EngineMetricMap | None, figure: str) -> bool:
    """Whether engine map ``mmap`` can serve canonical ``figure`` at all (a figure it can
    serve may still have no data yet: that is "n/a", not "not reported by this engine")."""
    if mmap is None:
        return False
    if figure == "kv_capacity":
        return bool(mmap.names("kv_capacity_tokens") or mmap.names("cache_config_info"))
    if figure == "prefix_cache_hit":
        return bool(mmap.names("prefix_cache_hits") and mmap.names("prefix_cache_queries"))
    if figure == "prompt_tokens":
        return bool(mmap.names("prompt_tokens") or mmap.names("prompt_tokens_by_source"))
    return bool(mmap.names(figure)) or figure in mmap.mean_pairs


def unreported(kind: str | None) -> frozenset[str]:
    """The canonical figures engine kind ``kind`` does not report (all of them for an
    unknown kind)."""
    mmap = metric_map_for(kind)
    return frozenset(f for f in CANONICAL_FIGURES if not reports(mmap, f))
