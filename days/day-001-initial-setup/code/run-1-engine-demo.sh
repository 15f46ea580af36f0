#!/usr/bin/env bash
# engine command of run r1 demo recorded by iejtui on 2026-11-26.
# engine: vllm, model: tiny
# Secrets (API keys, tokens) were masked before they reached the journal: each one is
# read from an environment variable below, and the script stops if it is not set.
set -euo pipefail
cd /work/main
exec /work/main/.venv/bin/python3 \
  -m iejtui.cli demo serve \
  --port 8012
