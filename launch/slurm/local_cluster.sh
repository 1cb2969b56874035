#!/usr/bin/env bash
# A private one-node Slurm cluster on this host (munged, slurmctld, slurmd, all as root),
# to try the batch scripts without a real cluster; tests/launch/slurm_test.py uses it.
# Everything lives under DIR: its own munge key and socket, slurm.conf, state, logs and
# free ports, so a system Slurm, if any, is left alone.
#
#   launch/slurm/local_cluster.sh start DIR    # prints: export SLURM_CONF=DIR/slurm.conf
#   SLURM_CONF=DIR/slurm.conf sbatch --ntasks=2 --ntasks-per-node=2 --cpus-per-task=1 \
#       --gpus-per-task=0 launch/slurm/pretrain.sbatch
#   launch/slurm/local_cluster.sh stop DIR
#
# Needs Debian's slurm-wlm and munge (scripts/setup.sh --with-slurm) and root.
set -euo pipefail

started=0
die() {
  echo "local_cluster.sh: error: $*" >&2
  # A failed start leaves no daemon behind.
  if [ "$started" -eq 1 ]; then stop_cluster; fi
  exit 2
}
[ $# -eq 2 ] || die "usage: local_cluster.sh start|stop DIR"
action=$1
dir=$(realpath -m "$2")

stop_pid_file() {
  local pid_file=$1
  [ -f "$pid_file" ] || return 0
  local pid
  pid=$(cat "$pid_file" 2>/dev/null || true)
  [ -n "$pid" ] && kill "$pid" 2>/dev/null || true
  for _ in $(seq 50); do
    { [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; } || break
    sleep 0.1
  done
  [ -n "$pid" ] && kill -9 "$pid" 2>/dev/null || true
  rm -f "$pid_file"
}

stop_cluster() {
  if [ -f "$dir/slurm.conf" ] && [ -f "$dir/slurmctld.pid" ]; then
    # Jobs still running are cancelled first, so no task outlives the cluster.
    export SLURM_CONF="$dir/slurm.conf"
    jobs=$(squeue -h -o %i 2>/dev/null || true)
    if [ -n "$jobs" ]; then
      scancel $jobs 2>/dev/null || true
      for _ in $(seq 200); do
        [ -z "$(squeue -h -o %i 2>/dev/null)" ] && break
        sleep 0.2
      done
    fi
  fi
  stop_pid_file "$dir/slurmd.pid"
  stop_pid_file "$dir/slurmctld.pid"
  stop_pid_file "$dir/munge/munged.pid"
}

if [ "$action" = stop ]; then
  stop_cluster
  exit 0
fi
[ "$action" = start ] || die "unknown action '$action' (expected start or stop)"

for tool in munged slurmctld slurmd sbatch; do
  command -v "$tool" >/dev/null || die "$tool not found: install slurm-wlm and munge (scripts/setup.sh --with-slurm)"
done
[ "$(id -u)" -eq 0 ] || die "the local cluster runs its daemons as root; run as root"

free_port() {
  local port
  for _ in $(seq 100); do
    port=$((20000 + RANDOM % 20000))
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
      echo "$port"
      return
    fi
  done
  die "no free TCP port found"
}

for pid_file in "$dir/munge/munged.pid" "$dir/slurmctld.pid" "$dir/slurmd.pid"; do
  if [ -f "$pid_file" ] && kill -0 "$(cat "$pid_file")" 2>/dev/null; then
    die "a cluster already runs in $dir ($pid_file); stop it first"
  fi
done
mkdir -p "$dir/munge" "$dir/state" "$dir/spool" "$dir/log"
chmod 711 "$dir/munge"
started=1
if [ ! -f "$dir/munge/munge.key" ]; then
  head -c 1024 /dev/urandom > "$dir/munge/munge.key"
  chmod 400 "$dir/munge/munge.key"
fi
munged --force --socket="$dir/munge/munge.sock" --key-file="$dir/munge/munge.key" \
  --pid-file="$dir/munge/munged.pid" --log-file="$dir/munge/munged.log" \
  --seed-file="$dir/munge/munged.seed" || die "munged did not start (see $dir/munge/munged.log)"

node=$(hostname -s)
ctld_port=$(free_port)
slurmd_port=$(free_port)
while [ "$slurmd_port" = "$ctld_port" ]; do slurmd_port=$(free_port); done
cat > "$dir/slurm.conf" <<EOF
# Written by launch/slurm/local_cluster.sh: one node ($node), $(nproc) CPUs.
ClusterName=missrec-local
SlurmctldHost=$node(127.0.0.1)
SlurmctldPort=$ctld_port
SlurmdPort=$slurmd_port
AuthType=auth/munge
CredType=cred/munge
# cred_expire also sets how long a requeued job waits before it may start again
# (default 120 s).
AuthInfo=socket=$dir/munge/munge.sock,cred_expire=5
SlurmUser=root
SlurmdUser=root
StateSaveLocation=$dir/state
SlurmdSpoolDir=$dir/spool
SlurmctldPidFile=$dir/slurmctld.pid
SlurmdPidFile=$dir/slurmd.pid
SlurmctldLogFile=$dir/log/slurmctld.log
SlurmdLogFile=$dir/log/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
# No cgroups in containers: track processes by parentage, no task binding.
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
# Open MPI finds its ranks through Slurm's PMIx server under srun.
MpiDefault=pmix
SchedulerType=sched/builtin
# Look at pending jobs every 2 s (default 60), so a requeued job restarts promptly.
SchedulerParameters=sched_interval=2
ReturnToService=2
JobRequeue=1
# Finished jobs are kept 10 s (default 300). sbatch --wait's poll interval grows
# 2, 8, 32 s only while it is under MinJobAge/2, so here it stays at 8 s.
MinJobAge=10
# Seconds between the SIGTERM and the SIGKILL when a step or job is ended (default 30).
KillWait=10
NodeName=$node NodeAddr=127.0.0.1 CPUs=$(nproc) State=UNKNOWN
PartitionName=local Nodes=$node Default=YES MaxTime=INFINITE State=UP
EOF

export SLURM_CONF="$dir/slurm.conf"
slurmctld -c -f "$SLURM_CONF" || die "slurmctld did not start (see $dir/log/slurmctld.log)"
slurmd -f "$SLURM_CONF" -N "$node" || die "slurmd did not start (see $dir/log/slurmd.log)"
for _ in $(seq 100); do
  if [ "$(sinfo -h -n "$node" -o %t 2>/dev/null)" = idle ]; then
    echo "export SLURM_CONF=$SLURM_CONF"
    exit 0
  fi
  sleep 0.2
done
die "node $node did not come up idle within 20 s (see $dir/log/slurmctld.log and slurmd.log)"
