#!/usr/bin/env bash
# Data-plane throughput: iperf3, one TCP stream (the shared 05_dataplane.sh), over the paths
#   loopback  host 127.0.0.1 -> host 127.0.0.1 (the machine's limit, no sandbox)
#   c2c       sandbox -> sandbox on the same bridge
#   pub_lo    host -> 127.0.0.1:published port (ferry: nftables DNAT, no proxy)
#   pub_gw    host -> host address (bridge gateway):published port
# for ferry, in a private network namespace (bench/private-host.sh), and for the engines in
# ENGINES (e.g. "docker"), on the real host as the shared script does, in the same run.
#
# usage: sudo [ENGINES="docker"] bench/dataplane.sh [RUNS=5] [DURATION=10]
# Results: $RESULTS/<engine>/05_dataplane/STAMP/summary.txt
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
  bash "$SHARED_BENCH/05_dataplane.sh" "$e" "$RUNS" "$DUR"
done
trap private_host_down EXIT
private_host_up
in_host env RUNDIR="$BENCH_ROOT/run-private" bash "$SHARED_BENCH/05_dataplane.sh" ferry "$RUNS" "$DUR"
