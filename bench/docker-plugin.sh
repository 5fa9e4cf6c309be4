#!/usr/bin/env bash
# The networking cost of a container start under dockerd 20.10 (Debian's docker.io):
# `docker run --rm --network NET busybox true` minus `--network none`, for
#   ferry    a network of ferry's Docker plugin (`-d ferry --ipam-driver ferry`)
#   bridge   a network of dockerd's own bridge driver (`-d bridge`; dockerd runs with
#            --iptables=false, so it writes no iptables rules)
#
# usage: sudo bench/docker-plugin.sh [N]     N runs per network and pass (default 20)
#   FERRY_BIN=path   the ferry build (default: target/release/ferry, built here)
#   PASSES=3         passes; the networks alternate inside each pass
#
# dockerd, its containerd, the ferry daemon and `ferry docker-plugin` run in a network and
# mount namespace of the script's own (tmpfs over /run/docker and /run/containerd), with their
# data under $BENCH_ROOT, so the host's network and Docker state are untouched. Needs
# docker.io, containerd, runc, busybox-static. Prints the median and 10th-90th percentiles of
# each, in ms.
set -euo pipefail

REPO=$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/.." && pwd)
N=${1:-20}
PASSES=${PASSES:-3}
W=${BENCH_ROOT:-/tmp/ferry-bench-docker}

[ "$(id -u)" = 0 ] || { echo "bench/docker-plugin.sh: must run as root" >&2; exit 1; }
if [ -z "${FERRY_BIN:-}" ]; then
  (cd "$REPO" && cargo build --release -q -p ferry --bins)
  FERRY_BIN=$REPO/target/release/ferry
fi

rm -rf "$W"
mkdir -p "$W"/{r/bin,ferry,docker}
cp /bin/busybox "$W/r/bin/"
for a in sh true; do ln -s busybox "$W/r/bin/$a"; done
tar -C "$W/r" -cf "$W/bb.tar" .

# The private namespaces, held by a sleeping process.
unshare -m -n --propagation private sh -c "
  mkdir -p /run/docker /run/containerd
  mount -t tmpfs bench /run/docker; mount -t tmpfs bench /run/containerd
  mkdir -p /run/docker/plugins
  ip link set lo up; echo \$\$ >$W/holder.pid; exec sleep infinity" </dev/null >/dev/null 2>&1 &
for _ in $(seq 50); do [ -s "$W/holder.pid" ] && break; sleep 0.1; done
HOLDER=$(cat "$W/holder.pid")
inns() { nsenter -t "$HOLDER" -m -n "$@"; }
D=(docker -H "unix://$W/docker/docker.sock")
export DOCKER_CONFIG=$W/docker/config
cleanup() {
  "${D[@]}" rm -f $("${D[@]}" ps -aq 2>/dev/null) >/dev/null 2>&1 || true
  for p in DOCKERD PLUGIN DAEMON; do
    if [ -n "${!p:-}" ]; then
      kill "${!p}" 2>/dev/null || true
      wait "${!p}" 2>/dev/null || true
    fi
  done
  kill "$HOLDER" 2>/dev/null || true
}
trap cleanup EXIT

# Each started directly (not through a function) so that $! is the process itself.
nsenter -t "$HOLDER" -m -n "$FERRY_BIN" daemon --data-root "$W/ferry/data" --exec-root "$W/ferry/run" >"$W/ferry.log" 2>&1 &
DAEMON=$!
export FERRY_HOST=unix://$W/ferry/run/ferry.sock
for _ in $(seq 200); do inns "$FERRY_BIN" info >/dev/null 2>&1 && break; sleep 0.05; done
nsenter -t "$HOLDER" -m -n "$FERRY_BIN" docker-plugin --log-level "${PLUGIN_LOG:-info}" --state-dir "$W/ferry/plugin" >"$W/plugin.log" 2>&1 &
PLUGIN=$!
for _ in $(seq 100); do inns test -S /run/docker/plugins/ferry.sock && break; sleep 0.05; done
nsenter -t "$HOLDER" -m -n dockerd --data-root "$W/docker/data" --exec-root "$W/docker/exec" \
  --pidfile "$W/docker/dockerd.pid" --host "unix://$W/docker/docker.sock" \
  --bridge=none --iptables=false --ip6tables=false >"$W/dockerd.log" 2>&1 &
DOCKERD=$!
for _ in $(seq 300); do "${D[@]}" version >/dev/null 2>&1 && break; sleep 0.1; done

"${D[@]}" import "$W/bb.tar" busybox:latest >/dev/null
"${D[@]}" network create -d ferry --ipam-driver ferry --subnet 10.88.0.0/24 ferrynet >/dev/null
"${D[@]}" network create -d bridge --subnet 10.88.1.0/24 bridgenet >/dev/null

out=$W/samples
: >"$out"
measure() { # label network
  local label=$1 net=$2
  "${D[@]}" run --rm --network "$net" busybox true # warm-up
  for _ in $(seq "$N"); do
    local t0 t1
    t0=$(date +%s%N)
    "${D[@]}" run --rm --network "$net" busybox true
    t1=$(date +%s%N)
    echo "$label|$(((t1 - t0) / 1000))" >>"$out"
  done
}
for _ in $(seq "$PASSES"); do
  measure "ferry" ferrynet
  measure "bridge" bridgenet
  measure "none" none
done

python3 - "$out" <<'PY'
import sys, statistics
rows = {}
for line in open(sys.argv[1]):
    label, us = line.rstrip("\n").split("|")
    rows.setdefault(label, []).append(int(us) / 1000)
def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(p * len(xs)))]
med = {k: statistics.median(v) for k, v in rows.items()}
print(f"{'docker run --rm … true':<22} {'n':>4} {'median ms':>10} {'p10-p90 ms':>14} {'network cost ms':>16}")
for k, v in rows.items():
    cost = "" if k == "none" else f"{med[k] - med['none']:.1f}"
    print(f"{k:<22} {len(v):>4} {med[k]:>10.1f} {pct(v, .1):>6.1f}-{pct(v, .9):<7.1f} {cost:>16}")
PY
