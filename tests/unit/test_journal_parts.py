"""Pure parts of the journal: generated sections, markdown escaping, slugs, index rows,
scripts, and the service-side tag operation."""

from __future__ import annotations

import json
import subprocess

import pytest

from iejtui.errors import UserError
from iejtui.journal import index, scripts, sections, service_ops
from iejtui.journal.mdsafe import esc, slug


def test_sections_replace_only_inside_markers():
    text = "# T\n\nmine before\n<!-- iejtui:a -->\nold a\n<!-- /iejtui:a -->\nmine after\n"
    out = sections.replace(text, {"a": "new a\nline 2", "b": "bee"})
    assert out.startswith("# T\n\nmine before\n<!-- iejtui:a -->\nnew a\nline 2\n<!-- /iejtui:a -->\nmine after\n")
    assert out.rstrip().endswith("<!-- iejtui:b -->\nbee\n<!-- /iejtui:b -->")
    assert sections.read(out, "a") == "new a\nline 2" and sections.read(out, "zz") is None
    assert sections.replace(out, {"a": "new a\nline 2", "b": "bee"}) == out  # idempotent


def test_marker_text_inside_a_line_is_not_a_marker():
    text = "x <!-- iejtui:a --> y\n<!-- iejtui:a -->\nin\n<!-- /iejtui:a -->\n"
    assert sections.replace(text, {"a": "z"}).startswith("x <!-- iejtui:a --> y\n<!-- iejtui:a -->\nz\n")


def test_markdown_section_reads_hand_text_only():
    log = "## Goal\n\nmy goal\n<!-- iejtui:x -->\ngen\n<!-- /iejtui:x -->\n<!-- a note -->\n## Lessons\n- l1\n"
    assert sections.markdown_section(log, "Goal").strip() == "my goal"
    assert "gen" not in sections.markdown_section(log, "Goal")
    assert sections.markdown_section(log, "lessons") == "- l1"
    assert sections.markdown_section(log, "Missing") is None


def test_slug_and_esc():
    assert slug("KV cache: sizing, day 2!") == "kv-cache-sizing-day-2"
    assert slug("Ünïcödé µ") == "unicode"
    assert slug("!!!") == ""
    assert esc("a_b*c") == "a\\_b\\*c"
    assert esc("HF_TOKEN=hf_abcdefgh123") == "HF\\_TOKEN=\\*\\*\\*"  # inline secrets masked
    assert esc("x" * 50, limit=10) == "x" * 9 + "…"


def test_index_rows_are_upserted_by_link():
    text = "# Journal index\n\nintro\n\n| Day | Date | Topic | Runs | Headline |\n|-----|------|-------|------|----------|\n" \
           "| [001](days/day-001-a/LOG.md) | d | a | r1 | h |\n\nfooter\n"
    row2 = index.day_row(2, "2026-01-02", "b | <c>", "day-002-b", [3, 4], "100 tok/s")
    out = index.upsert_row(text, "days/day-002-b/LOG.md", row2, index.INDEX_HEADER)
    lines = out.splitlines()
    assert lines[lines.index(row2) - 1].startswith("| [001]") and out.endswith("footer\n")
    assert "b \\| &lt;c&gt;" in row2 and "r3, r4" in row2
    row2b = row2.replace("100 tok/s", "200 tok/s")
    again = index.upsert_row(out, "days/day-002-b/LOG.md", row2b, index.INDEX_HEADER)
    assert again.count("(days/day-002-b/LOG.md)") == 1 and "200 tok/s" in again
    fresh = index.upsert_row("hand-written only\n", "days/day-001-a/LOG.md", row2, index.INDEX_HEADER)
    assert index.INDEX_HEADER in fresh and fresh.endswith(row2 + "\n")


def test_command_script_masks_and_quotes(tmp_path):
    entry = {"id": 7, "kind": "engine", "name": "x\nrm -rf /", "engine_kind": "vllm", "model": "m$(id)",
             "cwd": "/srv/j k", "env": {"HF_TOKEN": "***", "A": "1 2", "bad name": "v"},
             "argv": ["vllm", "serve", "m$(id)", "--api-key", "***", "--token=***", "--x", "a'b"]}
    text = scripts.command_script(entry, "2026-01-01")
    assert "\nrm -rf /" not in text  # the newline in the name cannot escape the comment
    assert "export HF_TOKEN=\"${HF_TOKEN:?" in text and "export A='1 2'" in text
    assert "--api-key \"${IEJTUI_API_KEY:?" in text and "--token=\"${IEJTUI_TOKEN:?" in text
    assert "'m$(id)'" in text and "# skipped variable with an unusual name: bad name" in text
    f = tmp_path / "s.sh"
    f.write_text(text)
    assert subprocess.run(["bash", "-n", str(f)]).returncode == 0
    # running it without the secrets stops before exec, saying which one is missing
    p = subprocess.run(["bash", str(f)], capture_output=True, text=True, env={"PATH": "/usr/bin:/bin"})
    assert p.returncode != 0 and ("HF_TOKEN" in p.stderr or "/srv/j k" in p.stderr)


def test_service_ops_tag_request_and_apply(tmp_path):
    from iejtui.store import Reader
    from iejtui.store.tags import apply_tags, merge_tags, parse_tag_request
    from iejtui.store.writer import Writer
    assert parse_tag_request("r12", {"add": ["day-001"], "day": 1}) == (12, ["day-001"], [], 1)
    for bad in ({"add": "x"}, {"add": ["bad tag!"]}, {"day": 0}, {"day": True}):
        with pytest.raises(UserError):
            parse_tag_request("1", bad)
    with pytest.raises(UserError):
        parse_tag_request("abc", {})
    w = Writer(tmp_path / "journal.db")
    rid = w.create_run(kind="engine", name="e", status="stopped", tags=["keep"])
    out = apply_tags(w, rid, ["day-003", "keep"], [], 3)
    assert out == {"id": rid, "tags": ["keep", "day-003"], "day": 3}
    with pytest.raises(UserError):
        apply_tags(w, rid + 100, ["x"], [], None)
    w.close()
    run = Reader(tmp_path / "journal.db").run(rid)
    assert run["tags"] == ["keep", "day-003"] and run["day"] == 3
    assert not service_ops.needs_push(run, 3) and service_ops.needs_push(run, 4)
    assert json.dumps(merge_tags(["a", "b"], ["c", "a"], ["b"])) == '["a", "c"]'
