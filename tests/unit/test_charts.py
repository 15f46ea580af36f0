"""Charts: the key series of a real recorded run, SVG without a GUI, terminal text (plotext)."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest
from test_journal_fixture import real_journal
from test_journal_synth import seed_journal

from iejtui.charts import PANELS, Line, RunCharts, render_svg, render_term, run_chart_data
from iejtui.charts.term import render_term_all
from iejtui.store import Reader


@pytest.fixture
def demo(tmp_path):
    root, reader = real_journal(tmp_path)
    run = [r for r in reader.runs() if r["name"] == "demo"][0]
    return run_chart_data(reader, run)


def test_real_run_panels(demo):
    thr = {ln.label: ln for ln in demo.panels["throughput"]}
    assert set(thr) == {"generation", "prompt"}
    assert max(thr["generation"].y) > 100  # tok/s under 8 concurrent streams
    assert all(x >= 0 for x in thr["generation"].x) and len(thr["generation"].x) <= 300
    assert demo.panels["kv"] and "peak" in demo.panels["kv"][0].label
    assert {ln.label for ln in demo.panels["ttft"]} == {"TTFT p50", "TTFT p99"}
    p50, p99 = demo.panels["ttft"]
    assert all(a <= b + 1e-9 for a, b in zip(p50.y, p99.y))
    assert demo.panels["gpu"] == [] and demo.notes["gpu"] == "no GPU sampled during this run"
    assert demo.has_data()


def test_svg_is_valid_xml_with_text_and_notes(demo):
    svg = render_svg(demo)
    root = ET.fromstring(svg)
    assert root.tag.endswith("svg")
    texts = " ".join(t.text or "" for t in root.iter() if t.tag.endswith("text"))
    for s in ("Token throughput (tok/s)", "KV cache usage (%)", "TTFT (ms)", "no GPU sampled during this run"):
        assert s in texts
    assert render_svg(demo) == svg  # deterministic (no dates, fixed ids)


def test_svg_escapes_hostile_titles():
    rc = RunCharts(1, "r1 <script>alert(1)</script> $x$ & co", 0.0, 10.0,
                   {"throughput": [Line("gen <img src=x>", [0, 5, 10], [1, 2, 3])]})
    svg = render_svg(rc)
    root = ET.fromstring(svg)
    assert not [e for e in root.iter() if e.tag.split("}")[-1] in ("script", "img", "foreignObject")]
    texts = " ".join(t.text or "" for t in root.iter() if t.tag.endswith("text"))
    assert "<script>alert(1)</script> $x$ & co" in texts and "gen <img src=x>" in texts


def test_terminal_charts_are_plain_text_of_the_asked_size(demo):
    text = render_term(demo, "throughput", 70, 14)
    lines = text.splitlines()
    assert "Token throughput" in lines[0] and "\x1b[" not in text
    assert len(lines) == 14 and max(len(ln) for ln in lines) <= 70
    assert "(no GPU sampled during this run)" in render_term(demo, "gpu")
    everything = render_term_all(demo, 80, 10)
    assert all(t in everything for t in ("Token throughput", "KV cache", "GPU", "TTFT"))
    assert "\x1b[" in render_term(demo, "kv", 60, 10, color=True)
    with pytest.raises(ValueError):
        render_term(demo, "nope")


def test_gpu_panel_from_a_gpu_recording(tmp_path):
    ids = seed_journal(tmp_path, runs=1, seconds=300, bench=False)
    reader = Reader(tmp_path / "journal.db")
    rc = run_chart_data(reader, reader.run(ids["engines"][0]))
    labels = {ln.label: ln for ln in rc.panels["gpu"]}
    assert set(labels) == {"SM-active", "kernel-active"}
    assert max(labels["kernel-active"].y) == 100.0 and 0 < max(labels["SM-active"].y) < 80
    assert "gpu" not in rc.notes
    for p in PANELS:
        assert rc.panels[p]


def test_bench_run_charts_its_engine_over_the_bench_window(tmp_path):
    ids = seed_journal(tmp_path, runs=1, seconds=120)
    reader = Reader(tmp_path / "journal.db")
    bench = reader.run(ids["bench"])
    rc = run_chart_data(reader, bench)
    assert rc.title.endswith(f"(engine r{ids['engines'][0]})")
    gen = rc.panels["throughput"][0]
    assert gen.x and max(gen.x) <= bench["ended_at"] - bench["started_at"] + 1e-6
