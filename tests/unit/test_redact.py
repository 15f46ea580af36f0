"""Secrets never reach journal.db, logs shown by iejtui, or exports."""

from iejtui.redact import (MASK, is_secret_flag, is_secret_name, make_fingerprints, redact_argv,
                           redact_by_fingerprints, redact_env, redact_text)


def test_argv_flags_both_forms():
    argv = ["vllm", "serve", "m", "--api-key", "sk-live-1234", "--hf-token=hf_abcdef", "--max-num-batched-tokens", "8192"]
    shown, secrets = redact_argv(argv)
    assert shown == ["vllm", "serve", "m", "--api-key", MASK, f"--hf-token={MASK}", "--max-num-batched-tokens", "8192"]
    assert secrets == ["sk-live-1234", "hf_abcdef"]


def test_flag_and_env_names():
    assert is_secret_flag("--api-key") and is_secret_flag("--token") and is_secret_flag("--openai-api-key")
    assert not is_secret_flag("--max-num-batched-tokens") and not is_secret_flag("--tokenizer")
    assert is_secret_name("HF_TOKEN") and is_secret_name("OPENAI_API_KEY") and is_secret_name("DB_PASSWORD")
    assert not is_secret_name("TOKENIZERS_PARALLELISM") and not is_secret_name("VLLM_CPU_KVCACHE_SPACE")


def test_env_values_masked():
    shown, secrets = redact_env({"HF_TOKEN": "hf_x1234", "CUDA_VISIBLE_DEVICES": "0"})
    assert shown == {"HF_TOKEN": MASK, "CUDA_VISIBLE_DEVICES": "0"} and secrets == ["hf_x1234"]


def test_text_known_values_and_inline_forms():
    text = "loaded with key sk-live-1234; headers Authorization: Bearer abc.def; api_key='zzz9'"
    out = redact_text(text, ["sk-live-1234"])
    assert "sk-live-1234" not in out and "abc.def" not in out and "zzz9" not in out


def test_fingerprints_mask_without_keeping_the_secret():
    rec = make_fingerprints(["sk-live-1234", "hf_abcdef"])
    assert "sk-live-1234" not in str(rec)
    line = "args: --api-key sk-live-1234 --other=hf_abcdef ok"
    out = redact_by_fingerprints(line, rec)
    assert "sk-live-1234" not in out and "hf_abcdef" not in out and out.endswith("ok")


# ---- issue #14 item 2: every form a secret really takes, and ordinary text left alone ----
import re
import subprocess

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from iejtui.redact import find_secrets, redact_obj, redact_url

SHAPES = {
    "hf": "hf_" + "AbCdEfGhIjKlMnOpQrStUvWx12",
    "openai": "sk-" + "AbCdEfGh1234567890IjKlMnOp",
    "openai-proj": "sk-proj-" + "AbCdEfGh1234567890_IjKlMnOp-QrSt",
    "github": "ghp_" + "AbCdEfGhIjKlMnOpQrStUvWxYz0123456789",
    "github-oauth": "gho_" + "AbCdEfGhIjKlMnOpQrStUvWxYz0123456789",
    "github-server": "ghs_" + "AbCdEfGhIjKlMnOpQrStUvWxYz0123456789",
    "github-pat": "github_pat_" + "11ABCDEFG0123456789_abcdefghijklmnopqrstuvwxyz",
    "aws": "AKIA" + "IOSFODNN7EXAMPL1",
    "slack": "xoxb-" + "1234567890-abcdefghijKLM",
}


@pytest.mark.parametrize("kind", sorted(SHAPES))
@pytest.mark.parametrize("around", ["{}", "key is {} ok", "x={}", "'{}'", "[{}]", '{{"v": "{}"}}', "url?x={}&y=1"])
def test_token_shapes_masked_unlabelled(kind, around):
    secret = SHAPES[kind]
    out = redact_text(around.format(secret))
    assert secret not in out and MASK in out


@pytest.mark.parametrize("text,secret,kept", [
    ("Authorization: Bearer abc.DEF-123_x", "abc.DEF-123_x", "Authorization: Bearer"),
    ("authorization=Bearer zzZZ9999", "zzZZ9999", "authorization=Bearer"),
    ("Authorization: Basic dXNlcjpodW50ZXIy", "dXNlcjpodW50ZXIy", "Basic"),
    ("Authorization: token plainvalue", "plainvalue", "token"),
    ('{"Authorization": "Bearer qwertyuiop"}', "qwertyuiop", "Authorization"),
    ("curl -H 'X-Api-Key: k3y-v4lue' http://h", "k3y-v4lue", "X-Api-Key"),
    ("got Bearer q1w2e3r4t5y6 from env", "q1w2e3r4t5y6", "got Bearer"),
    ('{"api_key": "s3cr3tvalue", "max_tokens": 128}', "s3cr3tvalue", '"max_tokens": 128'),
    ("non-default args: {'api_key': ['hunter2secret'], 'model': '/m'}", "hunter2secret", "'model': '/m'"),
    ("Namespace(hf_token='tok-value-1', tokenizer=None)", "tok-value-1", "tokenizer=None"),
    ("connect(password=pa55word, user=bob)", "pa55word", "user=bob"),
    ("client_secret: abcdef1234", "abcdef1234", "client_secret"),
    ("GET /v1/models?token=t0k3nvalue HTTP/1.1", "t0k3nvalue", "GET /v1/models?token="),
    ("GET /x?a=1&key=k3yvalue&b=2", "k3yvalue", "&b=2"),
    ("https://h/cb#x?access_token=acc355tok", "acc355tok", "access_token="),
    ("http://alice:pw-0f-alice@127.0.0.1:8000/v1", "pw-0f-alice", "http://alice:***@127.0.0.1:8000/v1"),
    ("postgres://bob:hunter2@db.internal:5432/app", "hunter2", "bob:***@db.internal"),
])
def test_inline_forms_masked_label_kept(text, secret, kept):
    out = redact_text(text)
    assert secret not in out and kept in out, out
    assert secret in find_secrets(text)


ORDINARY = [
    "meta-llama/Llama-3-8B-Instruct", "Qwen/Qwen2.5-0.5B-Instruct", "--max-num-seqs 256 --max-num-batched-tokens 8192",
    "tokenizer=meta-llama/Llama-3-8B tokenizer_mode=auto", "max_tokens=128 num_tokens=40 prompt_tokens: 12",
    "/home/alice/models/llama-8b/config.json", "INFO 12-06 loader.py:42] Loading weights took 1.20 seconds",
    "Bearer token required", "Basic authentication failed", "token: 5", "hf_hub_download(repo_id)",
    "task-1234567890abcdefgh", "disk-usage-0123456789abcdef", "skip-special-tokens", "KEY_SIZE=256",
    "CUDA_VISIBLE_DEVICES=0,1", "password=None", "api_key=null", "the key cache is 1.5 GiB",
    "http://127.0.0.1:8000/v1/completions", "ssh://gpu-box:22/tmp", "sk-learn", "AKIA-is-a-prefix",
]


@pytest.mark.parametrize("text", ORDINARY)
def test_ordinary_log_text_unchanged(text):
    assert redact_text(text) == text


_WORDS = st.sampled_from(["model", "meta-llama/Llama-3-8B", "--max-num-seqs", "tokenizer", "max_tokens=128",
                          "num_tokens", "/home/alice/m", "INFO", "12.5", "tok/s", "KV", "cache", "=", ":", "loaded",
                          "tokens", "--port", "8000", "http://127.0.0.1:8000/metrics", "{", "}", "'"])
# (not "Bearer": whatever follows it with a digit and 8+ characters is taken for a credential, by design)


@settings(max_examples=200, deadline=None)
@given(st.lists(_WORDS, max_size=12))
def test_property_ordinary_words_never_masked(words):
    text = " ".join(words)
    assert redact_text(text) == text


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(sorted(SHAPES)), st.text(alphabet="abc XYZ.:=,;'\"()[]{}/-\n", max_size=20),
       st.text(alphabet="abc XYZ.:=,;'\"()[]{}/-\n", max_size=20), st.text(alphabet="ABCxyz0123456789", max_size=8))
def test_property_a_token_shape_never_survives(kind, before, after, tail):
    secret = SHAPES[kind] + tail
    sep = "" if kind != "openai" and kind != "openai-proj" else " "  # sk- needs a word boundary before it
    assert secret not in redact_text(before + sep + secret + after)


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet="abcdefghijklmnopqrstuvwxyzABCDEFGHIJ0123456789._~+-", min_size=6, max_size=30)
       .filter(lambda s: any(c.isdigit() for c in s) and any(c.isalpha() for c in s)),
       st.sampled_from(["Authorization: Bearer {}", "Authorization=Bearer {}", '"api_key": "{}"', "'token': ['{}']",
                        "?token={}", "&key={}", "https://user:{}@host/x", "password={}"]))
def test_property_labelled_values_never_survive(secret, form):
    assert secret not in redact_text("log: " + form.format(secret) + " end")


def test_env_names_by_label():
    secret = ["HF_TOKEN", "GH_TOKEN_RO", "OPENAI_API_KEY", "AWS_SECRET_ACCESS_KEY", "SSH_KEYS", "GITHUB_PAT",
              "DB_PASSWORD", "MYPASSWORD", "CLIENT_SECRET_FILE_CONTENT", "DATABASE_URL", "APP_DATABASE_URL",
              "SENTRY_DSN", "HF_API_TOKENS", "DB_PASS", "REGISTRY_CREDENTIALS", "KEY"]
    visible = ["CUDA_VISIBLE_DEVICES", "VLLM_CPU_KVCACHE_SPACE", "PATH", "PWD", "OLDPWD", "KEY_SIZE", "API_KEY_FILE",
               "TOKENIZERS_PARALLELISM", "VLLM_TOKENIZER_MODE", "HF_HUB_OFFLINE", "HOME", "PATCH_LEVEL", "PASSAGE_LEN"]
    assert [n for n in secret if not is_secret_name(n)] == []
    assert [n for n in visible if is_secret_name(n)] == []


def test_env_values_masked_by_label_and_by_form():
    env = {"HF_TOKEN": "anything-at-all", "HTTPS_PROXY": "http://u:proxypw@proxy:3128", "NOTES": SHAPES["github"],
           "DATABASE_URL": "postgres://a:b@c/d", "VLLM_CPU_KVCACHE_SPACE": "1"}
    shown, found = redact_env(env)
    assert shown == {"HF_TOKEN": MASK, "HTTPS_PROXY": f"http://u:{MASK}@proxy:3128", "NOTES": MASK,
                     "DATABASE_URL": MASK, "VLLM_CPU_KVCACHE_SPACE": "1"}
    assert {"anything-at-all", "proxypw", SHAPES["github"], "postgres://a:b@c/d"} <= set(found)


def test_argv_headers_flags_urls_and_shapes():
    argv = ["iejtui", "bench", "--header", "Authorization=Bearer b34rer-val", "X-Trace=1", "Cookie=sess1on",
            "--base-url", "http://alice:pw-alice@127.0.0.1:8000?token=t0kval", "-H", "X-Api-Key: k3yval",
            "--header=Proxy-Authorization: Basic YmFzaWM=", "--note", SHAPES["hf"], "--model", "meta-llama/Llama-3-8B",
            "--max-tokens", "128"]
    shown, found = redact_argv(argv)
    joined = " ".join(shown)
    for s in ["b34rer-val", "sess1on", "pw-alice", "t0kval", "k3yval", "YmFzaWM=", SHAPES["hf"]]:
        assert s not in joined and s in found, s
    assert "Authorization=Bearer ***" in shown and "X-Trace=1" in shown and "X-Api-Key: ***" in shown
    assert "http://alice:***@127.0.0.1:8000?token=***" in shown
    assert shown[-4:] == ["--model", "meta-llama/Llama-3-8B", "--max-tokens", "128"]


def test_numbers_under_generic_labels_are_counts_but_not_after_authorization():
    assert redact_text("token: 5, max_tokens=128, ?key=2") == "token: 5, max_tokens=128, ?key=2"
    assert redact_text("Authorization: Bearer 12345678") == "Authorization: Bearer ***"
    assert redact_text("http://bob:123456@h/") == "http://bob:***@h/"


def test_urls_and_objects():
    assert redact_url("http://u:p4ss@h:1/x?token=abc1&n=2") == "http://u:***@h:1/x?token=***&n=2"
    assert redact_url("http://127.0.0.1:8000") == "http://127.0.0.1:8000" and redact_url(None) is None
    obj = {"tokens": {"generated": 5}, "api_key": "plainvalue", "HF_TOKEN": "x-y-z", "max_tokens": 128,
           "url": "http://u:pw99@h", "nested": [{"note": SHAPES["slack"]}]}
    out = redact_obj(obj)
    assert out == {"tokens": {"generated": 5}, "api_key": MASK, "HF_TOKEN": MASK, "max_tokens": 128,
                   "url": "http://u:***@h", "nested": [{"note": MASK}]}


# ---- replay scripts: a masked value is read from a named variable, never a literal *** ----
def _script(argv, env):
    from iejtui.journal.scripts import command_script
    return command_script({"id": 4, "name": "s", "kind": "engine", "argv": argv, "env": env}, "2026-12-06")


def test_replay_script_names_a_variable_for_every_masked_form(tmp_path):
    raw_argv = ["printf", "%s\n", "--api-key", "sk-real-key-1", "--hf-token=hf-real", "--header",
                "Authorization: Bearer b34rer", "--url", "http://alice:alicepw@h:1/?token=qtok1",
                "--note", SHAPES["github"]]
    raw_env = {"HF_TOKEN": "hf-env-value", "HTTPS_PROXY": "http://u:proxypw@p:3128", "PLAIN": "1"}
    argv, _ = redact_argv(raw_argv)
    env, _ = redact_env(raw_env)
    text = _script(argv, env)
    body = "\n".join(ln for ln in text.splitlines() if not ln.startswith("#"))
    assert MASK not in body
    names = re.findall(r"\$\{(\w+):\?", text)
    assert names == ["HF_TOKEN", "IEJTUI_HTTPS_PROXY_U_PASSWORD", "IEJTUI_API_KEY", "IEJTUI_HF_TOKEN",
                     "IEJTUI_AUTHORIZATION", "IEJTUI_ALICE_PASSWORD", "IEJTUI_TOKEN", "IEJTUI_NOTE"]
    path = tmp_path / "replay.sh"
    path.write_text(text)
    values = {"HF_TOKEN": "E1", "IEJTUI_HTTPS_PROXY_U_PASSWORD": "E2", "IEJTUI_API_KEY": "K1", "IEJTUI_HF_TOKEN": "K2",
              "IEJTUI_AUTHORIZATION": "K3", "IEJTUI_ALICE_PASSWORD": "K4", "IEJTUI_TOKEN": "K5", "IEJTUI_NOTE": "K6"}
    p = subprocess.run(["bash", str(path)], env={"PATH": "/usr/bin:/bin", **values}, capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    assert p.stdout.split("\n")[:-1] == ["--api-key", "K1", "--hf-token=K2", "--header", "Authorization: Bearer K3",
                                         "--url", "http://alice:K4@h:1/?token=K5", "--note", "K6"]
    del values["IEJTUI_TOKEN"]
    p = subprocess.run(["bash", str(path)], env={"PATH": "/usr/bin:/bin", **values}, capture_output=True, text=True)
    assert p.returncode != 0 and "IEJTUI_TOKEN" in p.stderr and p.stdout == ""


def test_replay_script_names_the_header_not_its_scheme():
    text = _script(["iejtui", "bench", "--header", "Authorization=Bearer ***", "X-Api-Key: ***"], {})
    assert "${IEJTUI_AUTHORIZATION:?" in text and "${IEJTUI_X_API_KEY:?" in text and "BEARER" not in text


def test_replay_script_masks_what_an_older_journal_kept_raw():
    text = _script(["vllm", "serve", "--x", SHAPES["openai"]], {})
    assert SHAPES["openai"] not in text and "${IEJTUI_X:?" in text


# ---- metrics endpoint label values ----
def test_endpoint_label_values_are_last_path_components():
    from iejtui.fleet.exposition import label_value
    assert label_value("/home/alice/models/llama-8b") == "llama-8b"
    assert label_value("/home/alice/models/llama-8b/") == "llama-8b"
    assert label_value("meta-llama/Llama-3-8B") == "Llama-3-8B" and label_value("tiny") == "tiny"
    assert label_value(SHAPES["hf"]) == MASK


def test_endpoint_exposition_reduces_engine_model_paths_and_masks_run_labels():
    from pathlib import Path

    from prometheus_client import CollectorRegistry, generate_latest

    from collectors.prometheus import parse_text
    from collectors.records import Frame
    from iejtui.derive.metric_map import VLLM
    from iejtui.fleet import exposition as X
    data = Path(__file__).resolve().parents[1] / "data" / "vllm-0.32-metrics-load.txt"
    text = data.read_text()
    model = re.search(r'model_name="([^"]+)"', text).group(1)
    text = text.replace(f'model_name="{model}"', 'model_name="/home/alice/models/llama-8b"')
    frame = Frame("engine", 1000.0, parse_text(text).samples)
    fams = [*X.engine_families([{"name": "tiny", "kind": "vllm", "run_id": 7, "mmap": VLLM,
                                 "get": X.frames_getter([frame])}]),
            *X.info_families([{"id": 7, "name": "tiny", "kind": "engine", "status": "ready", "tags": ["t"],
                               "engine_name": "tiny", "engine_kind": "vllm",
                               "model": "/home/alice/models/llama-8b"},
                              {"id": 8, "name": "b " + SHAPES["hf"], "kind": "bench", "status": "running",
                               "tags": []}], "host", "1")]

    class C:
        def collect(self):
            return fams
    reg = CollectorRegistry(auto_describe=False)
    reg.register(C())
    out = generate_latest(reg).decode()
    assert "/home/alice" not in out and SHAPES["hf"] not in out
    assert 'model_name="llama-8b"' in out and 'model="llama-8b"' in out


def test_journal_db_writer_masks_runs_events_and_requests(tmp_path):
    from collectors.records import Event
    from iejtui.store.writer import Writer
    db = tmp_path / "journal.db"
    w = Writer(db)
    rid = w.create_run(kind="engine", name="x", status="starting", url="http://u:urlpw-1@h:1/?token=qtok-2",
                       argv=["vllm", "--api-key", "argkey-3", "-H", "Authorization: Bearer hdr-4-value"],
                       env={"HF_TOKEN": "envtok-5", "NOTE": SHAPES["slack"]}, cwd="/srv")
    w.update_run(rid, reason="crashed: Authorization: Basic cmVhc29uLTY=", log_tail="key " + SHAPES["openai"],
                 facts={"api_key": "factkey-7"}, summary={"base_url": "http://v:sumpw-8@h"})
    w.add_event(rid, Event(1.0, "error", "scrape http://u:evpw-9@h/metrics failed", "error",
                           {"url": "http://h/?key=evkey-10"}))
    w.add_request(rid, {"idx": 0, "t_scheduled": 1.0, "t_sent": 1.0, "ok": 0,
                        "error": "401 for " + SHAPES["github"]})
    w.flush()
    w.close()
    raw = b"".join(p.read_bytes() for p in tmp_path.iterdir())
    for s in ["urlpw-1", "qtok-2", "argkey-3", "hdr-4-value", "envtok-5", SHAPES["slack"], "cmVhc29uLTY=",
              SHAPES["openai"], "factkey-7", "sumpw-8", "evpw-9", "evkey-10", SHAPES["github"]]:
        assert s.encode() not in raw, s
    assert b"http://u:***@h:1/?token=***" in raw and b"/srv" in raw
