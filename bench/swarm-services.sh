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
P=fss
EXTRA_NETNS=fss-out
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=bench/swarm-hosts.sh
source "$here/swarm-hosts.sh"
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
