"""Matrix files: the issue's minimal file as written, grid expansion, validation errors (file:line)."""

from __future__ import annotations

from pathlib import Path

import pytest

from collectors.loadgen.config import parse_args
from iejtui.config import load_config
from iejtui.errors import UserError
from iejtui.matrix.parse import load_matrix
from iejtui.matrix.spec import LoadPoint, spec_from_dict

PROFILE = '''
[engines.tiny]
kind = "vllm"
argv = ["vllm", "serve", "/models/x", "--port", "8000"]
url = "http://127.0.0.1:8000"
env = { VLLM_CPU_KVCACHE_SPACE = "1" }
'''

MINIMAL = '''name = "seqs"
[engine]
profile = "tiny"
[[variants]]
name = "seqs8"
args = ["--max-num-seqs", "8"]
[[variants]]
name = "seqs64"
args = ["--max-num-seqs", "64"]
[[workloads]]
name = "short"
dataset = "random"
input_len = 128
output_len = 64
num_prompts = 48
[load]
max_concurrency = [4, 16]
repetitions = 2
[cost]
gpu_hour_usd = 2.5
'''


@pytest.fixture
def jdir(tmp_path):
    (tmp_path / "iejtui.toml").write_text(PROFILE)
    return tmp_path


def load(jdir: Path, text: str, name: str = "m.toml"):
    p = jdir / name
    p.write_text(text)
    return load_matrix(p, load_config(jdir / "iejtui.toml"))


def error(jdir: Path, text: str) -> str:
    with pytest.raises(UserError) as exc:
        load(jdir, text)
    msg = str(exc.value)
    assert "\n" not in msg
    return msg


def test_minimal_file_of_the_issue_works_as_written(jdir):
    spec = load(jdir, MINIMAL)
    assert spec.name == "seqs" and spec.profile == "tiny" and spec.repetitions == 2
    assert spec.cost == {"gpu_hour_usd": 2.5}
    cells = spec.cells()
    assert len(cells) == 2 * 1 * 2 * 2
    assert [c.key for c in cells[:4]] == ["seqs8/short/c4/1", "seqs8/short/c4/2", "seqs8/short/c16/1",
                                          "seqs8/short/c16/2"]
    assert spec.engine_argv("seqs64") == ["vllm", "serve", "/models/x", "--port", "8000", "--max-num-seqs", "64"]
    assert spec.engine_env("seqs8") == {"VLLM_CPU_KVCACHE_SPACE": "1"}
    cfg = parse_args(["--base-url", "http://x:1", *spec.bench_argv(cells[2])])
    assert (cfg.num_prompts, cfg.max_concurrency, cfg.random_input_len, cfg.random_output_len) == (48, 16, 128, 64)
    assert cfg.ignore_eos and cfg.metric_percentiles == [50.0, 90.0, 99.0]


def test_grid_with_rates_env_slos_and_per_workload_loads(jdir):
    spec = load(jdir, MINIMAL.replace('[load]\nmax_concurrency = [4, 16]', '[load]\nmax_concurrency = [4]\n'
                                                                           'request_rate = [2, "inf"]')
                + '[[variants]]\nname = "fp8"\nargs = []\nenv = { VLLM_X = "1" }\n'
                  '[[workloads]]\nname = "long"\ninput_len = 1024\noutput_len = 8\nnum_prompts = 4\n'
                  'max_concurrency = [1]\n'
                  '[[slo]]\nname = "chat"\nttft_ms = 300\ntpot_ms = 40\n[[slo]]\nname = "batch"\ne2el_ms = 9000\n')
    assert [lp.label for lp in spec.workload("short").loads] == ["c4-r2", "c4"]
    assert spec.workload("long").loads == (LoadPoint(1, None),)
    assert len(spec.cells()) == 3 * (2 + 1) * 2
    assert spec.engine_env("fp8")["VLLM_X"] == "1" and [s.name for s in spec.slos] == ["chat", "batch"]
    argv = spec.bench_argv(spec.cells()[0])
    assert argv[argv.index("--goodput") + 1:argv.index("--goodput") + 3] == ["ttft:300", "tpot:40"]
    assert "--request-rate" in argv and parse_args(["--base-url", "http://x:1", *argv]).request_rate == 2.0
    assert spec_from_dict(spec.to_dict()) == spec


def test_cell_hash_changes_only_with_what_defines_the_cell(jdir):
    a = {c.key: c.hash for c in load(jdir, MINIMAL).cells()}
    b = {c.key: c.hash for c in load(jdir, MINIMAL.replace('"64"]', '"32"]')).cells()}
    same = [k for k in a if a[k] == b[k]]
    assert same and all(k.startswith("seqs8/") for k in same) and len(same) == 4


@pytest.mark.parametrize("mutate, line, words", [
    (lambda t: t.replace('name = "seqs"\n', 'name = "seqs"\nfrobnicate = 1\n'), 2, "unknown key 'frobnicate'"),
    (lambda t: t.replace('profile = "tiny"', 'profile = "ghost"'), 3, "unknown engine profile 'ghost'"),
    (lambda t: t.replace('name = "seqs64"', 'name = "seqs8"'), 8, "two variants are named 'seqs8'"),
    (lambda t: t.replace('"--max-num-seqs", "64"', '"--port", "9000"'), 9, "must not set --port"),
    (lambda t: t.replace('args = ["--max-num-seqs", "8"]', 'args = "--max-num-seqs 8"'), 6, "not one string"),
    (lambda t: t.replace("input_len = 128", "input_len = -1"), 13, "input_len = -1"),
    (lambda t: t.replace('dataset = "random"', 'dataset = "imagenet"'), 12, "dataset 'imagenet'"),
    (lambda t: t.replace("max_concurrency = [4, 16]", "max_concurrency = [4, 0]"), 17, "max_concurrency value"),
    (lambda t: t.replace("max_concurrency = [4, 16]\n", ""), 16, "no load points"),
    (lambda t: t.replace("repetitions = 2", "repetitions = 0"), 18, "repetitions = 0"),
    (lambda t: t.replace("gpu_hour_usd = 2.5", "gpu_hour_usd = -1"), 20, "gpu_hour_usd = -1"),
    (lambda t: t.replace("num_prompts = 48", 'num_prompts = 48\nargs = ["--max-concurrency", "3"]'), 16,
     "must not set --max-concurrency"),
    (lambda t: t.replace("num_prompts = 48", 'num_prompts = 48\nargs = ["--frobnicate"]'), 10, "--frobnicate"),
    (lambda t: t.replace('name = "seqs"', 'name = "Seqs Matrix"'), 1, "matrix name"),
    (lambda t: t.replace('[load]', '[load\n'), 16, "invalid TOML"),
    (lambda t: t + '[slo]\nttft = 3\n', 22, "unknown key 'ttft'"),
])
def test_validation_errors_name_file_and_line(jdir, mutate, line, words):
    msg = error(jdir, mutate(MINIMAL))
    assert msg.startswith(f"{jdir / 'm.toml'}:{line}:"), msg
    assert words in msg, msg


def test_dataset_files_are_resolved_and_checked(jdir):
    text = MINIMAL.replace('dataset = "random"\ninput_len = 128\noutput_len = 64',
                           'dataset = "sharegpt"\ndataset_path = "data/sg.json"\noutput_len = 64')
    assert "does not exist" in error(jdir, text)
    (jdir / "data").mkdir()
    (jdir / "data" / "sg.json").write_text("[]")
    spec = load(jdir, text)
    argv = spec.bench_argv(spec.cells()[0])
    assert argv[argv.index("--dataset-path") + 1] == str(jdir / "data" / "sg.json")
    assert "--sharegpt-output-len" in argv


def test_missing_sections_and_files_are_one_line_errors(jdir):
    assert "no such matrix file" in str(pytest.raises(UserError, load_matrix, jdir / "nope.toml",
                                                      load_config(jdir / "iejtui.toml")).value)
    assert "no [[variants]]" in error(jdir, 'name = "x"\n[engine]\nprofile = "tiny"\n')
    assert "profile = \"NAME\" is required" in error(jdir, 'name = "x"\n')


def test_slos_default_to_iejtui_toml(jdir):
    (jdir / "iejtui.toml").write_text(PROFILE + "\n[slo]\nttft_ms = 250\n")
    spec = load(jdir, MINIMAL)
    assert [(s.name, s.ttft_ms) for s in spec.slos] == [("slo", 250.0)]
