"""The Journal screen's pure parts: rows from the day logs, checks of typed input, paths."""

from __future__ import annotations

from pathlib import Path

import pytest

from iejtui.journal.daylog import DayInfo
from iejtui.viewmodel import journal as vm


def _day(n: int, topic: str = "kv", runs=(1,), headline: str | None = "100 tok/s peak") -> DayInfo:
    return DayInfo(n, topic.replace(" ", "-"), topic, "2026-05-28", Path(f"/j/days/day-{n:03d}-{topic.replace(' ', '-')}"), list(runs), headline)


def test_rows_newest_first_with_counts_and_missing_headline():
    rows = vm.day_rows([_day(1, "baseline", (2, 5)), _day(3, "fp8 kv", (), None), _day(2, "x", (3,))])
    assert [r.label for r in rows] == ["003", "002", "001"]
    assert rows[0].headline == "" and rows[0].runs == "0"
    assert rows[2].runs == "2" and rows[2].run_ids == (2, 5)
    assert rows[2].log_path == Path("/j/days/day-001-baseline/LOG.md")
    assert rows[2].key == "1" and rows[2].dirname == "day-001-baseline"


@pytest.mark.parametrize("text, expected", [
    ("3 5 7", [3, 5, 7]), ("r3, R5;7", [3, 5, 7]), ("  ", []), ("3 3 r3 5", [3, 5]), ("7 3", [7, 3]),
])
def test_run_ids_parse(text, expected):
    assert vm.parse_run_ids(text, known={3, 5, 7}) == expected


@pytest.mark.parametrize("text, known, required, message", [
    ("3 x 7", None, False, "'x' is not a run id"),
    ("3.5", None, False, "'3.5' is not a run id"),
    ("run3", None, False, "'run3' is not a run id"),
    ("9", {1, 2, 3}, False, "no run 9 in this journal (runs: r1 r2 r3)"),
    ("9", set(range(1, 40)) - {9}, False, "no run 9 in this journal (runs r1…r39)"),
    ("4", set(), False, "it has no runs yet"),
    ("", {1}, True, "give at least one run id"),
])
def test_run_ids_refused_with_a_clear_message(text, known, required, message):
    with pytest.raises(ValueError) as err:
        vm.parse_run_ids(text, known=known, required=required)
    assert message in str(err.value)


def test_topics():
    assert vm.parse_topic("  fp8   kv cache ") == "fp8 kv cache"
    with pytest.raises(ValueError, match="give the day a topic"):
        vm.parse_topic("   ")
    with pytest.raises(ValueError, match="no letters or digits"):
        vm.parse_topic("!!! ???")


def test_widths_fit_the_table_and_cut_with_an_ellipsis():
    rows = vm.day_rows([_day(1, "a very long topic name that goes on and on"), _day(2, "kv")])
    topic_w, headline_w = vm.column_widths(rows, 80)
    assert topic_w == vm.TOPIC_WIDTH and topic_w + headline_w + vm.FIXED_WIDTH == 80
    assert vm.fit("abcdef", 4) == "abc…" and vm.fit("abc", 4) == "abc"
    assert len(vm.fit(rows[1].topic, topic_w)) == topic_w
    assert vm.column_widths(rows, 20)[1] == 12  # never narrower than a few words


def test_export_target_and_shown_path():
    root = Path("/j")
    row = vm.day_rows([_day(2, "kv")])[0]
    assert vm.export_target(root, row) == Path("/j/exports/day-002-kv.md")
    assert vm.export_target(root, row, "out/d.md") == Path("/j/out/d.md")
    assert vm.export_target(root, row, "/tmp/d.md") == Path("/tmp/d.md")
    assert vm.shown_path(root, Path("/j/days/x/LOG.md")) == "days/x/LOG.md"
    assert vm.shown_path(root, Path("/elsewhere/x.md")) == "/elsewhere/x.md"
    assert vm.day_number(Path("/j/days/day-012-fp8-kv")) == 12 and vm.day_number(Path("/j/days/notes")) is None


def test_summary_line():
    rows = vm.day_rows([_day(1, "kv", (2, 5)), _day(2, "x", ())])
    assert vm.summary([], None) == "no day logs yet"
    assert vm.summary(rows, rows[1]) == "2 day logs, newest first · day 001: r2, r5"
    assert vm.summary(rows, rows[0]).endswith("day 002: no runs")
    assert vm.runs_text((5, 3)) == "5 3"
