#!/usr/bin/env bash
# ferry's swarm services on HOSTS private hosts (network namespaces on one underlay bridge, a
# daemon each, host 0 the manager with its etcd member): failover of a dead host's replicas,
# scale-out across hosts, and the routing mesh's and the VIP's cost. Traffic stays inside the
# namespaces this script makes (an "outside" client namespace is linked to the last host).
#
#   sudo FERRY_BIN=target/release/ferry bash bench/swarm-services.sh [HOSTS] [FAILOVER_TRIALS]
#
# Needs: etcd (etcd-server), socat, python3; a release build (ferry, ferryd, ferry-init).
set -euo pipefail

HOSTS=${1:-5}
TRIALS=${2:-20}
TTL=${TTL:-2}
FERRY_BIN=$(readlink -f "${FERRY_BIN:-target/release/ferry}")
export FERRY_BIN
ROOT=${BENCH_ROOT:-/tmp/ferry-bench}/swarm-services
U=fss-u
here=$(cd "$(dirname "$0")" && pwd)

pids=()
cleanup() {
  for i in $(seq 0 $((HOSTS - 1))); do
    local pf=$ROOT/h$i/daemon.pid
    [ -f "$pf" ] && kill -9 "$(cat "$pf")" 2>/dev/null || true
    local p
    p=$(ip netns pids "fss-h$i" 2>/dev/null || true)
    [ -n "$p" ] && kill -9 $p 2>/dev/null || true
    ip netns del "fss-h$i" 2>/dev/null || true
  done
  ip netns del $U 2>/dev/null || true
  ip netns del fss-out 2>/dev/null || true
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
  ip netns exec "fss-h$i" "$FERRY_BIN" daemon --data-root "$r/data" --exec-root "$r/run" \
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
  ns=fss-h$i addr=198.51.100.$((10 + i))
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
# A client outside the swarm, linked to the last host (which runs no replica of the mesh's
# service).
last=$((HOSTS - 1))
ip netns add fss-out
ip -n fss-h$last link add xo0 type veth peer name eth0 netns fss-out
ip -n fss-h$last addr add 192.0.2.1/24 dev xo0
ip -n fss-h$last link set xo0 up
ip -n fss-out addr add 192.0.2.2/24 dev eth0
ip -n fss-out link set eth0 up
ip -n fss-out link set lo up

# How the failover benchmark brings a host back: its link up, its daemon started.
{
  echo 'i=$1; r='"$ROOT"'/h$i'
  echo 'ip -n fss-h$i link set ul0 up'
  echo 'ip netns exec fss-h$i '"$FERRY_BIN"' daemon --data-root $r/data --exec-root $r/run --bip 10.210.$i.1/24 >>$r/daemon.log 2>&1 &'
  echo 'echo $! >$r/daemon.pid'
  echo 'for _ in $(seq 1 400); do FERRY_HOST=unix://$r/run/ferry.sock '"$FERRY_BIN"' info >/dev/null 2>&1 && exit 0; sleep 0.05; done'
  echo 'exit 1'
} >"$ROOT/restart.sh"
export RESTART_HOST="bash $ROOT/restart.sh"

python3 "$here/swarm_services.py" "$ROOT/hosts" "$TRIALS" "$TTL"
