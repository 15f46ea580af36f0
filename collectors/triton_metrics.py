"""Canonical copies of the Triton TensorRT-LLM backend's label-selected gauges.

The TensorRT-LLM backend for Triton reports its state as a few gauge families whose
*label* names the figure (``triton_backend/inflight_batcher_llm/src/custom_metrics_reporter/
custom_metrics_reporter.cc`` in NVIDIA/TensorRT-LLM, 1.x; before that the same file in
``triton-inference-server/tensorrtllm_backend``)::

    nv_trt_llm_request_metrics{request_type="active|max|scheduled|context|waiting"}
    nv_trt_llm_kv_cache_block_metrics{kv_cache_block_type="max|free|used|tokens_per|reused|fraction"}

iejtui's metric maps name series, not label selections, so ``canonical_samples`` adds
plain-named copies, one per ``model``/``version`` (every other label kept):

* ``triton:num_requests_running`` = ``active`` (the executor's in-flight requests, what
  ``trtllm:num_requests_running`` holds for ``trtllm-serve``; the Gateway API inference
  extension reads ``scheduled``, this iteration's batch, instead);
* ``triton:num_requests_waiting`` = ``waiting`` (backends from 2025 on; older ones lack it);
* ``triton:kv_cache_utilization`` = ``fraction`` (0-1), else ``used / max`` (older backends);
* ``triton:kv_capacity_tokens`` = ``max`` × ``tokens_per``.

Pure: samples in, samples out. ``with_canonical`` applies it to a ``ScrapeResult`` (the
Triton adapter's ``collect`` returns ``with_canonical(await super().collect(...))``).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable

from collectors.records import Frame, Labels, Sample

REQUEST_FAMILY = "nv_trt_llm_request_metrics"
KV_FAMILY = "nv_trt_llm_kv_cache_block_metrics"
RUNNING, WAITING = "triton:num_requests_running", "triton:num_requests_waiting"
KV_USAGE, KV_CAPACITY = "triton:kv_cache_utilization", "triton:kv_capacity_tokens"

_SELECTOR = {REQUEST_FAMILY: "request_type", KV_FAMILY: "kv_cache_block_type"}


def canonical_samples(samples: Iterable[Sample]) -> list[Sample]:
    """The ``triton:`` samples derived from one scrape's ``nv_trt_llm_*`` gauges (empty
    when the server hosts no TensorRT-LLM model)."""
    by_model: dict[Labels, dict[str, float]] = {}
    for s in samples:
        selector = _SELECTOR.get(s.name)
        if selector is None:
            continue
        labels = dict(s.labels)
        kind = labels.pop(selector, None)
        if kind is None:
            continue
        prefix = "req:" if s.name == REQUEST_FAMILY else "kv:"
        by_model.setdefault(tuple(sorted(labels.items())), {})[prefix + kind] = float(s.value)
    out: list[Sample] = []
    for labels, v in by_model.items():
        if "req:active" in v:
            out.append(Sample(RUNNING, v["req:active"], labels))
        if "req:waiting" in v:
            out.append(Sample(WAITING, v["req:waiting"], labels))
        if "kv:fraction" in v:
            out.append(Sample(KV_USAGE, v["kv:fraction"], labels))
        elif v.get("kv:max", 0) > 0 and "kv:used" in v:
            out.append(Sample(KV_USAGE, v["kv:used"] / v["kv:max"], labels))
        if v.get("kv:max", 0) > 0 and v.get("kv:tokens_per", 0) > 0:
            out.append(Sample(KV_CAPACITY, v["kv:max"] * v["kv:tokens_per"], labels))
    return out


def with_canonical(result):
    """``result`` (a ``collectors.prometheus.ScrapeResult``) with the derived samples
    appended to its frame (same timestamp); unchanged when there is nothing to add."""
    if result.frame is None:
        return result
    extra = canonical_samples(result.frame.samples)
    if not extra:
        return result
    frame = Frame(result.frame.source, result.frame.ts, [*result.frame.samples, *extra])
    return dataclasses.replace(result, frame=frame)
