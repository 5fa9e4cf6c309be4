#!/usr/bin/env bash
# Embedded DNS performance with the shared 04_dns.sh: dnsperf inside a client sandbox asks
# for another sandbox's A record, at saturation (sat) and at a fixed 1000 queries/s (light),
# with the resolver's CPU. ferry runs in a private network namespace (bench/private-host.sh);
# the engines in ENGINES (e.g. "docker podman") run on the host, in the same run.
#
# usage: sudo [ENGINES="docker podman"] bench/dns.sh [RUNS=5] [DURATION=10]
# Results: $RESULTS/<engine>/04_dns/STAMP/summary.txt
set -euo pipefail
RUNS=${1:-5}
DUR=${2:-10}
REPO=$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/.." && pwd)
SHARED_BENCH=${SHARED_BENCH:-$REPO/../shared/bench}
export FERRY_BIN=${FERRY_BIN:-$REPO/target/release/ferry}
[ -x "$FERRY_BIN" ] || (cd "$REPO" && cargo build --release -p ferry)
export ENGINE_LIB=$REPO/bench/ferry.sh
export RESULTS=${RESULTS:-/tmp/ferry-bench/results}
. "$REPO/bench/private-host.sh"

for e in ${ENGINES:-}; do
  bash "$SHARED_BENCH/04_dns.sh" "$e" "$RUNS" "$DUR"
done
trap private_host_down EXIT
private_host_up
# The resolver is the daemon itself: its CPU is ferry's.
in_host env RES=ferry RUNDIR="$BENCH_ROOT/run-private" bash "$SHARED_BENCH/04_dns.sh" ferry "$RUNS" "$DUR"
