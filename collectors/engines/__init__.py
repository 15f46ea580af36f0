"""Engine adapters, one module per engine kind, and the registry that names them.

To add a kind: write ``collectors/engines/<kind>.py`` with an ``EngineAdapter`` subclass
whose ``kind`` is the name users type (``--kind``, ``kind =`` in iejtui.toml) and
register an instance below.
"""

from __future__ import annotations

from collectors.engines.base import EngineAdapter, LogFact, ReadyState, later_phase
from collectors.engines.llamacpp import LlamaCppAdapter
from collectors.engines.openai import OpenAIAdapter
from collectors.engines.sglang import SGLangAdapter
from collectors.engines.triton import TritonAdapter
from collectors.engines.trtllm import TrtllmAdapter
from collectors.engines.vllm import VLLMAdapter

# Kinds named in the design that have no adapter yet: the error says so instead of
# calling them unknown.
PLANNED_KINDS: tuple[str, ...] = ()

ADAPTERS: dict[str, EngineAdapter] = {}


class UnknownEngineKind(ValueError):
    """Raised by ``get_adapter`` for a kind with no adapter."""


def register(adapter: EngineAdapter) -> EngineAdapter:
    if not adapter.kind:
        raise ValueError(f"{type(adapter).__name__} has no kind")
    ADAPTERS[adapter.kind] = adapter
    return adapter


def kinds() -> list[str]:
    return sorted(ADAPTERS)


def get_adapter(kind: str) -> EngineAdapter:
    """The adapter for ``kind`` (case-insensitive); ``UnknownEngineKind`` otherwise."""
    key = (kind or "").strip().lower()
    if key in ADAPTERS:
        return ADAPTERS[key]
    valid = ", ".join(kinds())
    if key in PLANNED_KINDS:
        raise UnknownEngineKind(f"engine kind {kind!r} is not supported yet; valid kinds: "
                                f"{valid} (use 'openai' to attach to any OpenAI-compatible "
                                "server without engine metrics)")
    raise UnknownEngineKind(f"unknown engine kind {kind!r}; valid kinds: {valid}")


register(VLLMAdapter())
register(TrtllmAdapter())
register(SGLangAdapter())
register(LlamaCppAdapter())
register(TritonAdapter())
register(OpenAIAdapter())

__all__ = [
    "ADAPTERS", "PLANNED_KINDS", "EngineAdapter", "LogFact", "ReadyState",
    "UnknownEngineKind", "get_adapter", "kinds", "later_phase", "register",
]
