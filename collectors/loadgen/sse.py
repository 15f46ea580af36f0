"""SSE stream parsing for OpenAI streaming responses, done once per response.

``parse_stream(times, reads, chat)`` takes the raw reads of one response and the
``perf_counter`` stamp of each read.  Every event gets the stamp of the read that
completed it.  Chunk semantics are vLLM 0.32's (see ``client``).

Two paths give the same result (tests compare them on random streams):

* fast path, for the usual well-formed stream (``data: {json}\\n\\n`` events, LF line
  ends, single-line data): the whole body becomes one JSON array with one
  ``bytes.replace`` and is decoded with one ``json.loads`` call.  Before that, a
  *template* taken from the first token chunk removes the byte-identical members that
  surround the token text in every chunk (``"id"``, ``"object"``, ``"created"``,
  ``"model"``, ``"index"``, ``"logprobs"``, ``"finish_reason"``...): the first chunk
  is decoded in full, so those bytes are known to be valid JSON members, and a chunk
  that differs anywhere keeps its bytes and is decoded in full.  Invalid JSON is
  therefore still detected in every chunk, at a third of the decoding cost;
* generic path: any SSE (CRLF/CR line ends, comments, multi-line data, a trailing
  event without a blank line); it also locates the first bad chunk for the error.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

# A blank line ends an SSE event; line ends are CRLF, LF or CR (atomic groups keep a
# CRLF from being read as two line ends).
_SEP_RE = re.compile(rb"(?>\r\n|\r|\n)(?>\r\n|\r|\n)")
_TOKEN_RE = re.compile(rb'\s*("(?:[^"\\]|\\.)*"|[{}\[\]:,]|[^\s{}\[\]:,"]+)')
_STRING_RE = re.compile(rb'"(?:[^"\\]|\\.)*"')


@dataclass(slots=True)
class ParsedStream:
    chunk_times: list[float] = field(default_factory=list)
    text: str = ""
    output_tokens: int = 0
    prompt_tokens: int | None = None
    done: bool = False
    error: str = ""
    error_kind: str = ""


def split_events(times: list[float], reads: list[bytes]) -> tuple[list[tuple[float, bytes]], bytes]:
    """Complete SSE events, each with the arrival time of the read that completed it,
    and the bytes left after the last event separator."""
    buf = b"".join(reads)
    ends, pos = [], 0
    for r in reads:
        pos += len(r)
        ends.append(pos)
    spans: list[tuple[int, int, int]] = []  # (start, end, separator end)
    start = 0
    if b"\r" in buf:
        for m in _SEP_RE.finditer(buf):
            spans.append((start, m.start(), m.end()))
            start = m.end()
        rest = buf[start:]
    else:
        parts = buf.split(b"\n\n")
        for part in parts[:-1]:
            end = start + len(part)
            spans.append((start, end, end + 2))
            start = end + 2
        rest = parts[-1]
    events, k = [], 0
    for s, e, sep_end in spans:
        while ends[k] < sep_end:
            k += 1
        events.append((times[k], buf[s:e]))
    return events, rest


def _payload(ev: bytes) -> bytes | None:
    ev = ev.strip()
    if not ev or ev[:1] == b":":
        return None
    if ev[:5] == b"data:" and b"\n" not in ev and b"\r" not in ev:
        data = ev[5:]
        return data[1:] if data[:1] == b" " else data
    lines = [ln[5:].removeprefix(b" ") for ln in ev.splitlines() if ln.startswith(b"data:")]
    return b"\n".join(lines) if lines else None


def _frames_prefix(pre: bytes) -> bytes | None:
    """``{"a":1,"choices":[{"index":0,"text":`` -> ``{"choices":[{"text":``."""
    stack: list[list] = []  # [kind, key, members seen]
    key = None
    pos = 0
    while pos < len(pre):
        m = _TOKEN_RE.match(pre, pos)
        if m is None:
            return None
        tok, pos = m.group(1), m.end()
        if tok in (b"{", b"["):
            if stack and stack[-1][0] == b"{":
                if key is None:
                    return None
                stack[-1][1] = key
            stack.append([tok, None, 0])
            key = None
        elif tok in (b"}", b"]"):
            if not stack:
                return None
            stack.pop()
        elif tok == b",":
            if stack:
                stack[-1][2] += 1
            key = None
        elif tok == b":":
            pass
        elif tok[:1] == b'"' and pre[pos:].lstrip()[:1] == b":":
            key = tok
    if not stack or key is None:
        return None
    stack[-1][1] = key
    out = []
    for kind, k, members in stack:
        if kind == b"[":
            if members:
                return None  # not the first element: keep it simple, no template
            out.append(b"[")
        else:
            out.append(b"{" + k + b":")
    return b"".join(out)


def _closers(suf: bytes) -> bytes | None:
    """``,"logprobs":null,"finish_reason":null}]}`` -> ``}]}`` (members dropped)."""
    out, depth, pos = [], 0, 0
    while pos < len(suf):
        m = _TOKEN_RE.match(suf, pos)
        if m is None:
            return None if suf[pos:].strip() else b"".join(out)
        tok, pos = m.group(1), m.end()
        if tok in (b"{", b"["):
            depth += 1
        elif tok in (b"}", b"]"):
            if depth == 0:
                out.append(tok)
            else:
                depth -= 1
    return b"".join(out)


def _project(d, chat: bool):
    c0 = d["choices"][0]
    return (c0.get("delta") or {}).get("content") if chat else c0.get("text")


def make_template(p0: bytes, d0: dict, chat: bool) -> tuple[bytes, bytes, bytes, bytes] | None:
    """(long prefix, short prefix, long suffix, short suffix) around the token text of
    the token chunk ``p0`` (decoded: ``d0``), or None when it does not apply."""
    if not isinstance(d0, dict) or len(d0.get("choices") or ()) != 1:
        return None
    if any(d0.get(k) for k in ("usage", "error")):
        return None
    key = b'"content":' if chat else b'"text":'
    i = p0.find(key)
    if i < 0:
        return None
    v = i + len(key)
    while p0[v:v + 1] in (b" ", b"\t"):
        v += 1
    m = _STRING_RE.match(p0, v)
    if m is None:
        return None
    pre, suf = p0[:i + len(key)], p0[m.end():]
    short_pre, short_suf = _frames_prefix(pre), _closers(suf)
    if not short_pre or short_suf is None:
        return None
    try:
        same = _project(json.loads(short_pre + p0[i + len(key):m.end()] + short_suf), chat) \
            == _project(d0, chat)
    except (ValueError, KeyError, IndexError, TypeError, AttributeError):
        return None
    return (pre, short_pre, suf, short_suf) if same else None


def _fast(times: list[float], reads: list[bytes], buf: bytes, chat: bool):
    """(stamps, items, done) for a well-formed stream, or None to take the generic path."""
    if not (buf.startswith(b"data: ") and buf.endswith(b"\n\n")) or b"\r" in buf:
        return None
    parts = buf[6:-2].split(b"\n\ndata: ")
    nev = len(parts)
    if buf.count(b"\n") != 2 * nev:  # every LF belongs to an event separator
        return None
    done = parts[-1] == b"[DONE]"
    if done:
        parts.pop()
    njson = len(parts)
    if len(reads) == 1:
        stamps = [times[0]] * njson
    else:
        stamps, start = [], 0
        for t, r in zip(times, reads):
            end = start + len(r)
            stamps += [t] * buf.count(b"\n\n", max(start - 1, 0), end)
            start = end
        del stamps[njson:]
    if njson == 0:
        return stamps, [], done
    tpl = None
    if njson > 2:
        for p in parts[:2]:  # the chat role chunk may come first: then template the next
            try:
                d = json.loads(p)
            except ValueError:
                return None
            if not isinstance(d, dict):
                return None
            c = d.get("choices")
            if c and not (chat and "role" in (c[0].get("delta") or {})):
                tpl = make_template(p, d, chat)
                break
    if tpl is not None:
        pre, spre, suf, ssuf = tpl
        lp, ls = len(pre), len(suf)
        parts = [spre + p[lp:-ls] + ssuf if p[:lp] == pre and p[-ls:] == suf else p
                 for p in parts] if ls else \
            [spre + p[lp:] if p[:lp] == pre else p for p in parts]
    try:
        items = json.loads(b"[" + b",".join(parts) + b"]")
    except ValueError:
        return None
    if len(items) != njson:
        return None
    return stamps, items, done


def decode_events(times: list[float], reads: list[bytes], out: ParsedStream
                  ) -> tuple[list[float], list[Any]] | None:
    """The ``data:`` events of one stream as (arrival times, decoded JSON values); sets
    ``out.done`` on ``[DONE]``.  One C call decodes the whole stream; only when that fails is
    each event decoded alone, to say which one is bad: then ``out.error`` is set and the
    answer is None.  Shared by the OpenAI streams and Triton's ``generate_stream``."""
    events, rest = split_events(times, reads)
    if rest.strip():  # vLLM (and Triton) accept a last event without its blank line if it parses
        events.append((times[-1], rest))
    stamps, payloads = [], []
    for t, ev in events:
        p = _payload(ev)
        if p is None:
            continue
        if p.strip() == b"[DONE]":
            out.done = True
            continue
        stamps.append(t)
        payloads.append(p)
    try:
        items = json.loads(b"[" + b",".join(payloads) + b"]")
        if len(items) != len(payloads):
            raise ValueError("event count changed")
    except ValueError:
        for i, p in enumerate(payloads):
            try:
                json.loads(p)
            except ValueError as exc:
                out.error_kind = "bad_json"
                out.error = f"invalid JSON in chunk {i}: {exc}: {p[:120]!r}"
                return None
        out.error_kind, out.error = "bad_json", "invalid JSON: several values in one event"
        return None
    return stamps, items


def parse_stream(times: list[float], reads: list[bytes], chat: bool, need_text: bool = True
                 ) -> ParsedStream:
    """Turn the raw reads of one response into token-chunk times, text and usage.

    With ``need_text=False`` the text is only assembled when the stream has no usage
    (it is then needed to count the output tokens)."""
    out = ParsedStream()
    buf = b"".join(reads)
    fast = _fast(times, reads, buf, chat)
    if fast is not None:
        stamps, items, out.done = fast
    else:
        decoded = decode_events(times, reads, out)
        if decoded is None:
            return out
        stamps, items = decoded
    try:
        return _classify(out, stamps, items, chat, need_text)
    except (AttributeError, TypeError, KeyError, IndexError) as exc:
        out.chunk_times, out.error_kind = [], "bad_json"
        out.error = f"unexpected chunk structure: {type(exc).__name__}: {exc}"
        return out


def _classify(out: ParsedStream, stamps: list[float], items: list, chat: bool,
              need_text: bool = True) -> ParsedStream:
    try:
        flags = [d.get("choices") for d in items]
    except AttributeError:
        bad = next(d for d in items if not isinstance(d, dict))
        out.error_kind, out.error = "bad_json", f"chunk is not a JSON object: {str(bad)[:120]}"
        return out
    out.chunk_times = [t for t, c in zip(stamps, flags) if c]
    for d, c in zip(items, flags):
        if c:
            continue
        if usage := d.get("usage"):
            out.output_tokens = usage.get("completion_tokens") or 0
            out.prompt_tokens = usage.get("prompt_tokens")
        elif err := d.get("error"):
            msg = err.get("message", err) if isinstance(err, dict) else err
            out.error_kind, out.error = "server_error", f"error event in stream: {str(msg)[:200]}"
            return out
    if not need_text and out.output_tokens:
        return out
    if chat:
        pieces = [(c[0].get("delta") or {}).get("content") for c in flags if c]
    else:
        pieces = [c[0].get("text") for c in flags if c]
    out.text = "".join(p for p in pieces if p)
    return out
