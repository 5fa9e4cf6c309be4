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
P=fsw
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=bench/swarm-hosts.sh
source "$here/swarm-hosts.sh"
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
ip netns exec $P-h2 $FERRY_BIN daemon --data-root \$r/data --exec-root \$r/run --bip 10.210.2.1/24 >>\$r/daemon.log 2>&1 &
echo \$! >\$r/daemon.pid
for _ in \$(seq 1 400); do FERRY_HOST=unix://\$r/run/ferry.sock $FERRY_BIN info >/dev/null 2>&1 && exit 0; sleep 0.05; done
exit 1
EOF
export RESTART_VICTIM="bash $ROOT/restart-victim.sh"

python3 "$here/swarm_overlay.py" "$ROOT/hosts" "$TRIALS" "$LOSS_TRIALS" "$TTL"
