"""Bad input gets one clear line, exit 2 for user error, no traceback, journal intact."""

from __future__ import annotations

import socket
import sqlite3
import time

import pytest
from aiohttp import web

from helpers import ThreadedApp, add_profile, cli, cli_json, engine_profile, free_port, wait_for
from iejtui.store import Reader


def one_line_error(p, code=2):
    assert p.returncode == code, (p.returncode, p.stdout, p.stderr)
    assert "Traceback" not in p.stderr and "Traceback" not in p.stdout
    lines = [ln for ln in p.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("iejtui: "), p.stderr
    return lines[0]


def test_malformed_toml_names_file_and_line(journal):
    (journal / "iejtui.toml").write_text('[engines.x]\nkind = "vllm"\nargv = ["a",\n[service]\n')
    msg = one_line_error(cli(journal, "engine", "start", "x"))
    assert f"{journal / 'iejtui.toml'}:" in msg and "invalid TOML" in msg


def test_semantic_config_error(journal):
    (journal / "iejtui.toml").write_text('[engines.x]\nkind = "vllm"\nargv = "vllm serve m"\n')
    msg = one_line_error(cli(journal, "engine", "start", "x"))
    assert "not a shell string" in msg and "iejtui.toml:1" in msg


def test_unknown_profile(journal):
    msg = one_line_error(cli(journal, "engine", "start", "nope"))
    assert "unknown engine profile 'nope'" in msg and "demo" in msg


def test_unknown_flag_and_value(journal):
    p = cli(journal, "runs", "--frobnicate")
    assert p.returncode == 2 and "Traceback" not in p.stderr and "No such option" in p.stderr
    p = cli(journal, "engine", "attach", "x", "http://127.0.0.1:1", "--kind", "tgi")
    assert p.returncode == 2 and "Traceback" not in p.stderr


def test_command_not_found(journal):
    msg = one_line_error(cli(journal, "engine", "start", "x", "--kind", "vllm", "--", "no-such-engine-binary",
                             "--port", str(free_port())))
    assert "command not found" in msg and "no-such-engine-binary" in msg
    assert Reader(journal / "journal.db").runs() == []  # nothing half-started was recorded


def test_port_already_in_use(journal):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        add_profile(journal, engine_profile("busy", port))
        msg = one_line_error(cli(journal, "engine", "start", "busy"))
    assert f"port {port}" in msg and "already in use" in msg


def test_not_a_journal(tmp_path):
    msg = one_line_error(cli(tmp_path / "nowhere", "runs"))
    assert "iejtui init" in msg


def test_stop_unknown_engine(journal):
    assert cli(journal, "service", "start").returncode == 0
    msg = one_line_error(cli(journal, "engine", "stop", "ghost"))
    assert "no running engine 'ghost'" in msg


@pytest.mark.integration
def test_missing_model_path_engine_dies_with_its_own_errors(journal, demo_engine):
    env, _model = demo_engine
    port = free_port()
    p = cli(journal, "engine", "start", "bad", "--wait", "--kind", "vllm", "--",
            str(env.python), "-m", "vllm.entrypoints.openai.api_server", "--model", "/nonexistent/model-dir",
            "--port", str(port), timeout=600)
    assert p.returncode == 1 and "Traceback (most recent call last)" not in p.stderr
    assert "engine 'bad' crashed before it was ready" in p.stderr
    assert "/nonexistent/model-dir" in p.stderr  # the engine's own words, not ours
    run = Reader(journal / "journal.db").resolve_run("bad")
    assert run["status"] == "crashed" and run["exit_code"] not in (None, 0) and run["log_tail"]


def _garbage_server(body: bytes) -> ThreadedApp:
    """A real HTTP server whose /health is fine and whose /metrics is garbage."""
    def build(app):
        app.router.add_get("/health", lambda r: web.Response(text=""))
        app.router.add_get("/metrics", lambda r: web.Response(body=body, content_type="text/plain"))
    return ThreadedApp(build)


def test_garbage_metrics_records_events_and_crashes_nothing(journal):
    garbage = b"this is not prometheus {{{\nvllm:num_requests_running{model_name=\"x\" 3\n\xff\xfe\x00binary"
    with _garbage_server(garbage) as srv:
        p = cli(journal, "engine", "attach", "junk", f"http://127.0.0.1:{srv.port}")
        assert p.returncode == 0, p.stderr
        db = journal / "journal.db"

        def scrape_events():
            run = Reader(db).resolve_run("junk")
            return [e for e in Reader(db).events(run["id"]) if e["kind"].startswith("scrape")]

        evs = wait_for(scrape_events, 15, what="a scrape event")
        assert any(e["level"] in ("warning", "error") for e in evs)
        time.sleep(2)
        # nothing crashed: the service answers, the engine is still watched, the journal is sound
        (e,) = [e for e in cli_json(journal, "engine", "list") if e["name"] == "junk"]
        assert e["status"] == "ready"
        assert cli(journal, "status").returncode == 0
        conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        # one event per condition, not one per scrape
        assert len(scrape_events()) <= 4
