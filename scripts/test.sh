#!/usr/bin/env bash
# The project's one test command (also what CI runs): install dependencies, configure,
# build, run CTest.
#
#   scripts/test.sh [--skip-setup] [--build-dir DIR] [--label L] [--build-type T] [--sanitize]
#
#   --skip-setup     do not run scripts/setup.sh --with-slurm (dependencies installed)
#   --build-dir DIR  build tree (default: build)
#   --label L        run only tests with CTest label L (unit, mpi, e2e, fault, slurm, multihost;
#                    slurm starts a private Slurm cluster and needs root)
#   --build-type T   CMake build type (default: Release)
#   --sanitize       AddressSanitizer + UndefinedBehaviorSanitizer build (build-sanitize,
#                    RelWithDebInfo) running the unit and mpi tests
#   --cuda-torch     build against the CUDA LibTorch GPU users bring (PyPI's torch wheel,
#                    installed by scripts/cuda_torch.sh) with the NCCL backend, in
#                    build-cuda, and run the unit and mpi tests (no GPU needed)
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=launch/env.sh
. launch/env.sh

skip_setup=0
build_dir=build
build_type=Release
cuda_torch=0
ctest_args=()
cmake_args=()
while [ $# -gt 0 ]; do
  case "$1" in
    --skip-setup) skip_setup=1 ;;
    --build-dir) build_dir="$2"; shift ;;
    --label) ctest_args+=(-L "$2"); shift ;;
    --build-type) build_type="$2"; shift ;;
    --sanitize)
      build_dir=build-sanitize
      build_type=RelWithDebInfo
      cmake_args+=(-DMISSREC_SANITIZE=ON)
      # cluster_memory_test measures peak RSS, which ASan's shadow memory inflates.
      ctest_args+=(-L "unit|mpi" -E cluster_memory_test)
      # MPI and LibTorch keep allocations until exit: leaks are not reported.
      export ASAN_OPTIONS="detect_leaks=0:abort_on_error=1:${ASAN_OPTIONS:-}"
      export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1:${UBSAN_OPTIONS:-}"
      ;;
    --cuda-torch)
      build_dir=build-cuda
      cuda_torch=1
      ctest_args+=(-L "unit|mpi")
      ;;
    -h|--help) sed -n '2,/^[^#]/s/^# \{0,1\}//p' "$0"; exit 0 ;;
    *) echo "scripts/test.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
  shift
done

jobs=$(nproc)
start=$(date +%s)
if [ "$skip_setup" -eq 0 ]; then
  scripts/setup.sh --with-slurm
fi
# Formatting first: a file clang-format would change fails the run (.clang-format).
if command -v clang-format >/dev/null; then
  if ! git ls-files -z '*.cpp' '*.h' | xargs -0 clang-format --dry-run --Werror 2>/tmp/missrec_format.$$; then
    head -20 /tmp/missrec_format.$$ >&2
    echo "scripts/test.sh: C++ formatting differs from .clang-format (fix: git ls-files '*.cpp' '*.h' | xargs clang-format -i)" >&2
    rm -f /tmp/missrec_format.$$
    exit 1
  fi
  rm -f /tmp/missrec_format.$$
else
  echo "scripts/test.sh: clang-format missing (scripts/setup.sh installs it)" >&2
  exit 1
fi
if [ "$cuda_torch" -eq 1 ]; then
  mapfile -t cuda_args < <(scripts/cuda_torch.sh --cmake-args)
  [ ${#cuda_args[@]} -gt 0 ] || { echo "scripts/test.sh: scripts/cuda_torch.sh failed" >&2; exit 1; }
  cmake_args+=("${cuda_args[@]}")
fi
cmake -S . -B "$build_dir" -DCMAKE_BUILD_TYPE="$build_type" "${cmake_args[@]}"
cmake --build "$build_dir" -j "$jobs"
built=$(date +%s)
# MPI tests declare PROCESSORS, so -j never oversubscribes the cores more than mpirun does.
ctest --test-dir "$build_dir" --output-on-failure -j "$jobs" "${ctest_args[@]}"
done_at=$(date +%s)
echo "scripts/test.sh: build $((built - start)) s, tests $((done_at - built)) s"
