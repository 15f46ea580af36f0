"""The demo recipe generates tokens through the real CPU vLLM.

The session's shared engine is launched from the demo recipe itself (`iejtui demo serve`,
see tests/helpers.engine_profile), so this checks the recipe end to end without paying for
another engine start.
"""
from __future__ import annotations

import json
import urllib.request

import pytest

pytestmark = pytest.mark.integration


def test_tiny_model_generates_tokens_through_real_vllm(shared_engine):
    base = shared_engine["url"]
    body = json.dumps({"model": "tiny", "prompt": "The license grants", "max_tokens": 16,
                       "temperature": 0, "ignore_eos": True}).encode()
    req = urllib.request.Request(base + "/v1/completions", data=body,
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=60) as r:
        reply = json.loads(r.read())
    assert reply["model"] == "tiny"
    assert reply["usage"]["completion_tokens"] == 16
    assert reply["usage"]["prompt_tokens"] > 0
    assert reply["choices"][0]["text"]
    with urllib.request.urlopen(base + "/metrics", timeout=10) as r:
        assert b"vllm:generation_tokens_total" in r.read()
