#!/usr/bin/env bash
# Prepares the GPU check (scripts/gpu_check.sh) for a GPU machine that has CUDA, Python
# with torch 2.11 (CUDA 13) and no MPI, HDF5, yaml-cpp or glog. Run here, on a Debian
# build machine: builds `missrec` against PyPI's torch of the same version (build-cuda,
# as `scripts/test.sh --cuda-torch` does) and gathers into one ignored folder (.gpu/)
# everything that binary needs which that machine lacks, from this machine's Debian
# packages: the libraries it links (not glibc's, not the CUDA driver, not what torch
# brings), and Open MPI's launcher with its plugins and help files (PMIx, hwloc,
# libevent), packed as one xz archive (.gpu/bundle.tar.xz). Prints its size; what
# travels (tracked files + .gpu/) must stay under 64 MiB.
#
#   scripts/gpu_prepare.sh [--out DIR]     # default .gpu
set -euo pipefail
cd "$(dirname "$0")/.."

out=.gpu
while [ $# -gt 0 ]; do
  case "$1" in
    --out) out="$2"; shift ;;
    -h|--help) sed -n '2,/^[^#]/s/^# \{0,1\}//p' "$0"; exit 0 ;;
    *) echo "scripts/gpu_prepare.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
  shift
done

torch_root=$(scripts/cuda_torch.sh)
site_packages=$(dirname "$torch_root")
mapfile -t cuda_args < <(scripts/cuda_torch.sh --cmake-args)
echo "gpu_prepare: building missrec against $(basename "$(dirname "$site_packages")") torch in build-cuda" >&2
cmake -S . -B build-cuda -DCMAKE_BUILD_TYPE=Release "${cuda_args[@]}" >/dev/null
cmake --build build-cuda -j "$(nproc)" --target missrec

staging="$out.partial"
rm -rf "$staging"
trap 'rm -rf "$staging"' EXIT
mkdir -p "$staging/bin" "$staging/lib"
cp build-cuda/missrec "$staging/bin/missrec"
strip --strip-unneeded "$staging/bin/missrec"

# What the GPU machine has: glibc, the CUDA driver, and its torch with the nvidia wheels.
provided_there() {
  case "$1" in
    "$site_packages"/*|/usr/local/cuda*|*/libcuda.so*|*/libnvidia-*) return 0 ;;
    */ld-linux-x86-64.so*|*/libc.so.*|*/libm.so.*|*/libdl.so.*|*/libpthread.so.*|*/librt.so.*|\
    */libutil.so.*|*/libresolv.so.*) return 0 ;;
  esac
  return 1
}
# Open MPI plugins for fabrics a one-node check never uses pull in tens of MB.
fabric_plugin() { ldd "$1" 2>/dev/null | grep -qE 'libucp|libucs|libfabric|libibverbs|libpsm|librdmacm|libjvm'; }

nvidia_dirs=$(find "$site_packages/nvidia" -name 'lib*.so*' -printf '%h\n' 2>/dev/null | sort -u | paste -sd:)
gather_libraries_of() {
  LD_LIBRARY_PATH="$torch_root/lib:$nvidia_dirs" ldd "$1" | awk '/=> \//{print $3}' | while read -r lib; do
    provided_there "$lib" && continue
    local name
    name=$(basename "$lib")
    [ -e "$staging/lib/$name" ] || cp -L "$lib" "$staging/lib/$name"
  done
  if LD_LIBRARY_PATH="$torch_root/lib:$nvidia_dirs" ldd "$1" | grep -q 'not found'; then
    echo "gpu_prepare: $1 has unresolved libraries:" >&2
    ldd "$1" | grep 'not found' >&2
    exit 1
  fi
}
gather_libraries_of build-cuda/missrec

# Open MPI (Debian's layout under a prefix that OPAL_PREFIX relocates) and PMIx.
arch=$(dpkg-architecture -qDEB_HOST_MULTIARCH 2>/dev/null || echo x86_64-linux-gnu)
mpi="$staging/openmpi"
mkdir -p "$mpi/bin" "$mpi/lib/$arch/openmpi/lib/openmpi3" "$mpi/lib/$arch/pmix2/lib/pmix" "$mpi/share"
cp /usr/bin/orterun /usr/bin/orted "$mpi/bin/"
ln -s orterun "$mpi/bin/mpirun"
cp -r /usr/share/openmpi "$mpi/share/openmpi"
cp -r "/usr/lib/$arch/pmix2/share" "$mpi/lib/$arch/pmix2/share"
for tool in /usr/bin/orterun /usr/bin/orted; do gather_libraries_of "$tool"; done
for plugin in "/usr/lib/$arch/openmpi/lib/openmpi3/"*.so "/usr/lib/$arch/pmix2/lib/pmix/"*.so; do
  fabric_plugin "$plugin" && continue
  case "$plugin" in
    */pmix2/*) cp "$plugin" "$mpi/lib/$arch/pmix2/lib/pmix/" ;;
    *) cp "$plugin" "$mpi/lib/$arch/openmpi/lib/openmpi3/" ;;
  esac
  gather_libraries_of "$plugin"
done
# Plugins look for libmca_common_* and libpmix beside them as well as on the path.
for lib in "/usr/lib/$arch/openmpi/lib/"libmca_common_*.so "/usr/lib/$arch/pmix2/lib/libpmix.so.2"; do
  fabric_plugin "$lib" && continue
  cp -L "$lib" "$staging/lib/$(basename "$lib")"
  gather_libraries_of "$lib"
done
cat > "$staging/README" <<EOF
Gathered by scripts/gpu_prepare.sh on $(hostname) at $(date -u +%FT%TZ) for scripts/gpu_check.sh:
missrec $(git describe --always --dirty 2>/dev/null) built against torch $("$site_packages/../../../bin/python" -c 'import torch; print(torch.__version__)' 2>/dev/null || echo '?').
EOF

rm -rf "$out"
mkdir -p "$out"
XZ_OPT="-9 -T$(nproc)" tar -C "$staging" -cJf "$out/bundle.tar.xz.partial" .
mv "$out/bundle.tar.xz.partial" "$out/bundle.tar.xz"
unpacked=$(du -sb "$staging" | cut -f1)
rm -rf "$staging"
trap - EXIT
tracked=$(git ls-files -z | xargs -0 du -cb 2>/dev/null | tail -1 | cut -f1)
bundle=$(du -sb "$out" | cut -f1)
echo "gpu_prepare: $out/bundle.tar.xz holds $((unpacked / 1048576)) MiB in $((bundle / 1048576)) MiB;" \
     "with the tracked files ($((tracked / 1048576)) MiB) $(((bundle + tracked) / 1048576)) MiB travel (limit 64)"
if [ $((bundle + tracked)) -ge $((64 * 1048576)) ]; then
  echo "gpu_prepare: over the 64 MiB a GPU run carries" >&2
  exit 1
fi
