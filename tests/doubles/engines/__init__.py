"""Faithful local fakes of inference engines, for tests (no GPU, no engine): test doubles, outside the product.

Each fake is an aiohttp server on 127.0.0.1 driven by one continuous-batching simulator
(``sim.EngineSim``) and reproduces its engine's endpoints from the documented and
source-read formats: readiness, metrics pages or JSON, OpenAI completions, startup logs.

* ``trtllm.TrtllmFake``: ``trtllm-serve`` (draining ``/metrics`` queue with its 2 s wait,
  ``/prometheus/metrics`` generations v1/v2/v3 and the PR #13405 tee).
* ``sglang.SGLangFake``: SGLang 0.5.23 (gauges every 40 decode steps, lazily created
  counters, ``/health`` running a 1-token generation).
* ``llamacpp.LlamaCppFake``: ``llama-server`` (``--metrics``, ``/slots``, old/new pages).

Use in a test: ``async with SGLangFake() as f: ... f.url``; from synchronous code (tests
driving the CLI): ``with ThreadedFake(lambda: SGLangFake()) as f: ...``; as a process:
``python -m tests.doubles.engines.sglang --model-path tiny --port 30000 --enable-metrics``
(``.trtllm MODEL --port N``, ``.llamacpp -m M --port N --metrics``). ``memstore.MemStore``
turns collected frames into a ``SeriesGetter``; ``tiny_gguf`` writes a tiny random Llama
GGUF for a real ``llama-server``.
"""

from tests.doubles.engines.base import FakeEngine, ThreadedFake

__all__ = ["FakeEngine", "ThreadedFake"]
