"""A small client of the Prometheus HTTP API (aiohttp): instant and range queries, with
timeouts, one clear error per failure, and an account of the load it puts on Prometheus."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import Any

import aiohttp

DEFAULT_TIMEOUT_S = 5.0


class PromError(Exception):
    """``kind`` "unreachable" (no answer) or "failed" (Prometheus refused or failed the query)."""

    def __init__(self, kind: str, message: str):
        super().__init__(message)
        self.kind = kind


@dataclass
class Load:
    """What this client asked of Prometheus (per refresh: ``reset`` between refreshes)."""

    queries: int = 0  # instant queries
    range_queries: int = 0
    series: int = 0  # series returned
    samples: int = 0  # points returned
    bytes: int = 0  # response bytes
    seconds: float = 0.0  # time spent waiting for answers (summed over concurrent queries)
    exprs: list[str] = field(default_factory=list)

    def reset(self) -> "Load":
        old = Load(self.queries, self.range_queries, self.series, self.samples, self.bytes, self.seconds, self.exprs)
        self.queries = self.range_queries = self.series = self.samples = self.bytes = 0
        self.seconds = 0.0
        self.exprs = []
        return old

    def as_dict(self) -> dict[str, Any]:
        return {"queries": self.queries, "range_queries": self.range_queries, "series": self.series,
                "samples": self.samples, "bytes": self.bytes, "seconds": round(self.seconds, 4)}


def normalize_url(url: str) -> str:
    url = (url or "").strip().rstrip("/")
    if not url.startswith(("http://", "https://")):
        from iejtui.errors import UserError
        raise UserError(f"invalid Prometheus URL {url!r}: give its base URL, e.g. http://127.0.0.1:9090")
    return url


class PromClient:
    def __init__(self, url: str, timeout_s: float = DEFAULT_TIMEOUT_S):
        self.url = normalize_url(url)
        self.timeout_s = timeout_s
        self.load = Load()
        self._session: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> "PromClient":
        return self

    async def __aexit__(self, *exc) -> None:
        await self.close()

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    def _sess(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            t = aiohttp.ClientTimeout(total=self.timeout_s, connect=min(2.0, self.timeout_s))
            self._session = aiohttp.ClientSession(timeout=t)
        return self._session

    async def _call(self, path: str, data: dict[str, str], expr: str) -> dict[str, Any]:
        t0 = time.perf_counter()
        try:
            async with self._sess().post(self.url + path, data=data) as r:
                body = await r.read()
                status = r.status
        except asyncio.TimeoutError:
            raise PromError("unreachable", f"Prometheus unreachable at {self.url}: no answer within "
                                           f"{self.timeout_s:g} s") from None
        except aiohttp.ClientError as exc:
            raise PromError("unreachable", f"Prometheus unreachable at {self.url}: {exc}") from None
        finally:
            self.load.seconds += time.perf_counter() - t0
        self.load.bytes += len(body)
        self.load.exprs.append(expr)
        try:
            import json
            doc = json.loads(body)
        except ValueError:
            raise PromError("failed", f"query failed: {self.url}{path} answered HTTP {status} "
                                      f"without JSON (is this a Prometheus server?)") from None
        if status != 200 or doc.get("status") != "success":
            raise PromError("failed", f"query failed: {doc.get('errorType', status)}: "
                                      f"{doc.get('error', 'HTTP %s' % status)} (query: {expr[:160]})")
        data_out = doc.get("data") or {}
        res = data_out.get("result") or []
        if isinstance(res, list):
            self.load.series += len(res)
            self.load.samples += sum(len(s.get("values") or ()) or (1 if "value" in s else 0)
                                     for s in res if isinstance(s, dict))
        return data_out

    async def query(self, expr: str, at: float | None = None) -> dict[str, Any]:
        """``/api/v1/query``: ``{"resultType", "result"}`` at ``at`` (now by default)."""
        self.load.queries += 1
        data = {"query": expr, "timeout": f"{self.timeout_s:g}s"}
        if at is not None:
            data["time"] = f"{at:.3f}"
        return await self._call("/api/v1/query", data, expr)

    async def query_range(self, expr: str, start: float, end: float, step: float) -> dict[str, Any]:
        """``/api/v1/query_range`` (a matrix, one point per ``step``)."""
        self.load.range_queries += 1
        data = {"query": expr, "start": f"{start:.3f}", "end": f"{end:.3f}", "step": f"{max(step, 0.001):.3f}",
                "timeout": f"{self.timeout_s:g}s"}
        return await self._call("/api/v1/query_range", data, expr)
