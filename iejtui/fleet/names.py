"""The names iejtui exports to Prometheus and reads back (ours, DCGM exporter's, vLLM's).

GPU figures are exported under the DCGM exporter's field names with an ``iejtui_`` prefix
(``iejtui_DCGM_FI_DEV_POWER_USAGE``), in DCGM's units (W, MiB, ratios 0-1 for the
profiling fields) and with its labels (``gpu``, ``UUID``, ``device``, ``modelName``,
``Hostname``). The prefix keeps them apart from a dcgm-exporter on the same host (a fleet
sum would otherwise count the GPU twice); strip it with one ``metric_relabel_configs``
rule to feed an existing DCGM dashboard. The fleet reader accepts both spellings.

Engine figures are exported under canonical names, whatever the engine kind
(``iejtui_engine_generation_tokens_total``...): raw counters, gauges and histogram buckets,
so a reader computes rates and windowed percentiles with the same maths as the local
dashboard (``CANONICAL`` is their metric map). A site's own ``vllm:*`` series are read with
the vLLM map.
"""

from __future__ import annotations

from collectors.gpu_names import DCGM_EQUIVALENT, DCGM_SCALE
from iejtui.derive.metric_map import VLLM, EngineMetricMap

PREFIX = "iejtui_"

#: The GPU fields exported (iejtui series name -> DCGM field); the panel's fields first.
GPU_EXPORT: dict[str, str] = {name: DCGM_EQUIVALENT[name] for name in (
    "gpu.util_gpu", "gpu.util_mem", "gpu.sm_active", "gpu.sm_occupancy", "gpu.tensor_active", "gpu.dram_active",
    "gpu.gr_active", "gpu.mem_used", "gpu.mem_reserved", "gpu.mem_total", "gpu.power_mw", "gpu.temp_c",
    "gpu.mem_temp_c", "gpu.clock_sm_mhz", "gpu.clock_mem_mhz", "gpu.clocks_event_reasons", "gpu.pstate",
    "gpu.energy_mj", "gpu.pcie_tx_mibs", "gpu.pcie_rx_mibs", "gpu.nvlink_tx_mibs", "gpu.nvlink_rx_mibs")}
FB_FREE = "DCGM_FI_DEV_FB_FREE"  # MiB: total - used - reserved (derived; DCGM has it)

#: The fields the fleet panels and table read (iejtui name -> DCGM field).
GPU_PANEL_FIELDS: dict[str, str] = {name: GPU_EXPORT[name] for name in (
    "gpu.util_gpu", "gpu.sm_active", "gpu.tensor_active", "gpu.dram_active", "gpu.mem_used", "gpu.mem_total",
    "gpu.power_mw", "gpu.temp_c", "gpu.clock_sm_mhz", "gpu.clock_mem_mhz", "gpu.clocks_event_reasons")}
_BY_FIELD: dict[str, str] = {f: n for n, f in GPU_EXPORT.items()}

GPU_LABELS = ("gpu", "UUID", "device", "modelName", "Hostname")


def dcgm_names(fields) -> list[str]:
    """Both spellings of each DCGM field: ours (prefixed) and a dcgm-exporter's."""
    return [n for f in fields for n in (PREFIX + f, f)]


def from_dcgm(metric: str, value: float) -> tuple[str, float] | None:
    """``(iejtui series name, value in iejtui's unit)`` for a DCGM field (either spelling)."""
    field = metric.removeprefix(PREFIX)
    if field == FB_FREE:
        return None
    name = _BY_FIELD.get(field)
    if name is None:
        return None
    return name, value / DCGM_SCALE.get(name, 1.0)


def to_dcgm_value(name: str, value: float) -> float:
    return value * DCGM_SCALE.get(name, 1.0)


# ---- engines -----------------------------------------------------------------------------
E = PREFIX + "engine_"
#: canonical key -> (exported family name, type). Counters get ``_total`` on the wire.
ENGINE_COUNTERS = {
    "prompt_tokens": E + "prompt_tokens",
    "prompt_tokens_by_source": E + "prompt_computed_tokens",  # computed (non-cached) prompt tokens
    "generation_tokens": E + "generation_tokens",
    "prefix_cache_queries": E + "prefix_cache_queries",
    "prefix_cache_hits": E + "prefix_cache_hits",
    "preemptions": E + "preemptions",
    "request_success": E + "request_success",
}
ENGINE_GAUGES = {
    "running": E + "requests_running",
    "waiting": E + "requests_waiting",
    "kv_usage": E + "kv_cache_usage_ratio",  # 0-1
    "kv_capacity_tokens": E + "kv_cache_capacity_tokens",
}
ENGINE_HISTOGRAMS = {key: f"{E}{key}_seconds" for key in ("ttft", "itl", "tpot", "e2e", "queue", "prefill", "decode")}

#: labels iejtui adds to every engine series (the engine's own labels are kept, except
#: that its data-parallel label becomes ``engine`` and its finish-reason label
#: ``finished_reason``, as vLLM spells them)
ENGINE_NAME_LABEL = "engine_name"
RUN_ID_LABEL = "run_id"
ENGINE_KIND_LABEL = "engine_kind"
RUN_INFO = PREFIX + "run_info"  # 1, labels run_id, run_name, run_kind, status, tags, engine_name
SERVICE_INFO = PREFIX + "service_info"  # 1, labels Hostname, version

CANONICAL = EngineMetricMap(
    kind="iejtui",
    aliases={**{k: (v + "_total",) for k, v in ENGINE_COUNTERS.items()},
             **{k: (v,) for k, v in ENGINE_GAUGES.items()},
             **{k: (v,) for k, v in ENGINE_HISTOGRAMS.items()}},
    kv_usage_scale=100.0, computed_prompt_filter={})

#: canonical key -> the vLLM name an imported run stores it under (the vocabulary the
#: local dashboard reads); ``prompt_tokens_by_source`` gets ``source="local_compute"``.
TO_VLLM: dict[str, str] = {k: VLLM.names(k)[0] for k in (*ENGINE_COUNTERS, "running", "waiting", "kv_usage",
                                                         *ENGINE_HISTOGRAMS)}


def engine_map(names: set[str] | frozenset[str]) -> EngineMetricMap:
    """The metric map for a host's engine series: ours when present, else vLLM's."""
    return CANONICAL if any(n.startswith(E) for n in names) else VLLM


def engine_wire_names(mmap: EngineMetricMap, keys=None) -> list[str]:
    """The sample names (histograms as _bucket/_sum/_count) of ``keys`` (all by default)."""
    from iejtui.derive.metric_map import HISTOGRAM_KEYS
    out: list[str] = []
    for key, names in mmap.aliases.items():
        if keys is not None and key not in keys:
            continue
        for n in names:
            out.extend((n + "_bucket", n + "_sum", n + "_count") if key in HISTOGRAM_KEYS else (n,))
    return out
