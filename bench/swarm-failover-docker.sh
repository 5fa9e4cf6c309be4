#!/usr/bin/env bash
# Docker swarm's failover, for comparison with ferry's (bench/swarm-services.sh): HOSTS
# dockerd hosts (Debian's docker.io, 20.10), each in a network namespace of its own on one
# underlay bridge and in a private mount namespace (tmpfs on /run/docker and /run/containerd,
# its own data and exec roots, containers in a cgroup parent of its own), joined in a swarm:
# host 0 the manager, drained; the others workers. A service of 2 replicas, at most one per
# node, runs on two workers; a trial kills a worker that runs one (every process of its
# namespace and its containers, and its underlay link cut) and measures until the service
# runs 2 replicas again, none on the dead host. The host then comes back (its dockerd
# started again; it rejoins and stays empty) and is the spare of the next trial.
#
#   sudo bash bench/swarm-failover-docker.sh [HOSTS] [TRIALS] [OUT_DIR]
#
# Needs: docker.io, busybox-static. Traffic stays inside the namespaces it makes; everything
# is stopped and removed on exit.
set -euo pipefail

HOSTS=${1:-4}
TRIALS=${2:-5}
OUT=${3:-bench/results/swarm-failover-docker-$(date -u +%Y%m%dT%H%M%SZ)}
ROOT=${BENCH_ROOT:-/tmp/ferry-bench}/swarm-failover-docker
P=fdk
DOCKER=${DOCKER:-/usr/bin/docker}
mkdir -p "$OUT"
OUT=$(readlink -f "$OUT")

dk() { local i=$1; shift; "$DOCKER" -H "unix://$ROOT/h$i/docker.sock" "$@"; }

kill_host() {
  local i=$1 p
  # Its containers, through their cgroup parent (each cgroup v1 hierarchy, and v2's).
  for procs in /sys/fs/cgroup/*/"$P-h$i"/*/cgroup.procs /sys/fs/cgroup/"$P-h$i"/*/cgroup.procs; do
    [ -f "$procs" ] && xargs -r kill -9 <"$procs" 2>/dev/null || true
  done
  p=$(ip netns pids "$P-h$i" 2>/dev/null || true)
  [ -n "$p" ] && kill -9 $p 2>/dev/null || true
  ip -n "$P-h$i" link set ul0 down 2>/dev/null || true
}

start_host() {
  local i=$1 r=$ROOT/h$1
  mkdir -p "$r"
  unshare -m --propagation private sh -c "
    mkdir -p /run/docker /run/containerd
    mount -t tmpfs tmpfs /run/docker && mount -t tmpfs tmpfs /run/containerd &&
    exec nsenter --net=/run/netns/$P-h$i dockerd --data-root $r/data --exec-root $r/exec \
      --pidfile $r/dockerd.pid -H unix://$r/docker.sock --cgroup-parent $P-h$i" \
    >>"$r/dockerd.log" 2>&1 &
  for _ in $(seq 1 120); do dk "$i" info >/dev/null 2>&1 && return 0; sleep 0.5; done
  echo "dockerd $i did not start: $r/dockerd.log" >&2
  return 1
}

cleanup() {
  for i in $(seq 0 $((HOSTS - 1))); do
    if [ -S "$ROOT/h$i/docker.sock" ]; then
      dk "$i" rm -f $(dk "$i" ps -aq 2>/dev/null) >/dev/null 2>&1 || true
    fi
    if [ -f "$ROOT/h$i/dockerd.pid" ]; then
      kill "$(cat "$ROOT/h$i/dockerd.pid")" 2>/dev/null || true
    fi
  done
  sleep 2
  for i in $(seq 0 $((HOSTS - 1))); do
    kill_host "$i"
  done
  sleep 0.5
  for i in $(seq 0 $((HOSTS - 1))); do
    ip netns del "$P-h$i" 2>/dev/null || true
    for d in /sys/fs/cgroup/*/"$P-h$i" /sys/fs/cgroup/"$P-h$i"; do
      [ -d "$d" ] && find "$d" -mindepth 1 -depth -type d -exec rmdir {} \; 2>/dev/null
      [ -d "$d" ] && rmdir "$d" 2>/dev/null || true
    done
  done
  ip netns del "$P-u" 2>/dev/null || true
  rm -rf "$ROOT"
}
trap cleanup EXIT
cleanup
mkdir -p "$ROOT"

ip netns add "$P-u"
ip -n "$P-u" link add ul type bridge
ip -n "$P-u" link set ul up
for i in $(seq 0 $((HOSTS - 1))); do
  ip netns add "$P-h$i"
  ip -n "$P-u" link add u$i type veth peer name ul0 netns "$P-h$i"
  ip -n "$P-u" link set u$i master ul up
  ip -n "$P-h$i" addr add 198.51.100.$((10 + i))/24 dev ul0
  ip -n "$P-h$i" link set ul0 up
  ip -n "$P-h$i" link set lo up
  start_host "$i"
done
BB=$(mktemp -d)
mkdir -p "$BB/bin" "$BB/tmp" "$BB/etc"
cp "$(command -v busybox)" "$BB/bin/busybox"
for c in sh httpd sleep; do ln -s busybox "$BB/bin/$c"; done
tar -C "$BB" -cf "$ROOT/bb.tar" .
rm -rf "$BB"
for i in $(seq 0 $((HOSTS - 1))); do dk "$i" import "$ROOT/bb.tar" bb:latest >/dev/null; done

dk 0 swarm init --advertise-addr 198.51.100.10 >/dev/null
token=$(dk 0 swarm join-token -q worker)
for i in $(seq 1 $((HOSTS - 1))); do
  dk "$i" swarm join --advertise-addr 198.51.100.$((10 + i)) --token "$token" 198.51.100.10:2377 >/dev/null
done
dk 0 node update --availability drain "$(dk 0 info --format '{{.Swarm.NodeID}}')" >/dev/null
dk 0 network create -d overlay fnet >/dev/null
dk 0 service create --detach --no-resolve-image --init --endpoint-mode dnsrr --name web \
  --replicas 2 --replicas-max-per-node 1 --network fnet bb:latest httpd -f -p 80 >/dev/null

# Node ID -> host index.
declare -A HOST_OF
for i in $(seq 0 $((HOSTS - 1))); do
  HOST_OF[$(dk "$i" info --format '{{.Swarm.NodeID}}')]=$i
done
# The nodes that run a replica (desired and current Running).
running_nodes() {
  dk 0 service ps web --filter desired-state=running --format '{{.Node}} {{.CurrentState}}' 2>/dev/null \
    | awk '$2 == "Running" {print $1}'
}
node_ids_running() {
  dk 0 service ps web --filter desired-state=running -q 2>/dev/null | while read -r t; do
    dk 0 inspect --format '{{.NodeID}} {{.Status.State}}' "$t" 2>/dev/null
  done | awk '$2 == "running" {print $1}'
}
wait_two() {
  for _ in $(seq 1 600); do
    [ "$(node_ids_running | sort -u | wc -l)" = 2 ] && return 0
    sleep 0.1
  done
  return 1
}
wait_two

{
  echo "# $(date -u +%FT%TZ) swarm-failover-docker HOSTS=$HOSTS TRIALS=$TRIALS"
  echo "dockerd $(dk 0 version --format '{{.Server.Version}}'); kernel $(uname -r), $(nproc) CPUs"
} >"$OUT/versions-failover.txt"
: >"$OUT/docker-failover.txt"
for t in $(seq 1 "$TRIALS"); do
  victim_node=$(node_ids_running | head -1)
  victim=${HOST_OF[$victim_node]}
  t0=${EPOCHREALTIME/./}
  kill_host "$victim"
  ok=
  for _ in $(seq 1 1200); do
    nodes=$(node_ids_running | sort -u)
    if [ "$(echo "$nodes" | grep -c .)" = 2 ] && ! echo "$nodes" | grep -qx "$victim_node"; then
      ok=1
      break
    fi
    sleep 0.1
  done
  t1=${EPOCHREALTIME/./}
  [ -n "$ok" ] || { echo "trial $t: no failover within 120 s" >&2; exit 1; }
  ms=$(((t1 - t0) / 1000))
  echo "trial $t: host $victim killed, 2 replicas running elsewhere after ${ms} ms" | tee -a "$OUT/docker-failover.txt"
  echo "$ms" >>"$OUT/docker-failover.ms"
  # Back: its link up and its dockerd started; it rejoins as Ready and runs nothing.
  ip -n "$P-h$victim" link set ul0 up
  start_host "$victim"
  for _ in $(seq 1 300); do
    [ "$(dk 0 node inspect --format '{{.Status.State}}' "$victim_node" 2>/dev/null)" = ready ] && break
    sleep 0.2
  done
done
python3 - "$OUT/docker-failover.ms" <<'PY' | tee -a "$OUT/docker-failover.txt"
import statistics, sys
v = [int(x) for x in open(sys.argv[1]) if x.strip()]
print(f"docker failover: median {statistics.median(v)/1000:.2f} s, min {min(v)/1000:.2f}, max {max(v)/1000:.2f}, n={len(v)}")
PY
