"""Faults against a real aiohttp server on 127.0.0.1 (ephemeral ports): each failing
request is counted as failed with its reason while the run goes on."""

import asyncio
import socket

import pytest

from collectors.loadgen.client import RequestRecord
from collectors.loadgen.config import BenchUsageError, parse_args
from tests.doubles.mockserver import MockConfig, MockServer
from collectors.loadgen.runner import run_bench
from collectors.loadgen.workers import LoadSpec, execute

PLAN = {1: "http500", 2: "http404", 3: "bad_json", 4: "cut", 5: "stall", 7: "http429"}


@pytest.fixture
async def server():
    srv = MockServer(MockConfig(chunks=8), fault_plan=lambda i: PLAN.get(i, ""))
    await srv.start()
    yield srv
    await srv.stop()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def args(url, *more):
    return parse_args(["--base-url", url, "--model", "mock", "--random-input-len", "12",
                       "--random-output-len", "8", "--disable-tqdm", *more])


async def test_every_fault_is_a_failed_request_with_its_reason(server):
    cfg = args(server.url, "--num-prompts", "10", "--max-concurrency", "4",
               "--read-timeout", "0.5", "--request-timeout", "5")
    seen = []

    class Sink:
        def on_request(self, r):
            seen.append(r)

        def on_progress(self, done, total, snap):
            assert done <= total

    r = await run_bench(cfg, Sink())
    kinds = {rec.index: rec.error_kind for rec in r.records}
    assert kinds[1] == kinds[2] == kinds[7] == "http"
    assert kinds[3] == "bad_json" and kinds[4] == "stream_cut" and kinds[5] == "timeout"
    assert {i for i, k in kinds.items() if k == ""} == {0, 6, 8, 9}
    assert r.metrics.completed == 4 and r.metrics.failed == 6
    assert r.result["failed"] == 6 and r.result["total_output_tokens"] == 32
    assert "HTTP 500" in r.records[1].error and "HTTP 404" in r.records[2].error
    assert "invalid JSON in chunk" in r.records[3].error
    assert r.result["iejtui"]["errors_by_kind"] == {"http": 3, "bad_json": 1,
                                                    "stream_cut": 1, "timeout": 1}
    assert len(seen) == 10 and "Error 0:" in r.errors
    assert r.metrics.ttft.mean > 0  # failures excluded from the distributions


async def test_unreachable_url_fails_each_request_and_the_run_goes_on():
    url = f"http://127.0.0.1:{free_port()}/v1/completions"
    recs = [RequestRecord(index=i, request_id=f"r{i}") for i in range(3)]
    spec = LoadSpec(url, {}, False, 5.0, None, recs, [b"{}"] * 3, [0.0] * 3, 2)
    done = []
    stats = await execute(spec, done.append)
    assert len(done) == 3 and stats.end >= stats.start
    assert all(r.error_kind == "connect" and "unreachable" in r.error for r in recs)


async def test_unreachable_server_for_setup_is_a_usage_error():
    cfg = args(f"http://127.0.0.1:{free_port()}", "--num-prompts", "2")
    with pytest.raises(BenchUsageError, match="tokenize"):
        await run_bench(cfg)


async def test_total_timeout_is_a_timeout(server):
    cfg = args(server.url, "--num-prompts", "6", "--request-timeout", "0.5")
    r = await run_bench(cfg)
    assert r.records[5].error_kind == "timeout" and r.metrics.completed == 1


async def test_cancel_keeps_partial_results():
    srv = MockServer(MockConfig(chunks=4, itl_s=0.05))
    await srv.start()
    try:
        cancel = asyncio.Event()

        class CancelAfter3:
            n = 0

            def on_request(self, rec):
                self.n += 1
                if self.n == 3:
                    cancel.set()

            def on_progress(self, done, total, snap):
                pass

        cfg = args(srv.url, "--num-prompts", "40", "--max-concurrency", "2")
        r = await asyncio.wait_for(run_bench(cfg, CancelAfter3(), cancel=cancel), 30)
    finally:
        await srv.stop()
    assert r.cancelled and r.result["iejtui"]["cancelled"]
    assert 0 < r.metrics.completed < 40 and r.result["iejtui"]["not_sent"] > 0
    assert any("cancelled" in w for w in r.warnings)


async def test_chat_endpoint_end_to_end(server):
    cfg = parse_args(["--base-url", server.url, "--backend", "openai-chat", "--endpoint",
                      "/v1/chat/completions", "--model", "mock", "--random-input-len", "12",
                      "--random-output-len", "8", "--num-prompts", "1", "--save-detailed"])
    r = await run_bench(cfg)
    rec = r.records[0]
    # role chunk + 8 token chunks (the role chunk counts, as in vLLM 0.32), usage 8 tokens
    assert rec.success and len(rec.chunk_times) == 9 and rec.output_tokens == 8
    assert rec.generated_text == " tok" * 8 and r.result["generated_texts"] == [" tok" * 8]
