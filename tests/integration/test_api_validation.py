"""Bad control-API input is refused before anything is created (issue #14 item 10).

A real service on its real unix socket, spoken to with aiohttp as any client would; after
each refused request journal.db holds no new run and none is left ``starting``.
"""

from __future__ import annotations

import asyncio
import shutil

import aiohttp
import pytest

from helpers import cli, free_port
from iejtui.paths import journal_paths
from iejtui.store import Reader

SLEEP = shutil.which("sleep")


def _requests(port: int) -> list[tuple[str, str, object]]:
    good_argv = [SLEEP, "300", "--port", str(port)]
    eng = {"name": "bad", "kind": "vllm", "argv": good_argv}
    return [
        ("POST", "/engines", {**eng, "argv": "sleep 300"}),
        ("POST", "/engines", {**eng, "argv": [SLEEP, 300]}),
        ("POST", "/engines", {**eng, "argv": []}),
        ("POST", "/engines", {**eng, "argv": [SLEEP, "3\x000"]}),
        ("POST", "/engines", {**eng, "env": {"A=B": "1"}}),  # subprocess refuses it only after the run row
        ("POST", "/engines", {**eng, "env": {"A": 1}}),
        ("POST", "/engines", {**eng, "env": "A=1"}),
        ("POST", "/engines", {**eng, "cwd": 5}),
        ("POST", "/engines", {**eng, "name": 7}),
        ("POST", "/engines", {**eng, "kind": "tgi"}),
        ("POST", "/engines", {**eng, "url": 5}),
        ("POST", "/engines", {"name": "att", "attach": True, "url": 5}),
        ("POST", "/engines", {"name": "att", "attach": "yes", "url": "http://127.0.0.1:1"}),
        ("POST", "/engines", [1, 2]),
        ("POST", "/benches", {"argv": "--num-prompts 5"}),
        ("POST", "/benches", {"argv": ["--num-prompts", 5]}),
        ("POST", "/recordings", {"name": "r", "duration": "10"}),
        ("POST", "/recordings", {"name": "r", "duration": -3}),
        ("POST", "/recordings", {"name": 5}),
        ("POST", "/matrices", {"file": 5}),
        ("POST", "/imports", {"prometheus": "http://127.0.0.1:1", "instance": "h", "from": "abc", "to": 5}),
        ("POST", "/service/stop", {"keep_engines": "no"}),
    ]


async def _send(paths, requests):
    out = []
    conn = aiohttp.UnixConnector(path=str(paths.socket))
    async with aiohttp.ClientSession(connector=conn) as s:
        for method, path, body in requests:
            async with s.request(method, "http://iejtui/v1" + path, json=body) as r:
                out.append((method, path, body, r.status, await r.json(content_type=None)))
    return out


def test_bad_bodies_are_400_one_line_and_create_no_run(journal):
    assert cli(journal, "service", "start").returncode == 0
    paths = journal_paths(str(journal))
    before = Reader(paths.db).runs()
    results = asyncio.run(_send(paths, _requests(free_port())))
    runs = Reader(paths.db).runs()
    assert not [r for r in runs if r["status"] == "starting"], runs
    assert runs == before
    for method, path, body, status, data in results:
        assert status == 400, (path, body, status, data)
        assert data.get("user_error") and "\n" not in data["error"] and data["error"], (body, data)
    assert cli(journal, "status").returncode == 0  # the service is alive and well


def test_log_lines_must_be_a_count(journal):
    assert cli(journal, "service", "start").returncode == 0
    assert cli(journal, "engine", "attach", "w", "http://127.0.0.1:1").returncode == 0
    paths = journal_paths(str(journal))
    res = asyncio.run(_send(paths, [("GET", "/engines/w/log?lines=abc", None), ("GET", "/engines/w/log?lines=-5", None),
                                    ("GET", "/engines/w/log?lines=0", None), ("GET", "/engines/w/log?lines=3", None)]))
    (_, _, _, s1, d1), (_, _, _, s2, d2), (_, _, _, s3, d3), (_, _, _, s4, d4) = res
    assert s1 == 400 and "lines must be a whole number >= 0" in d1["error"]
    assert s2 == 400 and "not -5" in d2["error"]
    assert s3 == 200 and d3["lines"] == []
    assert s4 == 200 and isinstance(d4["lines"], list)


@pytest.mark.parametrize("toml,words", [
    ('[service]\nlog_max_bytes = "big"\n', "log_max_bytes = 'big'"),
    ('[engines.x]\nkind = "vllm"\nargv = ["sleep", "9"]\nenv = { "A=B" = "1" }\n', "env name 'A=B'"),
])
def test_bad_config_values_one_line_at_service_start(journal, toml, words):
    (journal / "iejtui.toml").write_text(toml)
    p = cli(journal, "service", "start")
    assert p.returncode == 2 and "Traceback" not in p.stderr, p.stderr
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 1 and words in lines[0] and "iejtui.toml" in lines[0]


def test_engine_logs_negative_count(journal):
    """A run with a real log file (a launched process), so -n reaches the tail reader."""
    p = cli(journal, "engine", "start", "s", "--kind", "vllm", "--", SLEEP, "300", "--port", str(free_port()))
    assert p.returncode == 0, p.stderr
    assert cli(journal, "engine", "logs", "s", "-n", "0").returncode == 0
    p = cli(journal, "engine", "logs", "s", "-n", "-5")
    assert p.returncode == 2 and "Traceback" not in p.stderr
    lines = p.stderr.strip().splitlines()
    assert lines == ["iejtui: -n/--lines must be 0 or more, not -5"]
