"""The control API's guard fails closed: a peer whose uid cannot be read is refused.

The service listens on a unix socket only, where SO_PEERCRED always answers; the same guard
served over TCP (where there is no peer credential to read) shows what happens when it cannot."""
from __future__ import annotations

import asyncio

import aiohttp
from aiohttp import web

from iejtui.service.api import guard


async def _status(site_for, connector_for) -> tuple[int, dict]:
    async def ok(request):
        return web.json_response({"ok": True})

    app = web.Application(middlewares=[guard])
    app.router.add_get("/v1/status", ok)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site, url = site_for(runner)
    await site.start()
    try:
        async with aiohttp.ClientSession(connector=connector_for()) as s:
            async with s.get(url(runner)) as r:
                return r.status, await r.json()
    finally:
        await runner.cleanup()


def test_own_user_on_the_unix_socket_gets_in(tmp_path):
    sock = str(tmp_path / "api.sock")
    status, body = asyncio.run(_status(lambda runner: (web.UnixSite(runner, sock), lambda _: "http://x/v1/status"),
                                       lambda: aiohttp.UnixConnector(path=sock)))
    assert (status, body) == (200, {"ok": True})


def test_a_peer_without_credentials_is_refused():
    status, body = asyncio.run(_status(
        lambda runner: (web.TCPSite(runner, "127.0.0.1", 0),
                        lambda r: f"http://127.0.0.1:{r.addresses[0][1]}/v1/status"),
        aiohttp.TCPConnector))
    assert status == 403
    assert body == {"error": "forbidden: could not tell who connects"}
