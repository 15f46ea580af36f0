"""The machine a matrix ran on: host, CPU, memory, OS, and the GPUs the service sees."""

from __future__ import annotations

import os
import platform
import socket
from typing import Any


def cpu_model() -> str | None:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.lower().startswith("model name"):
                    return " ".join(line.split(":", 1)[1].split())
    except OSError:
        pass
    return platform.processor() or None


def describe(gpu_static: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """Host facts plus the GPUs (NVML static info: name, memory_total, driver, uuid…)."""
    try:
        import psutil
        mem = psutil.virtual_memory().total
    except Exception:  # noqa: BLE001
        mem = None
    try:
        cores = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cores = os.cpu_count()
    gpus = [{k: g.get(k) for k in ("uuid", "index", "name", "memory_total", "driver", "cuda_driver_version",
                                   "power_limit_mw", "mig_mode")} for g in gpu_static or []]
    first = gpus[0] if gpus else {}
    return {"host": socket.gethostname(), "cpu": cpu_model(), "cpu_cores": cores, "memory_bytes": mem,
            "os": f"{platform.system()} {platform.release()}", "gpus": gpus, "gpu_count": len(gpus),
            "gpu_model": first.get("name"), "driver": first.get("driver"), "cuda": first.get("cuda_driver_version")}
