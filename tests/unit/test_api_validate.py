"""Control-API request bodies are refused field by field, with one line (issue #14 item 10)."""

from __future__ import annotations

import pytest

from iejtui.errors import UserError
from iejtui.client import validate

GOOD = {"name": "tiny", "kind": "vllm", "argv": ["vllm", "serve", "m"], "env": {"HF_HOME": "/x"}, "cwd": "/tmp"}


@pytest.mark.parametrize("patch,words", [
    ({"argv": "vllm serve m"}, "argv must be a list of strings"),
    ({"argv": ["vllm", 5]}, "argv must be a list of strings"),
    ({"argv": []}, "argv must not be empty"),
    ({"argv": ["vllm\0"]}, "NUL"),
    ({"env": {"A=B": "1"}}, "not a variable name"),
    ({"env": {"1A": "1"}}, "not a variable name"),
    ({"env": {"A": 1}}, "env must be an object of strings"),
    ({"env": ["A=1"]}, "env must be an object of strings"),
    ({"cwd": 5}, "cwd must be a string"),
    ({"name": 5}, "name must be a string"),
    ({"name": "../x"}, "invalid engine name"),
    ({"kind": "tgi"}, "unknown engine kind"),
    ({"url": ["http://x"]}, "url must be a string"),
    ({"attach": "yes"}, "attach must be true or false"),
])
def test_engine_request_refused(patch, words):
    with pytest.raises(UserError) as info:
        validate.engine_request({**GOOD, **patch})
    assert words in str(info.value) and "\n" not in str(info.value)


def test_engine_request_accepted():
    validate.engine_request(GOOD)
    validate.engine_request({"name": "demo", "profile": "demo"})
    validate.engine_request({"name": "x", "url": "http://127.0.0.1:1", "kind": "vllm", "attach": True})


@pytest.mark.parametrize("fn,data,words", [
    (validate.bench_request, {"argv": "--num-prompts 5"}, "argv must be a list"),
    (validate.bench_request, {"argv": [], "cwd": 1}, "cwd must be a string"),
    (validate.recording_request, {"duration": "5"}, "duration must be a positive number"),
    (validate.recording_request, {"duration": -1}, "duration must be a positive number"),
    (validate.recording_request, {"duration": True}, "duration must be a positive number"),
    (validate.matrix_request, {"file": 5}, "file must be a string"),
    (validate.matrix_request, {"file": "m.toml", "fresh": "no"}, "fresh must be true or false"),
    (validate.import_request, {"prometheus": "http://p", "instance": "h", "from": "abc", "to": 2}, "from must be a number"),
    (validate.stop_request, {"keep_engines": "yes"}, "keep_engines must be true or false"),
])
def test_other_bodies_refused(fn, data, words):
    with pytest.raises(UserError) as info:
        fn(data)
    assert words in str(info.value)


@pytest.mark.parametrize("raw,expect", [(None, 50), ("0", 0), ("12", 12)])
def test_log_lines(raw, expect):
    assert validate.log_lines({} if raw is None else {"lines": raw}) == expect


@pytest.mark.parametrize("raw", ["abc", "-5", "1.5", ""])
def test_log_lines_refused(raw):
    with pytest.raises(UserError, match="lines must be a whole number >= 0"):
        validate.log_lines({"lines": raw})
