#!/usr/bin/env bash
# Swarm services on one host, ferry and Docker swarm side by side (bench/swarm_vs_docker.py):
# `service create --replicas 30` to all running, `service scale` 3 -> 30, a rolling
# `service update --env-add` over 10 replicas (parallelism 1, no delay), `service rm` of 30.
#
# Each engine runs in a network namespace of its own (no route out: nothing leaves it):
# ferry's daemon as a one-host swarm (etcd member and all); dockerd (Debian's docker.io,
# 20.10) with its own data root, exec root and socket, in a private mount namespace with a
# tmpfs on /run/docker and /run/containerd (so that nothing of the host's Docker is seen or
# touched), `docker swarm init`, and a busybox image made with `docker import`. Everything is
# stopped and removed on exit.
#
#   sudo FERRY_BIN=target/release/ferry bash bench/swarm-vs-docker.sh [TRIALS] [OUT_DIR]
#
# ENGINES="ferry docker" (the default) says which to measure.
# Needs: docker.io, busybox-static, etcd (etcd-server), python3; a release build of ferry
# (ferry, ferryd, ferry-init).
set -euo pipefail

TRIALS=${1:-5}
ENGINES=${ENGINES:-ferry docker}
OUT=${2:-bench/results/swarm-vs-docker-$(date -u +%Y%m%dT%H%M%SZ)}
HOSTS=1
TTL=${TTL:-2}
FERRY_BIN=$(readlink -f "${FERRY_BIN:-target/release/ferry}")
export FERRY_BIN
ROOT=${BENCH_ROOT:-/tmp/ferry-bench}/swarm-vs-docker
P=fsv
DNS=fsv-docker
D=$ROOT/docker
DOCKER=${DOCKER:-/usr/bin/docker}
here=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$OUT"
OUT=$(readlink -f "$OUT")

# ferry: one host, a swarm of one (defines cleanup, f, start_daemon).
# shellcheck source=bench/swarm-hosts.sh
source "$here/swarm-hosts.sh"

dk() { "$DOCKER" -H "unix://$D/docker.sock" "$@"; }
docker_down() {
  if [ -S "$D/docker.sock" ]; then
    dk service rm $(dk service ls -q 2>/dev/null) >/dev/null 2>&1 || true
    dk rm -f $(dk ps -aq 2>/dev/null) >/dev/null 2>&1 || true
    dk swarm leave --force >/dev/null 2>&1 || true
  fi
  if [ -f "$D/dockerd.pid" ]; then
    local pid
    pid=$(cat "$D/dockerd.pid")
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
    kill -9 "$pid" 2>/dev/null || true
  fi
  # Whatever is left in the namespace (containerd, shims).
  local p
  p=$(ip netns pids "$DNS" 2>/dev/null || true)
  [ -n "$p" ] && kill -9 $p 2>/dev/null || true
  sleep 0.5
  ip netns del "$DNS" 2>/dev/null || true
  rm -rf "$D"
}
all_down() {
  docker_down
  cleanup
}
trap all_down EXIT
docker_down
mkdir -p "$D"
f 0 network create -d overlay bnet >/dev/null
: >"$OUT/versions.txt"
{
  echo "# $(date -u +%FT%TZ) swarm-vs-docker TRIALS=$TRIALS ENGINES=$ENGINES"
  echo "ferry $("$FERRY_BIN" --version 2>/dev/null || echo '?') ($(git -C "$here" rev-parse --short HEAD 2>/dev/null || echo '?'))"
  echo "kernel $(uname -r), $(nproc) CPUs"
} >>"$OUT/versions.txt"
if [[ " $ENGINES " == *" ferry "* ]]; then
  FERRY_CMD="env FERRY_HOST=unix://$ROOT/h0/run/ferry.sock $FERRY_BIN" \
    python3 "$here/swarm_vs_docker.py" ferry "$TRIALS" "$OUT" | tee "$OUT/ferry.txt"
fi
[[ " $ENGINES " == *" docker "* ]] || exit 0

# dockerd in its namespaces. The swarm advertises an address on a veth pair inside them.
ip netns add "$DNS"
ip -n "$DNS" link set lo up
ip -n "$DNS" link add d0 type veth peer name d1
ip -n "$DNS" link set d1 up
ip -n "$DNS" addr add 198.51.100.200/24 dev d0
ip -n "$DNS" link set d0 up
unshare -m --propagation private sh -c "
  mkdir -p /run/docker /run/containerd
  mount -t tmpfs tmpfs /run/docker && mount -t tmpfs tmpfs /run/containerd &&
  exec nsenter --net=/run/netns/$DNS dockerd --data-root $D/data --exec-root $D/exec \
    --pidfile $D/dockerd.pid -H unix://$D/docker.sock" >"$D/dockerd.log" 2>&1 &
for _ in $(seq 1 120); do dk info >/dev/null 2>&1 && break; sleep 0.5; done
dk info >/dev/null
BB=$(mktemp -d)
mkdir -p "$BB/bin" "$BB/tmp" "$BB/etc"
cp "$(command -v busybox)" "$BB/bin/busybox"
for c in sh httpd sleep; do ln -s busybox "$BB/bin/$c"; done
tar -C "$BB" -c . | dk import - bb:latest >/dev/null
rm -rf "$BB"
dk swarm init --advertise-addr 198.51.100.200 >/dev/null
dk network create -d overlay bnet >/dev/null
echo "dockerd $(dk version --format '{{.Server.Version}}'), containerd $(dk info --format '{{.ContainerdCommit.ID}}' 2>/dev/null)" >>"$OUT/versions.txt"
DOCKER_CMD="$DOCKER -H unix://$D/docker.sock" \
  python3 "$here/swarm_vs_docker.py" docker "$TRIALS" "$OUT" | tee "$OUT/docker.txt"
