"""``--backend tensorrt-llm``: Triton's ``generate_stream`` with TensorRT-LLM's ensemble body.

The request and the stream semantics are those of vLLM's old ``benchmark_serving.py``
(``backend_request_func.async_request_trt_llm``, v0.6–v0.8; ``vllm bench serve`` 0.32 no
longer has this backend):

* POST ``{base_url}/v2/models/{model}/generate_stream`` (the endpoint must end in
  ``generate_stream``; default ``/v2/models/ensemble/generate_stream``, the name of
  TensorRT-LLM's ensemble model) with ``accumulate_tokens: true``, ``text_input``,
  ``temperature: 0.0``, ``top_p: 1.0``, ``max_tokens``, ``stream: true``, and
  ``min_length`` = the output length when EOS is to be ignored (TensorRT-LLM has no
  ``ignore_eos``).  ``bad_words: ""`` and ``stop_words: ""`` are sent too, as the older
  ensemble (and vLLM's first version of this function) required them; the ensemble
  declares both optional, and Triton passes a key that is no input of the model as a
  request parameter, so a model without them accepts the body unchanged.  Sampling
  flags and ``--extra-body`` are merged last, as for the OpenAI backends.
* The answer is SSE: every ``data:`` event is one JSON object.  An event with
  ``text_output`` is a token chunk (its text may be empty): the first gives TTFT, the
  gaps between consecutive ones are the ITLs, the last one ends E2EL; the text is the
  concatenation of the ``text_output`` values.  An event with ``error`` fails the
  request (``server_error``), as Triton reports a model's error mid-stream that way.
  Any other event (no ``text_output``) is not a token chunk (vLLM's function would have
  raised on it; counting it would add a fake token).  The stream has no ``[DONE]``; it
  ends when the HTTP body ends.
* Triton reports no usage, so output tokens are counted with the client tokenizer
  (``--tokenizer``), as the OpenAI path does when a server sends no usage; Triton has no
  ``/tokenize`` either, so a local tokenizer is required.

Nothing here is model-specific: the model name comes from the endpoint path.
"""

from __future__ import annotations

import re
from typing import Any

from .sse import ParsedStream, decode_events

#: The stream kind passed where the OpenAI path passes ``chat`` (True/False).
TRT = "trt"
DEFAULT_ENDPOINT = "/v2/models/ensemble/generate_stream"
_MODEL_RE = re.compile(r"/v2/models/([^/]+)(?:/versions/[^/]+)?/generate_stream/?$")


def model_from_endpoint(endpoint: str) -> str | None:
    """``/v2/models/ensemble/generate_stream`` -> ``ensemble`` (None when it is no such path)."""
    m = _MODEL_RE.search(endpoint)
    return m.group(1) if m else None


def trt_payload(prompt: str, output_len: int, ignore_eos: bool, sampling: dict[str, Any],
                extra_body: dict[str, Any]) -> dict[str, Any]:
    """The JSON body of one request (see the module docstring)."""
    payload: dict[str, Any] = {"accumulate_tokens": True, "text_input": prompt,
                               "temperature": 0.0, "top_p": 1.0, "max_tokens": output_len,
                               "stream": True, "bad_words": "", "stop_words": ""}
    if ignore_eos:
        payload["min_length"] = output_len
    payload.update(sampling)
    payload.update(extra_body)
    return payload


def _text(v: Any) -> str:
    if isinstance(v, list):  # a BYTES output of several elements comes as a JSON list
        return "".join(_text(x) for x in v)
    return v if isinstance(v, str) else ("" if v is None else str(v))


def parse_trt_stream(times: list[float], reads: list[bytes], need_text: bool = True) -> ParsedStream:
    """Token-chunk times and text of one ``generate_stream`` answer (pure).

    ``need_text`` is accepted for symmetry with ``sse.parse_stream``: Triton sends no
    usage, so the text is always needed to count the output tokens."""
    out = ParsedStream()
    decoded = decode_events(times, reads, out)
    if decoded is None:
        return out
    stamps, items = decoded
    pieces: list[str] = []
    for t, d in zip(stamps, items):
        if not isinstance(d, dict):
            out.error_kind, out.error = "bad_json", f"chunk is not a JSON object: {str(d)[:120]}"
            return out
        if "error" in d:
            out.chunk_times = []
            out.error_kind = "server_error"
            out.error = f"error event in stream: {str(d['error'])[:200]}"
            return out
        if "text_output" in d:
            out.chunk_times.append(t)
            pieces.append(_text(d["text_output"]))
    out.text = "".join(pieces)
    return out


__all__ = ["TRT", "DEFAULT_ENDPOINT", "model_from_endpoint", "parse_trt_stream", "trt_payload"]
