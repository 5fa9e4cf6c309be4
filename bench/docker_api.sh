#!/usr/bin/env bash
# The same docker CLI against ferry's Docker Engine API and against dockerd: `docker network
# create` + `rm`, and `docker network connect` + `disconnect` of a running container, timed
# per command (CLI start included); the floor is `docker network inspect bridge`, which does
# nothing in either daemon.
#
# usage: sudo bench/docker_api.sh
#   N=30                         iterations per measurement
#   DOCKER=/usr/local/bin/docker the docker CLI (the same binary for both daemons)
#   BENCH_ROOT=/tmp/ferry-bench-dockerapi   roots and results
#   SKIP_BUILD=1                 use the release build already there
#
# Each daemon runs in a network namespace of its own (ferry's through bench/private-host.sh;
# dockerd with its own data and exec roots and a private /run/docker, so no other dockerd or
# plugin is seen). dockerd's container is a busybox image imported from busybox-static (no
# registry); ferry's runs the host's programs (IMAGE `host`). ferry is built in release mode.
set -euo pipefail

REPO=$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/.." && pwd)
N=${N:-30}
DOCKER=${DOCKER:-/usr/local/bin/docker}
BENCH_ROOT=${BENCH_ROOT:-/tmp/ferry-bench-dockerapi}
RESULTS=${RESULTS:-$BENCH_ROOT/results}
DOCKERD_NS=ferry-bench-dockerd
DROOT=$BENCH_ROOT/dockerd

die() { echo "bench/docker_api.sh: $*" >&2; exit 1; }
[ "$(id -u)" = 0 ] || die "must run as root"
for tool in dockerd "$DOCKER" python3 ip busybox; do
  command -v "$tool" >/dev/null 2>&1 || die "$tool is required"
done
mkdir -p "$BENCH_ROOT" "$RESULTS"

export FERRY_BIN=${CARGO_TARGET_DIR:-$REPO/target}/release/ferry
export BENCH_ROOT BENCH_NS=ferry-bench-dockerapi
[ -n "${SKIP_BUILD:-}" ] || (cd "$REPO" && cargo build --release -p ferry >&2)
# shellcheck source=bench/private-host.sh
. "$REPO/bench/private-host.sh"

DOCKERD_PID=
dockerd_up() {
  ip netns del "$DOCKERD_NS" 2>/dev/null || true
  ip netns add "$DOCKERD_NS"
  ip netns exec "$DOCKERD_NS" ip link set lo up
  rm -rf "$DROOT"
  mkdir -p "$DROOT/data" "$DROOT/exec" /run/docker
  # A mount namespace of its own (not `ip netns exec`, whose fresh /sys hides the cgroup
  # mounts dockerd needs): the tmpfs on /run/docker hides the host's plugin sockets from this
  # dockerd only.
  nsenter --net=/run/netns/"$DOCKERD_NS" unshare -m sh -c "mount -t tmpfs tmpfs /run/docker && exec dockerd \
    --data-root $DROOT/data --exec-root $DROOT/exec -H unix://$DROOT/docker.sock \
    --pidfile $DROOT/docker.pid --containerd-namespace ferry-bench --containerd-plugins-namespace ferry-bench-plugins" \
    >"$DROOT/dockerd.log" 2>&1 &
  DOCKERD_PID=$!
  for _ in $(seq 1 300); do
    DOCKER_HOST=unix://$DROOT/docker.sock "$DOCKER" version >/dev/null 2>&1 && break
    sleep 0.1
  done
  DOCKER_HOST=unix://$DROOT/docker.sock "$DOCKER" version >/dev/null || die "dockerd did not start: $DROOT/dockerd.log"
  # A busybox image without a registry.
  local img=$DROOT/img
  mkdir -p "$img/bin"
  cp "$(command -v busybox)" "$img/bin/busybox"
  for a in sh sleep; do ln -sf busybox "$img/bin/$a"; done
  tar -C "$img" -c . | DOCKER_HOST=unix://$DROOT/docker.sock "$DOCKER" import - bb:latest >/dev/null
}

dockerd_down() {
  [ -n "$DOCKERD_PID" ] || return 0
  DOCKER_HOST=unix://$DROOT/docker.sock "$DOCKER" rm -f bench-c >/dev/null 2>&1 || true
  kill -TERM "$DOCKERD_PID" 2>/dev/null || true
  wait "$DOCKERD_PID" 2>/dev/null || true
  DOCKERD_PID=
  local pids
  pids=$(ip netns pids "$DOCKERD_NS" 2>/dev/null || true)
  if [ -n "$pids" ]; then kill -KILL $pids 2>/dev/null || true; fi
  ip netns del "$DOCKERD_NS" 2>/dev/null || true
}
trap 'private_host_down; dockerd_down' EXIT

# Milliseconds of one command (its output discarded; a failure stops the run).
ms() {
  local t0=$EPOCHREALTIME
  "$@" >/dev/null || die "failed: $*"
  local t1=$EPOCHREALTIME
  python3 -c "print(f'{($t1-$t0)*1000:.1f}')"
}

# The two daemons' sockets and images.
declare -A HOST IMAGE
IMAGE[ferry]=host
IMAGE[dockerd]=bb

setup() { # ENGINE: the sample files, two networks, a container on the first
  local out=$RESULTS/$1
  mkdir -p "$out"
  : >"$out/floor"; : >"$out/create"; : >"$out/rm"; : >"$out/connect"; : >"$out/disconnect"
  DOCKER_HOST=${HOST[$1]} "$DOCKER" network create bench-a >/dev/null
  DOCKER_HOST=${HOST[$1]} "$DOCKER" network create bench-b >/dev/null
  DOCKER_HOST=${HOST[$1]} "$DOCKER" run -d --name bench-c --network bench-a "${IMAGE[$1]}" sleep 3600 >/dev/null
}

round() { # ENGINE I: one sample of each command
  local out=$RESULTS/$1 i=$2
  export DOCKER_HOST=${HOST[$1]}
  ms "$DOCKER" network inspect bridge >>"$out/floor"
  ms "$DOCKER" network create "bench-n$i" >>"$out/create"
  ms "$DOCKER" network rm "bench-n$i" >>"$out/rm"
  ms "$DOCKER" network connect bench-b bench-c >>"$out/connect"
  ms "$DOCKER" network disconnect bench-b bench-c >>"$out/disconnect"
  unset DOCKER_HOST
}

teardown() { # ENGINE
  DOCKER_HOST=${HOST[$1]} "$DOCKER" rm -f bench-c >/dev/null
  DOCKER_HOST=${HOST[$1]} "$DOCKER" network rm bench-a bench-b >/dev/null
}

private_host_up
HOST[ferry]=$FERRY_HOST
dockerd_up
HOST[dockerd]=unix://$DROOT/docker.sock
setup ferry
setup dockerd
# The engines take turns in every round, so load on the machine falls on both alike.
for i in $(seq 1 "$N"); do
  round ferry "$i"
  round dockerd "$i"
done
teardown ferry
teardown dockerd

python3 - "$RESULTS" <<'PY' | tee "$RESULTS/summary.md"
import statistics, sys, pathlib
root = pathlib.Path(sys.argv[1])
ops = ["floor", "create", "rm", "connect", "disconnect"]
print("| docker CLI command (ms, median [min-max]) | " + " | ".join(["ferry", "dockerd"]) + " |")
print("|---|---|---|")
names = {"floor": "network inspect bridge (floor)", "create": "network create", "rm": "network rm",
         "connect": "network connect (running container)", "disconnect": "network disconnect"}
for op in ops:
    row = []
    for eng in ["ferry", "dockerd"]:
        xs = [float(x) for x in (root / eng / op).read_text().split()]
        row.append(f"{statistics.median(xs):.1f} [{min(xs):.1f}-{max(xs):.1f}] (n={len(xs)})")
    print(f"| {names[op]} | " + " | ".join(row) + " |")
PY
