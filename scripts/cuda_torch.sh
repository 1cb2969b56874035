#!/usr/bin/env bash
# Installs the CUDA LibTorch that GPU users bring (PyPI's torch wheel: headers, CUDA
# libraries, CMake config) into .venv-torch and prints the LibTorch root to give CMake
# as CMAKE_PREFIX_PATH. Idempotent; pip keeps the wheels cached (~/.cache/pip).
#
#   scripts/cuda_torch.sh              # prints e.g. .venv-torch/lib/python3.11/site-packages/torch
#   scripts/cuda_torch.sh --cmake-args # prints the CMake arguments of a build against it, one a line
#
# The version is pinned: torch 2.11.0 is built for CUDA 13.0, the toolkit on our CI
# machines (its runtime, nvcc and NCCL 2.28 match the wheel's), and is the version on
# the GPU machines we test on.
set -euo pipefail
case "${1:-}" in -h|--help) sed -n '2,/^[^#]/s/^# \{0,1\}//p' "$0"; exit 0 ;; esac
cd "$(dirname "$0")/.."

cmake_args=0
if [ "${1:-}" = "--cmake-args" ]; then cmake_args=1; fi

readonly TORCH_VERSION=2.11.0
venv=.venv-torch
python=${PYTHON:-python3}

if ! "$venv/bin/python" -c "import torch, sys; sys.exit(torch.__version__.split('+')[0] != '$TORCH_VERSION')" 2>/dev/null; then
  echo "cuda_torch: installing torch $TORCH_VERSION (CUDA) into $venv (about 2.5 GB)" >&2
  "$python" -m venv "$venv"
  "$venv/bin/pip" install --quiet --progress-bar off "torch==$TORCH_VERSION" >&2
fi
root=$("$venv/bin/python" - <<'PY'
import os, torch
assert torch.version.cuda, "the torch wheel has no CUDA"
print(os.path.dirname(torch.__file__))
PY
)
if [ "$cmake_args" -eq 0 ]; then
  echo "$root"
  exit 0
fi
# The wheel's LibTorch root first, so that Debian's LibTorch (also installed) is not found;
# LibTorch's CMake config needs nvcc.
echo "-DCMAKE_PREFIX_PATH=$root"
echo "-DCMAKE_CUDA_COMPILER=$(command -v nvcc || echo /usr/local/cuda/bin/nvcc)"
echo "-DMISSREC_WITH_NCCL=ON"
