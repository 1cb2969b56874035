#!/usr/bin/env bash
# Runs a missrec command under mpirun: one rank per GPU (or per CPU slot), on this node
# or on the hosts of a hostfile, with the thread count and logging settings a training
# job wants. Everything after the options is the missrec command line.
#
#   launch/mpirun.sh -n 2 pretrain --config configs/tiny.yaml
#   launch/mpirun.sh -n 16 --hostfile hosts --per-node 8 pretrain --config configs/pretrain.yaml --resume latest
#
# Options: -n RANKS (default: GPUs on this node, else 2), --hostfile FILE, --per-node N
# (ranks per node with a hostfile), --iface NAME|CIDR (the network Open MPI's TCP traffic
# between hosts and its launch traffic use, e.g. ib0 or 10.0.0.0/16; default: every
# interface that is up), --launch-agent CMD (how mpirun starts its daemons on the other
# hosts; default ssh), --threads T (CPU threads per rank; default: the node's CPUs
# shared among its ranks), --bin PATH (default build/missrec).
# Environment passed to every rank: GLOG_v, GLOG_logtostderr (default 1), CUDA_VISIBLE_DEVICES,
# MISSREC_FAULT (the reliability tests' fault injection), and the BLAS/OpenMP settings of
# launch/env.sh (OPENBLAS_CORETYPE, OPENBLAS_THREAD_TIMEOUT, GOMP_SPINCOUNT; yours when set).
# Preemption: send SIGUSR1 to mpirun; it forwards it, the ranks write a checkpoint and
# the job exits 75 (see launch/README.md).
set -euo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=launch/env.sh
. "$here/launch/env.sh"
ranks=""
hostfile=""
per_node=""
iface=""
launch_agent=""
threads=""
bin="${MISSREC_BIN:-$here/build/missrec}"
while [ $# -gt 0 ]; do
  case "$1" in
    -n|--ranks) ranks="$2"; shift 2 ;;
    --hostfile) hostfile="$2"; shift 2 ;;
    --per-node) per_node="$2"; shift 2 ;;
    --iface) iface="$2"; shift 2 ;;
    --launch-agent) launch_agent="$2"; shift 2 ;;
    --threads) threads="$2"; shift 2 ;;
    --bin) bin="$2"; shift 2 ;;
    -h|--help) sed -n '2,/^[^#]/s/^# \{0,1\}//p' "$0"; exit 0 ;;
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
[ -n "${MISSREC_FAULT:-}" ] && args+=(-x MISSREC_FAULT)
for variable in OPENBLAS_CORETYPE OPENBLAS_THREAD_TIMEOUT GOTO_THREAD_TIMEOUT GOMP_SPINCOUNT OMP_WAIT_POLICY; do
  [ -n "${!variable:-}" ] && args+=(-x "$variable")
done
[ -n "$hostfile" ] && args+=(--hostfile "$hostfile")
[ -n "$per_node" ] && args+=(--map-by "ppr:${per_node}:node")
if [ -n "$iface" ]; then
  args+=(--mca btl_tcp_if_include "$iface" --mca oob_tcp_if_include "$iface")
fi
[ -n "$launch_agent" ] && args+=(--mca plm_rsh_agent "$launch_agent")
if [ -n "$hostfile" ]; then
  # mpirun notices a host that stopped answering (dead, or its link down) by TCP
  # keepalive on its daemon connection: ~15 s instead of Open MPI's 300 + 9 x 20 s.
  # Without it, ending the job waits on the lost daemon for TCP's retransmission timeout.
  args+=(--mca oob_tcp_keepalive_time 5 --mca oob_tcp_keepalive_intvl 2 --mca oob_tcp_keepalive_probes 5)
fi
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
