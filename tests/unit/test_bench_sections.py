"""A bench run's server / verdict / steady blocks on a real journal.db (seeded through the
Writer, vLLM-shaped histograms), and where they show: runs show, --json, the export."""

from __future__ import annotations

import pytest

from helpers import cli, cli_json
from test_journal_synth import TTFT_LE, seed_journal


@pytest.fixture(scope="module")
def seeded(tmp_path_factory):
    from iejtui.store import Reader
    root = tmp_path_factory.mktemp("bench-sections")
    ids = seed_journal(root, runs=1, seconds=120, gpu=False, bench=True)
    reader = Reader(root / "journal.db")
    yield root, reader, ids
    reader.close()


def test_summary_holds_server_verdict_and_steady(seeded):
    from iejtui.summary import run_summary
    root, reader, ids = seeded
    sec = run_summary(reader, reader.run(ids["bench"]))["bench"]
    server = sec["server"]
    assert server["available"] and server["engine_run"] == ids["engines"][0] and server["window_covers_bench"]
    ttft = server["figures"]["ttft"]
    assert ttft["client_count"] == 40
    lo, hi = ttft["server_p50_bucket_ms"]
    les_ms = [0.0] + [le * 1000.0 for le in TTFT_LE]
    k = les_ms.index(pytest.approx(hi))
    assert lo == pytest.approx(les_ms[k - 1])  # two adjacent bounds of vLLM's TTFT buckets
    assert server["queue_share"] is not None and 0.0 <= server["queue_share"] <= 1.0
    assert set(sec["verdict"]) == {"client_bound", "reasons", "signals"}
    assert sec["verdict"]["client_bound"] == bool(sec["verdict"]["reasons"])
    st = sec["steady"]
    assert st["reached"], st["why"]  # 40 requests at 4/s, ~3.2 in flight throughout
    assert st["figures"]["steady"]["mean_in_flight"] == pytest.approx(3.2, rel=0.15)
    assert st["figures"]["whole"]["requests"] == 40


def test_runs_show_and_export_show_the_blocks(seeded):
    from iejtui.journal.export import export_markdown
    root, reader, ids = seeded
    text = cli(root, "runs", "show", str(ids["bench"])).stdout
    for needle in ("client vs server", "TTFT", "ITL", "network + client overhead", "queue-time share",
                   "client-bound:", "steady state: reached", "rule: 1 s bins"):
        assert needle in text, (needle, text)
    js = cli_json(root, "runs", "show", str(ids["bench"]))["summary"]["bench"]
    assert js["server"]["available"] and "verdict" in js and "steady" in js
    md = export_markdown(root, reader, run_ids=[ids["bench"]])
    assert "**Client vs server, client-bound verdict, steady state**" in md
    assert "client-bound:" in md and "steady state: reached" in md


def test_the_advisor_reads_the_verdict_and_the_steady_state(seeded):
    from iejtui.advisor.advise import run_validity
    from iejtui.advisor.run_inputs import read_inputs
    root, reader, ids = seeded
    run = reader.run(ids["bench"])
    run["summary"] = {"completed": 40}  # the seeded run stores no load-generator result
    inp = read_inputs(reader, run)
    sec = inp.run["summary"]["bench"]
    assert set(sec["verdict"]) == {"client_bound", "reasons", "signals"} and sec["steady"]["reached"]
    v = run_validity(inp)
    assert v["valid"] is not sec["verdict"]["client_bound"]
    assert not any("steady" in c for c in v["caveats"])
    # a verdict the run already carries is the one read (client-bound: invalid, reason quoted)
    run["summary"] = {"completed": 40, "bench": {"verdict": {"client_bound": True, "reasons": ["loop lag"]},
                                                  "steady": {"reached": False}}}
    v = run_validity(read_inputs(reader, run))
    assert not v["valid"] and "loop lag" in v["invalid_reasons"][0]
    assert any("no steady state" in c for c in v["caveats"])
