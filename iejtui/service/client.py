"""Talking to the service from the CLI and the TUI (aiohttp over the unix socket)."""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp

from iejtui.errors import ServiceError, UserError
from iejtui.paths import JournalPaths

API = "http://iejtui/v1"


async def call_async(paths: JournalPaths, method: str, path: str, payload: dict | None = None,
                     timeout: float = 120.0) -> Any:
    conn = aiohttp.UnixConnector(path=str(paths.socket))
    try:
        async with aiohttp.ClientSession(connector=conn, timeout=aiohttp.ClientTimeout(total=timeout)) as s:
            async with s.request(method, API + path, json=payload) as r:
                data = await r.json(content_type=None)
    except (aiohttp.ClientConnectionError, FileNotFoundError, ConnectionRefusedError) as exc:
        raise ServiceError(f"the service for {paths.root} is not answering ({exc.__class__.__name__}); "
                           f"start it with `iejtui service start`") from None
    except asyncio.TimeoutError:
        raise ServiceError(f"the service did not answer {method} {path} within {timeout:.0f} s") from None
    if isinstance(data, dict) and "error" in data:
        if data.get("user_error"):
            raise UserError(data["error"])
        raise ServiceError(data["error"])
    return data


def call(paths: JournalPaths, method: str, path: str, payload: dict | None = None, timeout: float = 120.0) -> Any:
    return asyncio.run(call_async(paths, method, path, payload, timeout))
