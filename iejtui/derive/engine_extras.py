"""Figures an engine reports only when a feature is on: speculative decoding, LoRA, KV offload.

``engine_extras(get, t0, t1, mmap)`` returns ``EngineExtras`` whose parts are ``None``
when the engine does not export that family at all, so a panel shows a row only for what
the engine reports (an engine without ``--speculative-config`` has no ``spec_decode``
series; one without ``--enable-lora`` no ``lora_requests_info``; one without an offloading
KV connector no ``kv_offload`` counters). llama-server exports its draft counters at 0
without a draft model: there, without a draft in the window, no row. vLLM's ``num_drafts``
counter exists only with ``--speculative-config``: an idle window says "no drafts".
Names come from the engine's ``EngineMetricMap``.

Definitions follow vLLM 0.32's own (``vllm/v1/spec_decode/metrics.py``, ``SpecDecodingProm``
docstring):

* acceptance rate = Δaccepted tokens / Δdraft tokens;
* mean accepted length = 1 + Δaccepted tokens / Δdrafts (the bonus token counted, so 1.0
  means no draft token was ever accepted and ``1 + k`` is the best a ``k``-token draft does);
* per-position acceptance = Δaccepted at position ``k`` / Δdrafts. A draft may propose
  fewer than ``k`` tokens (ngram finds a shorter match), so position ``k``'s rate is over
  all drafts, not only those that reached it — as vLLM defines it.

LoRA: ``vllm:lora_requests_info`` is a gauge whose *labels* carry the state
(``running_lora_adapters``, ``waiting_lora_adapters``: comma-joined names; ``max_lora``)
and whose value is the Unix time it was last set (``set_to_current_time``). Every label
combination ever seen stays exported, so the current state is the child with the newest
value at or before ``t1``.

KV offload (``OffloadingConnector``): load/store throughput = Δbytes / window seconds, and
the transfer speed while moving = Δbytes / Δtransfer seconds.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from iejtui.derive import counters, gauges
from iejtui.derive.metric_map import VLLM, EngineMetricMap
from iejtui.derive.series import Series, SeriesGetter, first_present

__all__ = ["EngineExtras", "KvOffload", "LoraState", "SpecDecode", "engine_extras", "kv_offload_figures",
           "lora_state", "spec_decode_figures"]


@dataclass(frozen=True)
class SpecDecode:
    """Speculative decoding over a window (counts are increases in the window)."""

    drafts: float
    draft_tokens: float
    accepted_tokens: float
    acceptance_pct: float | None  # 0–100; None without draft tokens in the window
    mean_accepted_len: float | None  # 1 + accepted / drafts; None without drafts
    per_position_pct: tuple[float | None, ...] = ()  # position 0, 1, ...: accepted / drafts × 100


@dataclass(frozen=True)
class LoraState:
    """LoRA adapters at the newest ``lora_requests_info`` reading."""

    running: tuple[str, ...]
    waiting: tuple[str, ...]
    max_lora: int | None
    at: float  # when the engine last set it (Unix seconds)


@dataclass(frozen=True)
class KvOffload:
    """KV-cache offload traffic over a window (bytes per second of window; transfer speed
    in bytes per second of transfer time)."""

    load_bytes_s: float | None
    store_bytes_s: float | None
    load_speed_bytes_s: float | None = None
    store_speed_bytes_s: float | None = None


@dataclass(frozen=True)
class EngineExtras:
    spec: SpecDecode | None = None
    lora: LoraState | None = None
    kv_offload: KvOffload | None = None

    @property
    def empty(self) -> bool:
        return self.spec is None and self.lora is None and self.kv_offload is None


def _ratio(num: float | None, den: float | None, scale: float = 1.0) -> float | None:
    if num is None or den is None or den <= 0 or not math.isfinite(num):
        return None
    return num / den * scale


def spec_decode_figures(drafts: float | None, draft_tokens: float | None, accepted: float | None,
                        accepted_per_pos: Mapping[int, float] | None = None) -> SpecDecode | None:
    """Spec-decode figures from window increases (see module doc); None when the engine
    exported none of the three counters."""
    if drafts is None and draft_tokens is None and accepted is None:
        return None
    d, dt, a = drafts or 0.0, draft_tokens or 0.0, accepted or 0.0
    positions = sorted((accepted_per_pos or {}).items())
    per_pos = tuple(_ratio(v, d, 100.0) for _, v in positions)
    mean_len = None if d <= 0 else 1.0 + a / d
    return SpecDecode(drafts=d, draft_tokens=dt, accepted_tokens=a, acceptance_pct=_ratio(a, dt, 100.0),
                      mean_accepted_len=mean_len, per_position_pct=per_pos)


def _split(raw: str | None) -> tuple[str, ...]:
    return tuple(x for x in (raw or "").split(",") if x)


def lora_state(found: Sequence[Series], t1: float, t0: float | None = None) -> LoraState | None:
    """The newest LoRA state among the ``lora_requests_info`` children (see module doc)."""
    best: tuple[float, Mapping[str, str]] | None = None
    for labels, ts, vs in found:
        v = gauges.last_value(ts, vs, t0 if t0 is not None else -math.inf, t1)
        if v is None or not math.isfinite(v):
            continue
        if best is None or v > best[0]:
            best = (v, labels)
    if best is None:
        return None
    labels = best[1]
    try:
        max_lora: int | None = int(labels.get("max_lora", ""))
    except ValueError:
        max_lora = None
    return LoraState(running=_split(labels.get("running_lora_adapters")),
                     waiting=_split(labels.get("waiting_lora_adapters")), max_lora=max_lora, at=best[0])


def kv_offload_figures(load_bytes: float | None, store_bytes: float | None, load_s: float | None,
                       store_s: float | None, window_s: float) -> KvOffload | None:
    """KV offload rates from window increases; None when neither byte counter exists."""
    if load_bytes is None and store_bytes is None:
        return None
    return KvOffload(load_bytes_s=_ratio(load_bytes, window_s), store_bytes_s=_ratio(store_bytes, window_s),
                     load_speed_bytes_s=_ratio(load_bytes, load_s), store_speed_bytes_s=_ratio(store_bytes, store_s))


def _increase(found: list[Series] | None, t0: float, t1: float) -> float | None:
    if found is None:
        return None
    parts = [counters.increase(ts, vs, t0, t1) for _, ts, vs in found]
    present = [p for p in parts if p is not None]
    return math.fsum(present) if present else None


def _span(found: list[Series] | None, t0: float, t1: float) -> float:
    """Seconds between the first and last sample inside the window (the increases' span)."""
    spans = []
    for _, ts, _ in found or ():
        inside = [t for t in ts if t0 <= t <= t1]
        if len(inside) >= 2:
            spans.append(inside[-1] - inside[0])
    return max(spans, default=0.0)


def engine_extras(get: SeriesGetter, t0: float, t1: float, mmap: EngineMetricMap = VLLM,
                  labels_filter: Mapping[str, str] | None = None) -> EngineExtras:
    """Spec-decode, LoRA and KV-offload figures over ``[t0, t1]`` (see module doc)."""
    flt = dict(labels_filter) if labels_filter else None

    def find(key: str) -> list[Series] | None:
        hit = first_present(get, mmap.names(key), flt)
        return None if hit is None else hit[1]

    per_pos_series = find("spec_accepted_per_pos")
    per_pos: dict[int, float] = {}
    for labels, ts, vs in per_pos_series or ():
        try:
            k = int(labels.get("position", ""))
        except ValueError:
            continue
        inc = counters.increase(ts, vs, t0, t1)
        if inc is not None:
            per_pos[k] = per_pos.get(k, 0.0) + inc
    drafts = find("spec_drafts")
    spec = spec_decode_figures(_increase(drafts, t0, t1), _increase(find("spec_draft_tokens"), t0, t1),
                               _increase(find("spec_accepted_tokens"), t0, t1), per_pos)
    if spec is not None and drafts is None and not spec.draft_tokens:
        spec = None  # draft counters exported at 0 by an engine that drafts nothing (llama.cpp)
    lora_found = find("lora_info")
    lora = lora_state(lora_found, t1) if lora_found else None
    load = find("kv_offload_load_bytes")
    store = find("kv_offload_store_bytes")
    kv = None
    if load is not None or store is not None:
        span = max(_span(load, t0, t1), _span(store, t0, t1))
        kv = kv_offload_figures(_increase(load, t0, t1), _increase(store, t0, t1),
                                _increase(find("kv_offload_load_time"), t0, t1),
                                _increase(find("kv_offload_store_time"), t0, t1), span)
    return EngineExtras(spec=spec, lora=lora, kv_offload=kv)
