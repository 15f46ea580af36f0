"""A real Triton Inference Server (tritonserver 2.51 from the nvidia-pytriton 0.7.0 wheel)
launched by the service as engine kind ``triton``, serving the tiny-Llama ``ensemble``
(tests/data/triton_models/ensemble: TensorRT-LLM's ensemble contract on the Python backend,
its stub running with the CPU engine venv's Python).

The shared server is the session fixture ``triton_server`` (tests/conftest.py); the kill -9
test kills a second tritonserver of its own, serving a small Python model that needs no
torch, so the shared one stays up for the other Triton tests. Under ``CI`` a missing
Triton fails (the fixture raises), elsewhere the module skips.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import time
from pathlib import Path

import aiohttp
import pytest

from helpers import add_profile, cli, cli_json, free_port, stop_service, wait_for
from iejtui.store import Reader

pytestmark = pytest.mark.integration

ECHO_CONFIG = """name: "echo"
backend: "python"
max_batch_size: 0
input [ { name: "text_input" data_type: TYPE_STRING dims: [ 1 ] } ]
output [ { name: "text_output" data_type: TYPE_STRING dims: [ 1 ] } ]
"""
ECHO_MODEL = """import os, sys
for p in reversed([p for p in os.environ.get("IEJTUI_TRITON_PYTHONPATH", "").split(os.pathsep) if p]):
    sys.path.insert(0, p)
import triton_python_backend_utils as pb_utils


class TritonPythonModel:
    def execute(self, requests):
        return [pb_utils.InferenceResponse([pb_utils.Tensor(
            "text_output", pb_utils.get_input_tensor_by_name(r, "text_input").as_numpy())]) for r in requests]
"""


async def _sse(url: str, body: dict) -> list[dict]:
    """The events of one generate_stream call (``data: {...}`` lines)."""
    out = []
    async with aiohttp.ClientSession() as s:
        async with s.post(url, json=body) as r:
            assert r.status == 200, await r.text()
            async for raw in r.content:
                line = raw.decode().strip()
                if line.startswith("data:"):
                    out.append(json.loads(line[5:]))
    return out


async def _post(url: str, body: dict) -> tuple[int, dict]:
    async with aiohttp.ClientSession() as s:
        async with s.post(url, json=body) as r:
            return r.status, await r.json(content_type=None)


def test_ready_with_per_model_rows_and_phases(triton_server):
    e = {x["name"]: x for x in cli_json(triton_server["journal"], "engine", "list")}["triton"]
    assert e["kind"] == "triton" and e["status"] == "ready" and e["url"] == triton_server["url"]
    rows = {m["name"]: m for m in e["facts"]["models"]}
    assert set(rows) == set(triton_server["models"]) and "ensemble" in rows
    assert all(m["state"] == "READY" for m in rows.values()), rows
    assert e["facts"]["http_listen"] == f"127.0.0.1:{triton_server['http_port']}"
    assert e["warnings"] == []  # every listener on loopback
    reader = Reader(triton_server["journal"] / "journal.db")
    try:
        run = reader.run(triton_server["run_id"])
        phases = [ev["data"]["phase"] for ev in reader.events_of_kinds(run["id"], ["phase"])]
        assert phases == ["loading weights", "warm-up"], phases  # loading models -> models ready
        assert "ensemble" in (run["model"] or "")
        assert run["versions"]["engine"] == "2.51.0"  # GET /v2
    finally:
        reader.close()


def test_generate_stream_one_response_per_token_and_metrics_stored(triton_server):
    base = triton_server["url"] + "/v2/models/ensemble"
    # the payload vLLM's old benchmark_serving.py (backend tensorrt-llm) posts
    body = {"accumulate_tokens": True, "text_input": "the quick brown fox", "temperature": 0.0,
            "top_p": 1.0, "max_tokens": 8, "stream": True, "min_length": 8}
    events = asyncio.run(_sse(base + "/generate_stream", body))
    assert len(events) == 8, events  # min_length: no early end of sequence
    assert all(ev["model_name"] == "ensemble" and isinstance(ev["text_output"], str) for ev in events)
    # not streamed: one response, the whole text (greedy: the same tokens)
    status, whole = asyncio.run(_post(base + "/generate", {**body, "stream": False}))
    assert status == 200 and whole["text_output"] == "".join(ev["text_output"] for ev in events)
    # a request without its required input is refused, alone
    status, err = asyncio.run(_post(base + "/generate", {"max_tokens": 4}))
    assert status == 400 and "text_input" in err["error"]
    # Triton's own counters, scraped from the metrics port into the journal
    reader = Reader(triton_server["journal"] / "journal.db")
    try:
        def successes():
            latest = reader.latest(triton_server["run_id"], "engine")
            if latest is None:
                return None
            vals = {k: v for k, v in latest[1].items() if k[0] == "nv_inference_request_success"
                    and '"ensemble"' in k[1]}
            return vals and sum(vals.values()) >= 2 and vals
        wait_for(successes, 30, 0.5, "nv_inference_request_success for ensemble in the journal")
    finally:
        reader.close()


def _own_triton(tmp_path: Path, triton_install, model_py: str) -> tuple[Path, Path]:
    """A journal with profile ``doomed``: a tritonserver of its own (raw argv + the stub's
    environment, as a profile would hold them) serving one small Python model ``echo``."""
    from iejtui.demo.triton_env import build_model_repository, triton_argv, triton_env
    env, model, triton = triton_install
    src = tmp_path / "src" / "echo"
    (src / "1").mkdir(parents=True)
    (src / "config.pbtxt").write_text(ECHO_CONFIG)
    (src / "1" / "model.py").write_text(model_py)
    repo = build_model_repository(tmp_path / "repo", [src])
    root = tmp_path / "journal"
    assert cli(root, "init", str(root)).returncode == 0
    argv = triton_argv(triton, repo, free_port(), free_port(), free_port())
    launch_env = triton_env(triton, env, model, base=dict(os.environ))
    add_profile(root, f'\n[engines.doomed]\nkind = "triton"\nargv = {json.dumps(argv)}\n'
                      f"env = {{ {', '.join(f'{k} = {json.dumps(v)}' for k, v in launch_env.items())} }}\n")
    return root, repo


def test_a_model_that_fails_to_load_fails_the_start_with_its_reason(tmp_path, triton_install):
    root, _ = _own_triton(tmp_path, triton_install, "import no_such_module_here\n")
    try:
        p = cli(root, "engine", "start", "doomed", "--wait", timeout=300)
        assert p.returncode == 1, p.stdout + p.stderr
        assert "failed to load 'echo'" in p.stdout + p.stderr and "no_such_module_here" in p.stdout + p.stderr
        run = cli_json(root, "runs", "show", "1")
        assert run["status"] == "crashed" and "failed to load 'echo'" in run["reason"], run["reason"]
    finally:
        stop_service(root)


def test_kill9_is_a_crash_with_its_last_log_lines(tmp_path, triton_install):
    root, repo = _own_triton(tmp_path, triton_install, ECHO_MODEL)
    try:
        p = cli(root, "engine", "start", "doomed", "--wait", timeout=300)
        assert p.returncode == 0, p.stdout + p.stderr
        assert "ready at http://127.0.0.1:" in p.stdout and ": models echo" in p.stdout, p.stdout
        e = cli_json(root, "engine", "list")[0]
        assert e["facts"]["models"] == [{"name": "echo", "version": "1", "state": "READY", "reason": ""}]
        # the service dies and comes back: it re-adopts tritonserver and scrapes its metrics
        # port again (not Triton's default 8002: this one listens elsewhere)
        service_pid = int((root / ".iejtui" / "service.pid").read_text())
        os.kill(service_pid, signal.SIGKILL)
        wait_for(lambda: not Path(f"/proc/{service_pid}").exists() or
                 "Z" in Path(f"/proc/{service_pid}/stat").read_text().split()[2], 10, 0.1, "the service to die")
        restarted = time.time()
        assert cli(root, "service", "start").returncode == 0
        wait_for(lambda: (x := cli_json(root, "engine", "list")[0])["status"] == "ready"
                 and (x["last_scrape_ok"] or 0) > restarted and x["scrape_error"] is None, 30, 0.5,
                 "a scrape of the re-adopted tritonserver")
        os.kill(e["pid"], signal.SIGKILL)
        run = wait_for(lambda: (r := cli_json(root, "runs", "show", str(e["run_id"])))["status"] == "crashed" and r,
                       60, 0.5, "the crash to be reported")
        assert run["exit_code"] == -9, run
        shown = cli(root, "runs", "show", str(e["run_id"]))
        assert shown.returncode == 0, shown.stderr
        assert "crashed (killed by signal 9)" in shown.stdout
        tail = shown.stdout.split("log tail", 1)[1]
        assert "Started HTTPService at 127.0.0.1" in tail and "Started Metrics Service" in tail
        # its Python-backend stub went with it (the service kills what the engine left)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and _stubs_of(repo):
            time.sleep(0.5)
        assert not _stubs_of(repo)
    finally:
        stop_service(root)


def _stubs_of(repo: Path) -> list[int]:
    """Python-backend stubs serving a model of ``repo`` that are still alive."""
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            args = (proc / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if args and args[0].endswith(b"triton_python_backend_stub") and any(str(repo).encode() in a for a in args):
            found.append(int(proc.name))
    return found
