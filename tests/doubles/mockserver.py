"""A tiny OpenAI-compatible streaming server for calibration and tests.

It answers ``/v1/completions`` and ``/v1/chat/completions`` with a stream of
``chunks`` SSE events rendered once at start-up, so the server costs next to
nothing per request and a load generator pointed at it measures itself (its
ceiling and its self-inflicted TTFT).  ``/v1/models``, ``/tokenize`` and
``/detokenize`` exist too (a toy byte tokenizer: one token per byte, ids 3..258)
so datasets can be built against it.

Behaviour can be changed per request through the JSON body key ``"mock"``
(``{"mock": {"fault": "http500"}}``) or for the whole server through
``MockConfig``.  Faults: ``http404``/``http500``/``http429`` (error status),
``bad_json`` (one chunk is not JSON), ``cut`` (the connection is dropped
mid-stream), ``stall`` (sleeps ``stall_s`` before the first chunk), ``no_usage``
(no usage chunk), ``empty_first`` (an empty-text first chunk), ``multi``
(several tokens per chunk: ``tokens_per_chunk``).

``slots`` > 0 serves at most that many responses at a time (the rest wait, FIFO): with
``ttft_s`` as the service time and the body written at once, the server's capacity is
``slots / ttft_s`` requests per second, and a queue builds above it (a known max load).

Run standalone: ``python -m tests.doubles.mockserver --port 8199 --chunks 256``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
from collections.abc import Callable
from dataclasses import dataclass, replace

from aiohttp import web

BYTE_OFFSET = 3  # ids 0..2 are <unk> <s> </s>, like the tiny llama test model


@dataclass(frozen=True)
class MockConfig:
    chunks: int = 256
    tokens_per_chunk: int = 1
    itl_s: float = 0.0  # delay between chunks (0: whole body written at once)
    ttft_s: float = 0.0
    fault: str = ""
    stall_s: float = 30.0
    model: str = "mock"
    slots: int = 0  # > 0: at most this many responses at a time (capacity slots / ttft_s)


def _chunk(i: int, text: str, chat: bool, role_first: bool = False) -> bytes:
    if chat:
        delta: dict = {"content": text}
        if role_first:
            delta = {"role": "assistant", "content": ""}
        body = {"id": "chatcmpl-mock", "object": "chat.completion.chunk", "created": 0,
                "model": "mock", "choices": [{"index": 0, "delta": delta, "logprobs": None,
                                              "finish_reason": None}]}
    else:
        body = {"id": "cmpl-mock", "object": "text_completion", "created": 0, "model": "mock",
                "choices": [{"index": 0, "text": text, "logprobs": None, "finish_reason": None,
                             "stop_reason": None}]}
    return b"data: " + json.dumps(body, separators=(",", ":")).encode() + b"\n\n"


def _usage(prompt_tokens: int, completion_tokens: int, chat: bool) -> bytes:
    body = {"id": "cmpl-mock", "object": "chat.completion.chunk" if chat else "text_completion",
            "created": 0, "model": "mock", "choices": [],
            "usage": {"prompt_tokens": prompt_tokens, "total_tokens": prompt_tokens + completion_tokens,
                      "completion_tokens": completion_tokens}}
    return b"data: " + json.dumps(body, separators=(",", ":")).encode() + b"\n\n"


def render_events(cfg: MockConfig, chat: bool, prompt_tokens: int = 16) -> list[bytes]:
    """The SSE events of one response, in order (``[DONE]`` included)."""
    events: list[bytes] = []
    if chat:
        events.append(_chunk(0, "", True, role_first=True))
    for i in range(cfg.chunks):
        text = "" if (i == 0 and cfg.fault == "empty_first") else " tok" * cfg.tokens_per_chunk
        events.append(_chunk(i, text, chat))
    if cfg.fault == "bad_json":
        events.insert(len(events) // 2, b'data: {"choices": [{"text": "x"}\n\n')
    if cfg.fault != "no_usage":
        events.append(_usage(prompt_tokens, cfg.chunks * cfg.tokens_per_chunk, chat))
    events.append(b"data: [DONE]\n\n")
    return events


class MockServer:
    """Owns the aiohttp app; ``await start()`` then ``url``; ``await stop()``."""

    def __init__(self, cfg: MockConfig | None = None, host: str = "127.0.0.1", port: int = 0,
                 fault_plan: Callable[[int], str] | None = None):
        self.cfg = cfg or MockConfig()
        # fault_plan(i) -> fault for the request whose x-request-id ends with index i
        self.fault_plan = fault_plan
        self.host, self.port = host, port
        self.requests = 0
        self._bodies = {chat: b"".join(render_events(self.cfg, chat)) for chat in (False, True)}
        self._runner: web.AppRunner | None = None
        self._slots = asyncio.Semaphore(self.cfg.slots) if self.cfg.slots > 0 else None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/v1/completions", self._complete)
        app.router.add_post("/v1/chat/completions", self._complete)
        app.router.add_get("/v1/models", self._models)
        app.router.add_post("/tokenize", self._tokenize)
        app.router.add_post("/detokenize", self._detokenize)
        return app

    async def start(self) -> str:
        self._runner = web.AppRunner(self.app(), access_log=None, handler_cancellation=True,
                                     shutdown_timeout=1.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port, reuse_address=True)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        return self.url

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def _models(self, request: web.Request) -> web.Response:
        return web.json_response({"object": "list", "data": [
            {"id": self.cfg.model, "object": "model", "root": self.cfg.model}]})

    async def _tokenize(self, request: web.Request) -> web.Response:
        body = await request.json()
        text = body.get("prompt")
        if text is None:
            text = "".join(f"<|{m['role']}|>\n{m['content']}" for m in body.get("messages", []))
        toks = [b + BYTE_OFFSET for b in str(text).encode()]
        if body.get("add_special_tokens", True):
            toks = [1] + toks
        return web.json_response({"count": len(toks), "max_model_len": 4096, "tokens": toks})

    async def _detokenize(self, request: web.Request) -> web.Response:
        body = await request.json()
        raw = bytes(t - BYTE_OFFSET for t in body["tokens"] if BYTE_OFFSET <= t < 256 + BYTE_OFFSET)
        return web.json_response({"prompt": raw.decode("utf-8", "replace")})

    async def _complete(self, request: web.Request) -> web.StreamResponse:
        self.requests += 1
        cfg = self.cfg
        chat = request.path.endswith("chat/completions")
        raw = await request.read()
        if b'"mock":' in raw:
            over = json.loads(raw).get("mock") or {}
            cfg = replace(cfg, **over)
        if self.fault_plan is not None:
            rid = request.headers.get("x-request-id", "")
            digits = rid[len(rid.rstrip("0123456789")):]
            fault = self.fault_plan(int(digits)) if digits else ""
            if fault:
                cfg = replace(cfg, fault=fault)
        if cfg.fault.startswith("http"):
            status = int(cfg.fault[4:])
            return web.json_response({"error": {"message": f"mock fault {status}"}}, status=status)
        if self._slots is not None:
            async with self._slots:
                return await self._respond(request, cfg, chat)
        return await self._respond(request, cfg, chat)

    async def _respond(self, request: web.Request, cfg: MockConfig, chat: bool) -> web.StreamResponse:
        resp = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await resp.prepare(request)
        if cfg.fault == "stall":
            await asyncio.sleep(cfg.stall_s)
        if cfg.ttft_s:
            await asyncio.sleep(cfg.ttft_s)
        if cfg is self.cfg and not cfg.itl_s and cfg.fault != "cut":
            await resp.write(self._bodies[chat])
        else:
            events = render_events(cfg, chat)
            if cfg.fault == "cut":
                await resp.write(b"".join(events[: len(events) // 2]))
                assert request.transport is not None
                request.transport.close()
                return resp
            for ev in events:
                await resp.write(ev)
                if cfg.itl_s:
                    await asyncio.sleep(cfg.itl_s)
        await resp.write_eof()
        return resp


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=8199)
    ap.add_argument("--chunks", type=int, default=256)
    ap.add_argument("--itl-ms", type=float, default=0.0)
    ap.add_argument("--ttft-ms", type=float, default=0.0)
    ap.add_argument("--procs", type=int, default=1, help="server processes (SO_REUSEPORT)")
    ap.add_argument("--slots", type=int, default=0, help="responses served at a time (0: no limit)")
    a = ap.parse_args(argv)
    cfg = MockConfig(chunks=a.chunks, itl_s=a.itl_ms / 1000, ttft_s=a.ttft_ms / 1000, slots=a.slots)
    if a.procs > 1:
        import multiprocessing as mp
        for _ in range(a.procs - 1):
            mp.get_context("spawn").Process(target=_serve, args=(cfg, a.host, a.port, True),
                                            daemon=True).start()
    _serve(cfg, a.host, a.port, a.procs > 1)


def _serve(cfg: MockConfig, host: str, port: int, reuse_port: bool) -> None:
    srv = MockServer(cfg, host, port)
    web.run_app(srv.app(), host=host, port=port, access_log=None, print=None,
                reuse_port=reuse_port or None)


if __name__ == "__main__":
    main()
