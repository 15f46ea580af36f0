from __future__ import annotations

import pytest

from collectors.gpu_math import (
    average_power_w,
    counter_increase,
    counter_rate,
    energy_joules,
    energy_joules_multi,
    joules_per_token,
    run_joules_per_token,
)
from collectors.gpu_names import DCGM_EQUIVALENT, decode_clock_reasons, to_dcgm


def test_energy_simple_and_window():
    ts = [0, 5, 10, 15]
    mj = [1000, 6000, 11000, 16000]  # 1 W
    assert energy_joules(ts, mj) == pytest.approx(15.0)
    assert energy_joules(ts, mj, 2.5, 12.5) == pytest.approx(10.0)
    assert energy_joules(ts, mj, -100, 100) == pytest.approx(15.0)
    assert average_power_w(ts, mj) == pytest.approx(1.0)
    assert energy_joules([0], [5]) == 0.0 and energy_joules([], []) == 0.0


def test_energy_reset_aware_and_unsorted():
    ts = [10, 0, 5, 15]
    mj = [500, 1000, 6000, 2500]  # reset between 5 and 10: 500 mJ since reset
    assert counter_increase(ts, mj) == pytest.approx(5000 + 500 + 2000)
    assert energy_joules_multi({"a": ([0, 1], [0, 1000]), "b": ([0, 1], [0, 3000])}) == 4.0


def test_joules_per_token():
    assert joules_per_token(100.0, 50) == 2.0
    assert joules_per_token(100.0, 0) is None and joules_per_token(None, 5) is None
    j, tok, jpt = run_joules_per_token({"g": ([0, 10], [0, 70_000])}, [0, 10], [0, 35])
    assert (j, tok, jpt) == (70.0, 35.0, 2.0)
    assert counter_rate([0, 1, 2], [0, 10, 5]) == [(1, 10.0), (2, 5.0)]


def test_decode_clock_reasons():
    assert decode_clock_reasons(0) == []
    assert decode_clock_reasons(0x1) == ["gpu_idle"]
    assert decode_clock_reasons(0x4 | 0x40) == ["sw_power_cap", "hw_thermal_slowdown"]
    assert decode_clock_reasons(0x1000 | 0x1) == ["gpu_idle", "0x1000"]
    assert decode_clock_reasons(None) == []


def test_dcgm_map():
    assert DCGM_EQUIVALENT["gpu.sm_active"] == "DCGM_FI_PROF_SM_ACTIVE"
    assert to_dcgm("gpu.sm_active", 50.0) == ("DCGM_FI_PROF_SM_ACTIVE", 0.5)
    assert to_dcgm("gpu.power_mw", 700_000) == ("DCGM_FI_DEV_POWER_USAGE", 700.0)
    assert to_dcgm("gpu.nope", 1) is None
