#!/usr/bin/env bash
# Swarm scale, by simulation: N simulated nodes in one process (bench/cluster-sim), each with
# its own etcd connection, session lease and watch of the peer records, and a fake kernel,
# against one etcd started here on loopback with a private data directory. Prints the results
# table (also saved under $RESULTS).
#
# usage: bench/cluster-sim.sh [N=1000] [CHANGES=20]    (env: LEASE_TTL=10 s, SIM_NICE=10)
# Needs etcd (Debian: apt-get install etcd-server). Builds the binary unless SIM_BIN is given.
set -euo pipefail
N=${1:-1000}
CHANGES=${2:-20}
ETCD=${ETCD_BIN:-etcd}
CLIENT_PORT=${ETCD_CLIENT_PORT:-23791}
PEER_PORT=${ETCD_PEER_PORT:-23792}
OUT=${RESULTS:-/tmp/ferry-bench/results}/cluster-sim/$(date +%Y%m%d-%H%M%S)
mkdir -p "$OUT"
cd "$(dirname "$0")/.."

if [ -z "${SIM_BIN:-}" ]; then
  cargo build --release -p cluster-sim >&2
  SIM_BIN=${CARGO_TARGET_DIR:-target}/release/cluster-sim
fi

# Each node holds a TCP connection to etcd: both ends need a file descriptor per node. The
# soft limit goes up to the hard one (raising that needs CAP_SYS_RESOURCE).
ulimit -n "$(ulimit -Hn)"
if [ "$(ulimit -n)" != unlimited ] && [ "$(ulimit -n)" -lt $((2 * N + 256)) ]; then
  echo "open files limit $(ulimit -n) is too low for $N nodes; raise the hard limit" >&2
  exit 1
fi

DATA=$(mktemp -d /tmp/cluster-sim-etcd.XXXXXX)
URL=http://127.0.0.1:$CLIENT_PORT
PEER=http://127.0.0.1:$PEER_PORT
"$ETCD" --name=sim --data-dir="$DATA/data" \
  --listen-client-urls="$URL" --advertise-client-urls="$URL" \
  --listen-peer-urls="$PEER" --initial-advertise-peer-urls="$PEER" \
  --initial-cluster="sim=$PEER" >"$OUT/etcd.log" 2>&1 &
ETCD_PID=$!
trap 'kill $ETCD_PID 2>/dev/null; wait $ETCD_PID 2>/dev/null || true; rm -rf "$DATA"' EXIT
for _ in $(seq 100); do
  if curl -fsS "$URL/health" >/dev/null 2>&1; then break; fi
  kill -0 $ETCD_PID 2>/dev/null || { cat "$OUT/etcd.log" >&2; exit 1; }
  sleep 0.1
done

# The nodes run at a lower priority than etcd: on real hosts each node has its own CPU, and
# here their 1000 event decoders would otherwise starve the one etcd they all measure.
nice -n "${SIM_NICE:-10}" "$SIM_BIN" --endpoint "$URL" --nodes "$N" --changes "$CHANGES" --etcd-pid "$ETCD_PID" --lease-ttl "${LEASE_TTL:-10}" | tee "$OUT/summary.txt"
echo "etcd data dir: $(du -sh "$DATA/data" | cut -f1) (backend file member/snap/db $(du -h "$DATA/data/member/snap/db" | cut -f1); the rest is preallocated WAL)" | tee -a "$OUT/summary.txt"
