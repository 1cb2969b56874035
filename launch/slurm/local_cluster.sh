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
#   launch/slurm/local_cluster.sh start DIR --testbed BED   # one node per test host
#   BED/on HOST sbatch --nodes=2 ...                          # (launch/testbed/hosts.sh)
#
# With --testbed, every host of the test bed in BED becomes a node (its own slurmd,
# NodeName = the host's name, NodeAddr = its address) and slurmctld runs on the first;
# Slurm's commands then run on a host of the bed (BED/on HOST sbatch ...).
#
# Needs Debian's slurm-wlm and munge (scripts/setup.sh --with-slurm) and root.
set -euo pipefail
case "${1:-}" in -h|--help) sed -n '2,/^[^#]/s/^# \{0,1\}//p' "$0"; exit 0 ;; esac

started=0
die() {
  echo "local_cluster.sh: error: $*" >&2
  # A failed start leaves no daemon behind.
  if [ "$started" -eq 1 ]; then stop_cluster; fi
  exit 2
}
[ $# -eq 2 ] || [ $# -eq 4 ] || die "usage: local_cluster.sh start|stop DIR [--testbed BED]"
action=$1
dir=$(realpath -m "$2")
bed=""
if [ $# -eq 4 ]; then
  [ "$3" = --testbed ] || die "unknown option '$3' (expected --testbed BED)"
  bed=$(realpath -m "$4")
  [ -x "$bed/on" ] && [ -f "$bed/hosts" ] || die "$bed: not a test bed (launch/testbed/hosts.sh start N $bed)"
fi
# The nodes (NAME ADDRESS lines) and the prefix that runs a command on the first.
if [ -n "$bed" ]; then
  nodes=$(awk '{print $2 " " $1}' "$bed/hosts")
  on_first=("$bed/on" "$(awk 'NR==1{print $2}' "$bed/hosts")")
else
  nodes="$(hostname -s) 127.0.0.1"
  on_first=()
fi
# `ip netns exec` mounts a fresh /sys, without the cgroup hierarchies slurmd needs: a
# bind mount of this machine's, made under DIR, is mounted over it on each node.
on_node() {
  local node=$1
  shift
  if [ -n "$bed" ]; then
    # Each node also gets its own /var/tmp, where Slurm's PMIx server keeps its
    # per-step directories (named by job and step only, so nodes sharing one collide).
    mkdir -p "$dir/node_tmp/$node"
    "$bed/on" "$node" sh -c 'mount --rbind "$0" /sys/fs/cgroup && mount --bind "$1" /var/tmp && shift && exec "$@"' \
      "$dir/cgroup" "$dir/node_tmp/$node" "$@"
  else
    "$@"
  fi
}

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
    jobs=$("${on_first[@]}" squeue -h -o %i 2>/dev/null || true)
    if [ -n "$jobs" ]; then
      "${on_first[@]}" scancel $jobs 2>/dev/null || true
      for _ in $(seq 200); do
        [ -z "$("${on_first[@]}" squeue -h -o %i 2>/dev/null)" ] && break
        sleep 0.2
      done
    fi
  fi
  for pid_file in "$dir"/slurmd*.pid; do stop_pid_file "$pid_file"; done
  if mountpoint -q "$dir/cgroup" 2>/dev/null; then umount -R "$dir/cgroup" 2>/dev/null || umount -lR "$dir/cgroup" || true; fi
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

for pid_file in "$dir/munge/munged.pid" "$dir/slurmctld.pid" "$dir"/slurmd*.pid; do
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

first_node=$(echo "$nodes" | awk 'NR==1{print $1}')
first_address=$(echo "$nodes" | awk 'NR==1{print $2}')
node_lines=$(echo "$nodes" | while read -r name address; do
  echo "NodeName=$name NodeAddr=$address CPUs=$(nproc) State=UNKNOWN"
done)
node_list=$(echo "$nodes" | awk '{print $1}' | paste -sd,)
ctld_port=$(free_port)
slurmd_port=$(free_port)
while [ "$slurmd_port" = "$ctld_port" ]; do slurmd_port=$(free_port); done
cat > "$dir/slurm.conf" <<EOF
# Written by launch/slurm/local_cluster.sh: nodes $node_list, $(nproc) CPUs each.
ClusterName=missrec-local
SlurmctldHost=$first_node($first_address)
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
SlurmdSpoolDir=$dir/spool/%n
SlurmctldPidFile=$dir/slurmctld.pid
SlurmdPidFile=$dir/slurmd.%n.pid
SlurmctldLogFile=$dir/log/slurmctld.log
SlurmdLogFile=$dir/log/slurmd.%n.log
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
$node_lines
PartitionName=local Nodes=$node_list Default=YES MaxTime=INFINITE State=UP
EOF

export SLURM_CONF="$dir/slurm.conf"
if [ -n "$bed" ]; then
  echo "PMIxCliTmpDirBase=/var/tmp" > "$dir/mpi.conf"
  mkdir -p "$dir/cgroup"
  mountpoint -q "$dir/cgroup" || mount --rbind /sys/fs/cgroup "$dir/cgroup" || die "cannot bind /sys/fs/cgroup for the nodes"
fi
"${on_first[@]}" slurmctld -c -f "$SLURM_CONF" || die "slurmctld did not start (see $dir/log/slurmctld.log)"
while read -r name _; do
  mkdir -p "$dir/spool/$name"
  on_node "$name" slurmd -f "$SLURM_CONF" -N "$name" || die "slurmd of $name did not start (see $dir/log/slurmd.$name.log)"
done <<< "$nodes"
count=$(echo "$nodes" | wc -l)
for _ in $(seq 100); do
  if [ "$("${on_first[@]}" sinfo -h -N -t idle -o %N 2>/dev/null | wc -l)" -eq "$count" ]; then
    echo "export SLURM_CONF=$SLURM_CONF"
    exit 0
  fi
  sleep 0.2
done
die "the $count node(s) did not come up idle within 20 s (see $dir/log/slurmctld.log and slurmd.*.log)"
