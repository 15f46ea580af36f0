"""Promotion: benchmarks/NAME/ from a run, a day's lessons into topics/, the 5–7 day reminder."""

from __future__ import annotations

import json
import time

import pytest
from test_journal_fixture import SECRETS, all_text, real_journal

from iejtui.errors import UserError
from iejtui.journal import create_day, promote_day, promote_run, promotion_due
from iejtui.journal.daylog import load_doc

DAY = 86400.0


def test_promote_run_to_benchmarks(tmp_path):
    root, reader = real_journal(tmp_path)
    create_day(root, reader, "setup", ["demo"], None, charts=False)
    dest = promote_run(root, reader, "demo", "tiny-llama-cpu-conc8")
    result = json.loads((dest / "results.json").read_text())
    assert result["schema"] == "iejtui.benchmark" and result["source"]["day"] == 1
    assert result["run"]["engine"]["tokens"]["generated"] > 1000
    readme = (dest / "README.md").read_text()
    assert readme.startswith("# tiny\\-llama\\-cpu\\-conc8") or readme.startswith("# tiny-llama-cpu-conc8")
    assert "(../../days/day-001-setup/LOG.md)" in readme and "| TTFT |" in readme and "[![" in readme
    assert (dest / "chart.svg").exists()
    index = (root / "benchmarks" / "README.md").read_text()
    rows = [ln for ln in index.splitlines() if "(tiny-llama-cpu-conc8/README.md)" in ln]
    assert len(rows) == 1 and "vllm 0.32.0" in rows[0] and "tok/s peak" in rows[0]
    with pytest.raises(UserError, match="--force"):
        promote_run(root, reader, "demo", "tiny-llama-cpu-conc8")
    promote_run(root, reader, "hostile", "tiny-llama-cpu-conc8", force=True)
    index = (root / "benchmarks" / "README.md").read_text()
    assert index.count("(tiny-llama-cpu-conc8/README.md)") == 1
    for s in SECRETS:
        assert s not in all_text(root)
    with pytest.raises(UserError, match="invalid benchmark name"):
        promote_run(root, reader, "demo", "../escape")


def test_promote_day_lessons_with_back_link(tmp_path):
    root, reader = real_journal(tmp_path)
    path = create_day(root, reader, "KV sizing", ["demo"], None, charts=False)
    with pytest.raises(UserError, match="no lessons yet"):
        promote_day(root, 1, "vllm")
    log = path / "LOG.md"
    log.write_text(log.read_text().replace(
        "## Lessons\n\n", "## Lessons\n\n- `--max-model-len` must be an integer <really>.\n"))
    notes = promote_day(root, 1, "vllm")
    assert notes == root / "topics" / "vllm" / "notes.md"
    text = notes.read_text()
    assert "### Day 001: KV sizing" in text and "`--max-model-len` must be an integer &lt;really>." in text
    assert "(../../days/day-001-kv-sizing/LOG.md)" in text
    promote_day(root, 1, "vllm")  # again: the section is updated, not duplicated
    assert notes.read_text().count("### Day 001") == 1
    promote_day(root, 1, "New Topic!", text="Explicit lesson.")
    assert "Explicit lesson." in (root / "topics" / "new-topic" / "notes.md").read_text()
    assert (root / "topics" / "new-topic" / "README.md").exists()


def _age_day(root, number, days_ago, now):
    path = next((root / "days").glob(f"day-{number:03d}-*"))
    doc = load_doc(path)
    doc["date"] = time.strftime("%Y-%m-%d", time.localtime(now - days_ago * DAY))
    (path / "metrics.json").write_text(json.dumps(doc))


def test_promotion_reminder_after_five_to_seven_days(tmp_path):
    root, reader = real_journal(tmp_path)
    now = time.time()
    assert promotion_due(root, now) is None  # no day logs yet
    create_day(root, reader, "first", ["demo"], None, charts=False)
    _age_day(root, 1, 3, now)
    assert promotion_due(root, now) is None
    _age_day(root, 1, 6, now)
    msg = promotion_due(root, now)
    assert msg and msg.startswith("6 days") and "001" in msg and "iejtui day promote" in msg
    _age_day(root, 1, 9, now)
    assert promotion_due(root, now).startswith("overdue: 9 days")
    promote_day(root, 1, "vllm", text="a lesson")
    assert promotion_due(root, now) is None  # just promoted, nothing pending
    create_day(root, reader, "second", ["broken"], None, charts=False)
    assert promotion_due(root, now) is None  # pending, but the last promotion is recent
    assert promotion_due(root, now + 5.5 * DAY).startswith("5 days since the last promotion")
