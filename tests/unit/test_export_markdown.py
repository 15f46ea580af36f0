"""Markdown export on the real recorded runs: content, chart links, secret redaction and
HTML/markdown neutralisation (checked on the HTML a CommonMark+tables renderer produces)."""

from __future__ import annotations

import re

import pytest
from markdown_it import MarkdownIt
from test_journal_fixture import HOSTILE_MODEL, SECRETS, all_text, real_journal

from iejtui.errors import UserError
from iejtui.journal import create_day, export_markdown
from iejtui.journal.mdsafe import code, esc, fence

MD = MarkdownIt("commonmark", {"html": True}).enable("table").enable("strikethrough")


def html_of(text: str) -> str:
    return MD.render(text)


def assert_no_live_html(html: str) -> None:
    """No element that a log line or a model name smuggled in."""
    for tag in ("script", "iframe", "svg", "a href=\"javascript", "style", "b>"):
        assert not re.search(r"<\s*" + tag, html, re.I), tag
    for attrs in re.findall(r"<img\s([^>]*)>", html, re.I):  # only our own chart images
        assert re.match(r'src="[\w./-]+\.svg" alt="[^"<>]*"', attrs) and " on" not in attrs, attrs
    assert "onerror=" not in re.sub(r"&lt;.*?&gt;", "", html)


@pytest.fixture
def day(tmp_path):
    root, reader = real_journal(tmp_path)
    ids = {r["name"]: r["id"] for r in reader.runs()}
    create_day(root, reader, "Initial setup", ["demo", "hostile", "broken"], "Does it **record**? <b>x</b>")
    return root, reader, ids


def test_day_export_content(day):
    root, reader, ids = day
    md = export_markdown(root, reader, day=1)
    assert md.startswith("# Day 001: Initial setup")
    assert "## Goal" in md and "Does it **record**? &lt;b&gt;x&lt;/b&gt;" in md
    for heading in ("## Runs", "## Setup", "## Details", "## What broke"):
        assert heading in md
    # runs table, launch command, versions, percentiles, events, crash
    assert f"| r{ids['demo']} | demo | engine | stopped |" in md
    assert "```sh\n/" in md and "demo serve --port 18431" in md
    assert "engine `0.32.0`" in md and "python `3.11.7`" in md
    assert re.search(r"\| TTFT \| [\d.]+ ms \| [\d.]+ ms \| [\d.]+ ms \|", md)
    assert "| ITL |" in md and "| E2E latency |" in md
    assert "| info | ready |" in md and "| error | crashed |" in md
    assert f"### r{ids['broken']} `broken`: engine (vllm), crashed (exit 2)" in md
    assert "**Last 30 log lines**" in md
    # charts linked relative to the journal root by default, files exist
    links = re.findall(r"\]\((days/[^)]+\.svg)\)", md)
    assert links and all((root / link).exists() for link in links)
    html = html_of(md)
    assert "<table>" in html and "<h3>" in html
    assert_no_live_html(html)


def test_chart_links_follow_the_output_folder(day):
    root, reader, _ = day
    out = root / "exports" / "deep"
    md = export_markdown(root, reader, day=1, link_base=out)
    links = re.findall(r"\]\(([^)]+\.svg)\)", md)
    assert links and all(link.startswith("../../days/") and (out / link).resolve().exists() for link in links)


def test_run_export_without_a_day_and_errors(tmp_path):
    root, reader = real_journal(tmp_path)
    md = export_markdown(root, reader, run_ids=["broken"])
    assert md.startswith("# iejtui runs r")
    assert "crashed (exit 2)" in md and "invalid human" in md
    assert ".svg" not in md  # no day, no chart files: nothing to link
    with pytest.raises(UserError):
        export_markdown(root, reader)
    with pytest.raises(UserError):
        export_markdown(root, reader, day=1, run_ids=["demo"])
    with pytest.raises(UserError, match="no day 1"):
        export_markdown(root, reader, day=1)


def test_secrets_never_leak_anywhere(day):
    root, reader, ids = day
    md = export_markdown(root, reader, day=1) + export_markdown(root, reader, run_ids=[str(ids["hostile"])])
    everything = md + all_text(root) + (root / "journal.db").read_bytes().decode("latin-1")
    for s in SECRETS:
        assert s not in everything
    assert "--api-key '***'" in md and "HF_TOKEN='***'" in md


def test_secret_in_a_log_tail_is_masked_in_the_export(tmp_path):
    """Defence in depth: a secret that reached a log tail by another path is masked again."""
    from iejtui.store.writer import Writer
    root, reader = real_journal(tmp_path)
    w = Writer(root / "journal.db")
    rid = [r["id"] for r in reader.runs() if r["name"] == "broken"][0]
    w.update_run(rid, log_tail="boot\nusing api_key='sk-live-abcdef123456' and Authorization: Bearer tok_9876543210\n")
    w.close()
    md = export_markdown(root, reader, run_ids=[str(rid)])
    assert "sk-live-abcdef123456" not in md and "tok_9876543210" not in md
    assert "api_key='***" in md


def test_html_and_markdown_from_names_and_logs_is_neutralised(day):
    root, reader, ids = day
    md = export_markdown(root, reader, day=1)
    log_md = (root / "days" / "day-001-initial-setup" / "LOG.md").read_text()
    for text in (md, log_md):
        html = html_of(text)
        assert_no_live_html(html)
        # the hostile model name and the crash's <script> are shown, as text
        assert "&lt;img src=x onerror=alert(1)&gt;" in html
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    # outside code blocks and spans, the raw forms never appear
    outside = re.sub(r"(`{3,})[^\n]*\n.*?\n\1", "", md, flags=re.S)
    outside = re.sub(r"(`+).+?\1", "", outside)
    assert HOSTILE_MODEL not in outside and "<script>" not in outside


@pytest.mark.parametrize("evil", [
    "<script>alert(1)</script>", "x | y | z", "[click](javascript:alert(1))", "![i](http://e/x.png)",
    "# heading", "- item", "1. item", "**bold** _it_ ~~s~~", "`code` and ``more``", "a\nb\r\nc", "\x1b[31mred\x1b[0m",
    "&lt;already&gt; & raw", "<!-- /iejtui:runs -->", "$x$ math",
])
def test_mdsafe_inline_renders_as_plain_text(evil):
    for rendered in (esc(evil), code(evil)):
        html = MD.render(f"| a | {code(evil, table=True)} |\n|---|---|\n| {esc(evil)} | x |\n\nText: {rendered}\n")
        assert_no_live_html(html)
        assert "<a " not in html and "<h1" not in html and "<li>" not in html and "<strong>" not in html
        assert html.count("<td>") == 2 and html.count("<th>") == 2  # no pipe split a cell


def test_fence_outlasts_any_backtick_run():
    text = "before\n````\n``` not the end\n<script>x</script>\n<!-- /iejtui:broke -->"
    block = fence(text, "text")
    first = block.splitlines()[0]
    assert first == "`````text" and block.endswith("\n`````")
    html = MD.render(block)
    assert html.startswith("<pre><code") and "&lt;script&gt;" in html and "<!-- /iejtui:broke -->" not in block
