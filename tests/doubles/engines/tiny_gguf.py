"""Write a tiny random-weight Llama in GGUF, small enough for a real ``llama-server`` on CPU.

``python -m tests.doubles.engines.tiny_gguf OUT.gguf`` (needs the ``gguf`` package,
PyPI 0.19.0, and numpy). The model is 2 layers of width 64 with a SentencePiece-style
("llama") vocabulary of the 3 specials, the 256 byte tokens (so any text tokenises through
byte fallback) and some word pieces; ~0.4 MB in F32, loads in well under a second. Its
output is noise: it exists to exercise a real server's endpoints, not to answer.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

_WORDS = ("the", "quick", "brown", "fox", "jumps", "over", "lazy", "dog", "a", "an",
          "and", "of", "to", "in", "is", "it", "hello", "world", "token", "cache")


def vocab() -> tuple[list[bytes], list[float], list[int]]:
    """(tokens, scores, types) of an SPM vocabulary: specials, bytes, word pieces."""
    import gguf
    tokens = [b"<unk>", b"<s>", b"</s>"]
    types = [gguf.TokenType.UNKNOWN, gguf.TokenType.CONTROL, gguf.TokenType.CONTROL]
    tokens += [f"<0x{i:02X}>".encode() for i in range(256)]
    types += [gguf.TokenType.BYTE] * 256
    pieces = ["\u2581" + w for w in _WORDS] + list(_WORDS) + ["\u2581"]
    tokens += [p.encode() for p in pieces]
    types += [gguf.TokenType.NORMAL] * len(pieces)
    scores = [0.0] * 259 + [-float(i) for i in range(len(pieces))]
    return tokens, scores, [int(t) for t in types]


def write_tiny_llama(path: str | Path, *, n_embd: int = 64, n_layer: int = 2, n_head: int = 4,
                     n_ff: int = 128, n_ctx: int = 2048, seed: int = 0) -> Path:
    """Write the model to ``path`` (parents created) and return the path."""
    import gguf
    import numpy as np

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tokens, scores, types = vocab()
    rng = np.random.default_rng(seed)

    def mat(rows: int, cols: int) -> np.ndarray:
        return (rng.standard_normal((rows, cols)) * 0.02).astype(np.float32)

    w = gguf.GGUFWriter(str(path), "llama")
    w.add_name("iejtui-tiny-llama")
    w.add_context_length(n_ctx)
    w.add_embedding_length(n_embd)
    w.add_block_count(n_layer)
    w.add_feed_forward_length(n_ff)
    w.add_head_count(n_head)
    w.add_head_count_kv(n_head)
    w.add_rope_dimension_count(n_embd // n_head)
    w.add_layer_norm_rms_eps(1e-5)
    w.add_file_type(gguf.LlamaFileType.ALL_F32)
    w.add_tokenizer_model("llama")
    w.add_token_list(tokens)
    w.add_token_scores(scores)
    w.add_token_types(types)
    w.add_bos_token_id(1)
    w.add_eos_token_id(2)
    w.add_unk_token_id(0)
    w.add_add_bos_token(True)
    w.add_add_eos_token(False)
    ones = np.ones(n_embd, dtype=np.float32)
    w.add_tensor("token_embd.weight", mat(len(tokens), n_embd))
    w.add_tensor("output_norm.weight", ones)
    w.add_tensor("output.weight", mat(len(tokens), n_embd))
    for i in range(n_layer):
        p = f"blk.{i}."
        w.add_tensor(p + "attn_norm.weight", ones)
        for name in ("attn_q", "attn_k", "attn_v", "attn_output"):
            w.add_tensor(p + name + ".weight", mat(n_embd, n_embd))
        w.add_tensor(p + "ffn_norm.weight", ones)
        w.add_tensor(p + "ffn_gate.weight", mat(n_ff, n_embd))
        w.add_tensor(p + "ffn_up.weight", mat(n_ff, n_embd))
        w.add_tensor(p + "ffn_down.weight", mat(n_embd, n_ff))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    return path


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out", help="where to write the .gguf file")
    ap.add_argument("--ctx", type=int, default=2048, help="training context length")
    args = ap.parse_args(argv)
    print(write_tiny_llama(args.out, n_ctx=args.ctx))
    return 0


if __name__ == "__main__":
    sys.exit(main())
