"""``iejtui advise --prometheus-rules``: the rules PromQL can express, checked by promtool
(Debian's prometheus package, installed by .ci/run) and unit-tested with promtool's own
rule tests: three rules go pending when their condition first holds and fire exactly
``for:`` later."""

from __future__ import annotations

import json
import os
import shutil
import subprocess

import pytest

from iejtui.advisor.catalog import BY_ID, RULES
from iejtui.advisor.promrules import expressible, rule_expr, rules_yaml


def _promtool() -> str:
    exe = shutil.which("promtool")
    if exe is None:
        if os.environ.get("CI"):
            pytest.fail("promtool is missing (apt-get install prometheus): .ci/run installs it")
        pytest.skip("promtool not installed (apt-get install prometheus)")
    return exe


@pytest.mark.parametrize("naming", ["vllm", "iejtui"])
def test_the_rules_file_passes_promtool_check(tmp_path, naming):
    path = tmp_path / "rules.yml"
    path.write_text(rules_yaml(RULES, naming))
    res = subprocess.run([_promtool(), "check", "rules", str(path)], capture_output=True, text=True)
    assert res.returncode == 0, res.stdout + res.stderr
    ok, left = expressible(RULES, naming)
    assert f"SUCCESS: {len(ok)} rules found" in res.stdout
    assert len(ok) >= 20
    for r in left:  # what could not be expressed is named in the file
        assert f"#   {r.id}" in path.read_text()


def test_mixed_and_flag_rules_are_not_expressed():
    assert rule_expr(BY_ID["gpu-underused"]) is None  # engine + GPU labels cannot be joined
    assert rule_expr(BY_ID["eager-mode"]) is None  # a launch flag is not a series
    assert "DCGM_FI_PROF_SM_ACTIVE" in rule_expr(BY_ID["under-filled"])
    assert "iejtui_DCGM_FI_PROF_SM_ACTIVE" in rule_expr(BY_ID["under-filled"], "iejtui")


def _alert(rule_id: str, **labels) -> dict:
    r = BY_ID[rule_id]
    name = "IEJTUI" + "".join(p.capitalize() for p in rule_id.split("-"))
    return {"name": name, "labels": {"severity": r.severity, "iejtui_rule": r.id, "source": r.source, **labels},
            "why": r.why + (f"; knob: {k.flag}" if (k := r.knob[0] if isinstance(r.knob, tuple) else r.knob) else ""),
            "title": r.title, "for": r.for_s}


def _case(rule_id: str, series: list[tuple[str, str]], starts_s: int, value: str, **labels) -> dict:
    """Input series whose condition first holds at ``starts_s``: pending then, and until
    ``for:`` has passed; firing exactly then."""
    a = _alert(rule_id, **labels)
    fire = starts_s + int(a["for"])
    pending = f'count(ALERTS{{alertname="{a["name"]}", alertstate="pending"}})'
    return {
        "interval": "30s",
        "input_series": [{"series": s, "values": v} for s, v in series],
        "promql_expr_test": [
            {"expr": pending, "eval_time": f"{starts_s}s", "exp_samples": [{"labels": "{}", "value": 1}]},
            {"expr": pending, "eval_time": f"{fire - 30}s", "exp_samples": [{"labels": "{}", "value": 1}]},
        ],
        "alert_rule_test": [
            {"eval_time": f"{starts_s - 30}s", "alertname": a["name"], "exp_alerts": []},
            {"eval_time": f"{fire - 30}s", "alertname": a["name"], "exp_alerts": []},
            {"eval_time": f"{fire}s", "alertname": a["name"], "exp_alerts": [{
                "exp_labels": a["labels"],
                "exp_annotations": {"summary": f"{a['title']}: value {value}", "description": a["why"]}}]},
        ],
    }


def test_three_rules_go_pending_then_fire_on_time(tmp_path):
    (tmp_path / "rules.yml").write_text(rules_yaml(RULES, "vllm"))
    gpu = 'UUID="GPU-1", gpu="0", Hostname="h"'
    tests = {"rule_files": ["rules.yml"], "evaluation_interval": "30s", "tests": [
        # queue-buildup: waiting > 50 for 5m (llm-d)
        _case("queue-buildup", [('vllm:num_requests_waiting{instance="a", model_name="m"}', "0 0 60x40")],
              60, "60", instance="a"),
        # kv-saturated: KV > 90 % for 10m (llm-d); vLLM's gauge is a 0-1 fraction
        _case("kv-saturated", [('vllm:kv_cache_usage_perc{instance="a", model_name="m"}', "0.5 0.5 0.5 0.95x60")],
              90, "95", instance="a"),
        # under-filled: kernels run ≥ 80 % of the time on < 25 % of the SMs, for 30s (ours)
        _case("under-filled", [(f"DCGM_FI_DEV_GPU_UTIL{{{gpu}}}", "0 0 100x20"),
                               (f"DCGM_FI_PROF_SM_ACTIVE{{{gpu}}}", "0 0 0.0076x20")],
              60, "0.76", UUID="GPU-1"),
    ]}
    (tmp_path / "test.yml").write_text(json.dumps(tests, indent=1))  # JSON is YAML
    res = subprocess.run([_promtool(), "test", "rules", "test.yml"], cwd=tmp_path, capture_output=True, text=True)
    assert res.returncode == 0, res.stdout + res.stderr
    assert "SUCCESS" in res.stdout
