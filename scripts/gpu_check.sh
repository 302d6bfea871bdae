#!/usr/bin/env bash
# The GPU check, for a machine with an NVIDIA GPU (run once per lent device, ~10 min): install
# with stock vLLM (scripts/install.sh picks it when nvidia-smi sees a GPU), then the engine
# tests on the engine host and the quick suite with batch-invariant kernels. Prints what the
# README's GPU section records; writes logs under ${OUT:-gpu-check}/.
set -uo pipefail
cd "$(dirname "$0")/.."
out="${OUT:-gpu-check}"
mkdir -p "$out"
nvidia-smi -L | tee "$out/device.txt"
./scripts/install.sh --dev > "$out/install.log" 2>&1 || { tail -20 "$out/install.log"; exit 1; }
.venv/bin/python -c "import vllm, torch; print('vllm', vllm.__version__, 'torch', torch.__version__, 'cuda', torch.cuda.is_available())" | tee -a "$out/device.txt"
timeout 300 .venv/bin/python -m pytest -q -x -p no:cacheprovider \
  tests/test_engine_host.py tests/test_engine_session.py tests/test_langgraph_adapter.py \
  tests/test_openai_compat.py tests/test_chat_frontend.py > "$out/engine_tests.log" 2>&1
echo "engine tests rc $?: $(tail -1 "$out/engine_tests.log")"
VLLM_BATCH_INVARIANT=1 timeout 240 .venv/bin/python -m benchmarks.run --quick \
  --out "$out/quick" > "$out/quick.log" 2>&1
echo "quick suite rc $?"
grep -E "^\| W|Geomean" "$out/quick/report.md" 2>/dev/null || tail -20 "$out/quick.log"
