"""Cost and efficiency of a cell (pure functions).

* Price of an hour of a cell: the price of one GPU-hour × the GPUs the engine uses.
  The GPU-hour price is looked up per GPU model, first in the matrix file's ``[cost]``
  then in iejtui.toml's ``[cost]``: ``gpus = { "H100" = 2.5 }`` (the longest key found,
  case-insensitively, in the model name wins), else the flat ``gpu_hour_usd``. On a
  machine without a GPU, ``machine_hour_usd`` (else ``gpu_hour_usd``, as the price of the
  whole machine) is the hour price.
* GPUs used: tensor × pipeline parallel size when the engine's argv sets them, else the
  count in ``CUDA_VISIBLE_DEVICES``, else 1 (0 without a GPU).
* $ per 1M output tokens = hour price × benchmark duration (h) / output tokens × 10⁶:
  what the tokens cost on a machine doing nothing else, at that load point.
* J/token = GPU energy over the benchmark window / output tokens (GPU sampled only).
* Memory headroom: GPU memory total − peak used (the tightest GPU); KV headroom:
  KV capacity − peak KV tokens in use.
"""

from __future__ import annotations

import math
from typing import Any


def _flag_int(argv: list[str], *names: str) -> int | None:
    for i, a in enumerate(argv):
        for n in names:
            if a == n and i + 1 < len(argv):
                try:
                    return int(argv[i + 1])
                except ValueError:
                    return None
            if a.startswith(n + "="):
                try:
                    return int(a.split("=", 1)[1])
                except ValueError:
                    return None
    return None


def gpus_used(argv: list[str], env: dict[str, str], gpu_count: int) -> int:
    """How many GPUs an engine occupies (see the module doc); 0 on a machine without one."""
    if gpu_count <= 0:
        return 0
    tp = _flag_int(argv, "--tensor-parallel-size", "-tp", "--tp", "--tp-size") or 1
    pp = _flag_int(argv, "--pipeline-parallel-size", "-pp", "--pp", "--pp-size") or 1
    dp = _flag_int(argv, "--data-parallel-size", "-dp", "--dp", "--dp-size") or 1
    if tp * pp * dp > 1:
        return min(tp * pp * dp, gpu_count)
    cvd = (env.get("CUDA_VISIBLE_DEVICES") or "").strip()
    if cvd:
        return min(len([x for x in cvd.split(",") if x.strip()]), gpu_count) or 1
    return 1


def _by_model(table: dict[str, float] | None, model: str | None) -> tuple[str, float] | None:
    if not table or not model:
        return None
    m = model.lower()
    hits = [(k, v) for k, v in table.items() if k.lower() in m]
    return max(hits, key=lambda kv: len(kv[0])) if hits else None


def hour_price(matrix_cost: dict[str, Any], config_cost: dict[str, Any], gpu_model: str | None,
               gpus: int) -> tuple[float | None, str]:
    """(price of one hour of the engine's machine share in USD, where the price came from)."""
    sources = (("the matrix file", matrix_cost or {}), ("iejtui.toml", config_cost or {}))
    if gpus > 0:
        for where, c in sources:
            hit = _by_model(c.get("gpus"), gpu_model)
            if hit:
                return hit[1] * gpus, f"{gpus} × ${hit[1]:g}/GPU-hour ({hit[0]} in {where})"
            if c.get("gpu_hour_usd") is not None:
                return c["gpu_hour_usd"] * gpus, f"{gpus} × ${c['gpu_hour_usd']:g}/GPU-hour (gpu_hour_usd in {where})"
        return None, "no GPU-hour price: set [cost] gpu_hour_usd or gpus = {...} in the matrix file or iejtui.toml"
    for where, c in sources:
        if c.get("machine_hour_usd") is not None:
            return c["machine_hour_usd"], f"${c['machine_hour_usd']:g}/hour for the machine (machine_hour_usd in {where})"
    for where, c in sources:
        if c.get("gpu_hour_usd") is not None:
            return c["gpu_hour_usd"], (f"${c['gpu_hour_usd']:g}/hour for the whole machine (no GPU: gpu_hour_usd "
                                       f"in {where} taken as the machine's price)")
    return None, "no price: set [cost] gpu_hour_usd or machine_hour_usd"


def usd_per_million(hour_usd: float | None, duration_s: float | None, output_tokens: float | None) -> float | None:
    """$ per 1M output tokens for a run that kept the engine's hardware for ``duration_s``."""
    if hour_usd is None or not duration_s or not output_tokens or duration_s <= 0 or output_tokens <= 0:
        return None
    return hour_usd * (duration_s / 3600.0) / output_tokens * 1e6


def joules_per_token(energy_j: float | None, output_tokens: float | None) -> float | None:
    if energy_j is None or not output_tokens or output_tokens <= 0 or not math.isfinite(energy_j):
        return None
    return energy_j / output_tokens


def memory_headroom(gpus: list[dict[str, Any]]) -> dict[str, float | None]:
    """The tightest GPU's free memory at its peak: ``{"bytes", "pct"}`` (None without data).

    ``gpus``: ``{"memory_total": bytes, "mem_used_bytes_peak": bytes}`` per GPU used.
    """
    best: tuple[float, float] | None = None
    for g in gpus:
        total, peak = g.get("memory_total"), g.get("mem_used_bytes_peak")
        if not total or peak is None:
            continue
        free = total - peak
        if best is None or free < best[0]:
            best = (free, 100.0 * free / total)
    return {"bytes": best[0], "pct": best[1]} if best else {"bytes": None, "pct": None}


def kv_headroom(capacity_tokens: float | None, peak_tokens: float | None) -> float | None:
    if capacity_tokens is None or peak_tokens is None:
        return None
    return max(capacity_tokens - peak_tokens, 0.0)
