"""The real recorded journal the journal tests run on (tests/data/journal-real-run.db).

Recorded from the real CPU vLLM 0.32 engine through the service by
tests/data/journal-make-fixture.py:
  r1 ``demo``     the tiny model under 1 → 4 → 8 concurrent streaming completions, stopped
  r2 ``hostile``  launched with ``--api-key API_KEY``, ``HF_TOKEN`` in its env, served as
                  ``<img src=x onerror=alert(1)>``, loaded, stopped
  r3 ``broken``   ``--max-model-len '<script>alert(1)</script>'``: crashed, exit code 2
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

DATA = Path(__file__).resolve().parents[1] / "data"
FIXTURE = DATA / "journal-real-run.db"
API_KEY = "sk-iejtui-FIXTURE-7f3a9c51"
HF_TOKEN = "hf_iejtuiFIXTUREtoken4242"
SECRETS = (API_KEY, HF_TOKEN)
HOSTILE_MODEL = "<img src=x onerror=alert(1)>"


def real_journal(tmp_path: Path):
    """A journal folder holding a copy of the fixture as journal.db, and a Reader on it."""
    from iejtui.journal.init import init_journal
    from iejtui.store import Reader
    root = tmp_path / "journal"
    init_journal(root)
    shutil.copy(FIXTURE, root / "journal.db")
    return root, Reader(root / "journal.db")


def all_text(root: Path) -> str:
    """Every text file the journal wrote (days, topics, benchmarks, index)."""
    out = []
    for p in sorted(root.rglob("*")):
        if p.is_file() and p.suffix in (".md", ".json", ".sh", ".svg") and ".iejtui" not in p.parts:
            out.append(p.read_text(errors="replace"))
    return "\n".join(out)


def test_fixture_is_a_real_recording(tmp_path):
    _, reader = real_journal(tmp_path)
    runs = {r["name"]: r for r in reader.runs()}
    assert set(runs) >= {"demo", "hostile", "broken"}
    demo = runs["demo"]
    assert demo["engine_kind"] == "vllm" and demo["versions"].get("engine") == "0.32.0"
    assert reader.sample_counts(demo["id"]).get("engine", 0) > 30
    assert runs["broken"]["status"] == "crashed" and runs["broken"]["exit_code"] == 2
    assert "<script>" in runs["broken"]["log_tail"]
    assert runs["hostile"]["model"] == HOSTILE_MODEL


def test_fixture_db_holds_no_secret():
    raw = FIXTURE.read_bytes()
    for s in SECRETS:
        assert s.encode() not in raw
    assert FIXTURE.stat().st_size < 1_000_000


@pytest.fixture
def fixture_journal(tmp_path):
    return real_journal(tmp_path)
