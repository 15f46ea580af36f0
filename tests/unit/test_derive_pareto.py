"""Pareto frontiers: dominance, ties, a single point, missing coordinates."""

from __future__ import annotations

from iejtui.derive import pareto


def test_dominance_is_strict_on_one_axis():
    assert pareto.dominates((10, 5), (8, 6))
    assert pareto.dominates((10, 5), (10, 6)) and pareto.dominates((10, 5), (9, 5))
    assert not pareto.dominates((10, 5), (10, 5))          # a tie dominates nothing
    assert not pareto.dominates((10, 5), (12, 7))          # a trade-off


def test_dominated_points_are_marked_and_kept_off_the_frontier():
    f = pareto.frontier([("a", 100, 50), ("b", 200, 80), ("c", 150, 90), ("d", 300, 200), ("e", 90, 60)])
    assert [p.label for p in f.front] == ["a", "b", "d"]                 # by increasing throughput
    assert {p.label: p.dominated_by for p in f.dominated} == {"c": "b", "e": "a"}
    assert all(p.dominated for p in f.points[3:])


def test_ties_stay_on_the_frontier_and_a_single_point_is_its_own_frontier():
    f = pareto.frontier([("a", 100, 50), ("b", 100, 50)])
    assert [p.label for p in f.front] == ["a", "b"] and not f.dominated
    one = pareto.frontier([("only", 3.0, 4.0)])
    assert [p.label for p in one.front] == ["only"]
    assert pareto.frontier([]).points == ()


def test_missing_coordinates_are_named_not_guessed():
    f = pareto.frontier([("a", 100, None), ("b", 50, 10), ("c", float("nan"), 3)])
    assert [p.label for p in f.points] == ["b"] and f.missing == ("a", "c")


def test_frontiers_per_axis_pair_skip_absent_axes():
    items = [{"label": "x", "output_tok_s": 10, "ttft_p99_ms": 5, "itl_p99_ms": 2},
             {"label": "y", "output_tok_s": 20, "ttft_p99_ms": 9, "itl_p99_ms": 1}]
    fs = pareto.frontiers(items)
    assert [(f.x_key, f.y_key) for f in fs] == [("output_tok_s", "ttft_p99_ms"), ("output_tok_s", "itl_p99_ms")]
    assert [p.label for p in fs[1].front] == ["y"] and [p.label for p in fs[1].dominated] == ["x"]


def test_terminal_chart_names_the_frontier_and_the_dominated():
    from iejtui.charts.pareto_term import render_pareto_term
    f = pareto.frontier([("r1", 100, 50), ("r2", 200, 80), ("r3", 150, 90), ("r4", 90, None)],
                        "output_tok_s", "ttft_p99_ms")
    text = render_pareto_term(f, 70, 16)
    assert text.splitlines()[0].strip() == "Pareto: output throughput (tok/s) vs TTFT p99 (ms)"
    assert "● frontier: r1, r2" in text and "x dominated: r3 (by r2)" in text and "missing): r4" in text
    assert "\x1b[" not in text  # colourless unless asked
    assert "no run has both figures" in render_pareto_term(pareto.frontier([]))
