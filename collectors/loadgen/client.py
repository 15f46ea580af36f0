"""OpenAI streaming client: one pooled aiohttp session, chunks stamped on arrival.

The hot path does as little as possible per read: ``perf_counter()`` and two list
appends.  Splitting the bytes into SSE events, JSON decoding and classifying chunks
happen once per request after its stream ends (``parse_stream``, a pure function), so
the event loop gets back to the sockets quickly and arrival stamps stay honest.  Every
event is stamped with the arrival time of the read that completed it (several events
in one read share that read's time: that is when the client could first see them).

Chunk semantics follow vLLM 0.32's ``endpoint_request_func``: a chunk with a non-empty
``choices`` list is a token chunk (its text may be empty); the first one gives TTFT, the
gaps between consecutive ones are the ITLs, the last one ends E2EL; a chunk without
choices but with ``usage`` gives ``completion_tokens``/``prompt_tokens``; ``[DONE]``
and ``:`` comments are skipped.  A request succeeds only with HTTP 200, at least one
token chunk, valid JSON in every data event and a stream that ended cleanly.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from time import perf_counter

import aiohttp
from yarl import URL

from .sse import ParsedStream, parse_stream, split_events  # noqa: F401  (re-exported)
from .triton import TRT, parse_trt_stream


@dataclass(slots=True)
class RequestRecord:
    """One request of a run; times are ``time.perf_counter()`` seconds."""

    index: int
    request_id: str = ""
    prompt_len: int = 0  # dataset value, replaced by usage.prompt_tokens when sent
    expected_output_len: int = 0
    sched_time: float = 0.0  # when the arrival schedule wanted it sent
    dispatch_time: float = 0.0  # when the dispatcher released it (before the semaphore)
    ready_time: float = 0.0  # max(sched_time, the moment a concurrency slot was free)
    send_time: float = 0.0  # just before the POST (vLLM's start_time)
    end_time: float = 0.0  # stream closed
    success: bool = False
    ttft: float = 0.0
    latency: float = 0.0  # E2EL: last token chunk - send_time
    chunk_times: list[float] = field(default_factory=list)  # token chunk arrivals
    output_tokens: int = 0  # usage.completion_tokens (0: the server sent none)
    http_status: int = 0
    error: str = ""
    error_kind: str = ""  # connect|http|timeout|stream_cut|bad_json|no_token|server_error|cancelled|other
    generated_text: str = ""
    bytes_received: int = 0
    worker: int = 0
    warmup: bool = False

    @property
    def itl(self) -> list[float]:
        ct = self.chunk_times
        return [ct[i] - ct[i - 1] for i in range(1, len(ct))]

    @property
    def queue_time(self) -> float:
        """vLLM's client_queue_time: waiting for the concurrency semaphore."""
        return self.send_time - self.dispatch_time

    @property
    def send_lag(self) -> float:
        """How late the client sent it once it could be sent (schedule and slot allowing)."""
        return self.send_time - self.ready_time


def finish_record(rec: RequestRecord, times: list[float], reads: list[bytes], chat: bool | str,
                  keep_text: bool = True) -> None:
    """Fill ``rec`` from the raw reads of a 200 response whose stream ended cleanly.

    ``chat`` is the stream kind: True (chat chunks), False (completions chunks) or
    ``triton.TRT`` (Triton ``generate_stream`` events, ``--backend tensorrt-llm``)."""
    if not reads:
        rec.error_kind, rec.error = "no_token", "empty response body"
        return
    ps = parse_trt_stream(times, reads, keep_text) if chat == TRT else \
        parse_stream(times, reads, bool(chat), keep_text)
    rec.chunk_times = ps.chunk_times
    rec.generated_text = ps.text
    rec.output_tokens = ps.output_tokens
    if ps.prompt_tokens is not None:
        rec.prompt_len = ps.prompt_tokens
    if ps.error:
        rec.error_kind, rec.error = ps.error_kind, ps.error
        return
    if not ps.chunk_times:
        rec.error_kind = "no_token"
        rec.error = "Never received a valid chunk to calculate TTFT."
        return
    rec.ttft = ps.chunk_times[0] - rec.send_time
    rec.latency = ps.chunk_times[-1] - rec.send_time
    rec.success = True


def classify_exception(exc: BaseException, got_bytes: bool) -> tuple[str, str]:
    """(error_kind, one-line reason) for an exception raised by a request."""
    text = str(exc) or type(exc).__name__
    if isinstance(exc, aiohttp.ClientConnectorError):
        return "connect", f"unreachable: {text}"
    if isinstance(exc, (asyncio.TimeoutError, TimeoutError)):
        what = "no data on the stream" if got_bytes else "no response"
        return "timeout", f"timeout ({what}): {type(exc).__name__} {text}".strip()
    if isinstance(exc, (aiohttp.ClientPayloadError, aiohttp.ServerDisconnectedError)):
        if got_bytes or isinstance(exc, aiohttp.ClientPayloadError):
            return "stream_cut", f"stream cut mid-way: {text}"
        return "connect", f"server disconnected before answering: {text}"
    if isinstance(exc, aiohttp.ClientOSError):
        return "connect", f"connection error: {text}"
    return "other", f"{type(exc).__name__}: {text}"


class StreamClient:
    """A pooled session for one event loop.  ``async with StreamClient(...) as c``."""

    def __init__(self, api_url: str, headers: dict[str, str], chat: bool | str, limit: int,
                 request_timeout: float, read_timeout: float | None = None):
        self.url = URL(api_url)
        self.headers = {"Content-Type": "application/json", **headers}
        self.chat = chat
        self.limit = max(1, limit)
        self.timeout = aiohttp.ClientTimeout(total=request_timeout, sock_read=read_timeout)
        self.session: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> StreamClient:
        conn = aiohttp.TCPConnector(limit=self.limit, limit_per_host=self.limit,
                                    keepalive_timeout=60, ttl_dns_cache=300)
        self.session = aiohttp.ClientSession(connector=conn, timeout=self.timeout,
                                             cookie_jar=aiohttp.DummyCookieJar(),
                                             read_bufsize=1 << 18)
        return self

    async def __aexit__(self, *exc) -> None:
        if self.session is not None:
            await self.session.close()

    async def fetch(self, rec: RequestRecord, body: bytes, headers: dict[str, str] | None = None
                    ) -> tuple[list[float], list[bytes]] | None:
        """POST ``body`` and collect the answer's reads with their arrival stamps.

        Returns ``(times, reads)`` for an HTTP 200 stream that ended cleanly (to be parsed
        by ``finish_record``), else None with ``rec`` marked failed.  Never raises,
        except ``CancelledError`` after marking ``rec`` cancelled."""
        assert self.session is not None
        times: list[float] = []
        reads: list[bytes] = []
        tapp, rapp = times.append, reads.append
        rec.send_time = perf_counter()
        try:
            async with self.session.post(self.url, data=body,
                                         headers=headers or self.headers) as resp:
                rec.http_status = resp.status
                if resp.status != 200:
                    detail = (await resp.content.read(300)).decode("utf-8", "replace")
                    rec.end_time = perf_counter()
                    rec.error_kind = "http"
                    rec.error = f"HTTP {resp.status} {resp.reason or ''}: {detail}".strip()
                    return None
                readany = resp.content.readany
                while True:
                    data = await readany()
                    if not data:
                        break
                    tapp(perf_counter())
                    rapp(data)
        except asyncio.CancelledError:
            rec.end_time = perf_counter()
            rec.error_kind, rec.error = "cancelled", "cancelled before the stream ended"
            raise
        except Exception as exc:  # every other failure is a failed request, the run goes on
            rec.end_time = perf_counter()
            rec.error_kind, rec.error = classify_exception(exc, bool(reads))
            rec.bytes_received = sum(map(len, reads))
            return None
        rec.end_time = perf_counter()
        rec.bytes_received = sum(map(len, reads))
        return times, reads

    async def send(self, rec: RequestRecord, body: bytes, headers: dict[str, str] | None = None
                   ) -> RequestRecord:
        """``fetch`` and parse at once (warm-ups, readiness checks, tests)."""
        raw = await self.fetch(rec, body, headers)
        if raw is not None:
            finish_record(rec, raw[0], raw[1], self.chat)
        return rec


class DeferredParser:
    """Parses finished streams in its own task, one per event-loop turn, so that sends
    and arrival stamps of the other streams are never queued behind parsing work.

    ``submit`` waits while ``maxsize`` streams are already waiting (bounded memory; a
    lane blocked here shows up as send lag, i.e. as a client bottleneck)."""

    def __init__(self, chat: bool | str, on_done: Callable[[RequestRecord], None], maxsize: int,
                 keep_text: bool = True):
        self.chat, self.on_done, self.keep_text = chat, on_done, keep_text
        self.queue: asyncio.Queue = asyncio.Queue(max(1, maxsize))
        self.task = asyncio.ensure_future(self._run())

    async def submit(self, rec: RequestRecord, times: list[float], reads: list[bytes]) -> None:
        await self.queue.put((rec, times, reads))

    async def _run(self) -> None:
        q, chat, on_done, keep = self.queue, self.chat, self.on_done, self.keep_text
        while True:
            rec, times, reads = await q.get()
            try:
                finish_record(rec, times, reads, chat, keep)
                on_done(rec)
            finally:
                q.task_done()
            await asyncio.sleep(0)  # let ready I/O run before the next stream

    async def drain(self) -> None:
        await self.queue.join()

    async def close(self) -> None:
        self.task.cancel()
        try:
            await self.task
        except asyncio.CancelledError:
            pass
