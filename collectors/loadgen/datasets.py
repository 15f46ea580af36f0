"""Datasets with vLLM 0.32's semantics: random, prefix_repetition, sharegpt, custom JSONL.

random (vLLM ``RandomDataset``): input lengths uniform in
``[floor(L'(1-r)), ceil(L'(1+r))]`` with ``L' = input_len - special tokens the tokenizer
adds``, output lengths likewise (at least 1); the prompt is ``--random-prefix-len``
shared random tokens followed by consecutive allowed (non-special) token ids from a
random offset; it is decoded, re-encoded and trimmed or padded until it has exactly
the target token count (up to 10 tries, vLLM's ``gen_prompt_decode_to_target_len``).

Per-run unique prefix: vLLM's prompts are a pure function of ``--seed``, so a second
run against a warm server hits the prefix cache (vllm#52884: up to +86% throughput).
Here the first ``MARK_TOKENS`` tokens of every prompt's random part encode a 32-bit
``prompt_salt`` drawn per run (``--prompt-salt N`` to reproduce; recorded in the result)
and the request index, and the shared prefix is drawn with the salt mixed into the
seed: no KV block of an earlier run can match.  ``--prompt-salt 0`` gives prompts
that depend on the seed only (vLLM's behaviour; the token draws still differ from
vLLM's numpy ones).  prefix_repetition uses the salt for its prefixes the same way.

sharegpt and custom reproduce vLLM's order (Python's ``random`` seeded with ``--seed``),
filters and oversampling; a missing or malformed file raises ``BenchUsageError`` that
names the file and line.
"""

from __future__ import annotations

import json
import math
import os
import random
import secrets
from dataclasses import dataclass, field, replace

from .config import BenchConfig, BenchUsageError

MARK_TOKENS = 4


@dataclass(slots=True)
class SampleRequest:
    prompt: str
    prompt_len: int
    expected_output_len: int
    request_id: str = ""


@dataclass
class Dataset:
    requests: list[SampleRequest]
    tokenizer_source: str
    prompt_salt: int = 0
    notes: list[str] = field(default_factory=list)


def length_ranges(input_len: int, output_len: int, ratio, num_special: int
                  ) -> tuple[int, int, int, int]:
    """vLLM's ``get_sampling_params`` bounds: (in_low, in_high, out_low, out_high)."""
    rin, rout = (float(ratio["input"]), float(ratio["output"])) if isinstance(ratio, dict) \
        else (float(ratio), float(ratio))
    for r in (rin, rout):
        if not 0.0 <= r < 1.0:
            raise BenchUsageError(f"--random-range-ratio must be in [0, 1), got {r}")
    real = max(0, int(input_len) - num_special)
    lo, hi = math.floor(real * (1 - rin)), math.ceil(real * (1 + rin))
    olo = max(math.floor(output_len * (1 - rout)), 1)
    ohi = max(math.ceil(output_len * (1 + rout)), 1)
    return lo, hi, olo, ohi


def salt_mark(salt: int, index: int, pool: list[int]) -> list[int]:
    """``MARK_TOKENS`` token ids spelling (salt, index) in base ``len(pool)``."""
    x = (salt * 1_000_003 + index * 7919 + 1) & ((1 << 62) - 1)
    out = []
    for _ in range(MARK_TOKENS):
        x, d = divmod(x, len(pool))
        out.append(pool[d])
    return out


async def fit_lengths(tok, seqs: list[list[int]], targets: list[int], rng: random.Random,
                      pool: list[int], max_retry: int = 10) -> tuple[list[str], list[int], int]:
    """Decode/re-encode each sequence until it re-encodes to its target length."""
    n = len(seqs)
    prompts = [""] * n
    pending = list(range(n))
    for attempt in range(max_retry + 1):
        texts = await tok.decode([seqs[i] for i in pending])
        encoded = await tok.encode(texts, add_special_tokens=False)
        still = []
        for i, text, ids in zip(pending, texts, encoded):
            prompts[i], seqs[i] = text, ids
            if len(ids) == targets[i] or attempt == max_retry:
                continue
            if len(ids) < targets[i]:
                seqs[i] = ids + [pool[rng.randrange(len(pool))] for _ in range(targets[i] - len(ids))]
            else:
                seqs[i] = ids[: targets[i]]
            still.append(i)
        pending = still
        if not pending:
            break
    lens = [len(s) for s in seqs]
    return prompts, lens, sum(lens) - sum(targets)


async def random_requests(cfg: BenchConfig, tok, salt: int) -> tuple[list[SampleRequest], list[str]]:
    n = cfg.num_prompts
    num_special = await tok.num_special_tokens_to_add()
    lo, hi, olo, ohi = length_ranges(cfg.random_input_len, cfg.random_output_len,
                                     cfg.random_range_ratio, num_special)
    if cfg.random_prefix_len + lo < 1:
        raise BenchUsageError("--random-input-len is too small for the tokenizer's special tokens")
    rng = random.Random(cfg.seed)
    pool = await tok.token_pool()
    in_lens = [rng.randint(lo, hi) for _ in range(n)]
    out_lens = [rng.randint(olo, ohi) for _ in range(n)]
    offsets = [rng.randrange(len(pool)) for _ in range(n)]
    prefix: list[int] = []
    if cfg.random_prefix_len > 0:
        prng = random.Random(f"{cfg.seed}:{salt}:prefix")
        seqs0 = [[pool[prng.randrange(len(pool))] for _ in range(cfg.random_prefix_len)]]
        await fit_lengths(tok, seqs0, [cfg.random_prefix_len], prng, pool)
        prefix = seqs0[0]
    seqs, targets = [], []
    for i in range(n):
        inner = [pool[(offsets[i] + i + j) % len(pool)] for j in range(in_lens[i])]
        if salt:
            k = min(MARK_TOKENS, len(inner))
            inner[:k] = salt_mark(salt, i, pool)[:k]
        seqs.append(prefix + inner)
        targets.append(len(prefix) + in_lens[i])
    prompts, lens, mismatch = await fit_lengths(tok, seqs, targets, rng, pool)
    notes = [f"{abs(mismatch)} {'more' if mismatch > 0 else 'fewer'} prompt tokens than asked "
             "after decoding and re-encoding"] if mismatch else []
    reqs = [SampleRequest(prompts[i], lens[i], out_lens[i], f"{cfg.request_id_prefix}{i}")
            for i in range(n)]
    return reqs, notes


async def prefix_repetition_requests(cfg: BenchConfig, tok, salt: int) -> list[SampleRequest]:
    per = cfg.num_prompts // max(cfg.prefix_repetition_num_prefixes, 1)
    if per == 0:
        raise BenchUsageError(f"--num-prompts ({cfg.num_prompts}) must be at least "
                              f"--prefix-repetition-num-prefixes ({cfg.prefix_repetition_num_prefixes})")
    rng = random.Random(f"{cfg.seed}:{salt}" if salt else cfg.seed)
    pool = await tok.token_pool()
    plen, slen = cfg.prefix_repetition_prefix_len, cfg.prefix_repetition_suffix_len
    nprefix = cfg.prefix_repetition_num_prefixes
    draw = lambda k: [pool[rng.randrange(len(pool))] for _ in range(k)]  # noqa: E731
    prefix_ids = [draw(plen) for _ in range(nprefix)]
    await fit_lengths(tok, prefix_ids, [plen] * nprefix, rng, pool)  # fixed in place
    suffixes = [draw(slen) for _ in range(nprefix * per)]
    await fit_lengths(tok, suffixes, [slen] * len(suffixes), rng, pool)
    combined = [prefix_ids[i // per] + suffixes[i] for i in range(len(suffixes))]
    texts = await tok.decode(combined)
    reqs = [SampleRequest(texts[i], len(combined[i]), cfg.prefix_repetition_output_len)
            for i in range(len(combined))]
    if not cfg.disable_shuffle:
        random.Random(cfg.seed).shuffle(reqs)
    for i, r in enumerate(reqs):
        r.request_id = f"{cfg.request_id_prefix}{i}"
    return reqs


def _read_json_file(path: str) -> list:
    if not os.path.isfile(path):
        raise BenchUsageError(f"dataset file not found: {path}")
    with open(path, encoding="utf-8") as f:
        text = f.read()
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        if text.lstrip().startswith("{"):  # maybe JSON lines
            return _read_jsonl_text(path, text)
        raise BenchUsageError(f"{path}:{exc.lineno}: malformed JSON: {exc.msg}") from None
    if not isinstance(data, list):
        raise BenchUsageError(f"{path}:1: expected a JSON list of conversations")
    return data


def _read_jsonl_text(path: str, text: str) -> list[dict]:
    rows = []
    for lineno, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise BenchUsageError(f"{path}:{lineno}: malformed JSON line: {exc.msg}") from None
        if not isinstance(row, dict):
            raise BenchUsageError(f"{path}:{lineno}: expected a JSON object")
        rows.append(row)
    return rows


def _oversample(reqs: list[SampleRequest], cfg: BenchConfig) -> list[SampleRequest]:
    if not reqs:
        raise BenchUsageError(f"{cfg.dataset_path}: no usable samples")
    if cfg.no_oversample or len(reqs) >= cfg.num_prompts:
        return reqs
    rng = random.Random(cfg.seed)
    base = len(reqs)
    extra = [replace(rng.choice(reqs), request_id=f"{cfg.request_id_prefix}{base + i}")
             for i in range(cfg.num_prompts - base)]
    return reqs + extra


def valid_sequence(prompt_len: int, output_len: int, skip_min_output: bool) -> bool:
    """vLLM's ``is_valid_sequence`` with its defaults (4, 1024, 2048)."""
    return not (prompt_len < 4 or (not skip_min_output and output_len < 4)
                or prompt_len > 1024 or prompt_len + output_len > 2048)


async def sharegpt_requests(cfg: BenchConfig, tok) -> list[SampleRequest]:
    data = [e for e in _read_json_file(cfg.dataset_path or "")
            if isinstance(e, dict) and len(e.get("conversations") or []) >= 2]
    if not cfg.disable_shuffle:
        random.Random(cfg.seed).shuffle(data)
    out: list[SampleRequest] = []
    batch = 64
    for start in range(0, len(data), batch):
        if len(out) >= cfg.num_prompts:
            break
        chunk = data[start:start + batch]
        try:
            prompts = [str(e["conversations"][0]["value"]) for e in chunk]
            completions = [str(e["conversations"][1]["value"]) for e in chunk]
        except (KeyError, TypeError, IndexError):
            raise BenchUsageError(f"{cfg.dataset_path}: conversation without 'value'") from None
        p_ids = await tok.encode(prompts, add_special_tokens=True)
        c_ids = await tok.encode(completions, add_special_tokens=True)
        for prompt, pi, ci in zip(prompts, p_ids, c_ids):
            if len(out) >= cfg.num_prompts:
                break
            olen = len(ci) if cfg.sharegpt_output_len is None else cfg.sharegpt_output_len
            if valid_sequence(len(pi), olen, cfg.sharegpt_output_len is not None):
                out.append(SampleRequest(prompt, len(pi), olen, f"{cfg.request_id_prefix}{len(out)}"))
    return _oversample(out, cfg)


async def custom_requests(cfg: BenchConfig, tok) -> list[SampleRequest]:
    path = cfg.dataset_path or ""
    if not os.path.isfile(path):
        raise BenchUsageError(f"dataset file not found: {path}")
    with open(path, encoding="utf-8") as f:
        rows = _read_jsonl_text(path, f.read())
    for lineno, row in enumerate(rows, 1):
        if "prompt" not in row:
            raise BenchUsageError(f"{path}: row {lineno} has no 'prompt' field")
    if not cfg.disable_shuffle:
        random.Random(cfg.seed).shuffle(rows)
    n = len(rows) if cfg.num_prompts <= 0 else min(cfg.num_prompts, len(rows))
    rows = rows[:n]
    prompts = []
    for row in rows:
        p = str(row["prompt"])
        if not cfg.skip_chat_template and not cfg.chat:  # chat servers template themselves
            p = await tok.chat_prompt(p) or p
        prompts.append(p)
    lens = [len(ids) for ids in await tok.encode(prompts, add_special_tokens=True)]
    out = []
    for i, (row, p, plen) in enumerate(zip(rows, prompts, lens)):
        if cfg.custom_output_len in (None, -1):
            try:
                olen = int(row["output_tokens"])
            except (KeyError, TypeError, ValueError):
                raise BenchUsageError(f"{path}: row needs an integer 'output_tokens' "
                                      "when --custom-output-len is -1") from None
        else:
            olen = cfg.custom_output_len
        out.append(SampleRequest(p, plen, olen, f"{cfg.request_id_prefix}{i}"))
    return _oversample(out, cfg)


async def load_dataset(cfg: BenchConfig, tok) -> Dataset:
    """Build the run's requests with tokenizer ``tok`` (see ``tokenizer.open_tokenizer``)."""
    salt = cfg.prompt_salt if cfg.prompt_salt is not None else secrets.randbits(32) or 1
    notes: list[str] = []
    if cfg.dataset_name == "random":
        reqs, notes = await random_requests(cfg, tok, salt)
    elif cfg.dataset_name == "prefix_repetition":
        reqs = await prefix_repetition_requests(cfg, tok, salt)
    elif cfg.dataset_name == "sharegpt":
        reqs, salt = await sharegpt_requests(cfg, tok), 0
    elif cfg.dataset_name == "custom":
        reqs, salt = await custom_requests(cfg, tok), 0
    else:
        raise BenchUsageError(f"unknown dataset {cfg.dataset_name!r}")
    return Dataset(reqs, tok.source, salt, notes)


async def align_to_server(ds: Dataset, server_tok) -> Dataset:
    """vLLM 0.32's ``_align_prompts_to_server_tokenizer``: when the server counts the
    first prompt differently from the local tokenizer, cut every prompt that the server
    finds too long back to its intended length with the server's own tokens."""
    reqs = ds.requests
    if not reqs:
        return ds
    try:
        first = (await server_tok.encode([reqs[0].prompt], False))[0]
    except Exception:  # noqa: BLE001  (any failure: the server has no usable /tokenize)
        ds.notes.append("/tokenize unavailable: prompts not checked against the server")
        return ds
    if len(first) == reqs[0].prompt_len:
        return ds
    ds.notes.append(f"tokenizer mismatch (server={len(first)}, expected={reqs[0].prompt_len}): "
                    "prompts re-aligned with the server's tokenizer")
    toks = await server_tok.encode([r.prompt for r in reqs], False)
    long = [i for i, t in enumerate(toks) if len(t) > reqs[i].prompt_len]
    texts = await server_tok.decode([toks[i][: reqs[i].prompt_len] for i in long])
    for i, text in zip(long, texts):
        reqs[i] = replace(reqs[i], prompt=text)
    return ds
