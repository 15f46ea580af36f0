"""Generate the tiny random Llama + a local byte-level BPE tokenizer.

Run with the ENGINE venv's python (torch, transformers and tokenizers live there); the
project's own venv never imports them:

    <engine>/bin/python make_tiny_model.py --out DIR

Deterministic (fixed seed, sorted inputs). head_dim = 256 / 4 = 64: the CPU attention
kernel of vLLM refuses head_dim < 64 at the first request.
"""
from __future__ import annotations

import argparse
import glob
import json
import os
import sys

SEED = 1234
VOCAB_SIZE = 2048
SPECIAL = {"unk_token": "<unk>", "bos_token": "<s>", "eos_token": "</s>"}
CHAT_TEMPLATE = (
    "{{ bos_token }}"
    "{% for message in messages %}"
    "<|{{ message['role'] }}|>\n{{ message['content'] }}{{ eos_token }}\n"
    "{% endfor %}"
    "{% if add_generation_prompt %}<|assistant|>\n{% endif %}"
)
MODEL = dict(hidden_size=256, intermediate_size=512, num_hidden_layers=2,
             num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=4096)


def training_files() -> list[str]:
    """Local text to train the tokenizer on: Debian's license texts, else Python's own."""
    files = sorted(f for f in glob.glob("/usr/share/common-licenses/*") if os.path.isfile(f))
    if not files:  # not Debian: the interpreter's license and some stdlib sources
        lib = os.path.dirname(os.__file__)
        files = sorted(glob.glob(os.path.join(lib, "LICENSE*")))
        files += sorted(glob.glob(os.path.join(lib, "[a-c]*.py")))
    if not files:
        sys.exit("no local text found to train the tokenizer on")
    return files


def build_tokenizer(out: str):
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE(unk_token=SPECIAL["unk_token"]))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=VOCAB_SIZE, show_progress=False,
        special_tokens=[SPECIAL["unk_token"], SPECIAL["bos_token"], SPECIAL["eos_token"]],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    files = training_files()
    tok.train(files, trainer)
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, model_max_length=4096, **SPECIAL)
    fast.chat_template = CHAT_TEMPLATE
    fast.save_pretrained(out)
    print(f"tokenizer: {len(fast)} tokens trained on {len(files)} local files")
    return fast


def build_model(out: str, tokenizer) -> None:
    import torch
    from transformers import GenerationConfig, LlamaConfig, LlamaForCausalLM

    torch.manual_seed(SEED)
    cfg = LlamaConfig(vocab_size=len(tokenizer), torch_dtype="bfloat16",
                      bos_token_id=tokenizer.bos_token_id,
                      eos_token_id=tokenizer.eos_token_id, **MODEL)
    model = LlamaForCausalLM(cfg).to(torch.bfloat16)
    model.generation_config = GenerationConfig(bos_token_id=tokenizer.bos_token_id,
                                               eos_token_id=tokenizer.eos_token_id)
    model.save_pretrained(out)
    n = sum(p.numel() for p in model.parameters())
    print(f"model: LlamaForCausalLM {n / 1e6:.2f} M parameters, bf16, "
          f"head_dim {cfg.hidden_size // cfg.num_attention_heads}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", required=True, help="output folder (created)")
    args = ap.parse_args(argv)
    os.makedirs(args.out, exist_ok=True)
    tokenizer = build_tokenizer(args.out)
    build_model(args.out, tokenizer)
    with open(os.path.join(args.out, "iejtui-tiny-model.json"), "w") as fh:
        json.dump({"seed": SEED, "vocab_size": len(tokenizer), **MODEL}, fh, indent=2)
        fh.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
