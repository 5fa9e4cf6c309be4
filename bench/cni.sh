#!/usr/bin/env bash
# The networking cost of a container start under podman 4.3: `podman run --rm --network NET`
# minus `podman run --rm --network none`, for three networks side by side:
#   ferry     podman's CNI backend with ferry's CNI plugin (examples/cni/ferry.conflist)
#   cni       podman's CNI backend with its own bridge list (bridge, portmap, firewall, tuning)
#   netavark  podman's netavark backend (with aardvark-dns, as `podman network create` makes it)
#
# usage: sudo bench/cni.sh [N]     N runs per network and pass (default 20)
#   FERRY_BIN=path   the ferry build (default: target/release/ferry, built here); its
#                    ferry-cni sits beside it
#   PASSES=3         passes; the networks alternate inside each pass
#
# Everything runs in a network and mount namespace of the script's own (tmpfs over
# /run/netns, /var/lib/cni, /run/containers and the podman roots), so neither the host's
# network nor its podman state is touched. Needs podman, runc, netavark, busybox-static.
# Prints the median and 10th-90th percentiles of each, in ms.
set -euo pipefail

REPO=$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/.." && pwd)
N=${1:-20}
PASSES=${PASSES:-3}
W=${BENCH_ROOT:-/tmp/ferry-bench-cni}

[ "$(id -u)" = 0 ] || { echo "bench/cni.sh: must run as root" >&2; exit 1; }
if [ -z "${FERRY_BIN:-}" ]; then
  (cd "$REPO" && cargo build --release -q -p ferry --bins)
  FERRY_BIN=$REPO/target/release/ferry
fi
CNI_BIN=$(dirname "$FERRY_BIN")/ferry-cni
[ -x "$CNI_BIN" ] || { echo "no ferry-cni beside $FERRY_BIN" >&2; exit 1; }

rm -rf "$W"
mkdir -p "$W"/{r/bin,r/etc,bin,net.d,ferry}
cp /bin/busybox "$W/r/bin/"
for a in sh true; do ln -s busybox "$W/r/bin/$a"; done
tar -C "$W/r" -cf "$W/bb.tar" .
cp "$CNI_BIN" "$W/bin/ferry"
sed "s|/run/ferry/ferry.sock|$W/ferry/run/ferry.sock|" "$REPO/examples/cni/ferry.conflist" \
  >"$W/net.d/ferrynet.conflist"
for b in cni netavark; do
  cat >"$W/$b.conf" <<C
[network]
network_backend="$b"
cni_plugin_dirs=["$W/bin","/usr/lib/cni"]
network_config_dir="$W/net.d-$b"
[engine]
cgroup_manager="cgroupfs"
events_logger="file"
C
done
# The CNI backend reads ferry's list and its own bridge list from one directory.
sed -i "s|$W/net.d-cni|$W/net.d|" "$W/cni.conf"

podman_b() { # backend args...
  local b=$1
  shift
  inns env CONTAINERS_CONF="$W/$b.conf" podman --root "$W/$b/root" --runroot "$W/$b/runroot" \
    --tmpdir "$W/$b/tmp" --storage-driver vfs "$@"
}

# The private namespaces, held by a sleeping process.
unshare -m -n --propagation private sh -c "
  mount -t tmpfs bench /run/netns; mkdir -p /var/lib/cni /run/containers
  mount -t tmpfs bench /var/lib/cni; mount -t tmpfs bench /run/containers
  ip link set lo up; echo \$\$ >$W/holder.pid; exec sleep infinity" </dev/null >/dev/null 2>&1 &
for _ in $(seq 50); do [ -s "$W/holder.pid" ] && break; sleep 0.1; done
HOLDER=$(cat "$W/holder.pid")
inns() { nsenter -t "$HOLDER" -m -n "$@"; }
cleanup() {
  for b in cni netavark; do podman_b "$b" rm -af -t 0 >/dev/null 2>&1 || true; done
  if [ -n "${DAEMON:-}" ]; then
    kill "$DAEMON" 2>/dev/null || true
    wait "$DAEMON" 2>/dev/null || true
  fi
  kill "$HOLDER" 2>/dev/null || true
}
trap cleanup EXIT

# Started directly (not through a function) so that $! is the daemon itself.
nsenter -t "$HOLDER" -m -n "$FERRY_BIN" daemon --data-root "$W/ferry/data" --exec-root "$W/ferry/run" >"$W/ferry.log" 2>&1 &
DAEMON=$!
export FERRY_HOST=unix://$W/ferry/run/ferry.sock
for _ in $(seq 200); do inns "$FERRY_BIN" info >/dev/null 2>&1 && break; sleep 0.05; done
inns "$FERRY_BIN" network create --subnet 10.87.0.0/24 ferrynet >/dev/null

for b in cni netavark; do
  podman_b "$b" import -q "$W/bb.tar" localhost/bb >/dev/null
done
podman_b cni network create --subnet 10.86.7.0/24 cnibridge >/dev/null
podman_b netavark network create --subnet 10.86.8.0/24 netavarknet >/dev/null

RUN=(run --rm --runtime runc --ulimit nofile=1024:1024 --ulimit nproc=1024:1024)
out=$W/samples
: >"$out"
measure() { # label backend network
  local label=$1 b=$2 net=$3
  podman_b "$b" "${RUN[@]}" --network "$net" localhost/bb true 2>/dev/null # warm-up
  for _ in $(seq "$N"); do
    local t0 t1
    t0=$(date +%s%N)
    podman_b "$b" "${RUN[@]}" --network "$net" localhost/bb true 2>/dev/null
    t1=$(date +%s%N)
    echo "$label|$(((t1 - t0) / 1000))" >>"$out"
  done
}
for _ in $(seq "$PASSES"); do
  measure "ferry" cni ferrynet
  measure "ferry none" cni none
  measure "cni bridge" cni cnibridge
  measure "netavark" netavark netavarknet
  measure "netavark none" netavark none
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
print(f"{'podman run --rm … true':<18} {'n':>4} {'median ms':>10} {'p10-p90 ms':>14} {'network cost ms':>16}")
for k, v in rows.items():
    base = med["netavark none"] if k.startswith("netavark") else med["ferry none"]
    cost = "" if k.endswith("none") else f"{med[k] - base:.1f}"
    print(f"{k:<18} {len(v):>4} {med[k]:>10.1f} {pct(v, .1):>6.1f}-{pct(v, .9):<7.1f} {cost:>16}")
PY
