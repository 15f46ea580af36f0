"""Every token counted (issue 16): what a run records equals what the engine's own
``/metrics`` says, for a burst sent the moment ``engine start --wait`` returns and for an
engine attached after it had already served traffic.

The real CPU vLLM; the expected figures are read from the engine by the test, never
literals; the loads are sized by duration (any box, fast or slow, serves them).
"""

from __future__ import annotations

import re
import time
import urllib.request

import pytest

from helpers import add_profile, cli, cli_json, engine_profile, free_port, load_engine, wait_for

pytestmark = pytest.mark.integration

COUNTERS = {"generation_tokens": "vllm:generation_tokens_total", "requests_finished": "vllm:request_success_total"}


def engine_totals(url: str) -> dict[str, float]:
    """The engine's own counters (summed over label sets: finish reasons)."""
    text = urllib.request.urlopen(url + "/metrics", timeout=10).read().decode()
    out = dict.fromkeys(COUNTERS, 0.0)
    for line in text.splitlines():
        for key, name in COUNTERS.items():
            if re.match(re.escape(name) + r"[{ ]", line):
                out[key] += float(line.rsplit(" ", 1)[1])
    return out


def recorded(journal, run: str) -> tuple[dict, dict]:
    show = cli_json(journal, "runs", "show", run)
    e = show["summary"]["engine"]
    return {"generation_tokens": e["tokens"]["generated"],
            "requests_finished": e["throughput"]["requests_finished"]}, show


@pytest.mark.timeout(900)
def test_a_burst_right_after_ready_is_counted_exactly(journal, demo_engine):
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    add_profile(journal, engine_profile("eng", port))
    p = cli(journal, "engine", "start", "eng", "--wait", timeout=600)
    assert p.returncode == 0, p.stdout + p.stderr
    load_engine(url, None, concurrency=8, seconds=3, max_tokens=64)  # at once, for 3 s, 8 at a time
    engine = engine_totals(url)  # every request has ended: nothing moves until the stop
    assert engine["generation_tokens"] > 0 and engine["requests_finished"] >= 8
    assert cli(journal, "engine", "stop", "eng").returncode == 0
    got, show = recorded(journal, "eng")
    assert got == engine, (got, engine, show["samples"])
    assert "counting_from" not in (show.get("facts") or {})  # launched here: counted from 0


@pytest.mark.timeout(900)
def test_an_attached_engine_is_counted_from_the_attach_and_says_so(journal, shared_engine):
    url = shared_engine["url"]
    load_engine(url, None, concurrency=4, seconds=1.5, max_tokens=32)  # traffic before the attach
    assert cli(journal, "engine", "attach", "watched", url).returncode == 0
    wait_for(lambda: cli_json(journal, "engine", "list")[0]["status"] == "ready", 60, what="attached engine")
    before = engine_totals(url)  # nothing served since the attach's first scrape
    assert before["generation_tokens"] > 0
    load_engine(url, None, concurrency=8, seconds=3, max_tokens=64)
    after = engine_totals(url)
    assert cli(journal, "engine", "stop", "watched").returncode == 0  # detach: one more scrape first
    got, show = recorded(journal, "watched")
    assert got == {k: after[k] - before[k] for k in COUNTERS}, (got, before, after)
    facts = show["facts"]
    assert facts["counting_since"] == "attach"
    assert facts["served_before"]["generation_tokens"] == before["generation_tokens"]
    assert show["summary"]["engine"]["counting_from"] == facts["counting_from"]
    at = time.strftime("%H:%M:%S", time.localtime(facts["counting_from"]))
    assert f"counting from attach at {at}" in cli(journal, "runs", "show", "watched").stdout
    event = next(e["message"] for e in show["events"] if e["kind"] == "counting")
    assert (f"counting from attach at {at} (the engine had already served "
            f"{before['generation_tokens']:,.0f} generated tokens") in event
