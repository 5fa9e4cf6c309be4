#!/usr/bin/env bash
# Benchmarks ferry (and, on request, Docker and podman) with the shared container-networking
# benchmark scripts: 01 (network create/remove) and 02 (attach/detach, start with a network).
#
# usage: sudo bench/run.sh
#   ENGINES="ferry docker podman"  engines to measure (default: ferry). Docker and podman must
#                                  be set up first with $SHARED_BENCH/setup-anchors.sh.
#   N=30                           iterations per script
#   PASSES=1                       passes; engines alternate inside each pass
#   SHARED_BENCH=DIR               the shared benchmark scripts (default: ../shared/bench from
#                                  the repository root)
#   BENCH_ROOT=/tmp/ferry-bench    where the private daemon's roots and the results live
#   FERRY_DAEMON_ARGS="..."        extra flags for `ferry daemon`
#
# ferry is built in release mode and a daemon of its own is started on private data and exec
# roots under $BENCH_ROOT (in the host's network namespace: its bridges and veths are real), and
# stopped at the end. Results: $RESULTS (default $BENCH_ROOT/results), table in summary.md.
set -euo pipefail

REPO=$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/.." && pwd)
SHARED_BENCH=${SHARED_BENCH:-$REPO/../shared/bench}
ENGINES=${ENGINES:-ferry}
N=${N:-30}
PASSES=${PASSES:-1}
BENCH_ROOT=${BENCH_ROOT:-/tmp/ferry-bench}
export RESULTS=${RESULTS:-$BENCH_ROOT/results}
FERRY_DATA=$BENCH_ROOT/ferry-data
FERRY_RUN=$BENCH_ROOT/ferry-run
SOCK=$FERRY_RUN/ferry.sock
DAEMON_LOG=$BENCH_ROOT/ferry-daemon.log

say() { printf '\n==> %s\n' "$*" >&2; }
die() { echo "bench/run.sh: $*" >&2; exit 1; }

[ "$(id -u)" = 0 ] || die "must run as root (the daemon creates bridges, veths and namespaces)"
[ -d "$SHARED_BENCH" ] || die "shared benchmarks not found at $SHARED_BENCH (set SHARED_BENCH)"
SHARED_BENCH=$(cd "$SHARED_BENCH" && pwd)
for tool in jq nsenter python3 ip; do
  command -v "$tool" >/dev/null 2>&1 || die "$tool is required"
done
mkdir -p "$BENCH_ROOT" "$RESULTS"

export ENGINE_LIB=$REPO/bench/ferry.sh
# The build of `cargo build --release` (its CARGO_TARGET_DIR if set).
export FERRY_BIN=${CARGO_TARGET_DIR:-$REPO/target}/release/ferry
export FERRY_HOST=unix://$SOCK

DAEMON_PID=
stop_daemon() {
  [ -n "$DAEMON_PID" ] || return 0
  if kill -0 "$DAEMON_PID" 2>/dev/null; then
    say "Stopping the ferry daemon (pid $DAEMON_PID)"
    kill -TERM "$DAEMON_PID" 2>/dev/null || true
    for _ in $(seq 1 100); do kill -0 "$DAEMON_PID" 2>/dev/null || break; sleep 0.1; done
    if kill -0 "$DAEMON_PID" 2>/dev/null; then
      echo "daemon did not stop within 10 s; killing it" >&2
      kill -KILL "$DAEMON_PID" 2>/dev/null || true
    fi
  fi
  wait "$DAEMON_PID" 2>/dev/null || true
  DAEMON_PID=
}
cleanup() {
  local rc=$?
  if [ -n "$DAEMON_PID" ]; then
    "$SHARED_BENCH/cleanup.sh" ferry >/dev/null 2>&1 || true
  fi
  stop_daemon
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

case " $ENGINES " in
  *" ferry "*)
    command -v cargo >/dev/null 2>&1 ||
      die "cargo not found (sudo resets PATH; try: sudo env \"PATH=\$PATH\" bench/run.sh)"
    say "Building ferry (release)"
    (cd "$REPO" && cargo build --release -p ferry)

    if "$FERRY_BIN" info >/dev/null 2>&1; then
      die "a ferry daemon already answers on $SOCK; stop it first"
    fi
    say "Starting ferry daemon (data $FERRY_DATA, exec $FERRY_RUN, log $DAEMON_LOG)"
    mkdir -p "$FERRY_DATA" "$FERRY_RUN"
    # shellcheck disable=SC2086 # FERRY_DAEMON_ARGS is a list of flags
    "$FERRY_BIN" daemon --data-root "$FERRY_DATA" --exec-root "$FERRY_RUN" ${FERRY_DAEMON_ARGS:-} \
      >"$DAEMON_LOG" 2>&1 &
    DAEMON_PID=$!
    for _ in $(seq 1 300); do
      "$FERRY_BIN" info >/dev/null 2>&1 && break
      kill -0 "$DAEMON_PID" 2>/dev/null || { tail -n 30 "$DAEMON_LOG" >&2; die "the daemon exited"; }
      sleep 0.1
    done
    "$FERRY_BIN" info >/dev/null 2>&1 || { tail -n 30 "$DAEMON_LOG" >&2; die "the daemon did not answer on $SOCK within 30 s"; }
    "$FERRY_BIN" version >&2 || true
    ;;
esac

say "Removing leftovers of earlier runs"
"$SHARED_BENCH/cleanup.sh" $ENGINES

for pass in $(seq 1 "$PASSES"); do
  for script in 01_net_create_rm.sh 02_attach_start.sh; do
    for e in $ENGINES; do
      say "pass $pass/$PASSES: $script $e $N"
      if ! "$SHARED_BENCH/$script" "$e" "$N"; then
        "$SHARED_BENCH/cleanup.sh" "$e" || true
        die "$script failed for $e (see its log.txt under $RESULTS/$e)"
      fi
    done
  done
done

"$SHARED_BENCH/cleanup.sh" $ENGINES

say "Summaries of this run"
for e in $ENGINES; do
  for t in 01_netcreate 02_attach; do
    latest=$(ls -1d "$RESULTS/$e/$t"/*/ 2>/dev/null | tail -n 1)
    [ -n "$latest" ] && [ -f "$latest/summary.txt" ] || continue
    echo "--- $e $t (${latest%/})"
    cat "$latest/summary.txt"
  done
done

if [ -f "$SHARED_BENCH/summarize.py" ]; then
  say "All runs pooled ($RESULTS/summary.md)"
  # shellcheck disable=SC2086 # one argument per engine
  python3 "$SHARED_BENCH/summarize.py" $ENGINES | tee "$RESULTS/summary.md"
fi
