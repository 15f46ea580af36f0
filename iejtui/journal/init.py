"""``iejtui init``: lay out a journal. Idempotent: never overwrites a file that exists."""

from __future__ import annotations

from pathlib import Path

CONFIG_TEMPLATE = '''# iejtui.toml: engine profiles and settings for this journal.
# `iejtui engine start NAME` launches [engines.NAME]; argv is a list (never a shell string).

[service]
scrape_interval = 1.0      # seconds between /metrics scrapes
gpu_interval = 1.0         # seconds between NVML samples
# metrics_listen = "127.0.0.1:9464"   # a Prometheus endpoint (GPU + engine figures); off when unset

# The CPU demo engine: a real vLLM (CPU build) serving a tiny random Llama, built on first
# use under ~/.cache/iejtui (about 3.5 GB, a few minutes). `iejtui demo` starts it.
[engines.demo]
kind = "vllm"
argv = ["iejtui", "demo", "serve", "--port", "8011"]

# vLLM on a GPU box:
# [engines.llama8b]
# kind = "vllm"
# argv = ["vllm", "serve", "meta-llama/Llama-3.1-8B-Instruct", "--port", "8000",
#         "--max-model-len", "8192", "--gpu-memory-utilization", "0.90"]
# url = "http://127.0.0.1:8000"          # optional: derived from --host/--port
# env = { CUDA_VISIBLE_DEVICES = "0", CUDA_DEVICE_ORDER = "PCI_BUS_ID" }
# ready_timeout = 900                    # seconds to wait for /health
# stop_timeout = 30                      # SIGTERM grace before SIGKILL

# Triton Inference Server (TensorRT-LLM, vLLM or Python backends); the URL is the HTTP
# port, metrics come from --metrics-port; keep every listener on loopback:
# [engines.trtllm-triton]
# kind = "triton"
# argv = ["tritonserver", "--model-repository=/models/triton_repo",
#         "--http-address", "127.0.0.1", "--http-port", "8000",
#         "--grpc-address", "127.0.0.1", "--grpc-port", "8001",
#         "--metrics-address", "127.0.0.1", "--metrics-port", "8002"]

# Any OpenAI-compatible endpoint you did not start (benchmarks and latency only):
# [engines.remote]
# kind = "openai"
# url = "http://127.0.0.1:9000"
'''

GITIGNORE = """# iejtui runtime (socket, pidfiles, engine logs), the database (its runs' argv and env
# stay on this box) and its side files
.iejtui/
journal.db
journal.db-wal
journal.db-shm
journal.db-journal
"""

INDEX = """# Journal index

One row per day log (`iejtui day new TOPIC`). Lessons are promoted to `topics/`, clean
benchmark results live in `benchmarks/`.

| Day | Date | Topic | Runs | Headline |
|-----|------|-------|------|----------|
"""

TOPICS = {
    "vllm": "vLLM: serving, metrics, flags and their gotchas.",
    "quantization": "Quantization: formats, accuracy and speed trade-offs measured here.",
    "serving-patterns": "Serving patterns: batching, prefix caching, routing, disaggregation.",
    "tensorrt-llm": "TensorRT-LLM: builds, trtllm-serve, telemetry.",
}

BENCHMARKS = """# Benchmarks

The single source of truth for cleaned benchmark results. Each entry is a folder made by
`iejtui promote RUN --as NAME` (results.json + README.md + charts).

| Benchmark | Date | Engine | Hardware | Headline |
|-----------|------|--------|----------|----------|
"""


def _write_new(path: Path, text: str, created: list[str]) -> None:
    if not path.exists():
        path.write_text(text)
        created.append(str(path))


def init_journal(root: Path) -> list[str]:
    """Create what is missing of a journal at ``root``; returns the paths created."""
    created: list[str] = []
    root.mkdir(parents=True, exist_ok=True)
    for d in ("days", "topics", "benchmarks"):
        p = root / d
        if not p.exists():
            p.mkdir()
            created.append(str(p) + "/")
    for topic, blurb in TOPICS.items():
        (root / "topics" / topic).mkdir(exist_ok=True)
        _write_new(root / "topics" / topic / "README.md", f"# {topic}\n\n{blurb}\n\n## Notes\n", created)
    _write_new(root / "benchmarks" / "README.md", BENCHMARKS, created)
    _write_new(root / "JOURNAL_INDEX.md", INDEX, created)
    _write_new(root / "iejtui.toml", CONFIG_TEMPLATE, created)
    _write_new(root / ".gitignore", GITIGNORE, created)
    return created
