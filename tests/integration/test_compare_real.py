"""``iejtui compare`` on the real CPU vLLM: only the large effect (issue 16).

A ``--max-num-seqs 2`` engine against the default one at concurrency 16: with two
sequences in the batch, fourteen requests queue, so its TTFT p99 is far worse, and the
comparison says so with an interval clear of 0. The second engine is the session's
``seqs2_engine`` (shared with the advisor's queueing test).
"""

from __future__ import annotations

import json

import pytest

from helpers import cli
from iejtui.store import Reader

pytestmark = pytest.mark.integration


def bench(journal, *target: str) -> int:
    p = cli(journal, "bench", *target, "--num-prompts", "48", "--max-concurrency", "16",
            "--random-input-len", "64", "--random-output-len", "24", "--ignore-eos", "--seed", "5", timeout=600)
    assert p.returncode == 0, p.stderr
    return int(p.stdout.split("benchmark run ")[1].split()[0])


def test_max_num_seqs_2_makes_ttft_p99_significantly_worse(shared_engine, seqs2_engine):
    journal = seqs2_engine["journal"]  # both runs in one journal: the default engine benched by URL
    default = bench(journal, "--base-url", shared_engine["url"])
    seqs2 = bench(journal, "--engine", seqs2_engine["name"])
    p = cli(journal, "compare", f"r{default}", f"r{seqs2}", "--json")
    assert p.returncode == 0, p.stderr
    res = json.loads(p.stdout)
    f = {x["figure"]: x for x in res["figures"]}["TTFT p99"]
    assert f["significant"] and f["ci95_lo"] > 0 and f["b"] > 2 * f["a"], f
    reader = Reader(journal / "journal.db")
    try:  # the compared value is the one the run reports (the load generator's percentile)
        assert f["a"] == pytest.approx(reader.run(default)["summary"]["p99_ttft_ms"], rel=1e-6)
    finally:
        reader.close()
