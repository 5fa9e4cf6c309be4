#!/usr/bin/env bash
# ferry's swarm overlay on HOSTS private hosts (network namespaces on one underlay bridge, a
# daemon each, host 0 the manager with its etcd member): propagation of a new sandbox to
# another host by address and by name, overlay vs underlay throughput, and how long a dead
# host's endpoints stay on the others. Traffic stays inside the namespaces this script makes.
#
#   sudo FERRY_BIN=target/release/ferry bash bench/swarm-overlay.sh [HOSTS] [TRIALS] [LOSS_TRIALS]
#
# Needs: etcd (etcd-server), iperf3, socat, python3; a release build (ferry, ferryd, ferry-init).
set -euo pipefail

HOSTS=${1:-5}
TRIALS=${2:-200}
LOSS_TRIALS=${3:-20}
TTL=${TTL:-2}
FERRY_BIN=$(readlink -f "${FERRY_BIN:-target/release/ferry}")
export FERRY_BIN
ROOT=${BENCH_ROOT:-/tmp/ferry-bench}/swarm
U=fsw-u
here=$(cd "$(dirname "$0")" && pwd)

pids=()
cleanup() {
  for i in $(seq 0 $((HOSTS - 1))); do
    local pf=$ROOT/h$i/daemon.pid
    [ -f "$pf" ] && kill -9 "$(cat "$pf")" 2>/dev/null || true
    local p
    p=$(ip netns pids "fsw-h$i" 2>/dev/null || true)
    [ -n "$p" ] && kill -9 $p 2>/dev/null || true
    ip netns del "fsw-h$i" 2>/dev/null || true
  done
  ip netns del $U 2>/dev/null || true
}
trap cleanup EXIT
cleanup
rm -rf "$ROOT"
mkdir -p "$ROOT"

ip netns add $U
ip -n $U link add ul type bridge
ip -n $U link set ul up

start_daemon() {
  local i=$1 r=$ROOT/h$1
  mkdir -p "$r"
  ip netns exec "fsw-h$i" "$FERRY_BIN" daemon --data-root "$r/data" --exec-root "$r/run" \
    --bip 10.210.$i.1/24 >>"$r/daemon.log" 2>&1 &
  echo $! >"$r/daemon.pid"
  for _ in $(seq 1 400); do
    FERRY_HOST=unix://$r/run/ferry.sock "$FERRY_BIN" info >/dev/null 2>&1 && return 0
    sleep 0.05
  done
  echo "daemon $i did not start: $r/daemon.log" >&2
  return 1
}
f() { local i=$1; shift; FERRY_HOST=unix://$ROOT/h$i/run/ferry.sock "$FERRY_BIN" "$@"; }

: >"$ROOT/hosts"
for i in $(seq 0 $((HOSTS - 1))); do
  ns=fsw-h$i addr=198.51.100.$((10 + i))
  ip netns add $ns
  ip -n $U link add u$i type veth peer name ul0 netns $ns
  ip -n $U link set u$i master ul up
  ip -n $ns addr add $addr/24 dev ul0
  ip -n $ns link set ul0 up
  ip -n $ns link set lo up
  start_daemon $i
  echo "$ns $ROOT/h$i/run/ferry.sock $ROOT/h$i/daemon.pid $addr" >>"$ROOT/hosts"
done

f 0 swarm init --advertise-addr 198.51.100.10 --lease-ttl "$TTL" >/dev/null
token=$(f 0 swarm join-token -q worker)
for i in $(seq 1 $((HOSTS - 1))); do
  f $i swarm join --advertise-addr 198.51.100.$((10 + i)) --token "$token" 198.51.100.10:2377 >/dev/null
done
f 0 network create -d overlay --attachable --subnet 10.231.0.0/16 prop >/dev/null
for i in $(seq 1 $((HOSTS - 1))); do
  until f $i network inspect prop >/dev/null 2>&1; do sleep 0.05; done
done
# A client sandbox on every host but the manager; a sandbox to lose on host 2; a throughput
# end on host 0.
for i in $(seq 0 $((HOSTS - 1))); do
  f $i run -d --name client --network prop -- sleep 100000 >/dev/null
done
f 2 run -d --name lost --network prop -- sleep 100000 >/dev/null
f 0 run -d --name tput --network prop -- sleep 100000 >/dev/null

# How the loss benchmark brings host 2's daemon back after killing it.
cat >"$ROOT/restart-victim.sh" <<EOF
r=$ROOT/h2
ip netns exec fsw-h2 $FERRY_BIN daemon --data-root \$r/data --exec-root \$r/run --bip 10.210.2.1/24 >>\$r/daemon.log 2>&1 &
echo \$! >\$r/daemon.pid
for _ in \$(seq 1 400); do FERRY_HOST=unix://\$r/run/ferry.sock $FERRY_BIN info >/dev/null 2>&1 && exit 0; sleep 0.05; done
exit 1
EOF
export RESTART_VICTIM="bash $ROOT/restart-victim.sh"

python3 "$here/swarm_overlay.py" "$ROOT/hosts" "$TRIALS" "$LOSS_TRIALS" "$TTL"
