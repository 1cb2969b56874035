#!/usr/bin/env bash
# Runs the benchmark suite and writes one JSON file (default: bench.json) holding every
# benchmark's JSON line. Benchmarks measure; tests never depend on timings.
#
#   scripts/bench.sh [--build-dir DIR] [--out FILE] [--np N]
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=launch/env.sh
. launch/env.sh

build_dir=build
out=bench.json
np=2
while [ $# -gt 0 ]; do
  case "$1" in
    --build-dir) build_dir="$2"; shift ;;
    --out) out="$2"; shift ;;
    --np) np="$2"; shift ;;
    -h|--help) sed -n '2,/^[^#]/s/^# \{0,1\}//p' "$0"; exit 0 ;;
    *) echo "scripts/bench.sh: unknown option $1" >&2; exit 2 ;;
  esac
  shift
done

bin="$build_dir/missrec"
[ -x "$bin" ] || { echo "scripts/bench.sh: $bin not built (run scripts/test.sh first)" >&2; exit 2; }
mpirun_flags=(--oversubscribe)
[ "$(id -u)" -eq 0 ] && mpirun_flags+=(--allow-run-as-root)

results=()
threads=$(nproc)
echo "bench: train, B=256, demo lengths, np=1 x $threads threads" >&2
results+=("$("$bin" bench train --batch 256 --lengths demo --threads "$threads" 2>/dev/null | tail -n 1)")
echo "bench: train, B=256, demo lengths, bf16, np=1 x $threads threads" >&2
results+=("$("$bin" bench train --batch 256 --lengths demo --threads "$threads" --set train.precision=bf16 2>/dev/null | tail -n 1)")
echo "bench: train, B=256, every history 50, np=1 x $threads threads" >&2
results+=("$("$bin" bench train --batch 256 --lengths full --steps 4 --threads "$threads" 2>/dev/null | tail -n 1)")
echo "bench: train, B=4096 (the paper's), demo lengths, np=1 x $threads threads" >&2
results+=("$("$bin" bench train --batch 4096 --lengths demo --steps 3 --threads "$threads" 2>/dev/null | tail -n 1)")
echo "bench: train, B=4096, demo lengths, bf16, np=1 x $threads threads" >&2
results+=("$("$bin" bench train --batch 4096 --lengths demo --steps 3 --threads "$threads" --set train.precision=bf16 \
  2>/dev/null | tail -n 1)")
echo "bench: train, B=256, demo lengths, padded computation (reference)" >&2
results+=("$("$bin" bench train --batch 256 --lengths demo --steps 4 --padded --threads "$threads" 2>/dev/null | tail -n 1)")
echo "bench: train, B=256, demo lengths, np=$threads x 1 thread" >&2
results+=("$(mpirun "${mpirun_flags[@]}" -np "$threads" "$bin" bench train --batch 256 --lengths demo --threads 1 2>/dev/null | tail -n 1)")
echo "bench: comm-check at np=$np" >&2
results+=("$(mpirun "${mpirun_flags[@]}" -np "$np" "$bin" comm-check --json 2>/dev/null | tail -n 1)")
echo "bench: data (one rank of 8, global batch 4096, uniform order)" >&2
results+=("$("$bin" bench data 2>/dev/null | tail -n 1)")
echo "bench: cluster (N=16000, D=300, k=10%, K=2%, against the full matrix), np=1 x $threads threads" >&2
results+=("$("$bin" bench cluster --set cluster.memory_mb=256 --set "run.threads=$threads" 2>/dev/null | tail -n 1)")
echo "bench: cluster (N=16000), np=$threads x 1 thread" >&2
results+=("$(mpirun "${mpirun_flags[@]}" -np "$threads" "$bin" bench cluster --no-baseline --set cluster.memory_mb=256 \
  --set run.threads=1 2>/dev/null | tail -n 1)")
echo "bench: cluster (N=16000), np=$threads x 1 thread, sampled (m=4096) against exact" >&2
results+=("$(mpirun "${mpirun_flags[@]}" -np "$threads" "$bin" bench cluster --no-baseline --set cluster.memory_mb=256 \
  --set run.threads=1 --set cluster.method=sampled 2>/dev/null | tail -n 1)")
echo "bench: cluster (N=100000), np=$np, sampled (m=4096) against exact (exact_s)" >&2
results+=("$(mpirun "${mpirun_flags[@]}" -np "$np" "$bin" bench cluster --n 100000 --no-baseline --set cluster.memory_mb=512 \
  --set "run.threads=$((threads / np > 0 ? threads / np : 1))" --set cluster.method=sampled 2>/dev/null | tail -n 1)")

{
  echo "{\"host\":\"$(hostname)\",\"date\":\"$(date -u +%Y-%m-%dT%H:%M:%SZ)\",\"results\":["
  for i in "${!results[@]}"; do
    [ "$i" -gt 0 ] && echo ","
    echo "${results[$i]}"
  done
  echo "]}"
} > "$out"
echo "bench: wrote $out" >&2
