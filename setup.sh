#!/usr/bin/env bash
# Quick start, step 1: set everything up and open the dashboard on the embedded default
# (this folder as the journal, the CPU vLLM demo engine running a short benchmark).
set -euo pipefail
cd "$(dirname "$0")"
if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
fi
.venv/bin/pip install -q --disable-pip-version-check -e '.[test]'
exec .venv/bin/iejtui demo "$@"
