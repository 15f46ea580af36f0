"""What the Engines screen's R asks the service for (``viewmodel.restart``, pure)."""
from __future__ import annotations

from iejtui.redact import MASK
from iejtui.viewmodel.restart import restart_request

ADHOC = {"name": "llama", "kind": "vllm", "owned": True, "url": "http://127.0.0.1:8000", "run_id": 3}


def test_a_profile_restarts_from_the_profile_even_when_attached_or_ad_hoc():
    for engine in (ADHOC, dict(ADHOC, owned=False)):
        assert restart_request(engine, {"llama", "other"}, None).body == {"name": "llama", "profile": "llama"}


def test_an_attached_engine_is_attached_again_at_its_url():
    plan = restart_request(dict(ADHOC, owned=False, kind="sglang"), set(), None)
    assert plan.body == {"name": "llama", "url": "http://127.0.0.1:8000", "kind": "sglang", "attach": True}


def test_an_ad_hoc_engine_reuses_its_stored_command_line_and_url():
    argv = ["vllm", "serve", "/m", "--port", "8000"]
    assert restart_request(ADHOC, set(), {"argv": argv}).body == {
        "name": "llama", "kind": "vllm", "argv": argv, "url": "http://127.0.0.1:8000"}
    plan = restart_request(dict(ADHOC, url=None, kind=None), set(), {"argv": argv})
    assert plan.body == {"name": "llama", "kind": "vllm", "argv": argv} and plan.refusal is None


def test_a_masked_or_missing_command_line_is_refused_with_a_way_out():
    for run in ({"argv": ["vllm", "serve", f"--api-key={MASK}"]}, {"argv": []}, None):
        plan = restart_request(ADHOC, set(), run)
        assert plan.body is None
        assert plan.refusal == ("llama was started ad hoc with secrets in its command line; start it again "
                                "from a profile (s)")
