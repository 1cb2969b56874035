#!/usr/bin/env bash
# Test hosts on this one machine: N Linux network namespaces joined by a bridge, each a
# "host" with its own address on a private subnet, its own hostname (a UTS namespace per
# command) and its own /etc/hosts. The subnet exists only inside these namespaces: the
# bridge lives in a namespace of its own, so nothing reaches or leaves the machine.
#
#   launch/testbed/hosts.sh start N DIR       # writes DIR/hosts, DIR/hostfile, DIR/on, DIR/rsh
#   DIR/on HOST COMMAND...                     # runs COMMAND on HOST (e.g. mpirun on the first)
#   launch/testbed/hosts.sh link DIR HOST down|up
#   launch/testbed/hosts.sh reset DIR HOST          # ends every process on HOST (a reboot)
#   launch/testbed/hosts.sh shape DIR HOST 'netem delay 50ms loss 1%' | 'tbf rate 20mbit burst 64kb latency 200ms' | clear
#   launch/testbed/hosts.sh drop DIR HOST PERCENT   # random packet loss on HOST's link (nftables)
#   launch/testbed/hosts.sh stop DIR
#
# DIR/rsh is an Open MPI launch agent (plm_rsh_agent) that starts a command on a test
# host the way ssh would on a real one. Needs root and iproute2 (and util-linux's
# unshare); a failed start removes whatever it had created.
set -euo pipefail
case "${1:-}" in -h|--help) sed -n '2,/^[^#]/s/^# \{0,1\}//p' "$0"; exit 0 ;; esac

die() {
  echo "hosts.sh: error: $*" >&2
  exit 2
}
[ $# -ge 2 ] || die "usage: hosts.sh start N DIR | stop DIR | link DIR HOST down|up | shape DIR HOST SPEC | drop DIR HOST PERCENT"
action=$1
shift

# Names derive from DIR, so test beds in different directories never collide.
names_for() {
  local dir=$1
  tag=$(printf '%s' "$dir" | md5sum | cut -c1-6)
  switch_ns="tb${tag}-sw"
}
host_name() { echo "tb${tag}-h$1"; }

netns_of() {  # HOST -> its namespace (the host name itself)
  grep -q "^[0-9.]* $1\$" "$dir/hosts" 2>/dev/null || die "$1 is not a host of the test bed in $dir"
  echo "$1"
}

stop_bed() {
  local ns
  for ns in $(ip netns list 2>/dev/null | awk '{print $1}' | grep "^tb${tag}-" || true); do
    # Processes still on a host go first (a namespace with processes is kept alive).
    local pids
    pids=$(ip netns pids "$ns" 2>/dev/null || true)
    [ -n "$pids" ] && kill -9 $pids 2>/dev/null || true
    ip netns del "$ns" 2>/dev/null || true
    rm -rf "/etc/netns/$ns"
  done
}

if [ "$action" = start ]; then
  [ $# -eq 2 ] || die "usage: hosts.sh start N DIR"
  count=$1
  dir=$(realpath -m "$2")
  [[ "$count" =~ ^[0-9]+$ ]] && [ "$count" -ge 1 ] && [ "$count" -le 200 ] || die "N: expected 1..200 hosts, got '$count'"
  [ "$(id -u)" -eq 0 ] || die "network namespaces need root"
  for tool in ip unshare; do command -v "$tool" >/dev/null || die "$tool not found (iproute2, util-linux)"; done
  names_for "$dir"
  ip netns list 2>/dev/null | grep -q "^${switch_ns}\b" && die "a test bed already runs for $dir; stop it first"
  mkdir -p "$dir"
  trap 'status=$?; if [ $status -ne 0 ]; then stop_bed; rm -f "$dir/hosts" "$dir/hostfile" "$dir/on" "$dir/rsh"; fi' EXIT
  ip netns add "$switch_ns"
  ip -n "$switch_ns" link add br0 type bridge
  ip -n "$switch_ns" link set br0 up
  : > "$dir/hosts"
  for i in $(seq 0 $((count - 1))); do
    echo "10.77.0.$((i + 1)) $(host_name "$i")" >> "$dir/hosts"
  done
  : > "$dir/hostfile"
  for i in $(seq 0 $((count - 1))); do
    host=$(host_name "$i")
    ip netns add "$host"
    ip -n "$switch_ns" link add "p$i" type veth peer name eth0 netns "$host"
    ip -n "$switch_ns" link set "p$i" master br0 up
    ip -n "$host" link set lo up
    ip -n "$host" addr add "10.77.0.$((i + 1))/24" dev eth0
    ip -n "$host" link set eth0 up
    # `ip netns exec` binds /etc/netns/HOST/hosts over /etc/hosts for what runs there.
    mkdir -p "/etc/netns/$host"
    { echo "127.0.0.1 localhost"; cat "$dir/hosts"; } > "/etc/netns/$host/hosts"
    echo "$host slots=$(nproc)" >> "$dir/hostfile"
  done
  here=$(cd "$(dirname "$0")" && pwd)
  cat > "$dir/on" <<ON
#!/usr/bin/env bash
# Runs a command on a host of the test bed in $dir: its network namespace, hostname and /etc/hosts.
set -euo pipefail
[ \$# -ge 2 ] || { echo "on: usage: on HOST COMMAND..." >&2; exit 2; }
host=\$1; shift
grep -q "^[0-9.]* \$host\\\$" "$dir/hosts" || { echo "on: \$host is not a host of the test bed in $dir" >&2; exit 2; }
exec ip netns exec "\$host" unshare --uts sh -c 'hostname "\$0" && exec "\$@"' "\$host" "\$@"
ON
  # Open MPI calls its launch agent as `AGENT [options] HOST COMMAND-WORDS...` and expects
  # a shell to run the words on HOST, as ssh does.
  cat > "$dir/rsh" <<RSH
#!/usr/bin/env bash
# Open MPI launch agent for the test bed in $dir (plm_rsh_agent): like ssh, a command on a host.
set -euo pipefail
while [ \$# -gt 0 ] && [ "\${1#-}" != "\$1" ]; do shift; done
host=\$1; shift
exec "$dir/on" "\$host" sh -c "\$*"
RSH
  chmod +x "$dir/on" "$dir/rsh"
  # Every host must reach every other before the bed counts as started.
  for i in $(seq 0 $((count - 1))); do
    for j in $(seq 0 $((count - 1))); do
      [ "$i" = "$j" ] && continue
      ip netns exec "$(host_name "$i")" ping -c 1 -W 2 "10.77.0.$((j + 1))" >/dev/null 2>&1 ||
        "$here/hosts.sh" probe "$(host_name "$i")" "10.77.0.$((j + 1))" ||
        die "$(host_name "$i") cannot reach 10.77.0.$((j + 1))"
    done
  done
  trap - EXIT
  echo "test bed: $count hosts in $dir (hostfile $dir/hostfile; run with $dir/on HOST ...)"
  exit 0
fi

if [ "$action" = probe ]; then
  # Without ping: a TCP connect to a port nobody listens on is refused (reachable) or
  # times out (not).
  ns=$1
  address=$2
  out=$(ip netns exec "$ns" timeout 3 bash -c "exec 3<>/dev/tcp/$address/9" 2>&1 || true)
  case "$out" in *refused*) exit 0 ;; esac
  exit 1
fi

dir=$(realpath -m "$1")
shift
names_for "$dir"
case "$action" in
  stop)
    stop_bed
    rm -f "$dir/hosts" "$dir/hostfile" "$dir/on" "$dir/rsh"
    ;;
  link)
    [ $# -eq 2 ] || die "usage: hosts.sh link DIR HOST down|up"
    host=$(netns_of "$1")
    index=${host##*-h}
    case "$2" in
      down) ip -n "$switch_ns" link set "p$index" down ;;
      up)
        ip -n "$switch_ns" link set "p$index" up
        # Back only when it reaches every other host again (the port needs a moment).
        here=$(cd "$(dirname "$0")" && pwd)
        for address in $(awk '{print $1}' "$dir/hosts"); do
          [ "$address" = "10.77.0.$((index + 1))" ] && continue
          for attempt in $(seq 50); do
            "$here/hosts.sh" probe "$host" "$address" && break
            [ "$attempt" -eq 50 ] && die "$host does not reach $address after its link came up"
            sleep 0.2
          done
        done
        ;;
      *) die "link: expected down or up, got '$2'" ;;
    esac
    ;;
  reset)
    # What rebooting a lost host does: every process on it ends.
    [ $# -eq 1 ] || die "usage: hosts.sh reset DIR HOST"
    host=$(netns_of "$1")
    pids=$(ip netns pids "$host" 2>/dev/null || true)
    [ -n "$pids" ] && kill -9 $pids 2>/dev/null || true
    ;;
  shape)
    [ $# -eq 2 ] || die "usage: hosts.sh shape DIR HOST 'netem ...'|'tbf ...'|clear"
    host=$(netns_of "$1")
    if [ "$2" = clear ]; then
      ip netns exec "$host" tc qdisc del dev eth0 root 2>/dev/null || true
    else
      # shellcheck disable=SC2086
      ip netns exec "$host" tc qdisc replace dev eth0 root $2 || die "tc qdisc $2: not available in this kernel"
    fi
    ;;
  drop)
    [ $# -eq 2 ] || die "usage: hosts.sh drop DIR HOST PERCENT"
    host=$(netns_of "$1")
    command -v nft >/dev/null || die "nft not found (nftables)"
    ip netns exec "$host" nft delete table inet testbed_loss 2>/dev/null || true
    if [ "$2" != 0 ]; then
      ip netns exec "$host" nft -f - <<NFT || die "nft: random drop not available in this kernel"
table inet testbed_loss {
  chain out { type filter hook output priority 0; oifname "eth0" numgen random mod 100 < $2 drop; }
  chain in { type filter hook input priority 0; iifname "eth0" numgen random mod 100 < $2 drop; }
}
NFT
    fi
    ;;
  *) die "unknown action '$action'" ;;
esac
