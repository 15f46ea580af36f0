"""GPU series names, NVML ids and pure decoders (no pynvml import, no I/O).

Everything the GPU collector writes is named here, so the store, the UI and the exporters
can import the vocabulary without touching NVML.

Units are the ones NVML gives: percent 0-100, bytes, mW, mJ, degrees C, MHz, MiB/s.
``gpu.util_gpu`` is NVML's "utilization": the percent of time *any* kernel was running
(label it **kernel-active time**); one busy SM of 132 reads 100 %. The GPM series
(``gpu.sm_active``, ``gpu.tensor_active``...) say how much of the chip was busy.
"""

from __future__ import annotations

# --- 1 s tier (source ``gpu:<uuid>``) -------------------------------------------------
UTIL_GPU = "gpu.util_gpu"  # kernel-active time, %
UTIL_MEM = "gpu.util_mem"  # % of time device memory was read or written
MEM_USED = "gpu.mem_used"  # bytes (v2 struct: driver-reserved memory excluded)
MEM_RESERVED = "gpu.mem_reserved"  # bytes reserved by the driver
MEM_TOTAL = "gpu.mem_total"  # bytes
POWER_MW = "gpu.power_mw"  # NVML power usage (a 1 s average on Ampere+ except GA100)
TEMP_C = "gpu.temp_c"
CLOCK_SM_MHZ = "gpu.clock_sm_mhz"
CLOCK_MEM_MHZ = "gpu.clock_mem_mhz"
CLOCKS_EVENT_REASONS = "gpu.clocks_event_reasons"  # bitmask, see decode_clock_reasons
PSTATE = "gpu.pstate"  # 0 (max performance) .. 15; 32 = unknown

# GPM (Hopper+): series name -> NVML_GPM_METRIC_* id. Percent 0-100 or MiB/s.
GPM_METRICS: dict[str, int] = {
    "gpu.gr_active": 1,  # GRAPHICS_UTIL: any compute/graphics work active
    "gpu.sm_active": 2,  # SM_UTIL: % of SMs busy
    "gpu.sm_occupancy": 3,  # SM_OCCUPANCY: active warps vs theoretical max
    "gpu.tensor_active": 5,  # ANY_TENSOR_UTIL
    "gpu.dram_active": 10,  # DRAM_BW_UTIL
    "gpu.pcie_tx_mibs": 20,  # PCIE_TX_PER_SEC
    "gpu.pcie_rx_mibs": 21,  # PCIE_RX_PER_SEC
    "gpu.nvlink_rx_mibs": 60,  # NVLINK_TOTAL_RX_PER_SEC
    "gpu.nvlink_tx_mibs": 61,  # NVLINK_TOTAL_TX_PER_SEC
}
GPM_NAME_BY_ID: dict[int, str] = {v: k for k, v in GPM_METRICS.items()}
GPM_MIN_INTERVAL_S = 0.1  # NVML: two GPM samples must be > 100 ms apart

# --- 5 s tier (source ``gpu:<uuid>:slow``) --------------------------------------------
ENERGY_MJ = "gpu.energy_mj"  # counter, mJ since driver load
PROC_MEM_USED = "gpu.proc.mem_used"  # bytes, labels uuid + pid
PROC_COUNT = "gpu.proc.count"
MIG_MEM_USED = "gpu.mig.mem_used"  # bytes, labels uuid + mig_uuid + gi
MIG_MEM_TOTAL = "gpu.mig.mem_total"

UINT_MAX = 0xFFFFFFFF  # scopeId meaning "all NVLink links"
# series name -> (NVML_FI_* id, scopeId)
SLOW_FIELDS: dict[str, tuple[int, int]] = {
    "gpu.pcie_tx_bytes": (197, 0),  # PCIE_COUNT_TX_BYTES, counter
    "gpu.pcie_rx_bytes": (198, 0),  # PCIE_COUNT_RX_BYTES, counter
    "gpu.nvlink_tx_kib": (138, UINT_MAX),  # NVLINK_THROUGHPUT_DATA_TX, counter (KiB)
    "gpu.nvlink_rx_kib": (139, UINT_MAX),  # NVLINK_THROUGHPUT_DATA_RX, counter (KiB)
    "gpu.mem_temp_c": (82, 0),  # MEMORY_TEMP (HBM)
    "gpu.power_instant_mw": (186, 0),  # POWER_INSTANT
}

# --- 60 s tier (source ``gpu:<uuid>:health``) -----------------------------------------
HEALTH_FIELDS: dict[str, tuple[int, int]] = {
    "gpu.ecc_sbe_volatile": (3, 0),  # ECC_SBE_VOL_TOTAL
    "gpu.ecc_dbe_volatile": (4, 0),  # ECC_DBE_VOL_TOTAL
    # cumulative time the clocks were held down for each reason (perf-policy counters)
    "gpu.clocks_event_time.power": (74, 0),
    "gpu.clocks_event_time.thermal": (75, 0),
    "gpu.clocks_event_time.sync_boost": (76, 0),
    "gpu.clocks_event_time.board_limit": (77, 0),
    "gpu.clocks_event_time.low_util": (78, 0),
    "gpu.clocks_event_time.reliability": (79, 0),
    "gpu.clocks_event_time.sw_thermal": (269, 0),
    "gpu.clocks_event_time.hw_thermal": (270, 0),
    "gpu.clocks_event_time.hw_power_brake": (271, 0),
}
REMAPPED_ROWS = (
    "gpu.remapped_rows.correctable",
    "gpu.remapped_rows.uncorrectable",
    "gpu.remapped_rows.pending",
    "gpu.remapped_rows.failure",
)

# --- driver sample buffers (source ``gpu-samples:<uuid>:<kind>``) ---------------------
# kind -> (NVML sampling type, series name)
SAMPLE_KINDS: dict[str, tuple[int, str]] = {
    "power": (0, "gpu.sample.power_mw"),  # NVML_TOTAL_POWER_SAMPLES, ~20 ms apart
    "util": (1, "gpu.sample.util_gpu"),  # NVML_GPU_UTILIZATION_SAMPLES, ~200 ms apart
    "clock_sm": (5, "gpu.sample.clock_sm_mhz"),  # NVML_PROCESSOR_CLK_SAMPLES, on change
}

# Clock ids (NVML_CLOCK_*)
CLOCK_SM = 1
CLOCK_MEM = 2

# --- clock-event (throttle) reasons -----------------------------------------------------
CLOCK_REASON_BITS: tuple[tuple[int, str], ...] = (
    (0x1, "gpu_idle"),
    (0x2, "applications_clocks_setting"),
    (0x4, "sw_power_cap"),
    (0x8, "hw_slowdown"),
    (0x10, "sync_boost"),
    (0x20, "sw_thermal_slowdown"),
    (0x40, "hw_thermal_slowdown"),
    (0x80, "hw_power_brake_slowdown"),
    (0x100, "display_clock_setting"),
    (0x200, "board_limit"),
    (0x400, "reliability"),
)


def decode_clock_reasons(mask: float | None) -> list[str]:
    """Names of the bits set in a clocks-event-reasons mask; unknown bits as hex.

    ``0`` means "none": the clocks run as high as they may.
    """
    if mask is None:
        return []
    m = int(mask)
    out = [name for bit, name in CLOCK_REASON_BITS if m & bit]
    known = 0
    for bit, _ in CLOCK_REASON_BITS:
        known |= bit
    rest = m & ~known
    bit = 1
    while rest:
        if rest & bit:
            out.append(hex(bit))
            rest &= ~bit
        bit <<= 1
    return out


# --- DCGM names, for exporters (dcgm-exporter / Grafana dashboards) -----------------------
DCGM_EQUIVALENT: dict[str, str] = {
    "gpu.sm_active": "DCGM_FI_PROF_SM_ACTIVE",
    "gpu.sm_occupancy": "DCGM_FI_PROF_SM_OCCUPANCY",
    "gpu.tensor_active": "DCGM_FI_PROF_PIPE_TENSOR_ACTIVE",
    "gpu.dram_active": "DCGM_FI_PROF_DRAM_ACTIVE",
    "gpu.gr_active": "DCGM_FI_PROF_GR_ENGINE_ACTIVE",
    "gpu.pcie_tx_mibs": "DCGM_FI_PROF_PCIE_TX_BYTES",
    "gpu.pcie_rx_mibs": "DCGM_FI_PROF_PCIE_RX_BYTES",
    "gpu.nvlink_tx_mibs": "DCGM_FI_PROF_NVLINK_TX_BYTES",
    "gpu.nvlink_rx_mibs": "DCGM_FI_PROF_NVLINK_RX_BYTES",
    UTIL_GPU: "DCGM_FI_DEV_GPU_UTIL",
    UTIL_MEM: "DCGM_FI_DEV_MEM_COPY_UTIL",
    MEM_USED: "DCGM_FI_DEV_FB_USED",
    MEM_RESERVED: "DCGM_FI_DEV_FB_RESERVED",
    MEM_TOTAL: "DCGM_FI_DEV_FB_TOTAL",
    POWER_MW: "DCGM_FI_DEV_POWER_USAGE",
    "gpu.power_instant_mw": "DCGM_FI_DEV_POWER_USAGE_INSTANT",
    TEMP_C: "DCGM_FI_DEV_GPU_TEMP",
    "gpu.mem_temp_c": "DCGM_FI_DEV_MEMORY_TEMP",
    CLOCK_SM_MHZ: "DCGM_FI_DEV_SM_CLOCK",
    CLOCK_MEM_MHZ: "DCGM_FI_DEV_MEM_CLOCK",
    CLOCKS_EVENT_REASONS: "DCGM_FI_DEV_CLOCK_THROTTLE_REASONS",
    ENERGY_MJ: "DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION",
    "gpu.ecc_sbe_volatile": "DCGM_FI_DEV_ECC_SBE_VOL_TOTAL",
    "gpu.ecc_dbe_volatile": "DCGM_FI_DEV_ECC_DBE_VOL_TOTAL",
    "gpu.remapped_rows.correctable": "DCGM_FI_DEV_CORRECTABLE_REMAPPED_ROWS",
    "gpu.remapped_rows.uncorrectable": "DCGM_FI_DEV_UNCORRECTABLE_REMAPPED_ROWS",
    "gpu.remapped_rows.failure": "DCGM_FI_DEV_ROW_REMAP_FAILURE",
    "gpu.clocks_event_time.power": "DCGM_FI_DEV_POWER_VIOLATION",
    "gpu.clocks_event_time.thermal": "DCGM_FI_DEV_THERMAL_VIOLATION",
    "gpu.clocks_event_time.sync_boost": "DCGM_FI_DEV_SYNC_BOOST_VIOLATION",
    "gpu.clocks_event_time.board_limit": "DCGM_FI_DEV_BOARD_LIMIT_VIOLATION",
    "gpu.clocks_event_time.low_util": "DCGM_FI_DEV_LOW_UTIL_VIOLATION",
    "gpu.clocks_event_time.reliability": "DCGM_FI_DEV_RELIABILITY_VIOLATION",
    PSTATE: "DCGM_FI_DEV_PSTATE",
}

_MIB = 1024 * 1024
# Multiply an iejtui value by this to get the DCGM field's unit (ratios 0-1, B/s, MiB, W).
DCGM_SCALE: dict[str, float] = {
    "gpu.sm_active": 0.01,
    "gpu.sm_occupancy": 0.01,
    "gpu.tensor_active": 0.01,
    "gpu.dram_active": 0.01,
    "gpu.gr_active": 0.01,
    "gpu.pcie_tx_mibs": float(_MIB),
    "gpu.pcie_rx_mibs": float(_MIB),
    "gpu.nvlink_tx_mibs": float(_MIB),
    "gpu.nvlink_rx_mibs": float(_MIB),
    MEM_USED: 1.0 / _MIB,
    MEM_RESERVED: 1.0 / _MIB,
    MEM_TOTAL: 1.0 / _MIB,
    POWER_MW: 0.001,
    "gpu.power_instant_mw": 0.001,
}


def to_dcgm(name: str, value: float) -> tuple[str, float] | None:
    """``(DCGM field name, value in DCGM's unit)`` for an iejtui GPU series, or None."""
    field = DCGM_EQUIVALENT.get(name)
    if field is None:
        return None
    return field, value * DCGM_SCALE.get(name, 1.0)


# --- which backend call belongs to which tier (for cost accounting from a recording) -----
CALL_TIER: dict[str, str] = {
    "utilization": "fast",
    "memory_info": "fast",
    "power_usage": "fast",
    "temperature": "fast",
    "clock": "fast",
    "clocks_event_reasons": "fast",
    "performance_state": "fast",
    "gpm_sample": "gpm",
    "gpm_metrics": "gpm",
    "samples": "samples",
    "total_energy": "slow",
    "field_values": "slow",  # the health tier also uses it; told apart by its field ids
    "compute_processes": "slow",
    "mig_instances": "slow",
    "remapped_rows": "health",
}
