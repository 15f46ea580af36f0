"""The process-tree collector (collectors.host_procs): the pure CPU maths, then a real tree
of processes (a parent and a busy grandchild) read through psutil, and the memory-bandwidth
honesty check against a fake /sys PMU folder."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

from collectors import host_procs as H
from collectors.host_procs import ProcTreeCollector, memory_bandwidth_status, tree_cpu_pct


def test_tree_cpu_pct_rules():
    prev = {1: (100.0, 10.0, 0.0), 2: (100.0, 5.0, 0.0), 3: (100.0, 7.0, 0.0)}
    cur = {1: (100.0, 11.0, 0.0),   # +1 s
           2: (150.0, 0.5, 0.0),    # pid reused by a new process started before prev_ts: not counted
           4: (201.0, 0.25, 0.0)}   # new since the last reading: all its CPU time counts
    # pid 3 exited: its last slice is lost (not negative)
    assert tree_cpu_pct(prev, cur, prev_ts=200.0, cur_ts=202.0) == pytest.approx((1.0 + 0.25) / 2 * 100)
    assert tree_cpu_pct(prev, cur, 200.0, 200.0) is None
    # a counter that went backwards (never for a live process; clock games) never subtracts
    assert tree_cpu_pct({1: (1.0, 5.0, 0.0)}, {1: (1.0, 4.0, 0.0)}, 10.0, 11.0) == 0.0


SPIN = "import time\nt = time.time()\nwhile time.time() - t < 30: pass\n"
PARENT = ("import subprocess, sys, time\n"
          f"p = subprocess.Popen([sys.executable, '-c', {SPIN!r}])\n"
          "print('ok', flush=True)\ntime.sleep(30)\n")


def test_real_process_tree():
    parent = subprocess.Popen([sys.executable, "-c", PARENT], stdout=subprocess.PIPE, text=True,
                              start_new_session=True)
    try:
        assert parent.stdout.readline().strip() == "ok"
        c = ProcTreeCollector()
        first = c.tick(parent.pid)
        assert first is not None and H.CPU not in {s.name for s in first.samples}  # one reading: no rate yet
        time.sleep(1.5)
        got = {s.name: s.value for s in c.tick(parent.pid).samples}
        assert got[H.COUNT] == 2  # the parent and its spinning child
        assert got[H.RSS] > 5e6
        assert got[H.CPU] > 5.0  # the child spins on one core (shared with others on a busy CI box)
        assert got[H.CPU] <= 100.0 * got[H.CPUS] + 5.0
        assert 0 < got[H.MEM_USED] < got[H.MEM_TOTAL]
    finally:
        os.killpg(parent.pid, signal.SIGKILL)  # the spinning child too
        parent.wait()
    assert c.tick(2 ** 22 + 7) is None  # no such pid: no frame


def test_memory_bandwidth_is_not_guessed(tmp_path):
    (tmp_path / "cpu").mkdir()
    (tmp_path / "software").mkdir()
    ok, why = memory_bandwidth_status(tmp_path)
    assert not ok and "not readable" in why
    ok, why = memory_bandwidth_status(tmp_path / "absent")
    assert not ok
    (tmp_path / "uncore_imc_0").mkdir()
    ok, why = memory_bandwidth_status(tmp_path)
    assert "uncore_imc_0" in why or "perf_event_paranoid" in why
