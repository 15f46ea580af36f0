"""``--backend tensorrt-llm``: Triton generate_stream parsing, the request body, the flags.

The stream bytes are those the real tritonserver 2.51 (nvidia-pytriton 0.7.0 wheel) sent
for ``POST /v2/models/timed/generate_stream`` (captured with curl from the known-timing
model in tests/data/triton_models/timed); the error event is the one it sent when the
Python stub had died (``{"error":"Stub process 'timed_0_0' is not healthy."}``)."""

import json

import pytest

from collectors.loadgen.client import RequestRecord, finish_record
from collectors.loadgen.config import BenchUsageError, parse_args
from collectors.loadgen.datasets import SampleRequest
from collectors.loadgen.runner import build_body, resolve_model
from collectors.loadgen.triton import TRT, model_from_endpoint, parse_trt_stream

CHUNK = b'data: {"model_name":"timed","model_version":"1","text_output":" the"}\n\n'
ERROR = b"data: {\"error\":\"Stub process 'timed_0_0' is not healthy.\"}\n\n"


def test_every_text_output_event_is_a_chunk_stamped_on_arrival():
    ps = parse_trt_stream([1.0, 1.05, 1.1], [CHUNK, CHUNK, CHUNK])
    assert ps.chunk_times == [1.0, 1.05, 1.1] and ps.text == " the the the"
    assert ps.output_tokens == 0 and not ps.error  # Triton sends no usage: counted later


def test_ttft_and_itl_as_vllms_async_request_trt_llm():
    rec = RequestRecord(index=0, send_time=0.5)
    finish_record(rec, [0.7, 0.74, 0.78, 0.90], [CHUNK] * 4, TRT)
    assert rec.success and rec.ttft == pytest.approx(0.2) and rec.latency == pytest.approx(0.4)
    assert rec.itl == pytest.approx([0.04, 0.04, 0.12])
    assert rec.generated_text == " the" * 4


def test_events_split_across_reads_and_several_in_one_read():
    body = CHUNK * 3
    reads = [body[:10], body[10:80], body[80:]]  # event 1 completes in read 2, 2 and 3 in read 3
    ps = parse_trt_stream([1.0, 2.0, 3.0], reads)
    assert ps.chunk_times == [2.0, 3.0, 3.0]


def test_an_error_event_fails_the_request():
    rec = RequestRecord(index=0, send_time=0.0)
    finish_record(rec, [0.1, 0.2], [CHUNK, ERROR], TRT)
    assert not rec.success and rec.error_kind == "server_error" and "not healthy" in rec.error


def test_bad_json_and_no_text_output():
    rec = RequestRecord(index=0, send_time=0.0)
    finish_record(rec, [0.1, 0.2], [CHUNK, b"data: {oops\n\n"], TRT)
    assert rec.error_kind == "bad_json" and "chunk 1" in rec.error
    # an event without text_output is no token chunk; none at all -> no TTFT -> failed
    rec = RequestRecord(index=0, send_time=0.0)
    finish_record(rec, [0.1], [b'data: {"model_name":"m","model_version":"1"}\n\n'], TRT)
    assert not rec.success and rec.error_kind == "no_token"


def test_a_list_text_output_and_crlf_events():
    ps = parse_trt_stream([1.0], [b'data: {"text_output":["a","b"]}\r\n\r\ndata: {"text_output":"c"}\r\n\r\n'])
    assert ps.text == "abc" and ps.chunk_times == [1.0, 1.0]


def test_body_is_the_ensembles_as_vllms_old_benchmark_sent_it():
    cfg = parse_args(["--backend", "tensorrt-llm", "--dataset-name", "random", "--extra-body",
                      '{"first_chunk_delay_ms": 5}', "--top-k", "3"])
    body = json.loads(build_body(cfg, SampleRequest("hello", 1, 16, "r0"), "ensemble"))
    assert body == {"accumulate_tokens": True, "text_input": "hello", "temperature": 0.0,
                    "top_p": 1.0, "max_tokens": 16, "stream": True, "bad_words": "",
                    "stop_words": "", "min_length": 16,  # random dataset: EOS ignored
                    "top_k": 3, "first_chunk_delay_ms": 5}
    assert cfg.stream_kind == TRT and cfg.api_url.endswith("/v2/models/ensemble/generate_stream")


def test_sharegpt_keeps_eos():
    import os
    import tempfile
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
        f.write("[]")
    try:
        cfg = parse_args(["--backend", "tensorrt-llm", "--dataset-name", "sharegpt",
                          "--dataset-path", f.name])
    finally:
        os.unlink(f.name)
    assert "min_length" not in json.loads(build_body(cfg, SampleRequest("p", 1, 8, "r"), "x"))


async def test_model_comes_from_the_endpoint_path():
    cfg = parse_args(["--backend", "tensorrt-llm", "--endpoint", "/v2/models/timed/generate_stream",
                      "--model", "meta-llama/Llama-3.1-8B"])
    assert await resolve_model(cfg) == ("meta-llama/Llama-3.1-8B", "timed")
    cfg = parse_args(["--backend", "tensorrt-llm"])
    assert await resolve_model(cfg) == ("ensemble", "ensemble")
    assert model_from_endpoint("/v2/models/m/versions/2/generate_stream") == "m"
    assert model_from_endpoint("/v1/completions") is None


@pytest.mark.parametrize("argv, message", [
    (["--backend", "tensorrt-llm", "--endpoint", "/v1/completions"], "generate_stream"),
    (["--endpoint", "/v2/models/ensemble/generate_stream"], "--backend tensorrt-llm"),
    (["--backend", "tensorrt-llm", "--tokenize", "server"], "no /tokenize"),
])
def test_mismatched_flags_are_one_line_errors(argv, message):
    with pytest.raises(BenchUsageError, match=message) as e:
        parse_args(argv)
    assert "\n" not in str(e.value)


async def test_no_local_tokenizer_is_a_clear_error(tmp_path):
    from collectors.loadgen.tokenizer import open_tokenizer
    cfg = parse_args(["--backend", "tensorrt-llm", "--tokenizer", str(tmp_path)])
    with pytest.raises(BenchUsageError, match="needs a local tokenizer"):
        await open_tokenizer(cfg, "ensemble")


def test_a_triton_engine_is_benched_with_tensorrt_llm_unless_told():
    from collectors.loadgen.argv import with_engine_defaults
    from collectors.loadgen.config import parse_args
    argv = ["--base-url", "http://127.0.0.1:9", "--tokenizer", "/tok"]
    cfg = parse_args(with_engine_defaults("triton", argv))
    assert cfg.backend == "tensorrt-llm" and cfg.endpoint == "/v2/models/ensemble/generate_stream"
    # an explicit backend wins; other kinds keep vLLM's default
    assert with_engine_defaults("triton", ["--backend", "openai", *argv]) == ["--backend", "openai", *argv]
    assert with_engine_defaults("triton", ["--backend=openai", *argv]) == ["--backend=openai", *argv]
    assert with_engine_defaults("vllm", argv) == argv and with_engine_defaults(None, argv) == argv
    # the endpoint alone, for a Triton: its own model
    cfg = parse_args(with_engine_defaults("triton", [*argv, "--endpoint", "/v2/models/m/generate_stream"]))
    assert cfg.backend == "tensorrt-llm" and cfg.endpoint == "/v2/models/m/generate_stream"
