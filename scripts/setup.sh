#!/usr/bin/env bash
# Installs every build and test dependency from Debian packages.
# Non-interactive and idempotent: packages already present are skipped.
#
#   scripts/setup.sh [--with-slurm]
#
#   --with-slurm   also Debian's slurm-wlm and munge, for the slurm-labelled test
#                  (which starts its own private daemons: launch/slurm/local_cluster.sh)
set -euo pipefail

with_slurm=0
while [ $# -gt 0 ]; do
  case "$1" in
    --with-slurm) with_slurm=1 ;;
    -h|--help) sed -n '2,/^[^#]/s/^# \{0,1\}//p' "$0"; exit 0 ;;
    *) echo "scripts/setup.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
  shift
done

packages=(
  build-essential cmake pkg-config ccache git
  libtorch-dev
  libopenblas0-pthread
  openmpi-bin libopenmpi-dev
  libhdf5-dev hdf5-tools
  libyaml-cpp-dev
  libgoogle-glog-dev libgflags-dev
  libxxhash-dev xxhash nlohmann-json3-dev strace
  clang-format
  iproute2 nftables
  libgtest-dev libgmock-dev googletest
  python3 python3-venv python3-torch python3-h5py python3-numpy python3-yaml python3-matplotlib
)
if [ "$with_slurm" -eq 1 ]; then
  packages+=(slurm-wlm munge)
fi

missing=()
for pkg in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$pkg")
  fi
done

if [ ${#missing[@]} -gt 0 ]; then
  sudo_cmd=""
  if [ "$(id -u)" -ne 0 ]; then sudo_cmd="sudo"; fi
  echo "setup: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  $sudo_cmd apt-get update -qq
  $sudo_cmd apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
else
  echo "setup: all dependencies present"
fi

# The optional Python packages (TensorBoard's reader, safetensors, Hugging Face CLIP for
# scripts/extract_features.py) go into .venv-py, a virtual environment over Debian's
# Python that still sees Debian's torch, h5py and numpy. Pinned; a failed download
# leaves the tests that need them reporting a skip.
readonly PY_PACKAGES=(tensorboard==2.21.0 safetensors==0.8.0 transformers==4.46.3)
venv="$(cd "$(dirname "$0")/.." && pwd)/.venv-py"
if ! "$venv/bin/python" -c "import tensorboard, safetensors, transformers" 2>/dev/null; then
  echo "setup: installing ${PY_PACKAGES[*]} into .venv-py"
  if ! { /usr/bin/python3 -m venv --system-site-packages "$venv" &&
         "$venv/bin/pip" install --quiet --progress-bar off "${PY_PACKAGES[@]}"; }; then
    echo "setup: warning: could not install ${PY_PACKAGES[*]}; their tests will report a skip" >&2
  fi
fi

# Debian's LibTorch links the BLAS chosen by the alternatives system; make sure it is
# OpenBLAS (pthread), not the reference BLAS that is ~10x slower.
arch=$(dpkg-architecture -qDEB_HOST_MULTIARCH 2>/dev/null || echo x86_64-linux-gnu)
for alt in "libblas.so.3-${arch}" "liblapack.so.3-${arch}"; do
  target=$(update-alternatives --list "$alt" 2>/dev/null | grep openblas-pthread | head -1 || true)
  if [ -n "$target" ]; then
    update-alternatives --set "$alt" "$target" >/dev/null 2>&1 || true
  fi
done
