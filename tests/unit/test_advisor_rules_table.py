"""README's table of the advisor's rules cannot rot: every rule of the catalog has a row whose
severity, ``for:``, conditions and knob are the catalog's, no row names a rule that is gone,
and every test a row names exists (its file holds that test function; a parametrized id is a
rule of the catalog)."""

from __future__ import annotations

import re
from pathlib import Path

from iejtui.advisor.catalog import RULES

ROOT = Path(__file__).resolve().parents[2]
START, END = "<!-- advisor-rules:start -->", "<!-- advisor-rules:end -->"


def _rows() -> dict[str, list[str]]:
    text = (ROOT / "README.md").read_text()
    assert START in text and END in text, "README.md lost its advisor rules table"
    body = text.split(START, 1)[1].split(END, 1)[0]
    rows: dict[str, list[str]] = {}
    for line in body.strip().splitlines()[2:]:  # after the header and its rule line
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        rows[cells[0].strip("`")] = cells
    return rows


def _dur(s: float) -> str:
    return f"{s / 60:g} min" if s >= 60 and s % 60 == 0 else f"{s:g} s"


def test_every_rule_has_a_row_that_matches_the_catalog():
    rows = _rows()
    assert set(rows) == {r.id for r in RULES}, set(rows) ^ {r.id for r in RULES}
    for r in RULES:
        _, source, severity, for_, cond, knob, tests = rows[r.id]
        assert source.split(" ")[0] == r.source, r.id
        assert severity == r.severity and for_ == _dur(r.for_s), r.id
        assert re.findall(r"`([^`]+)`", cond) == [c.text() for c in r.conds], r.id
        knobs = r.knob if isinstance(r.knob, tuple) else ((r.knob,) if r.knob else ())
        assert re.findall(r"`([^`]+)`", knob) == [k.flag for k in knobs], r.id
        assert f"test_rule_fires_at_its_threshold[{r.id}]" in tests, r.id


def test_every_named_test_exists():
    ids = {r.id for r in RULES}  # test_advisor_catalog_fires has a case for each (test_every_rule_has_a_case)
    for rule_id, cells in _rows().items():
        for ref in re.findall(r"`([^`]+::[^`]+)`", cells[-1]):
            path, name = ref.split("::")
            func, _, case = name.partition("[")
            src = (ROOT / path).read_text()
            assert re.search(rf"^def {re.escape(func)}\(", src, re.M), ref
            if case:
                assert case.rstrip("]") in ids, ref
