"""Scrape a Prometheus text endpoint with aiohttp and turn it into typed records.

``Scraper.scrape(url)``: one bounded GET (connect and total timeouts, a body cap read in
chunks) -> ``ScrapeResult`` with a ``Frame`` of ``Sample``s named as on the wire
(``vllm:generation_tokens_total``, ``..._bucket`` with ``le``) and ``Event``s explaining any
trouble; it never raises for network, HTTP or format trouble.
``parse_text`` cuts the page into family blocks at ``# HELP``/``# TYPE`` lines, drops unwanted
families as text, reads the rest with a strict fast path and hands any block it does not
fully understand to ``prometheus_client`` (~40 us/sample: 20 ms for a vLLM page); a block
that parser rejects is skipped alone and named in an event.
Decisions: ``*_created`` stamps are dropped. NaN/+-Inf stay floats; a non-finite counter,
``_sum``, ``_count`` or bucket is reported (it poisons rates), gauges and quantiles are not
(SQLite stores NaN as NULL). Events are edge-triggered per URL (reported when a condition
appears, ``scrape_recovered`` after a failure); ``ScrapeResult.error`` is always this
scrape's reason. ``Frame.ts`` is when the headers arrived (exposition timestamps are
ignored). ``Accept-Encoding: identity``: on localhost gzip only burns CPU on both ends.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import aiohttp
from prometheus_client.parser import text_string_to_metric_families

from collectors.records import Event, Frame, Labels, Sample

DEFAULT_MAX_BYTES = 8 * 1024 * 1024
DEFAULT_TIMEOUT_S = 2.0
DEFAULT_CONNECT_TIMEOUT_S = 1.0
_CHUNK, _ERROR_BODY_BYTES = 64 * 1024, 2048
_HEADERS = {"Accept": "text/plain;version=0.0.4;q=1,*/*;q=0.1", "Accept-Encoding": "identity",
            "User-Agent": "iejtui-scraper"}

KeepFn = Callable[[str], bool]
_NAME_RE = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")
_LABELS_RE = re.compile(r'(?:[a-zA-Z_]\w*="[^"\\]*",)*(?:[a-zA-Z_]\w*="[^"\\]*")?', re.A)
_PAIR_RE = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="([^"\\]*)"')
_COUNTING_TYPES = frozenset({"counter", "histogram", "summary"})
_COUNTED = ("_total", "_sum", "_count", "_bucket")


@dataclass(slots=True)
class ParsedPage:
    """What ``parse_text`` found in one exposition page."""
    samples: list[Sample] = field(default_factory=list)
    families: int = 0  # family blocks kept
    dropped: int = 0  # family blocks dropped by the filter or as ``_created``
    broken: list[str] = field(default_factory=list)  # families skipped on parse errors
    non_finite: list[str] = field(default_factory=list)  # counting families with NaN/Inf


@dataclass(slots=True)
class _Block:  # one family: text[lo:hi]; name None for samples before any header
    name: str | None
    typ: str
    lo: int
    hi: int = 0


# Label strings and names repeat scrape after scrape: validate and sort each one once.
_LABELS: dict[str, Labels] = {}
_NAMES: set[str] = set()
_CACHE_MAX = 50_000  # entries; cleared beyond that (an exporter with runaway labels)


def _split_blocks(text: str) -> list[_Block]:
    """Cut the page at HELP/TYPE lines, visiting only comment lines (``str.find``)."""
    cur = _Block(None, "untyped", 0)
    blocks = [cur]
    start = 0 if text.startswith("#") else (text.find("\n#") + 1 or -1)
    while start >= 0:
        end = text.find("\n", start)
        end = len(text) if end < 0 else end
        parts = text[start:end].split(None, 3)
        if len(parts) > 2 and parts[1] in ("HELP", "TYPE"):
            if cur.name != parts[2]:
                cur.hi = start
                cur = _Block(parts[2], "untyped", start)
                blocks.append(cur)
            if parts[1] == "TYPE" and len(parts) > 3:
                cur.typ = parts[3].strip()
        start = text.find("\n#", end)
        start = start + 1 if start >= 0 else -1
    cur.hi = len(text)
    if not text[: blocks[0].hi].strip():
        del blocks[0]
    return blocks


def _counting_bases(blocks: list[_Block]) -> set[str]:
    """Names ``X`` whose ``X_created`` series are creation stamps (to be dropped)."""
    names = {b.name for b in blocks if b.name and b.typ in _COUNTING_TYPES}
    return names | {n[:-6] for n in names if n.endswith("_total")}


@dataclass(slots=True)
class _Ctx:
    keep: KeepFn | None
    bases: set[str]
    non_finite: bool = False  # set by the fast path for the block it just read

    def wanted(self, name: str, fam: str | None, counting: bool) -> bool:
        if name.endswith("_created") and (counting or name[:-8] in self.bases):
            return False
        if fam is not None and name.startswith(fam):
            return True  # the block's family was already accepted
        return self.keep is None or self.keep(name)  # a stray sample: judge it alone


def _fast_block(body: str, block: _Block, ctx: _Ctx, out: list[Sample]) -> bool:
    """Strict fast path (~10x prometheus_client's speed); False: use prometheus_client."""
    fam = block.name or "\0"
    counting = block.typ in _COUNTING_TYPES
    check = block.name is not None and block.typ != "gauge"
    if len(_LABELS) > _CACHE_MAX or len(_NAMES) > _CACHE_MAX:
        _LABELS.clear(), _NAMES.clear()
    new: list[Sample] = []
    for line in body.split("\n"):
        if not line or line[0] == "#" or line.isspace():
            continue
        i = line.find("{")
        if i >= 0:
            j = line.rfind("}")
            name, raw_labels, rest = line[:i], line[i + 1 : j], line[j + 1 :].split()
            if j < i or line[j + 1 : j + 2] not in (" ", "\t"):
                return False
        else:
            rest = line.split()
            name, raw_labels = rest.pop(0), ""
        if not 0 < len(rest) < 3 or "_" in rest[0]:
            return False
        if name not in _NAMES:
            if _NAME_RE.fullmatch(name) is None:
                return False
            _NAMES.add(name)
        try:
            value, _ = float(rest[0]), len(rest) == 1 or int(rest[1])
        except ValueError:
            return False
        if (name.endswith("_created") or not name.startswith(fam)) and not ctx.wanted(
                name, block.name, counting):
            continue
        if check and value - value != 0 and (  # x - x != 0 only for NaN and +-Inf
                block.typ == "counter" or name.endswith(_COUNTED)):
            ctx.non_finite = True
        if raw_labels:
            labels = _LABELS.get(raw_labels)
            if labels is None:
                if _LABELS_RE.fullmatch(raw_labels.rstrip(",")) is None:
                    return False
                labels = _LABELS[raw_labels] = tuple(sorted(_PAIR_RE.findall(raw_labels)))
        else:
            labels = ()
        new.append(Sample(name, value, labels))
    out.extend(new)
    return True


def _slow_block(body: str, block: _Block, ctx: _Ctx) -> list[Sample]:
    """prometheus_client's parser for one block; raises on text it rejects."""
    out: list[Sample] = []
    strip_total = block.typ == "counter" and not (block.name or "").endswith("_total")
    counting = block.typ in _COUNTING_TYPES
    for fam in text_string_to_metric_families(body):
        for s in fam.samples:
            name = s.name
            if fam.type == "counter" and strip_total and name.endswith("_total"):
                name = name[:-6]  # the parser appends _total; keep the wire name
            if ctx.wanted(name, block.name, counting):
                out.append(Sample(name, float(s.value), tuple(sorted(s.labels.items()))))
    ctx.non_finite = block.name is not None and block.typ != "gauge" and any(
        x.value - x.value != 0 and (block.typ == "counter" or x.name.endswith(_COUNTED))
        for x in out)
    return out


def parse_text(text: str, keep: KeepFn | None = None) -> ParsedPage:
    """Samples of the families ``keep(name)`` accepts; ``name`` as in ``# HELP``/``# TYPE``
    (vLLM counters: with ``_total``); headerless samples are judged by their own name."""
    page = ParsedPage()
    blocks = _split_blocks(text)
    ctx = _Ctx(keep, _counting_bases(blocks))
    for b in blocks:
        if b.name is not None and ((b.name.endswith("_created") and b.name[:-8] in ctx.bases)
                                   or (keep is not None and not keep(b.name))):
            page.dropped += 1
            continue
        body, ctx.non_finite = text[b.lo : b.hi], False
        if not _fast_block(body, b, ctx, page.samples):
            ctx.non_finite = False
            if b.name is None:  # headerless samples are independent: salvage line by line
                for line in (x for x in body.split("\n") if x.strip() and x.strip()[0] != "#"):
                    try:
                        page.samples.extend(_slow_block(line + "\n", b, ctx))
                    except Exception:  # noqa: BLE001 - the parser raises several types
                        page.broken.append(line.strip()[:60])
            else:
                try:
                    page.samples.extend(_slow_block(body, b, ctx))
                except Exception:  # noqa: BLE001 - skip only this family
                    page.broken.append(b.name)
                    continue
        page.families += 1
        if ctx.non_finite:
            page.non_finite.append(b.name)
    return page


THREAD_PARSE_BYTES = 256 * 1024


@dataclass(slots=True)
class ScrapeResult:
    """One scrape: a frame when the page was read, events explaining any trouble."""
    url: str
    frame: Frame | None
    events: list[Event]
    duration_s: float
    bytes: int = 0
    status: int | None = None
    error: str | None = None  # reason code when frame is None: refused, timeout, ...
    parse_s: float = 0.0
    families: int = 0
    dropped: int = 0
    frames: list[Frame] = field(default_factory=list)  # more frames to store (other sources)

    @property
    def ok(self) -> bool:
        return self.frame is not None


class _Failure(Exception):
    def __init__(self, reason: str, message: str, **data: object) -> None:
        super().__init__(message)
        self.reason, self.message, self.data = reason, message, data


class Scraper:
    """Holds one aiohttp session; scrapes are bounded and never overlap per URL."""

    def __init__(self, *, timeout_s: float = DEFAULT_TIMEOUT_S,
                 connect_timeout_s: float = DEFAULT_CONNECT_TIMEOUT_S,
                 max_bytes: int = DEFAULT_MAX_BYTES, source: str = "engine",
                 repeat_events: bool = False) -> None:
        self.timeout_s, self.connect_timeout_s = timeout_s, connect_timeout_s
        self.max_bytes, self.source, self.repeat_events = max_bytes, source, repeat_events
        self._session: aiohttp.ClientSession | None = None
        self._in_flight: set[str] = set()
        self._failing: set[str] = set()
        self._last_keys: dict[str, set[tuple]] = {}  # url -> conditions reported last time

    async def session(self) -> aiohttp.ClientSession:
        """The shared session, created on first use (``trust_env`` off: no proxies)."""
        if self._session is None or self._session.closed:
            timeout = aiohttp.ClientTimeout(sock_connect=self.connect_timeout_s)
            self._session = aiohttp.ClientSession(headers=_HEADERS, timeout=timeout)
        return self._session

    def in_flight(self, url: str) -> bool:
        return url in self._in_flight

    async def aclose(self) -> None:
        if self._session is not None and not self._session.closed:
            await self._session.close()
        self._session = None

    async def __aenter__(self) -> Scraper:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def scrape(self, url: str, *, keep: KeepFn | None = None,
                     source: str | None = None) -> ScrapeResult:
        """GET ``url`` once and parse it; refuses while a scrape of ``url`` is running."""
        t0 = time.perf_counter()
        if url in self._in_flight:
            ev = Event(time.time(), "scrape_busy", f"{url}: previous scrape still running",
                       "warning", {"url": url, "reason": "busy"})
            return ScrapeResult(url, None, [ev], 0.0, error="busy")
        self._in_flight.add(url)
        try:
            res = ScrapeResult(url, None, [], 0.0)
            raw = await self._scrape(url, keep, source or self.source, res)
            res.duration_s, res.events = time.perf_counter() - t0, self._edge_events(
                url, raw, res.error is None)
            return res
        finally:
            self._in_flight.discard(url)

    async def _scrape(self, url: str, keep: KeepFn | None, source: str,
                      res: ScrapeResult) -> list[tuple[str, str, str, dict]]:
        """This scrape's conditions as (kind, level, message, data), before edge filtering."""
        try:
            body, ts, ctype = await self._fetch(url, res)
        except _Failure as f:
            res.error = f.reason
            return [("scrape_failed", "error", f"{url}: {f.message}",
                     {"reason": f.reason, **f.data})]
        raw: list[tuple[str, str, str, dict]] = []

        def warn(reason: str, message: str, **data: object) -> None:
            raw.append(("scrape_warning", "warning", f"{url}: {message}",
                        {"reason": reason, **data}))

        res.bytes = len(body)
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError as e:
            text = body.decode("utf-8", errors="replace")
            warn("decode", f"body is not valid UTF-8 (first bad byte at offset {e.start}); "
                 "decoded with replacement characters")
        p0 = time.perf_counter()
        # a large page is parsed off the event loop, so other targets keep their schedule
        page = (parse_text(text, keep) if len(body) < THREAD_PARSE_BYTES
                else await asyncio.to_thread(parse_text, text, keep))
        res.parse_s = time.perf_counter() - p0
        res.families, res.dropped = page.families, page.dropped
        res.frame = Frame(source, ts, page.samples)
        if page.broken:
            names = ", ".join(page.broken[:8]) + (" ..." if len(page.broken) > 8 else "")
            warn("parse", f"skipped {len(page.broken)} unparseable family block(s)/line(s): "
                 f"{names}", families=page.broken[:50])
        for fam in page.non_finite:
            warn("non_finite", f"{fam} has NaN/Inf values (kept; its rates are undefined)",
                 family=fam)
        c = ctype.lower()
        if not page.samples and not page.dropped and c and "text/plain" not in c and (
                "openmetrics" not in c):
            warn("content_type", f"no metrics parsed; content type is {ctype!r}", content_type=c)
        elif not page.samples and not page.dropped and not page.broken:
            warn("empty", "page has no samples")
        return raw

    async def _fetch(self, url: str, res: ScrapeResult) -> tuple[bytes, float, str]:
        received, phase = 0, "waiting for response headers"
        try:
            async with asyncio.timeout(self.timeout_s):
                session = await self.session()
                async with session.get(url, allow_redirects=False) as resp:
                    ts, res.status = time.time(), resp.status
                    ctype = resp.headers.get("Content-Type", "")
                    if resp.status != 200:
                        snippet = await resp.content.read(_ERROR_BODY_BYTES)
                        text = snippet.decode("utf-8", errors="replace").strip()[:200]
                        raise _Failure("http_status", f"HTTP {resp.status} {resp.reason or ''}"
                                       .strip() + (f": {text}" if text else ""),
                                       status=resp.status)
                    length = resp.content_length
                    if length is not None and length > self.max_bytes:
                        resp.close()
                        raise _Failure("too_large", f"body exceeds {self.max_bytes} bytes "
                                       f"(Content-Length {length})", limit=self.max_bytes)
                    phase, chunks = "reading the body", []
                    async for chunk in resp.content.iter_chunked(_CHUNK):
                        received += len(chunk)
                        if received > self.max_bytes:
                            resp.close()  # drop the connection: never drain a huge body
                            raise _Failure("too_large", f"body exceeds {self.max_bytes} bytes;"
                                           " aborted", limit=self.max_bytes)
                        chunks.append(chunk)
                    return b"".join(chunks), ts, ctype
        except aiohttp.ConnectionTimeoutError:
            raise _Failure("connect_timeout",
                           f"no connection in {self.connect_timeout_s:g} s") from None
        except TimeoutError:
            done = f", {received} bytes read" if received else ""
            raise _Failure("timeout", f"timed out after {self.timeout_s:g} s {phase}{done}",
                           bytes=received) from None
        except aiohttp.ClientConnectorError as e:  # includes DNS failures
            reason = ("refused" if isinstance(e.os_error, ConnectionRefusedError) else
                      "dns" if isinstance(e, aiohttp.ClientConnectorDNSError) else "connect")
            raise _Failure(reason, f"cannot connect ({reason}): "
                           f"{e.os_error.strerror or e.os_error}") from None
        except (aiohttp.ServerDisconnectedError, aiohttp.ClientPayloadError,
                ConnectionResetError) as e:
            raise _Failure("disconnected", f"connection closed by the server while {phase}: "
                           f"{type(e).__name__}: {e}") from None
        except (aiohttp.InvalidURL, aiohttp.NonHttpUrlClientError, ValueError) as e:
            raise _Failure("bad_url", f"invalid URL: {e}") from None
        except (aiohttp.ClientError, OSError) as e:
            raise _Failure("network", f"{type(e).__name__}: {e}") from None

    def _edge_events(self, url: str, raw: list[tuple], ok: bool) -> list[Event]:
        """Report each condition when it appears, not on every scrape while it lasts."""
        now, keys, events = time.time(), set(), []
        previous = self._last_keys.get(url, set())
        for kind, level, message, data in raw:
            key = (kind, data.get("reason"), data.get("family"), data.get("status"),
                   tuple(data.get("families", ())))
            keys.add(key)
            if self.repeat_events or key not in previous:
                events.append(Event(now, kind, message, level, {"url": url, **data}))
        if ok and url in self._failing:
            events.append(Event(now, "scrape_recovered", f"{url}: scrapes succeed again",
                                "info", {"url": url}))
        (self._failing.discard if ok else self._failing.add)(url)
        self._last_keys[url] = keys
        return events

