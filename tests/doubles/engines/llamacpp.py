"""A fake ``llama-server`` (read from the server sources of build 11434, server-task.cpp,
server-context.cpp, server-http.cpp).

* Listens while loading; every endpoint answers 503 ``{"error": {"message": "Loading
  model", "type": "unavailable_error", "code": 503}}`` until ready, then ``/health`` gives
  ``{"status": "ok"}``.
* ``/metrics`` only with ``--metrics`` (else 501 ``not_supported_error``): eleven unlabelled
  ``llamacpp:*`` series printed with C++ stream formatting (``%g``). Prompt tokens are
  counted as they are evaluated, cached prompt tokens apart; generated tokens and their
  time when a request ends; ``prompt_tokens_seconds``/``predicted_tokens_seconds`` average
  over the window since the previous scrape (reset by each scrape). ``version="old"``
  gives a mid-2025 page instead: ``n_past_max`` and the since-removed
  ``kv_cache_usage_ratio``/``kv_cache_tokens``, no ``prompt_tokens_cached_total``.
* ``/slots`` (unless ``--no-slots``: 501): per slot ``id, n_ctx, speculative,
  is_processing``, and once used ``id_task, n_prompt_tokens`` (tokens its cache holds,
  generated included; an idle slot keeps them), ``n_prompt_tokens_processed``,
  ``n_prompt_tokens_cache``, ``params``, ``next_token``. Without ``-np`` there are 4 slots
  sharing one unified pool (each reports the whole ``n_ctx``); ``-np N`` splits it.
* ``/props`` with ``default_generation_settings.n_ctx`` and ``total_slots``.

Run: ``python -m tests.doubles.engines.llamacpp -m MODEL.gguf --port N [--metrics] [-np N]``.
"""

from __future__ import annotations

import argparse
import sys
import time

from aiohttp import web

from tests.doubles.engines.base import FakeEngine, serve_forever
from tests.doubles.engines.sim import StepStats

NOT_SUPPORTED = "This server does not support {what} endpoint. Start it with `--{flag}`"


def _err(message: str, kind: str, code: int) -> web.Response:
    return web.json_response({"error": {"code": code, "message": message, "type": kind}},
                             status=code)


class LlamaCppFake(FakeEngine):
    kind = "llamacpp"
    owned_by = "llamacpp"
    listen_while_loading = True

    def __init__(self, *, metrics: bool = True, slots: bool = True, n_ctx: int = 4096,
                 n_parallel: int | None = None, version: str = "new", **kw) -> None:
        self.unified = n_parallel is None
        self.n_slots = 4 if n_parallel is None else n_parallel
        kw.update(block_size=1, total_blocks=n_ctx, max_running=self.n_slots)
        super().__init__(**kw)
        self.metrics_on, self.slots_on, self.n_ctx, self.version = metrics, slots, n_ctx, version
        self.slot_ctx = n_ctx if self.unified else n_ctx // self.n_slots
        self.slots: list[dict] = [{"id": i, "n_ctx": self.slot_ctx, "speculative": False,
                                   "is_processing": False} for i in range(self.n_slots)]
        self.slot_of: dict[int, int] = {}
        self.m = {"prompt": 0.0, "prompt_t": 0.0, "cached": 0.0, "predict": 0.0, "predict_t": 0.0,
                  "n_decode": 0.0, "n_busy": 0.0, "n_tokens_max": 0.0}
        self.bucket = {"prompt": 0.0, "prompt_t": 0.0, "predict_steps": 0.0, "predict_t": 0.0}
        self.t_start = int(time.time())

    def add_routes(self, app: web.Application) -> None:
        @web.middleware
        async def loading(request: web.Request, handler):
            if not self.ready:
                return _err("Loading model", "unavailable_error", 503)
            return await handler(request)

        app.middlewares.append(loading)
        app.router.add_get("/health", self.health)
        app.router.add_get("/metrics", self.metrics)
        app.router.add_get("/slots", self.slots_route)
        app.router.add_get("/props", self.props)

    async def health(self, request: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    # ---- telemetry ----------------------------------------------------------------------
    def on_step(self, st: StepStats) -> None:
        m, b = self.m, self.bucket
        for req in st.admitted:
            free = [s for s in self.slots if not s["is_processing"]]
            slot = free[0] if free else self.slots[0]
            self.slot_of[req.rid] = slot["id"]
            slot.update(is_processing=True, id_task=req.rid, n_prompt_tokens=req.cached_tokens,
                        n_prompt_tokens_processed=0, n_prompt_tokens_cache=req.cached_tokens,
                        params={"n_predict": req.max_tokens, "stream": req.stream})
            m["cached"] += req.cached_tokens
        m["prompt"] += st.context_tokens
        m["prompt_t"] += st.latency_s if st.context_tokens else 0.0
        b["prompt"] += st.context_tokens
        b["prompt_t"] += st.latency_s if st.context_tokens else 0.0
        m["n_decode"] += 1
        m["n_busy"] += st.running + len(st.finished)
        for req in self.sim.running + st.finished:
            slot = self.slots[self.slot_of.get(req.rid, 0)]
            if slot.get("id_task") == req.rid:
                slot["n_prompt_tokens"] = req.done_prompt + (1 if req.generated else 0)
                slot["n_prompt_tokens_processed"] = req.done_prompt - req.cached_tokens
                slot["next_token"] = [{"has_next_token": req.finished_at is None, "has_new_line": False,
                                       "n_remain": req.max_tokens - req.generated,
                                       "n_decoded": req.generated}]
                m["n_tokens_max"] = max(m["n_tokens_max"], slot["n_prompt_tokens"])
        for req in st.finished:
            slot = self.slots[self.slot_of.pop(req.rid, 0)]
            slot["is_processing"] = False
            t_gen = (req.last_token_at or req.finished_at) - (req.first_token_at or req.finished_at)
            m["predict"] += req.generated
            m["predict_t"] += t_gen
            b["predict_steps"] += max(0, req.generated - 1)
            b["predict_t"] += t_gen

    def render_metrics(self) -> str:
        m, b = self.m, self.bucket
        counters = [("prompt_tokens_total", "Number of prompt tokens processed, excluding cached tokens",
                     m["prompt"])]
        if self.version != "old":
            counters.append(("prompt_tokens_cached_total", "Number of prompt tokens reused from the "
                             "cache", m["cached"]))
        counters += [("prompt_seconds_total", "Total time spent processing prompts", m["prompt_t"]),
                     ("tokens_predicted_total", "Number of generation tokens processed", m["predict"]),
                     ("tokens_predicted_seconds_total", "Total time spent generating tokens",
                      m["predict_t"]),
                     ("n_decode_total", "Total number of llama_decode() calls, excluding speculative "
                      "decoding and multimodal decoding", m["n_decode"])]
        if self.version == "old":
            counters.append(("n_past_max", "Largest observed n_past.", m["n_tokens_max"]))
        else:
            counters += [("n_tokens_max", "Largest observed sequence length (prompt + generation)",
                          m["n_tokens_max"]),
                         ("spec_decode_num_draft_tokens_total", "Speculative: Total draft tokens "
                          "generated", 0.0),
                         ("spec_decode_num_accepted_tokens_total", "Speculative: Total draft tokens "
                          "accepted by the target model", 0.0),
                         ("spec_decode_num_drafts_total", "Speculative: Total speculative decoding "
                          "verification steps", 0.0)]
        used = sum(s.get("n_prompt_tokens", 0) for s in self.slots)
        gauges = [("prompt_tokens_seconds", "Average prompt throughput in tokens/s",
                   b["prompt"] / b["prompt_t"] if b["prompt_t"] else 0.0),
                  ("predicted_tokens_seconds", "Average generation throughput in tokens/s",
                   b["predict_steps"] / b["predict_t"] if b["predict_t"] else 0.0)]
        if self.version == "old":
            gauges += [("kv_cache_usage_ratio", "KV-cache usage. 1 means 100 percent usage.",
                        used / self.n_ctx), ("kv_cache_tokens", "KV-cache tokens.", used)]
        gauges += [("requests_processing", "Number of requests processing", len(self.sim.running)),
                   ("requests_deferred", "Number of requests deferred", len(self.sim.waiting)),
                   ("n_busy_slots_per_decode", "Average number of busy slots per llama_decode() call",
                    m["n_busy"] / max(m["n_decode"], 1.0))]
        lines = []
        for kind, items in (("counter", counters), ("gauge", gauges)):
            for name, doc, v in items:
                lines += [f"# HELP llamacpp:{name} {doc}", f"# TYPE llamacpp:{name} {kind}",
                          f"llamacpp:{name} {v:g}"]
        self.bucket = dict.fromkeys(self.bucket, 0.0)  # each scrape starts a new window
        return "\n".join(lines) + "\n"

    async def metrics(self, request: web.Request) -> web.Response:
        if not self.metrics_on:
            return _err(NOT_SUPPORTED.format(what="metrics", flag="metrics"), "not_supported_error", 501)
        return web.Response(text=self.render_metrics(), content_type="text/plain",
                            headers={"Process-Start-Time-Unix": str(self.t_start)})

    async def slots_route(self, request: web.Request) -> web.Response:
        if not self.slots_on:
            return _err(NOT_SUPPORTED.format(what="slots", flag="slots"), "not_supported_error", 501)
        return web.json_response(self.slots)

    async def props(self, request: web.Request) -> web.Response:
        return web.json_response({"default_generation_settings": {"n_ctx": self.slot_ctx, "params": {}},
                                  "total_slots": self.n_slots, "model_path": self.model,
                                  "endpoint_slots": self.slots_on, "endpoint_metrics": self.metrics_on,
                                  "build_info": "b11434-fake", "is_sleeping": False})

    # ---- logs ---------------------------------------------------------------------------
    def _t(self) -> str:
        t = time.monotonic() - getattr(self, "_t0", time.monotonic())
        return f"{int(t // 60)}.{int(t % 60):02d}.{int(t * 1000) % 1000:03d}.{int(t * 1e6) % 1000:03d}"

    def startup_lines(self) -> list[str]:
        self._t0 = time.monotonic()
        unified = "true" if self.unified else "false"
        return [  # the default verbosity of build 11434 (tests/data/llamacpp-b11434-server.log)
            f"{self._t()} I srv  llama_server: initializing ...",
            f"{self._t()} I srv    load_model: loading model '{self.model}'",
            f"{self._t()} I cmn          init: llama threadpool init, n_threads = 2",
            f"{self._t()} I srv    load_model: initializing, n_slots = {self.n_slots}, n_ctx_slot = "
            f"{self.slot_ctx}, kv_unified = '{unified}'",
        ]

    def ready_lines(self) -> list[str]:
        return [f"{self._t()} I srv  llama_server: model loaded",
                f"{self._t()} I srv  llama_server: listening on http://{self.host}:{self.port}"]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="llama-server")
    ap.add_argument("-m", "--model", default="model.gguf")
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=8080)
    ap.add_argument("--metrics", action="store_true")
    ap.add_argument("--no-slots", action="store_true")
    ap.add_argument("-c", "--ctx-size", type=int, default=4096)
    ap.add_argument("-np", "--parallel", type=int, default=-1)
    ap.add_argument("--load-s", type=float, default=1.0)
    args, _ = ap.parse_known_args(argv)
    serve_forever(LlamaCppFake(host=args.host, port=args.port, model=args.model, load_s=args.load_s,
                               metrics=args.metrics, slots=not args.no_slots, n_ctx=args.ctx_size,
                               n_parallel=None if args.parallel < 0 else args.parallel))
    return 0


if __name__ == "__main__":
    sys.exit(main())
