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
