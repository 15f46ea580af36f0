"""An engine's process tree on the host: CPU use, resident memory, and the host's memory.

On a CPU-only box (the demo's case) these are the engine's hardware figures, as NVML's are
on a GPU box. ``ProcTreeCollector.tick(root_pid)`` returns one ``Frame`` (source
``proc``) stored in the engine's run, so live and replay read the same series:

* ``proc.cpu_pct``: CPU time of the tree (root and every descendant) per wall second × 100,
  so 100 = one core busy and ``host.cpu_count`` × 100 = the whole host. From per-process
  ``cpu_times`` (user + system, the process's own, children's excluded since they are in
  the tree already) differenced between ticks (``tree_cpu_pct``, pure): a process that
  appeared since the last tick counts from its start (its whole CPU time if it started
  within the interval, else nothing: it is new to us, not to the machine), one that exited
  is lost for that interval (its last slice cannot be read any more).
* ``proc.rss_bytes``: resident set size summed over the tree (shared pages are counted in
  each process that maps them: an upper bound, as ``ps`` shows).
* ``proc.count``: processes in the tree.
* ``host.mem_used_bytes``, ``host.mem_total_bytes``: ``psutil.virtual_memory`` (used =
  total − available, the figure that matters for "will the next engine fit").
* ``host.cpu_count``: logical CPUs the service may use (``os.sched_getaffinity``);
* ``host.mem_bw_pmu``: 1/0, whether a memory-controller PMU is exposed (below).

Host memory *bandwidth* needs the memory controllers' uncore PMU counters (``uncore_imc``
on Intel, ``amd_df`` on AMD) through ``perf_event_open``; ``memory_bandwidth_status()`` says
whether this host exposes them and why not. iejtui does not read them yet (the panel says
"not readable" and the reason), never a guessed figure.

psutil calls block briefly (a few /proc reads per process): call ``tick`` off the event
loop. A root pid that is gone yields no frame. psutil is imported where used, so the view
models can import the names from here cheaply.
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping
from pathlib import Path

from .records import Frame, Sample

SOURCE = "proc"
CPU = "proc.cpu_pct"
RSS = "proc.rss_bytes"
COUNT = "proc.count"
MEM_USED = "host.mem_used_bytes"
MEM_TOTAL = "host.mem_total_bytes"
CPUS = "host.cpu_count"
#: 1 when the host exposes a memory-controller PMU (bandwidth readable in principle, not read
#: by iejtui yet), 0 when it does not (or perf_event_paranoid forbids it): "not readable"
MEM_BW_PMU = "host.mem_bw_pmu"
NAMES = (CPU, RSS, COUNT, MEM_USED, MEM_TOTAL, CPUS, MEM_BW_PMU)

#: pid -> (create_time, cpu seconds user+system, rss bytes)
TreeReading = Mapping[int, tuple[float, float, float]]

PMU_ROOT = Path("/sys/bus/event_source/devices")
MEMORY_PMUS = ("uncore_imc", "amd_df")


def tree_cpu_pct(prev: TreeReading, cur: TreeReading, prev_ts: float, cur_ts: float) -> float | None:
    """CPU use of a process tree between two readings, % of one core (see module doc).

    A pid counts only when its create time matches in both readings (a reused pid is a new
    process); a new one counts its whole CPU time when it started after ``prev_ts``."""
    dt = cur_ts - prev_ts
    if dt <= 0:
        return None
    used = 0.0
    for pid, (created, cpu, _) in cur.items():
        before = prev.get(pid)
        if before is not None and abs(before[0] - created) < 1e-3:
            used += max(0.0, cpu - before[1])
        elif created >= prev_ts:
            used += cpu
    return used / dt * 100.0


def read_tree(root_pid: int) -> dict[int, tuple[float, float, float]]:
    """``{pid: (create_time, cpu seconds, rss bytes)}`` of ``root_pid`` and its descendants;
    empty when the root is gone. Processes that exit while being read are skipped."""
    import psutil

    try:
        root = psutil.Process(root_pid)
        procs = [root, *root.children(recursive=True)]
    except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
        return {}
    out: dict[int, tuple[float, float, float]] = {}
    for p in procs:
        try:
            with p.oneshot():
                t = p.cpu_times()
                out[p.pid] = (p.create_time(), t.user + t.system, float(p.memory_info().rss))
        except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
            continue
    return out


def cpu_count() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def memory_bandwidth_status(pmu_root: Path = PMU_ROOT) -> tuple[bool, str]:
    """(readable in principle, why not / what would read it). ``pmu_root`` for tests."""
    try:
        names = sorted(p.name for p in pmu_root.iterdir())
    except OSError:
        return False, "no perf event sources (/sys/bus/event_source)"
    found = [n for n in names if n.startswith(MEMORY_PMUS)]
    if not found:
        return False, "not readable: no memory-controller PMU (uncore_imc/amd_df) exposed"
    try:
        paranoid = int(Path("/proc/sys/kernel/perf_event_paranoid").read_text().strip())
    except (OSError, ValueError):
        paranoid = 2
    if paranoid > 0 and os.geteuid() != 0:
        return False, f"not readable: perf_event_paranoid={paranoid} (uncore counters need ≤0 or root)"
    return True, f"{found[0]} present; not read by iejtui yet"


class ProcTreeCollector:
    """Keeps the previous reading per root pid; ``tick`` gives the frame of one tree."""

    def __init__(self) -> None:
        self._prev: dict[int, tuple[float, dict[int, tuple[float, float, float]]]] = {}
        self.cpus = cpu_count()
        self.mem_bw_pmu, self.mem_bw_why = memory_bandwidth_status()

    def tick(self, root_pid: int) -> Frame | None:
        """The tree's frame, stamped when its CPU times were read: a caller's clock taken
        before a (queued, delayed) read would skew the interval, and the CPU share with it
        (a read 0.5 s late after an on-time one doubled a 1 s interval's figure)."""
        cur = read_tree(root_pid)
        now = time.time()
        if not cur:
            self._prev.pop(root_pid, None)
            return None
        prev = self._prev.get(root_pid)
        self._prev[root_pid] = (now, cur)
        import psutil

        vm = psutil.virtual_memory()
        vals: dict[str, float] = {
            RSS: sum(r for _, _, r in cur.values()), COUNT: float(len(cur)),
            MEM_USED: float(vm.total - vm.available), MEM_TOTAL: float(vm.total), CPUS: float(self.cpus),
            MEM_BW_PMU: float(self.mem_bw_pmu)}
        if prev is not None:
            pct = tree_cpu_pct(prev[1], cur, prev[0], now)
            if pct is not None:
                vals[CPU] = pct
        return Frame(SOURCE, now, [Sample(k, v) for k, v in vals.items()])

    def forget(self, root_pid: int) -> None:
        self._prev.pop(root_pid, None)
