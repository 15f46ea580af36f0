#!/usr/bin/env bash
# benchmark command of run r2 demo-bench recorded by iejtui on 2026-11-26.
# engine: -, model: -
# Secrets (API keys, tokens) were masked before they reached the journal: each one is
# read from an environment variable below, and the script stops if it is not set.
set -euo pipefail
cd /work/main
exec iejtui bench \
  --base-url http://127.0.0.1:8012 \
  --dataset-name random \
  --random-input-len 128 \
  --random-output-len 64 \
  --num-prompts 80 \
  --max-concurrency 4 \
  --ignore-eos \
  --seed 1
