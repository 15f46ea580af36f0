"""Tokenizers for building datasets: the model's own ``tokenizer.json`` or the server's.

``LocalTokenizer`` reads ``tokenizer.json`` with the ``tokenizers`` library (an optional
dependency: the project venv has no ``transformers``) from ``--tokenizer``, from
``--model`` when it is a directory, or from the Hugging Face cache.  ``ServerTokenizer``
asks the engine (vLLM's ``/tokenize`` and ``/detokenize``).  ``open_tokenizer`` picks one
(``--tokenize auto|local|server``); the result JSON says which was used
(``iejtui.tokenizer_source``).
"""

from __future__ import annotations

import asyncio
import glob
import json
import os
import random
from typing import Any

import aiohttp

from .config import BenchConfig, BenchUsageError

_WORDS = ("the of and to in is was for on that with as by at from his her it an were are "
          "which this be or has had not but their one all been also new more after who first "
          "two other time can only into year may over most such some these many world use "
          "state city people under system between during where part three while both high "
          "number through school before known same several however including house well "
          "model token serve bench queue cache batch graph metric engine latency").split()


def _corpus(seed: int, n_words: int = 3000) -> str:
    """Deterministic text mixing common words, random letters, digits and punctuation."""
    rng = random.Random(seed)
    letters = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
    out = []
    for _ in range(n_words):
        r = rng.random()
        if r < 0.6:
            out.append(rng.choice(_WORDS))
        elif r < 0.85:
            out.append("".join(rng.choice(letters) for _ in range(rng.randint(2, 7))))
        elif r < 0.95:
            out.append(str(rng.randint(0, 99999)))
        else:
            out.append(rng.choice(",.;:!?()[]{}-+=*/'\"#%&@"))
    return " ".join(out)


def find_tokenizer_json(cfg: BenchConfig) -> str | None:
    for cand in (cfg.tokenizer, cfg.model):
        if not cand:
            continue
        if os.path.isfile(cand) and cand.endswith(".json"):
            return cand
        if os.path.isdir(cand) and os.path.isfile(os.path.join(cand, "tokenizer.json")):
            return os.path.join(cand, "tokenizer.json")
        if "/" in cand and not os.path.exists(cand):  # a hub id: look in the HF cache
            hub = os.environ.get("HF_HUB_CACHE") or os.path.join(
                os.environ.get("HF_HOME", os.path.expanduser("~/.cache/huggingface")), "hub")
            hits = sorted(glob.glob(os.path.join(
                hub, "models--" + cand.replace("/", "--"), "snapshots", "*", "tokenizer.json")))
            if hits:
                return hits[-1]
    return None


class LocalTokenizer:
    def __init__(self, path: str):
        from tokenizers import Tokenizer  # optional dependency

        self.path = path
        self.source = f"local:{path}"
        self.tok = Tokenizer.from_file(path)
        d = os.path.dirname(path)
        self.config: dict[str, Any] = {}
        cfg_path = os.path.join(d, "tokenizer_config.json")
        if os.path.isfile(cfg_path):
            with open(cfg_path, encoding="utf-8") as f:
                self.config = json.load(f)
        self.template = self.config.get("chat_template")
        tpl_path = os.path.join(d, "chat_template.jinja")
        if not self.template and os.path.isfile(tpl_path):
            with open(tpl_path, encoding="utf-8") as f:
                self.template = f.read()

    async def encode(self, texts: list[str], add_special_tokens: bool = False) -> list[list[int]]:
        return [e.ids for e in self.tok.encode_batch(texts, add_special_tokens=add_special_tokens)]

    async def decode(self, seqs: list[list[int]]) -> list[str]:
        return self.tok.decode_batch(seqs, skip_special_tokens=False)

    def count(self, text: str) -> int:
        return len(self.tok.encode(text, add_special_tokens=False).ids)

    async def num_special_tokens_to_add(self) -> int:
        return len(self.tok.encode("a").ids) - len(self.tok.encode("a", add_special_tokens=False).ids)

    async def token_pool(self) -> list[int]:
        special = {i for i, t in self.tok.get_added_tokens_decoder().items() if t.special}
        return [i for i in range(self.tok.get_vocab_size(with_added_tokens=False)) if i not in special]

    async def chat_prompt(self, content: str) -> str | None:
        if not self.template:
            return None
        import jinja2

        env = jinja2.Environment(undefined=jinja2.ChainableUndefined)
        def tok_str(key: str) -> str:
            v = self.config.get(key) or ""
            return v.get("content", "") if isinstance(v, dict) else v
        return env.from_string(self.template).render(
            messages=[{"role": "user", "content": content}], add_generation_prompt=True,
            bos_token=tok_str("bos_token"), eos_token=tok_str("eos_token"))

    async def close(self) -> None:
        pass


class ServerTokenizer:
    """The engine's ``/tokenize`` and ``/detokenize`` (vLLM's API)."""

    def __init__(self, base_url: str, model: str, headers: dict[str, str] | None = None,
                 parallel: int = 32):
        self.base = base_url.rstrip("/")
        self.model = model
        self.source = f"server:{self.base}/tokenize"
        self.headers = headers or {}
        self._sem = asyncio.Semaphore(parallel)
        self._session: aiohttp.ClientSession | None = None

    def _s(self) -> aiohttp.ClientSession:
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=120))
        return self._session

    async def _post(self, path: str, body: dict) -> dict:
        async with self._sem, self._s().post(self.base + path, json=body,
                                            headers=self.headers) as r:
            if r.status != 200:
                raise BenchUsageError(f"{self.base}{path} answered HTTP {r.status}")
            return await r.json()

    async def encode(self, texts: list[str], add_special_tokens: bool = False) -> list[list[int]]:
        res = await asyncio.gather(*[self._post("/tokenize", {
            "model": self.model, "prompt": t, "add_special_tokens": add_special_tokens})
            for t in texts])
        return [r["tokens"] for r in res]

    async def decode(self, seqs: list[list[int]]) -> list[str]:
        res = await asyncio.gather(*[self._post("/detokenize", {"model": self.model, "tokens": s})
                                     for s in seqs])
        return [r["prompt"] for r in res]

    async def num_special_tokens_to_add(self) -> int:
        with_sp, without = await asyncio.gather(self.encode(["a"], True), self.encode(["a"], False))
        return len(with_sp[0]) - len(without[0])

    async def token_pool(self) -> list[int]:
        text = _corpus(1234)
        step = 4000
        parts = [text[i:i + step] for i in range(0, len(text), step)]
        ids = {t for seq in await self.encode(parts, False) for t in seq}
        return sorted(ids)

    async def chat_prompt(self, content: str) -> str | None:
        r = await self._post("/tokenize", {"model": self.model, "add_generation_prompt": True,
                                           "messages": [{"role": "user", "content": content}]})
        return (await self.decode([r["tokens"]]))[0]

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()


async def open_tokenizer(cfg: BenchConfig, model: str) -> LocalTokenizer | ServerTokenizer:
    mode = cfg.tokenize_mode
    if mode in ("auto", "local"):
        path = find_tokenizer_json(cfg)
        err = "no tokenizer.json found (pass --tokenizer DIR)"
        if path:
            try:
                return LocalTokenizer(path)
            except ImportError:
                err = "the 'tokenizers' package is not installed"
            except Exception as exc:
                raise BenchUsageError(f"cannot read tokenizer {path}: {exc}") from None
        if mode == "local":
            raise BenchUsageError(f"--tokenize local: {err}")
        if cfg.trt:  # Triton has no /tokenize to fall back on
            raise BenchUsageError(f"--backend tensorrt-llm needs a local tokenizer: {err}")
    st = ServerTokenizer(cfg.base_url, model, cfg.headers)
    try:
        await st.encode(["probe"])
    except (aiohttp.ClientError, asyncio.TimeoutError, BenchUsageError, KeyError) as exc:
        await st.close()
        raise BenchUsageError(
            f"no tokenizer: nothing usable locally and {cfg.base_url}/tokenize failed ({exc})"
        ) from None
    return st
