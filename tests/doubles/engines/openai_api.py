"""OpenAI-compatible completion routes over an ``EngineSim`` (shared by every fake).

``/v1/models``, ``/v1/completions`` and ``/v1/chat/completions``, streaming (SSE, with
``stream_options.include_usage`` and per-token ``logprobs``) or not. A prompt's token count
is its word count plus one (BOS); a token's text is `` tok``. ``max_tokens`` is always
honoured (as with ``ignore_eos``), so load is predictable. A client that hangs up aborts
its request in the simulator.
"""

from __future__ import annotations

import json
import time
from typing import Any

from aiohttp import web

from tests.doubles.engines.sim import EngineSim, SimRequest


def count_tokens(prompt: Any) -> int:
    if isinstance(prompt, list):
        if prompt and all(isinstance(x, int) for x in prompt):
            return len(prompt)
        return sum(count_tokens(p) for p in prompt)
    return len(str(prompt or "").split()) + 1


def _prompt_of(body: dict, chat: bool) -> Any:
    if chat:
        return " ".join(str(m.get("content") or "") for m in body.get("messages") or []
                        if isinstance(m, dict))
    return body.get("prompt", "")


def _chunk(kind: str, rid: str, model: str, n: int, finish: str | None, logprobs: bool) -> dict:
    text = " tok" * n
    choice: dict[str, Any] = {"index": 0, "finish_reason": finish}
    if kind == "chat":
        choice["delta"] = {"content": text} if n else {}
    else:
        choice["text"] = text
        choice["logprobs"] = ({"tokens": [" tok"] * n, "token_logprobs": [-0.1] * n}
                              if logprobs else None)
    return {"id": rid, "object": "chat.completion.chunk" if kind == "chat" else "text_completion",
            "created": int(time.time()), "model": model, "choices": [choice]}


def _usage(req: SimRequest) -> dict:
    return {"prompt_tokens": req.prompt_tokens, "completion_tokens": req.generated,
            "total_tokens": req.prompt_tokens + req.generated}


class OpenAIRoutes:
    """``on_submit(req, body)`` lets a fake note per-request details (TRT-LLM's
    ``mark_undone``, SGLang's streaming flag)."""

    def __init__(self, sim: EngineSim, model: str, owned_by: str, on_submit=None,
                 max_model_len: int | None = None) -> None:
        self.sim, self.model, self.owned_by = sim, model, owned_by
        self.on_submit, self.max_model_len = on_submit, max_model_len

    def add_to(self, app: web.Application) -> None:
        app.router.add_get("/v1/models", self.models)
        app.router.add_post("/v1/completions", self.completions)
        app.router.add_post("/v1/chat/completions", self.chat)

    async def models(self, request: web.Request) -> web.Response:
        card = {"id": self.model, "object": "model", "created": int(time.time()),
                "owned_by": self.owned_by}
        if self.max_model_len:
            card["max_model_len"] = self.max_model_len
        return web.json_response({"object": "list", "data": [card]})

    async def completions(self, request: web.Request) -> web.StreamResponse:
        return await self._serve(request, "text")

    async def chat(self, request: web.Request) -> web.StreamResponse:
        return await self._serve(request, "chat")

    async def _serve(self, request: web.Request, kind: str) -> web.StreamResponse:
        try:
            body = await request.json()
            if not isinstance(body, dict):
                raise ValueError("body is not an object")
        except ValueError as exc:
            return web.json_response({"error": {"message": f"invalid JSON: {exc}",
                                                "type": "BadRequestError", "code": 400}}, status=400)
        prompt = _prompt_of(body, kind == "chat")
        max_tokens = int(body.get("max_tokens") or body.get("max_completion_tokens") or 16)
        stream = bool(body.get("stream"))
        req = self.sim.submit(count_tokens(prompt), max_tokens, stream=stream,
                              prefix_key=json.dumps(prompt, sort_keys=True)[:4096])
        if self.on_submit is not None:
            self.on_submit(req, body)
        rid = f"cmpl-{req.rid}"
        try:
            if stream:
                return await self._stream(request, req, rid, kind, body)
            while await req.events.get() is not None:
                pass
        except BaseException:
            self.sim.abort(req)
            raise
        choice: dict[str, Any] = {"index": 0, "finish_reason": req.finish_reason}
        text = " tok" * req.generated
        if kind == "chat":
            choice["message"] = {"role": "assistant", "content": text}
        else:
            choice["text"] = text
        return web.json_response({"id": rid, "object": "chat.completion" if kind == "chat"
                                  else "text_completion", "created": int(time.time()),
                                  "model": self.model, "choices": [choice], "usage": _usage(req)})

    async def _stream(self, request: web.Request, req: SimRequest, rid: str, kind: str,
                      body: dict) -> web.StreamResponse:
        resp = web.StreamResponse(headers={"Content-Type": "text/event-stream",
                                           "Cache-Control": "no-cache"})
        await resp.prepare(request)
        logprobs = body.get("logprobs") not in (None, False, 0)
        include_usage = bool((body.get("stream_options") or {}).get("include_usage"))

        async def send(obj: Any) -> None:
            await resp.write(b"data: " + json.dumps(obj).encode() + b"\n\n")

        done = False
        while not done and (n := await req.events.get()) is not None:
            while not req.events.empty():  # a slow reader gets several tokens in one chunk
                more = req.events.get_nowait()
                if more is None:
                    done = True
                    break
                n += more
            await send(_chunk(kind, rid, self.model, n, None, logprobs))
        await send(_chunk(kind, rid, self.model, 0, req.finish_reason, logprobs))
        if include_usage:
            await send({"id": rid, "object": "text_completion", "created": int(time.time()),
                        "model": self.model, "choices": [], "usage": _usage(req)})
        await resp.write(b"data: [DONE]\n\n")
        await resp.write_eof()
        return resp
