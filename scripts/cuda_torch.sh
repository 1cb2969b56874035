#!/usr/bin/env bash
# Installs the CUDA LibTorch that GPU users bring (PyPI's torch wheel: headers, CUDA
# libraries, CMake config) into .venv-torch and prints the LibTorch root to give CMake
# as CMAKE_PREFIX_PATH. Idempotent; pip keeps the wheels cached (~/.cache/pip).
#
#   scripts/cuda_torch.sh            # prints e.g. .venv-torch/lib/python3.11/site-packages/torch
#
# The version is pinned: torch 2.11.0 is built for CUDA 13.0, the toolkit on our CI
# machines (its runtime, nvcc and NCCL 2.28 match the wheel's), and is the version on
# the GPU machines we test on.
set -euo pipefail
cd "$(dirname "$0")/.."

readonly TORCH_VERSION=2.11.0
venv=.venv-torch
python=${PYTHON:-python3}

if ! "$venv/bin/python" -c "import torch, sys; sys.exit(torch.__version__.split('+')[0] != '$TORCH_VERSION')" 2>/dev/null; then
  echo "cuda_torch: installing torch $TORCH_VERSION (CUDA) into $venv (about 2.5 GB)" >&2
  "$python" -m venv "$venv"
  "$venv/bin/pip" install --quiet --progress-bar off "torch==$TORCH_VERSION" >&2
fi
"$venv/bin/python" - <<'PY'
import os, torch
assert torch.version.cuda, "the torch wheel has no CUDA"
print(os.path.dirname(torch.__file__))
PY
