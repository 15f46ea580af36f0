"""``iejtui advise`` over a real recorded journal (tests/data/journal-real-run.db: the CPU
vLLM demo under its benchmark, an engine given hostile input, one that crashed)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

DATA = Path(__file__).resolve().parents[1] / "data"


def _iejtui(journal: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "iejtui.cli", "--journal", str(journal), *args],
                          capture_output=True, text=True, timeout=60)


@pytest.fixture(scope="module")
def journal(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("adv")
    shutil.copy(DATA / "journal-real-run.db", d / "journal.db")
    return d


def test_json_shape_and_a_healthy_demo_has_no_warning(journal):
    res = _iejtui(journal, "advise", "r1", "--json", "--for", "5s")
    assert res.returncode == 0, res.stderr
    out = json.loads(res.stdout)
    assert out["run"]["id"] == 1 and out["run"]["kind"] == "engine"
    assert {"running", "waiting", "kv_usage_pct", "ttft_p99_s"} <= set(out["signals"])
    for f in out["findings"]:
        assert set(f) >= {"rule", "severity", "state", "start", "end", "peak", "knob", "why", "source"}
        assert f["severity"] == "info", f  # the demo under its benchmark: nothing to warn about


def test_text_names_rule_window_and_why(journal):
    res = _iejtui(journal, "advise", "1", "--for", "5s")
    assert res.returncode == 0
    assert "bottleneck:" in res.stdout and "why:" in res.stdout


def test_a_run_without_samples_says_so(journal):
    res = _iejtui(journal, "advise", "3")
    assert res.returncode == 0 and "nothing to advise on" in res.stdout


@pytest.mark.parametrize("args, words", [
    (("advise", "r99"), "no run 'r99'"),
    (("advise", "1", "--for", "soon"), "--for"),
    (("advise",), "name a run"),
    (("advise", "--prometheus-rules", "/nonexistent-dir/x.yml"), "cannot write"),
])
def test_bad_input_is_one_line_exit_2(journal, args, words):
    res = _iejtui(journal, *args)
    assert res.returncode == 2 and words in res.stderr and "Traceback" not in res.stderr
    assert len(res.stderr.strip().splitlines()) == 1


def test_bad_override_in_config_is_refused_at_load(tmp_path):
    shutil.copy(DATA / "journal-real-run.db", tmp_path / "journal.db")
    (tmp_path / "iejtui.toml").write_text('[advisor.rules.kv-saturated]\nthreshold = "high"\n')
    res = _iejtui(tmp_path, "advise", "--rules")
    assert res.returncode == 2 and "expected a number" in res.stderr
    (tmp_path / "iejtui.toml").write_text('[advisor.rules.kv-saturated]\nthreshold = 97\nfor = "1m"\n')
    res = _iejtui(tmp_path, "advise", "--rules", "--json")
    kv = next(r for r in json.loads(res.stdout) if r["id"] == "kv-saturated")
    assert kv["for_s"] == 60 and kv["conditions"] == ["kv_usage_pct > 97"]


def test_runs_show_day_log_and_export_carry_what_the_advisor_saw(journal):
    shown = json.loads(_iejtui(journal, "runs", "show", "1", "--json").stdout)
    assert shown["advisor"]["source"] == "replay" and "running" in shown["advisor"]["signals"]
    text = _iejtui(journal, "runs", "show", "1").stdout
    assert "  advisor" in text and "bottleneck:" in text
    res = _iejtui(journal, "day", "new", "advised", "--run", "1", "--run", "3")
    assert res.returncode == 0, res.stderr
    (day,) = (journal / "days").iterdir()
    log = (day / "LOG.md").read_text()
    section = log.split("## What the advisor saw", 1)[1].split("## What broke", 1)[0]
    assert "<!-- iejtui:advisor -->" in section and "r1" in section
    doc = json.loads((day / "metrics.json").read_text())
    assert {e["id"]: e["advisor"]["source"] for e in doc["runs"]}[1] == "replay"
    out = journal / "export.md"
    res = _iejtui(journal, "export", "--day", "1", "-o", str(out))
    assert res.returncode == 0, res.stderr
    md = out.read_text()
    assert "What the advisor saw" in md
    for part in md.split("What the advisor saw")[1:]:  # the advisor's sections carry no raw HTML
        assert "<" not in part.split("\n#", 1)[0]
