"""iejtui.toml: valid profiles load; every mistake names file, line and the fix."""

import pytest

from iejtui.config import load_config
from iejtui.errors import UserError


def write(tmp_path, text):
    p = tmp_path / "iejtui.toml"
    p.write_text(text)
    return p


def test_minimal_profile_from_design(tmp_path):
    cfg = load_config(write(tmp_path, '''
[engines.tiny]
kind = "vllm"
argv = ["vllm", "serve", "/models/x", "--port", "8000"]
url = "http://127.0.0.1:8000"
env = { VLLM_CPU_KVCACHE_SPACE = "1" }
'''))
    p = cfg.profile("tiny")
    assert p.kind == "vllm" and p.argv[-1] == "8000" and p.env == {"VLLM_CPU_KVCACHE_SPACE": "1"}


def test_missing_file_is_empty_config(tmp_path):
    assert load_config(tmp_path / "iejtui.toml").engines == {}


def test_syntax_error_names_file_and_line(tmp_path):
    p = write(tmp_path, '[engines.tiny]\nkind = "vllm"\nargv = ["a", \n')
    with pytest.raises(UserError) as e:
        load_config(p)
    assert str(e.value).startswith(f"{p}:") and "invalid TOML" in str(e.value)
    assert "\n" not in str(e.value)


@pytest.mark.parametrize("body, needle", [
    ('[engines.x]\nkind = "vlm"\nargv = ["a"]\n', "must be one of vllm"),
    ('[engines.x]\nkind = "vllm"\nargv = "vllm serve m"\n', "not a shell string"),
    ('[engines.x]\nkind = "vllm"\nargv = ["a"]\nenvv = {}\n', "unknown key(s) envv"),
    ('[engines.x]\nkind = "vllm"\nargv = ["a"]\nurl = "localhost:8000"\n', "http://"),
    ('[engines.x]\nkind = "vllm"\n', "needs argv"),
    ('[service]\nscrape_interval = 0\n', "between 0.1 and 3600"),
    ('[enignes.x]\nkind = "vllm"\n', "unknown top-level key(s) enignes"),
])
def test_semantic_errors_are_one_clear_line(tmp_path, body, needle):
    p = write(tmp_path, body)
    with pytest.raises(UserError) as e:
        load_config(p)
    msg = str(e.value)
    assert needle in msg and str(p) in msg and "\n" not in msg


def test_error_points_at_the_profile_line(tmp_path):
    p = write(tmp_path, '# c\n\n[engines.ok]\nkind = "vllm"\nargv = ["a"]\n\n[engines.bad]\nkind = "nope"\n')
    with pytest.raises(UserError, match=rf"{p}:7:"):
        load_config(p)


def test_unknown_profile_lists_known(tmp_path):
    cfg = load_config(write(tmp_path, '[engines.a]\nkind = "vllm"\nargv = ["x"]\n'))
    with pytest.raises(UserError, match="profiles in .*: a"):
        cfg.profile("b")


@pytest.mark.parametrize("line,words", [
    ('log_max_bytes = "big"', "[service] log_max_bytes = 'big': must be a positive integer number of bytes"),
    ("log_max_bytes = -5", "log_max_bytes = -5"),
    ("metrics_listen = [1]", "metrics_listen"),
])
def test_service_values_are_typed(tmp_path, line, words):
    with pytest.raises(UserError) as info:
        load_config(write(tmp_path, f"[service]\n{line}\n"))
    assert words in str(info.value) and "iejtui.toml:1" in str(info.value)


def test_env_names_and_cwd_are_checked(tmp_path):
    with pytest.raises(UserError, match="env name 'A=B' is not a variable name"):
        load_config(write(tmp_path, '[engines.x]\nkind = "vllm"\nargv = ["v"]\nenv = { "A=B" = "1" }\n'))
    with pytest.raises(UserError, match="cwd must be a string"):
        load_config(write(tmp_path, '[engines.x]\nkind = "vllm"\nargv = ["v"]\ncwd = 5\n'))
