"""The journal against the real CPU vLLM engine, live: a day from a running engine, tags
through the service, re-tagging after more load, export, terminal charts.

Secret redaction and HTML neutralisation on a real recording are covered by the unit tests
on tests/data/journal-real-run.db (recorded by tests/data/journal-make-fixture.py).
"""

from __future__ import annotations

import json

import pytest
from helpers import cli, cli_json, load_engine, wait_for

pytestmark = pytest.mark.integration


def _run_id(root, name):
    return next(e["run_id"] for e in cli_json(root, "engine", "list") if e["name"] == name)


def _stored_tokens(root, rid) -> float:
    return cli_json(root, "runs", "show", str(rid))["summary"]["engine"]["tokens"]["generated"] or 0.0


def test_day_from_a_live_engine(shared_engine):
    root, url = shared_engine["journal"], shared_engine["url"]
    rid = _run_id(root, shared_engine["name"])
    before = _stored_tokens(root, rid)
    load_engine(url, n=12, concurrency=4, max_tokens=48)
    # the last second of tokens reaches journal.db with the next scrape and flush: wait for
    # the stored counter, not for the clock (a loaded box lags by more than a second)
    wait_for(lambda: _stored_tokens(root, rid) >= before + 12 * 48 * 0.9, 30, 0.5, "the tokens stored")
    p = cli(root, "day", "new", "live engine", "--run", str(rid), "--note", "journal from a live run")
    assert p.returncode == 0, p.stderr
    day_dir = next((root / "days").glob("day-*-live-engine"))
    number = int(day_dir.name.split("-")[1])
    doc = json.loads((day_dir / "metrics.json").read_text())
    entry = next(e for e in doc["runs"] if e["id"] == rid)
    first_tokens = entry["engine"]["tokens"]["generated"]
    assert first_tokens and first_tokens >= 12 * 48 * 0.9
    assert entry["status"] == "ready" and entry["duration_s"] is None  # still running
    assert entry["engine"]["latency_s"]["ttft"]["count"] >= 12
    assert (day_dir / f"run-{rid}-{shared_engine['name']}.svg").exists()
    # tags reach journal.db through the service when it has the endpoint; else a note says so
    run = cli_json(root, "runs", "show", str(rid))
    if "not updated" in p.stderr:
        assert run["day"] is None
    else:
        assert run["day"] == number and f"day-{number:03d}" in run["tags"]

    # more load, then re-tag: the generated parts follow, hand text stays
    log = day_dir / "LOG.md"
    log.write_text(log.read_text() + "\nHand-written conclusion.\n")
    load_engine(url, n=8, concurrency=4, max_tokens=48)
    wait_for(lambda: _stored_tokens(root, rid) >= first_tokens + 8 * 48 * 0.9, 30, 0.5, "the new tokens stored")
    p = cli(root, "tag", str(rid), "--day", str(number))
    assert p.returncode == 0, p.stderr
    doc = json.loads((day_dir / "metrics.json").read_text())
    entry = next(e for e in doc["runs"] if e["id"] == rid)
    assert entry["engine"]["tokens"]["generated"] >= first_tokens + 8 * 48 * 0.9
    assert "Hand-written conclusion." in log.read_text()

    p = cli(root, "export", "--day", str(number))
    assert p.returncode == 0, p.stderr
    assert "still running" in p.stdout and "| TTFT |" in p.stdout and "```sh" in p.stdout
    p = cli(root, "day", "chart", str(rid), "--panel", "throughput", "--width", "70")
    assert p.returncode == 0 and "Token throughput" in p.stdout
