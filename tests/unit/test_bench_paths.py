"""Drop-in paths: ``iejtui bench`` resolves path flags against the caller's folder, as
``vllm bench serve`` does, though the benchmark runs inside the service (whose folder is the
journal's). A real service, a real mock server process, the CLI run from another folder."""

from __future__ import annotations

import json

import pytest

from collectors.loadgen.argv import resolve_path_flags
from helpers import MockServer, cli


def test_caller_paths_always_resolve_and_hub_ids_pass_unchanged(tmp_path):
    (tmp_path / "tok").mkdir()
    argv = ["--result-dir", "out", "--dataset-path=data/x.jsonl", "--tokenizer", "meta-llama/Llama-3.1-8B",
            "--model", "facebook/opt-125m", "--num-prompts", "3"]
    got = resolve_path_flags(argv, str(tmp_path))
    assert got == ["--result-dir", str(tmp_path / "out"), f"--dataset-path={tmp_path / 'data' / 'x.jsonl'}",
                   "--tokenizer", "meta-llama/Llama-3.1-8B", "--model", "facebook/opt-125m", "--num-prompts", "3"]
    # a path that exists in the caller's folder is resolved; a resolved --model keeps its
    # text as the served model name the requests carry
    got = resolve_path_flags(["--tokenizer", "tok", "--model", "./tok", "--result-dir", "/abs/out"], str(tmp_path))
    assert got == ["--tokenizer", str(tmp_path / "tok"), "--model", str(tmp_path / "tok"),
                   "--result-dir", "/abs/out", "--served-model-name", "./tok"]
    assert resolve_path_flags(["--model", "./tok", "--served-model-name", "m"], str(tmp_path))[-2:] == [
        "--served-model-name", "m"]
    assert resolve_path_flags(argv, None) == argv


@pytest.fixture
def mock_url():
    with MockServer("--chunks", "4") as url:
        yield url


@pytest.mark.slow
def test_result_dir_and_dataset_path_are_the_callers(journal, tmp_path, mock_url):
    caller = tmp_path / "caller"
    (caller / "data").mkdir(parents=True)
    (caller / "data" / "prompts.jsonl").write_text("".join(json.dumps({"prompt": f"hello {i}"}) + "\n"
                                                         for i in range(4)))
    p = cli(journal, "bench", "--base-url", mock_url, "--model", "mock", "--dataset-name", "custom",
            "--dataset-path", "data/prompts.jsonl", "--custom-output-len", "4", "--num-prompts", "4",
            "--save-result", "--result-dir", "out", "--result-filename", "r.json", cwd=caller, timeout=300)
    assert p.returncode == 0, p.stderr
    result = caller / "out" / "r.json"
    assert result.is_file(), p.stdout
    assert json.loads(result.read_text())["completed"] == 4
    assert f"result: {result}" in p.stdout  # the real path, not "out/…"
    assert not (journal / "out").exists()
    # the service was told the caller's folder: a relative missing dataset names the real path
    p = cli(journal, "bench", "--base-url", mock_url, "--model", "mock", "--dataset-name", "custom",
            "--dataset-path", "nope.jsonl", "--num-prompts", "2", cwd=caller)
    assert p.returncode == 2 and str(caller / "nope.jsonl") in p.stderr and "Traceback" not in p.stderr
