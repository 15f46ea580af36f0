"""Speculative decoding on the real CPU vLLM 0.32: ngram drafts (no draft model, so it runs
on the CPU build), launched through the service. Greedy decoding of the tiny random model
loops, so ngram drafts from the context are accepted: the spec rows appear in the run
summary and on the dashboard panel with vLLM's own definitions. One engine for the module."""

from __future__ import annotations

import json
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor

import pytest

from helpers import add_profile, cli, cli_json, engine_profile, free_port, stop_service, wait_for
from iejtui.store import Reader
from iejtui.viewmodel.snapshot import dashboard_snapshot
from iejtui.viewmodel.text import engine_fields

pytestmark = pytest.mark.integration
SPEC = '{"method":"ngram","num_speculative_tokens":3,"prompt_lookup_max":3}'


@pytest.fixture(scope="module")
def spec_engine(tmp_path_factory, demo_engine):
    journal = tmp_path_factory.mktemp("spec") / "journal"
    assert cli(journal, "init", str(journal)).returncode == 0
    port = free_port()
    add_profile(journal, engine_profile("spec", port, extra=["--speculative-config", SPEC]))
    p = cli(journal, "engine", "start", "spec", "--wait", timeout=600)
    if p.returncode != 0:
        stop_service(journal)
        pytest.fail(f"the ngram spec-decode engine did not start: {p.stdout}\n{p.stderr}")
    run_id = json.loads(cli(journal, "engine", "list", "--json").stdout)[0]["run_id"]
    yield {"journal": journal, "url": f"http://127.0.0.1:{port}", "run_id": run_id}
    stop_service(journal)


def _greedy(url: str, deadline: float) -> int:
    body = json.dumps({"model": "tiny", "prompt": "a b c d a b c d a b c d", "max_tokens": 48,
                       "temperature": 0}).encode()
    n = 0
    while time.time() < deadline:
        req = urllib.request.Request(url + "/v1/completions", body, {"content-type": "application/json"})
        with urllib.request.urlopen(req, timeout=60) as r:
            n += json.loads(r.read())["usage"]["completion_tokens"]
    return n


def test_ngram_spec_rows_with_plausible_acceptance(spec_engine):
    journal, run_id = spec_engine["journal"], spec_engine["run_id"]
    with ThreadPoolExecutor(4) as pool:  # sized by duration, not count
        tokens = sum(pool.map(lambda _: _greedy(spec_engine["url"], time.time() + 4.0), range(4)))
    assert tokens > 0

    def spec():
        s = cli_json(journal, "runs", "show", str(run_id))["summary"]["engine"].get("spec_decode")
        return s if s and s["drafts"] > 0 else None

    s = wait_for(spec, 15, interval=0.5, what="spec-decode counters scraped")
    assert 0 < s["accepted_tokens"] <= s["draft_tokens"] <= 3 * s["drafts"]
    assert 10.0 <= s["acceptance_pct"] <= 100.0  # greedy loops: most drafts are accepted
    assert s["mean_accepted_len"] == pytest.approx(1 + s["accepted_tokens"] / s["drafts"])
    assert 1.0 < s["mean_accepted_len"] <= 4.0  # at most 1 + num_speculative_tokens
    pos = s["per_position_pct"]
    assert len(pos) == 3 and pos[0] >= pos[1] >= pos[2] >= 0  # a later position never beats an earlier
    panel = next(p for p in dashboard_snapshot(Reader(journal / "journal.db"), time.time()).engines
                 if p.run_id == run_id)
    labels = {f.label: f.text for f in engine_fields(panel)}
    assert labels["spec acc"].endswith("%") and float(labels["spec len"]) > 1.0
