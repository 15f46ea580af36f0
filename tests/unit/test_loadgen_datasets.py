"""Datasets: vLLM semantics for lengths, unique per-run prefixes, file errors."""

import json
import math

import pytest

from collectors.loadgen.config import BenchUsageError, parse_args
from collectors.loadgen.datasets import MARK_TOKENS, length_ranges, load_dataset


class ByteTok:
    """One token per UTF-8 byte (ids 3..258); adds a BOS (1) with special tokens."""

    source = "test:bytes"

    async def encode(self, texts, add_special_tokens=False):
        return [([1] if add_special_tokens else []) + [b + 3 for b in t.encode()] for t in texts]

    async def decode(self, seqs):
        return [bytes(t - 3 for t in s if 3 <= t < 259).decode("utf-8", "replace") for s in seqs]

    async def num_special_tokens_to_add(self):
        return 1

    async def token_pool(self):
        return [b + 3 for b in b"abcdefghijklmnopqrstuvwxyz0123456789 .,"]

    async def chat_prompt(self, content):
        return f"<|user|>\n{content}<|assistant|>\n"


def cfg(*a):
    return parse_args(["--model", "m", *a])


def test_length_ranges_follow_vllm():
    # input: 100 - 1 special = 99 -> [floor(99*0.5), ceil(99*1.5)]; output at least 1
    assert length_ranges(100, 10, 0.5, 1) == (49, 149, 5, 15)
    assert length_ranges(100, 1, {"input": 0.0, "output": 0.9}, 0) == (100, 100, 1, 2)
    with pytest.raises(BenchUsageError):
        length_ranges(10, 10, 1.0, 0)


async def test_random_exact_lengths_and_unique_per_run_prefix():
    c = cfg("--random-input-len", "33", "--random-output-len", "7", "--num-prompts", "20")
    a = await load_dataset(c, ByteTok())
    b = await load_dataset(c, ByteTok())
    assert all(r.prompt_len == 32 and r.expected_output_len == 7 for r in a.requests)
    assert all(len(r.prompt.encode()) == 32 for r in a.requests)
    assert a.prompt_salt != b.prompt_salt
    heads_a = {r.prompt[:MARK_TOKENS] for r in a.requests}
    heads_b = {r.prompt[:MARK_TOKENS] for r in b.requests}
    assert len(heads_a) == 20 and not heads_a & heads_b  # unique within and across runs
    assert c.ignore_eos  # forced for random, as vLLM does
    assert a.requests[3].request_id.endswith("3")


async def test_prompt_salt_zero_is_seed_deterministic_and_range_ratio_spreads():
    c = cfg("--random-input-len", "50", "--random-range-ratio", "0.5", "--num-prompts", "60",
            "--prompt-salt", "0", "--seed", "3")
    a, b = await load_dataset(c, ByteTok()), await load_dataset(c, ByteTok())
    assert [r.prompt for r in a.requests] == [r.prompt for r in b.requests]
    lens = [r.prompt_len for r in a.requests]
    assert min(lens) >= 24 and max(lens) <= 74 and len(set(lens)) > 10


async def test_random_prefix_is_shared_within_a_run():
    c = cfg("--random-input-len", "20", "--random-prefix-len", "10", "--num-prompts", "5")
    ds = await load_dataset(c, ByteTok())
    assert len({r.prompt[:10] for r in ds.requests}) == 1
    assert all(r.prompt_len == 29 for r in ds.requests)


async def test_prefix_repetition_groups():
    c = cfg("--dataset-name", "prefix-repetition", "--num-prompts", "12",
            "--prefix-repetition-num-prefixes", "3", "--prefix-repetition-prefix-len", "16",
            "--prefix-repetition-suffix-len", "8", "--prefix-repetition-output-len", "5")
    ds = await load_dataset(c, ByteTok())
    assert len(ds.requests) == 12 and all(r.prompt_len == 24 for r in ds.requests)
    assert len({r.prompt[:16] for r in ds.requests}) == 3


async def test_custom_jsonl(tmp_path):
    p = tmp_path / "d.jsonl"
    p.write_text("\n".join(json.dumps({"prompt": f"question {i}", "output_tokens": i + 1})
                           for i in range(5)))
    ds = await load_dataset(cfg("--dataset-name", "custom", "--dataset-path", str(p),
                                "--num-prompts", "8", "--custom-output-len", "-1"), ByteTok())
    assert len(ds.requests) == 8  # oversampled like vLLM
    r = ds.requests[0]
    assert r.prompt.startswith("<|user|>") and r.prompt_len == len(r.prompt.encode()) + 1


async def test_sharegpt_filters_and_shuffles(tmp_path):
    conv = [{"conversations": [{"from": "human", "value": "hello there " * (i + 1)},
                               {"from": "gpt", "value": "fine answer " * 2}]} for i in range(6)]
    conv.append({"conversations": [{"value": "only one turn"}]})
    p = tmp_path / "sg.json"
    p.write_text(json.dumps(conv))
    ds = await load_dataset(cfg("--dataset-name", "sharegpt", "--dataset-path", str(p),
                                "--num-prompts", "4"), ByteTok())
    assert len(ds.requests) == 4 and all(r.expected_output_len == 25 for r in ds.requests)


@pytest.mark.parametrize("name", ["sharegpt", "custom"])
async def test_missing_file_is_a_clear_error(tmp_path, name):
    missing = tmp_path / "nope.json"
    with pytest.raises(BenchUsageError, match="not found.*nope.json"):
        cfg("--dataset-name", name, "--dataset-path", str(missing))  # at parse time
    present = tmp_path / "d.json"
    present.write_text("[]")
    c = cfg("--dataset-name", name, "--dataset-path", str(present))
    c.dataset_path = str(missing)  # gone after parsing
    with pytest.raises(BenchUsageError, match="not found.*nope.json"):
        await load_dataset(c, ByteTok())


async def test_malformed_jsonl_names_file_and_line(tmp_path):
    p = tmp_path / "bad.jsonl"
    p.write_text('{"prompt": "a"}\n{"prompt": "b"}\n{"prompt": oops}\n')
    with pytest.raises(BenchUsageError, match=r"bad.jsonl:3: malformed JSON"):
        await load_dataset(cfg("--dataset-name", "custom", "--dataset-path", str(p)), ByteTok())


async def test_malformed_sharegpt_names_file_and_line(tmp_path):
    p = tmp_path / "bad.json"
    p.write_text('[\n {"conversations": []},\n {"conversations": [}\n]')
    with pytest.raises(BenchUsageError, match=r"bad.json:3: malformed JSON"):
        await load_dataset(cfg("--dataset-name", "sharegpt", "--dataset-path", str(p)), ByteTok())


def test_math_inf_default_rate():
    assert math.isinf(cfg().request_rate)


async def test_prompts_realigned_when_the_server_counts_more_tokens():
    from collectors.loadgen.datasets import Dataset, SampleRequest, align_to_server

    class DoubleCountServer(ByteTok):  # the server sees 2 tokens per byte
        async def encode(self, texts, add_special_tokens=False):
            return [[t for b in s for t in (b, b)] for s in await super().encode(texts)]

        async def decode(self, seqs):
            return await super().decode([s[::2] for s in seqs])

    ds = Dataset([SampleRequest("abcdefgh", 8, 4), SampleRequest("ijklmnop", 8, 4)], "t")
    ds = await align_to_server(ds, DoubleCountServer())
    assert [r.prompt for r in ds.requests] == ["abcd", "ijkl"] and "mismatch" in ds.notes[0]


@pytest.mark.skipif(not __import__("importlib").util.find_spec("tokenizers"),
                    reason="the optional 'tokenizers' package is not installed")
async def test_local_tokenizer_json(tmp_path):
    from tokenizers import Tokenizer, models, pre_tokenizers

    from collectors.loadgen.tokenizer import LocalTokenizer

    vocab = {c: i + 3 for i, c in enumerate("abcdefghijklmnopqrstuvwxyz ")}
    vocab.update({"<unk>": 0, "<s>": 1, "</s>": 2})
    tk = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    tk.pre_tokenizer = pre_tokenizers.Split("", "isolated")
    tk.save(str(tmp_path / "tokenizer.json"))
    tok = LocalTokenizer(str(tmp_path / "tokenizer.json"))
    ds = await load_dataset(cfg("--random-input-len", "20", "--num-prompts", "3",
                                "--tokenizer", str(tmp_path)), tok)
    assert tok.source.startswith("local:") and len(ds.requests) == 3
