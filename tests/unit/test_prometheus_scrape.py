"""collectors.prometheus.Scraper against real local servers on 127.0.0.1 (ephemeral ports):
aiohttp.web for HTTP behaviour, raw asyncio servers for sockets that misbehave."""

from __future__ import annotations

import asyncio
import socket
import time

import psutil
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from collectors.engines import get_adapter
from collectors.prometheus import Scraper

PAGE = """\
# HELP vllm:num_requests_running Number of requests.
# TYPE vllm:num_requests_running gauge
vllm:num_requests_running{engine="0",model_name="m"} 3.0
# HELP vllm:generation_tokens_total Generation tokens.
# TYPE vllm:generation_tokens_total counter
vllm:generation_tokens_total{engine="0",model_name="m"} 42.0
# HELP vllm:generation_tokens_created Generation tokens.
# TYPE vllm:generation_tokens_created gauge
vllm:generation_tokens_created{engine="0",model_name="m"} 1.7e+09
# HELP http_requests_total Requests.
# TYPE http_requests_total counter
http_requests_total{handler="/v1/completions",method="POST",status="2xx"} 9.0
"""
MB = 1024 * 1024


@pytest.fixture
async def server():
    state = {"written": 0, "calls": 0}

    async def metrics(request):
        state["calls"] += 1
        return web.Response(text=PAGE, content_type="text/plain")

    async def slow(request):
        await asyncio.sleep(0.5)
        return web.Response(text=PAGE)

    async def huge(request):  # 50 MB streamed, never held in memory by the server either
        resp = web.StreamResponse()
        if request.query.get("cl"):
            resp.content_length = 50 * MB
        await resp.prepare(request)
        chunk = b"x_total 1\n" * (MB // 10)
        try:
            for _ in range(50):
                await resp.write(chunk)
                state["written"] += len(chunk)
        except (ConnectionError, RuntimeError):
            pass
        return resp

    async def drip(request):  # headers at once, then a line every 0.3 s, forever
        resp = web.StreamResponse()
        await resp.prepare(request)
        try:
            while True:
                await resp.write(b"drip_total 1\n")
                await asyncio.sleep(0.3)
        except (ConnectionError, RuntimeError):
            return resp

    def fixed(body: bytes, status: int = 200, ctype: str = "text/plain"):
        async def handler(request):
            return web.Response(body=body, status=status, content_type=ctype)
        return handler

    app = web.Application()
    app.router.add_get("/metrics", metrics)
    app.router.add_get("/slow", slow)
    app.router.add_get("/huge", huge)
    app.router.add_get("/drip", drip)
    app.router.add_get("/nan", fixed(b"# TYPE c counter\nc_total NaN\n# TYPE g gauge\n"
                                     b"g +Inf\nh -Inf\n"))
    app.router.add_get("/garbage", fixed(b"hello world\nthis is not prometheus\n"))
    app.router.add_get("/truncated", fixed(PAGE.encode() + b'vllm:x{engine="0",mod'))
    app.router.add_get("/500", fixed(b"Internal Server Error: /tmp is NFS", 500))
    app.router.add_get("/html", fixed(b"<html><body>Welcome</body></html>\n", 200, "text/html"))
    app.router.add_get("/json", fixed(b'{"object": "list"}', 200, "application/json"))
    app.router.add_get("/latin1", fixed(b"# HELP g caf\xe9 \xff\n# TYPE g gauge\ng 1\n"))
    app.router.add_get("/empty", fixed(b""))
    srv = TestServer(app, host="127.0.0.1")
    await srv.start_server()
    srv.state = state
    yield srv
    await srv.close()


@pytest.fixture
async def scraper():
    s = Scraper(timeout_s=1.0, connect_timeout_s=0.5)
    yield s
    await s.aclose()


def url(srv, path: str) -> str:
    return str(srv.make_url(path))


async def raw_server(handler):
    srv = await asyncio.start_server(handler, "127.0.0.1", 0)
    return srv, f"http://127.0.0.1:{srv.sockets[0].getsockname()[1]}/metrics"


async def test_good_page_gives_frame_with_filter(server, scraper):
    res = await scraper.scrape(url(server, "/metrics"), keep=get_adapter("vllm").keep_family)
    assert res.ok and res.error is None and res.events == [] and res.status == 200
    assert res.bytes == len(PAGE) and res.families == 2 and res.dropped == 2
    assert res.frame.source == "engine" and abs(res.frame.ts - time.time()) < 5
    assert {s.name: s.value for s in res.frame.samples} == {
        "vllm:num_requests_running": 3.0, "vllm:generation_tokens_total": 42.0}
    assert 0 < res.parse_s < res.duration_s


async def test_keep_alive_reuses_connection(server, scraper):
    for _ in range(3):
        assert (await scraper.scrape(url(server, "/metrics"))).ok
    assert server.state["calls"] == 3


async def test_http_500_and_404(server, scraper):
    res = await scraper.scrape(url(server, "/500"))
    assert not res.ok and res.error == "http_status" and res.status == 500
    (ev,) = res.events
    assert ev.kind == "scrape_failed" and ev.level == "error"
    assert "HTTP 500" in ev.message and "NFS" in ev.message and ev.data["status"] == 500
    res = await scraper.scrape(url(server, "/nope"))
    assert res.error == "http_status" and res.status == 404 and "404" in res.events[0].message


async def test_nan_inf_kept_and_reported_once(server, scraper):
    res = await scraper.scrape(url(server, "/nan"))
    values = {s.name: s.value for s in res.frame.samples}
    assert values["c_total"] != values["c_total"] and values["g"] == float("inf")
    assert values["h"] == float("-inf")
    assert [(e.kind, e.data["reason"], e.data["family"]) for e in res.events] == [
        ("scrape_warning", "non_finite", "c")]
    again = await scraper.scrape(url(server, "/nan"))
    assert again.ok and again.events == []  # still true, already reported


async def test_garbage_truncated_html_json_empty(server, scraper):
    res = await scraper.scrape(url(server, "/garbage"))
    assert res.ok and res.frame.samples == []
    assert [e.data["reason"] for e in res.events] == ["parse"]
    res = await scraper.scrape(url(server, "/truncated"))  # cut inside the last family
    assert {s.name for s in res.frame.samples} == {
        "vllm:num_requests_running", "vllm:generation_tokens_total"}
    assert res.events[0].data["families"] == ["http_requests_total"]
    assert "http_requests_total" in res.events[0].message
    res = await scraper.scrape(url(server, "/html"))
    assert {e.data["reason"] for e in res.events} == {"parse", "content_type"}
    assert any("text/html" in e.message for e in res.events)
    res = await scraper.scrape(url(server, "/json"))
    assert any(e.data["reason"] == "content_type" for e in res.events)
    res = await scraper.scrape(url(server, "/empty"))
    assert res.ok and [e.data["reason"] for e in res.events] == ["empty"]


async def test_non_utf8_is_decoded_with_replacement(server, scraper):
    res = await scraper.scrape(url(server, "/latin1"))
    assert res.ok and [(s.name, s.value) for s in res.frame.samples] == [("g", 1.0)]
    (ev,) = res.events
    assert ev.data["reason"] == "decode" and "UTF-8" in ev.message


@pytest.mark.parametrize("declared", [False, True], ids=["chunked", "content-length"])
async def test_50mb_body_is_aborted_without_buffering(server, declared):
    proc = psutil.Process()
    peak = base = proc.memory_info().rss
    done = asyncio.Event()

    async def watch():
        nonlocal peak
        while not done.is_set():
            peak = max(peak, proc.memory_info().rss)
            await asyncio.sleep(0.005)

    watcher = asyncio.create_task(watch())
    async with Scraper(timeout_s=10, max_bytes=8 * MB) as s:
        t0 = time.perf_counter()
        res = await s.scrape(url(server, "/huge?cl=1" if declared else "/huge"))
        elapsed = time.perf_counter() - t0
    done.set()
    await watcher
    assert not res.ok and res.error == "too_large"
    assert "exceeds 8388608 bytes" in res.events[0].message
    assert peak - base < 40 * MB, f"RSS grew by {(peak - base) / MB:.1f} MiB"
    assert elapsed < 5
    await asyncio.sleep(0.2)
    assert server.state["written"] < 45 * MB  # the connection was dropped, not drained


async def test_slow_drip_times_out(server, scraper):
    t0 = time.perf_counter()
    res = await scraper.scrape(url(server, "/drip"))
    assert res.error == "timeout" and 0.9 < time.perf_counter() - t0 < 3
    assert "reading the body" in res.events[0].message


async def test_server_that_accepts_and_never_answers(scraper):
    async def mute(reader, writer):
        await asyncio.sleep(30)

    srv, target = await raw_server(mute)
    try:
        t0 = time.perf_counter()
        res = await scraper.scrape(target)
        assert res.error == "timeout" and time.perf_counter() - t0 < 3
        assert "waiting for response headers" in res.events[0].message
    finally:
        srv.close()


async def test_connection_reset(scraper):
    async def rude(reader, writer):
        await reader.readline()
        writer.transport.abort()

    srv, target = await raw_server(rude)
    try:
        res = await scraper.scrape(target)
        assert res.error == "disconnected" and not res.ok
    finally:
        srv.close()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


async def test_connection_refused_then_edges_then_recovery(server, scraper):
    dead = f"http://127.0.0.1:{free_port()}/metrics"
    res = await scraper.scrape(dead)
    assert res.error == "refused" and "refused" in res.events[0].message
    again = await scraper.scrape(dead)
    assert again.error == "refused" and again.events == []  # reported once, not every second
    loud = Scraper(repeat_events=True)
    try:
        assert len((await loud.scrape(dead)).events) == 1
        assert len((await loud.scrape(dead)).events) == 1
    finally:
        await loud.aclose()
    ok_url = url(server, "/metrics")
    await scraper.scrape(url(server, "/500"))  # a failing URL that then recovers
    bad = await scraper.scrape(url(server, "/500"))
    assert bad.events == []
    assert (await scraper.scrape(ok_url)).events == []  # never failed: nothing to say
    scraper._failing.add(ok_url)
    rec = await scraper.scrape(ok_url)
    assert [e.kind for e in rec.events] == ["scrape_recovered"]


async def test_bad_url(scraper):
    res = await scraper.scrape("not a url")
    assert not res.ok and res.error in ("bad_url", "network")


async def test_overlapping_scrape_is_refused(server, scraper):
    first = asyncio.create_task(scraper.scrape(url(server, "/slow")))
    await asyncio.sleep(0.1)
    assert scraper.in_flight(url(server, "/slow"))
    second = await scraper.scrape(url(server, "/slow"))
    assert second.error == "busy" and "previous scrape still running" in second.events[0].message
    other = await scraper.scrape(url(server, "/metrics"))  # another URL is not blocked
    assert other.ok
    assert (await first).ok
    assert not scraper.in_flight(url(server, "/slow"))


async def test_session_is_lazy_and_closed(server):
    s = Scraper()
    assert s._session is None
    await s.scrape(url(server, "/metrics"))
    session = s._session
    assert session is not None and not session.closed
    await s.aclose()
    assert session.closed
