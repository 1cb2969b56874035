#!/usr/bin/env bash
# Runs a missrec command under mpirun: one rank per GPU (or per CPU slot), on this node
# or on the hosts of a hostfile, with the thread count and logging settings a training
# job wants. Everything after the options is the missrec command line.
#
#   launch/mpirun.sh -n 2 pretrain --config configs/tiny.yaml
#   launch/mpirun.sh -n 16 --hostfile hosts --per-node 8 pretrain --config configs/pretrain.yaml --resume latest
#
# Options: -n RANKS (default: GPUs on this node, else 2), --hostfile FILE, --per-node N
# (ranks per node with a hostfile), --threads T (CPU threads per rank; default: the
# node's CPUs shared among its ranks), --bin PATH (default build/missrec).
# Environment passed to every rank: GLOG_v, GLOG_logtostderr (default 1), CUDA_VISIBLE_DEVICES.
# Preemption: send SIGUSR1 to mpirun; it forwards it, the ranks write a checkpoint and
# the job exits 75 (see launch/README.md).
set -euo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
ranks=""
hostfile=""
per_node=""
threads=""
bin="${MISSREC_BIN:-$here/build/missrec}"
while [ $# -gt 0 ]; do
  case "$1" in
    -n|--ranks) ranks="$2"; shift 2 ;;
    --hostfile) hostfile="$2"; shift 2 ;;
    --per-node) per_node="$2"; shift 2 ;;
    --threads) threads="$2"; shift 2 ;;
    --bin) bin="$2"; shift 2 ;;
    -h|--help) sed -n '2,16p' "$0"; exit 0 ;;
    --) shift; break ;;
    *) break ;;
  esac
done
if [ $# -eq 0 ]; then
  echo "launch/mpirun.sh: error: no missrec command given (see --help)" >&2
  exit 2
fi
if [ ! -x "$bin" ]; then
  echo "launch/mpirun.sh: error: $bin: not built (cmake --build build)" >&2
  exit 2
fi
if [ -z "$ranks" ]; then
  gpus=$(nvidia-smi -L 2>/dev/null | wc -l || true)
  ranks=$(( gpus > 0 ? gpus : 2 ))
fi

args=(-np "$ranks" --bind-to none -x GLOG_logtostderr="${GLOG_logtostderr:-1}")
[ -n "${GLOG_v:-}" ] && args+=(-x GLOG_v="$GLOG_v")
[ -n "${CUDA_VISIBLE_DEVICES:-}" ] && args+=(-x CUDA_VISIBLE_DEVICES)
[ -n "$hostfile" ] && args+=(--hostfile "$hostfile")
[ -n "$per_node" ] && args+=(--map-by "ppr:${per_node}:node")
[ "$(id -u)" -eq 0 ] && args+=(--allow-run-as-root)
[ -z "$hostfile" ] && args+=(--oversubscribe)

command=("$1"); shift
extra=()
if [ -n "$threads" ]; then
  args+=(-x OMP_NUM_THREADS="$threads")
  case "$command" in
    pretrain|finetune|cluster|comm-check) extra+=(--set "run.threads=$threads") ;;
  esac
fi
exec mpirun "${args[@]}" "$bin" "$command" "$@" "${extra[@]}"
