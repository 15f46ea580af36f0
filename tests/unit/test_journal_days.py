"""Day logs on the real recorded run: creation, re-tagging that keeps hand edits, the index,
metrics.json's schema, code/ scripts, and the journal's truth when journal.db lags."""

from __future__ import annotations

import json
import stat
import subprocess

import pytest
from test_journal_fixture import SECRETS, all_text, real_journal

from iejtui.errors import UserError
from iejtui.journal import create_day, days, refresh_day, tag_runs
from iejtui.journal.metrics import SCHEMA, SCHEMA_VERSION
from iejtui.journal.sections import read


def _run_ids(reader):
    return {r["name"]: r["id"] for r in reader.runs()}


def test_create_day_writes_the_whole_folder(tmp_path):
    root, reader = real_journal(tmp_path)
    ids = _run_ids(reader)
    path = create_day(root, reader, "Initial setup: CPU vLLM!", ["demo"], "Does a real engine record end to end?")
    assert path == root / "days" / "day-001-initial-setup-cpu-vllm"
    log = (path / "LOG.md").read_text()
    assert log.startswith("# Day 001: Initial setup: CPU vLLM!")
    for heading in ("## Goal", "## Setup", "## Runs", "## Charts", "## What broke and how it was fixed",
                    "## Lessons", "## Next steps"):
        assert heading in log
    assert "Does a real engine record end to end?" in log
    assert f"| r{ids['demo']} | demo | engine | stopped |" in log
    assert "vllm 0.32.0" in log
    assert "```sh\n" in log and "demo serve --port 18431" in log  # the exact launch command
    chart = f"run-{ids['demo']}-demo.svg"
    assert (path / chart).read_text().lstrip().startswith("<?xml") and f"]({chart})" in log
    script = path / "code" / f"run-{ids['demo']}-engine-demo.sh"
    assert script.stat().st_mode & stat.S_IXUSR
    assert "--port 18431" in script.read_text()
    assert (path / "TODO.md").read_text().startswith("# Day 001 TODO")
    assert (path / "code" / "README.md").exists()
    # the index row
    index = (root / "JOURNAL_INDEX.md").read_text()
    rows = [ln for ln in index.splitlines() if ln.startswith("| [001]")]
    assert len(rows) == 1
    assert "(days/day-001-initial-setup-cpu-vllm/LOG.md)" in rows[0] and f"r{ids['demo']}" in rows[0]
    assert "tok/s peak" in rows[0]


def test_next_day_numbers_and_days_listing(tmp_path):
    root, reader = real_journal(tmp_path)
    create_day(root, reader, "one", ["demo"], None, charts=False)
    p2 = create_day(root, reader, "Two / KV", ["broken"], None, charts=False)
    assert p2.name == "day-002-two-kv"
    listed = days(root)
    assert [d.number for d in listed] == [1, 2]
    assert listed[1].topic == "Two / KV" and listed[1].runs == [_run_ids(reader)["broken"]]
    index = (root / "JOURNAL_INDEX.md").read_text()
    assert index.index("| [001]") < index.index("| [002]")


def test_retag_keeps_hand_edits_and_updates_generated_parts(tmp_path):
    root, reader = real_journal(tmp_path)
    ids = _run_ids(reader)
    path = create_day(root, reader, "initial setup", ["demo"], "first goal")
    log = path / "LOG.md"
    text = log.read_text()
    text = text.replace("first goal", "first goal, rewritten by hand with a [link](https://example.org)")
    text = text.replace("- _What did this day teach?", "- KV usage stays under 1 % with the tiny model.\n- _What did this day teach?")
    text = text.replace("_How it was fixed: write it here (outside the generated block above)._",
                        "Fixed by passing an integer to --max-model-len.")
    text += "\nA closing paragraph I wrote.\n"
    log.write_text(text)
    todo = path / "TODO.md"
    todo.write_text(todo.read_text().replace("- [ ] \n", "- [ ] my own item\n"))

    tag_runs(root, reader, [str(ids["broken"]), f"r{ids['hostile']}"], 1)
    after = log.read_text()
    assert "rewritten by hand with a [link](https://example.org)" in after
    assert "KV usage stays under 1 % with the tiny model." in after
    assert "Fixed by passing an integer to --max-model-len." in after
    assert after.rstrip().endswith("A closing paragraph I wrote.")
    assert f"| r{ids['broken']} | broken | engine | crashed (exit 2) |" in after
    assert f"**r{ids['broken']} broken** crashed (exit 2)" in after
    assert "my own item" in todo.read_text()
    assert f"r{ids['broken']} broken crashed" in todo.read_text()
    rows = [ln for ln in (root / "JOURNAL_INDEX.md").read_text().splitlines() if ln.startswith("| [001]")]
    assert len(rows) == 1 and f"r{ids['broken']}" in rows[0] and f"r{ids['demo']}" in rows[0]
    doc = json.loads((path / "metrics.json").read_text())
    assert [e["id"] for e in doc["runs"]] == [ids["demo"], ids["broken"], ids["hostile"]]
    # tagging again is harmless: same runs, same hand text
    tag_runs(root, reader, ["demo"], 1, charts=False)
    again = log.read_text()
    assert read(again, "runs").count(f"| r{ids['demo']} |") == 1 and "A closing paragraph I wrote." in again


def test_deleted_generated_section_comes_back_at_the_end(tmp_path):
    root, reader = real_journal(tmp_path)
    path = create_day(root, reader, "x", ["demo"], None, charts=False)
    log = path / "LOG.md"
    text = log.read_text()
    start, end = text.index("<!-- iejtui:runs -->"), text.index("<!-- /iejtui:runs -->") + len("<!-- /iejtui:runs -->")
    log.write_text(text[:start] + "I replaced the runs table." + text[end:])
    tag_runs(root, reader, ["broken"], 1, charts=False)
    after = log.read_text()
    assert "I replaced the runs table." in after
    assert after.rstrip().endswith("<!-- /iejtui:runs -->")


def test_metrics_json_schema(tmp_path):
    root, reader = real_journal(tmp_path)
    path = create_day(root, reader, "schema", ["demo", "broken", "hostile"], None, charts=False)
    doc = json.loads((path / "metrics.json").read_text())
    assert doc["schema"] == SCHEMA and doc["schema_version"] == SCHEMA_VERSION == 2
    for key in ("day", "topic", "slug", "date", "created_at", "updated_at", "headline", "runs"):
        assert key in doc
    by_name = {e["name"]: e for e in doc["runs"]}
    entry = by_name["demo"]
    for key in ("id", "kind", "status", "argv", "env", "versions", "engine", "gpu", "events", "duration_s"):
        assert key in entry, key
    demo = entry["engine"]  # schema 2: the figures sit in the run's section (iejtui.summary)
    for key in ("tokens", "throughput", "latency_s", "kv", "concurrency", "preemptions", "not_reported"):
        assert key in demo, key
    assert demo["tokens"]["generated"] > 1000 and demo["tokens"]["prompt"] > 0
    assert demo["throughput"]["generation_tok_s_peak"] > demo["throughput"]["generation_tok_s_mean_busy"] > 0
    for k in ("ttft", "itl", "tpot", "e2e", "queue"):
        lat = demo["latency_s"][k]
        assert set(lat) == {"p50", "p90", "p99", "mean", "count"}
        assert lat["count"] > 0 and 0 < lat["p50"] <= lat["p90"] <= lat["p99"]
    assert demo["kv"]["capacity_tokens"] == 1048576 and 0 < demo["kv"]["peak_pct"] < 100
    assert demo["kv"]["peak_tokens"] == pytest.approx(demo["kv"]["peak_pct"] / 100 * 1048576)
    # no GPU on the recording machine: nulls, never zeros
    g = entry["gpu"]
    assert g["count"] == 0 and g["energy_j"] is None and g["joules_per_token"] is None
    assert g["sm_active_pct"] == {"peak": None, "mean": None}
    assert g["power_w"] == {"peak": None, "mean": None}
    broken = by_name["broken"]
    assert broken["status"] == "crashed" and broken["exit_code"] == 2 and broken["events"]["crashes"] >= 1
    assert broken["engine"]["tokens"]["generated"] is None  # never scraped: unknown, not 0
    assert broken["model"] is None  # `python -m iejtui.cli` is a launcher, not a model


def test_scripts_mask_secrets_and_require_them_from_env(tmp_path):
    root, reader = real_journal(tmp_path)
    ids = _run_ids(reader)
    path = create_day(root, reader, "secrets", ["hostile"], None, charts=False)
    script_path = path / "code" / f"run-{ids['hostile']}-engine-hostile.sh"
    script = script_path.read_text()
    assert '--api-key "${IEJTUI_API_KEY:?' in script
    assert 'export HF_TOKEN="${HF_TOKEN:?' in script
    assert "Secrets (API keys, tokens) were masked" in script
    assert "'<img src=x onerror=alert(1)>'" in script  # shell-quoted, exactly as launched
    for s in SECRETS:
        assert s not in all_text(root)
    assert subprocess.run(["bash", "-n", str(script_path)]).returncode == 0


def test_day_folder_is_the_truth_when_db_tags_lag(tmp_path):
    root, reader = real_journal(tmp_path)
    ids = _run_ids(reader)
    notes = []
    create_day(root, reader, "lag", ["demo", "broken"], None, on_note=notes.append, charts=False)
    assert notes and "service not running" in notes[0]
    assert all(not r.get("tags") and r.get("day") is None for r in reader.runs())  # journal.db lags
    assert days(root)[0].runs == [ids["demo"], ids["broken"]]
    refresh_day(root, reader, 1)
    assert days(root)[0].runs == [ids["demo"], ids["broken"]]


def test_bad_input_is_a_user_error(tmp_path):
    root, reader = real_journal(tmp_path)
    with pytest.raises(UserError, match="no day 4"):
        tag_runs(root, reader, ["demo"], 4)
    with pytest.raises(UserError, match="no run 'nope'"):
        create_day(root, reader, "x", ["nope"], None)
    with pytest.raises(UserError, match="no letters or digits"):
        create_day(root, reader, "!!!", ["demo"], None)
    assert not (root / "days").exists() or not list((root / "days").iterdir())
