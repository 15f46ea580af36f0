"""Adapter registry, the base adapter's generic behaviour and the OpenAI-compatible adapter."""

from __future__ import annotations

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from collectors.engines import (
    ADAPTERS,
    PLANNED_KINDS,
    EngineAdapter,
    UnknownEngineKind,
    get_adapter,
    kinds,
    register,
)
from collectors.engines.base import (
    PHASES,
    flag_value,
    is_error_message,
    later_phase,
    split_log_line,
    url_for,
)


def test_registry_and_errors():
    assert kinds() == ["llamacpp", "openai", "sglang", "triton", "trtllm", "vllm"]
    assert get_adapter("vllm").kind == "vllm" and get_adapter(" VLLM ").kind == "vllm"
    assert get_adapter("openai").metrics_path is None
    with pytest.raises(UnknownEngineKind, match=r"unknown engine kind 'tgi'; valid kinds: "
                                                r"llamacpp, openai, sglang, triton, trtllm, vllm"):
        get_adapter("tgi")
    assert PLANNED_KINDS == ()


def test_register_a_new_kind():
    class Fake(EngineAdapter):
        kind = "fake-test"
        default_port = 30000

    try:
        register(Fake())
        assert get_adapter("fake-test").default_url([]) == "http://127.0.0.1:30000"
        assert "fake-test" in kinds()
    finally:
        ADAPTERS.pop("fake-test", None)
    with pytest.raises(ValueError):
        register(EngineAdapter())


def test_base_keep_family():
    keep = EngineAdapter().keep_family
    assert keep("vllm:kv_cache_usage_perc") and keep("sglang:token_usage")
    assert keep("process_resident_memory_bytes") and keep("process_cpu_seconds_total")
    assert not keep("process_virtual_memory_bytes") and not keep("process_open_fds")
    assert not keep("http_request_duration_highr_seconds")
    assert not keep("python_gc_objects_collected_total")
    assert not keep("python_info")


def test_phases_are_monotonic():
    assert later_phase("kv cache", "loading weights") == "kv cache"
    assert later_phase("launching", "warm-up") == "warm-up"
    assert later_phase(None, "ready") == "ready" and later_phase("kv cache", None) == "kv cache"
    assert later_phase("kv cache", "bogus") == "kv cache"
    assert PHASES[0] == "launching" and PHASES[-1] == "ready"


def test_helpers():
    assert flag_value(["--port", "1", "--port=2"], "--port") == "2"
    assert flag_value(["--port"], "--port") is None
    assert flag_value(["--portable", "x"], "--port") is None
    assert url_for(None, 80) == "http://127.0.0.1:80" and url_for("fe80::1", 8) == "http://[fe80::1]:8"
    assert url_for("[::1]", 8) == "http://[::1]:8"
    assert split_log_line("(Worker_TP1 pid=7) WARNING 01-02 03:04:05 [a.py:9] careful") == (
        "Worker_TP1", "WARNING", "careful")
    assert split_log_line("INFO:     Started server process [1]") == (
        None, "INFO", "Started server process [1]")
    assert split_log_line("plain text") == (None, None, "plain text")
    assert is_error_message("ERROR", "Engine died")
    assert not is_error_message("ERROR", "  File \"x.py\", line 1")
    assert not is_error_message("INFO", "ValueError: logged at info is not a death")
    assert is_error_message(None, "KeyboardInterrupt")
    assert not is_error_message(None, "Errors are counted in vllm:request_success_total")


def test_openai_adapter_urls_and_env():
    oa = get_adapter("openai")
    assert oa.default_url(["llama-server", "-m", "x.gguf"]) is None
    assert oa.default_url(["llama-server", "--port", "8080", "--host", "0.0.0.0"]) == "http://127.0.0.1:8080"
    assert oa.metrics_url("http://h:1") is None and oa.health_url("http://h:1/") == "http://h:1/v1/models"
    assert "PROMETHEUS_MULTIPROC_DIR" not in oa.build_env({"PROMETHEUS_MULTIPROC_DIR": "/x"})


@pytest.fixture
async def models_server():
    state = {"status": 200}

    async def models(request):
        return web.json_response({"object": "list", "data": []}, status=state["status"])

    app = web.Application()
    app.router.add_get("/v1/models", models)
    srv = TestServer(app, host="127.0.0.1")
    await srv.start_server()
    srv.state = state
    yield srv
    await srv.close()


async def test_openai_probe(models_server, unused_tcp_port):
    oa = get_adapter("openai")
    base = str(models_server.make_url(""))
    async with aiohttp.ClientSession() as session:
        assert (await oa.probe_ready(session, base)).ready
        models_server.state["status"] = 401
        state = await oa.probe_ready(session, base)
        assert state.ready and "API key" in state.detail
        models_server.state["status"] = 503
        assert (await oa.probe_ready(session, base)).state == "loading"
        models_server.state["status"] = 404
        assert (await oa.probe_ready(session, base)).state == "error"
        state = await oa.probe_ready(session, f"http://127.0.0.1:{unused_tcp_port}")
        assert state.state == "loading"


async def test_probe_times_out_as_loading(unused_tcp_port):
    import asyncio

    async def mute(reader, writer):
        await asyncio.sleep(10)

    srv = await asyncio.start_server(mute, "127.0.0.1", 0)
    port = srv.sockets[0].getsockname()[1]
    try:
        async with aiohttp.ClientSession() as session:
            state = await get_adapter("vllm").probe_ready(session, f"http://127.0.0.1:{port}",
                                                          timeout_s=0.3)
        assert state.state == "loading" and "timed out" in state.detail
    finally:
        srv.close()
