#!/usr/bin/env bash
# Sourced by ferry's own benchmarks: a private "host" for the daemon, so that its bridges,
# veths and nftables tables live in a network namespace of their own and the real host's
# network is never touched.
#
#   private_host_up      builds nothing; starts $FERRY_BIN daemon in netns $BENCH_NS with
#                        private roots under $BENCH_ROOT, exports FERRY_HOST, waits for it
#   private_host_down    stops the daemon, removes every sandbox it ran, deletes the netns
#   in_host CMD...       runs CMD inside the private host namespace
#
# Needs: FERRY_BIN (release build), BENCH_ROOT, BENCH_NS.

BENCH_NS=${BENCH_NS:-ferry-bench-host}
BENCH_ROOT=${BENCH_ROOT:-/tmp/ferry-bench}
PRIVATE_DAEMON_PID=

in_host() { ip netns exec "$BENCH_NS" "$@"; }

private_host_up() {
  ip netns del "$BENCH_NS" 2>/dev/null || true
  ip netns add "$BENCH_NS"
  in_host ip link set lo up
  local root=$BENCH_ROOT/private
  rm -rf "$root"
  mkdir -p "$root"
  export FERRY_HOST=unix://$root/run/ferry.sock
  echo '{}' >"$root/daemon.json"
  # Started directly (not through a shell function) so that $! is the daemon itself.
  ip netns exec "$BENCH_NS" "$FERRY_BIN" daemon --data-root "$root/data" --exec-root "$root/run" \
    --config-file "$root/daemon.json" ${FERRY_DAEMON_ARGS:-} >"$root/daemon.log" 2>&1 &
  PRIVATE_DAEMON_PID=$!
  for _ in $(seq 1 200); do
    "$FERRY_BIN" info >/dev/null 2>&1 && return 0
    sleep 0.05
  done
  echo "daemon did not start; log: $root/daemon.log" >&2
  return 1
}

private_host_down() {
  local ids svcs
  # Services first, or their supervisor would restart the replicas removed below.
  svcs=$("$FERRY_BIN" service ls -q 2>/dev/null || true)
  for id in $svcs; do "$FERRY_BIN" service rm "$id" >/dev/null 2>&1 || true; done
  ids=$("$FERRY_BIN" ps -aq --no-trunc 2>/dev/null || true)
  for id in $ids; do "$FERRY_BIN" rm -f "$id" >/dev/null 2>&1 || true; done
  if [ -n "$PRIVATE_DAEMON_PID" ]; then
    kill -TERM "$PRIVATE_DAEMON_PID" 2>/dev/null || true
    wait "$PRIVATE_DAEMON_PID" 2>/dev/null || true
  fi
  PRIVATE_DAEMON_PID=
  local pids
  pids=$(ip netns pids "$BENCH_NS" 2>/dev/null || true)
  if [ -n "$pids" ]; then kill -KILL $pids 2>/dev/null || true; fi
  ip netns del "$BENCH_NS" 2>/dev/null || true
  # The daemon's cgroup tree (its own and every sandbox's): whatever is left goes, then the
  # tree, deepest first.
  local cg=$BENCH_ROOT/private/run/cgroup
  if [ -f "$cg" ]; then
    local mnt dir
    mnt=$(awk '$0 ~ / - cgroup2 / {print $5; exit}' /proc/self/mountinfo)
    dir=$mnt$(cat "$cg")
    if [ -d "$dir" ]; then
      echo 1 >"$dir/cgroup.kill" 2>/dev/null || true
      sleep 0.2
      find "$dir" -depth -type d -exec rmdir {} + 2>/dev/null || true
    fi
  fi
}
