#!/usr/bin/env bash
# Port-publishing scale: starts COUNT sandboxes one by one on ONE network, each publishing its
# own host port (-p 20000+k:80), and times every `ferry run -d`. Reports the median start time
# of the first and last windows of 10 and their ratio, the number of nft rules (which must not
# grow: only set and map elements do), the number of elements, processes other than the
# sandboxes' own (no helper process per port), and the daemon's RSS.
#
# usage: sudo bench/ports_scale.sh [COUNT=1000]
# The daemon runs in a private network namespace (bench/private-host.sh); nothing touches the
# real host's network. Results: $RESULTS/ferry/ports_scale/STAMP/.
set -euo pipefail
COUNT=${1:-1000}
REPO=$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/.." && pwd)
export FERRY_BIN=${FERRY_BIN:-$REPO/target/release/ferry}
[ -x "$FERRY_BIN" ] || (cd "$REPO" && cargo build --release -p ferry)
. "$REPO/bench/private-host.sh"
OUT=${RESULTS:-$BENCH_ROOT/results}/ferry/ports_scale/$(date +%Y%m%d-%H%M%S)
mkdir -p "$OUT"
F=$FERRY_BIN
ms() { local t0=${EPOCHREALTIME/./}; "$@" >/dev/null; local t1=${EPOCHREALTIME/./}; echo "scale=3; ($t1-$t0)/1000" | bc; }
med() { sort -n | awk '{a[NR]=$1} END {if (NR%2) print a[(NR+1)/2]; else print (a[NR/2]+a[NR/2+1])/2}'; }
window() { sed -n "$2,$3p" "$1" | med; }
rules() { in_host nft -a list ruleset | grep -c ' # handle [0-9]*$' || true; }
elements() { in_host nft -j list ruleset | jq '[.nftables[] | (.set // .map // empty) | (.elem // []) | length] | add'; }
procs() { ps -e -o pid= --no-headers | wc -l; }

trap private_host_down EXIT
private_host_up
"$F" network create --subnet 10.240.0.0/16 pscale >/dev/null
rules0=$(rules); procs0=$(procs)
for i in $(seq 1 "$COUNT"); do
  ms "$F" run -d --name "p-$i" --network pscale -p "$((20000 + i)):80" -- sleep 3600
done >"$OUT/run_ms.txt"
rules1=$(rules); elems1=$(elements); procs1=$(procs)
# The last port must carry traffic like the first.
first=$(window "$OUT/run_ms.txt" 1 10)
last=$(window "$OUT/run_ms.txt" $((COUNT - 9)) "$COUNT")
{
  echo "run -d with a published port, one network: k=1..10 median $first ms; k=$((COUNT - 9))..$COUNT median $last ms; ratio $(echo "scale=2; $last/$first" | bc)"
  echo "nft rules: $rules0 before, $rules1 with $COUNT published ports; set/map elements: $elems1"
  echo "processes: $procs0 before, $procs1 after ($COUNT sandboxes; $((procs1 - procs0 - COUNT)) others)"
  echo "daemon RSS: $(ps -o rss= -p "$(pgrep -f "$FERRY_BIN daemon" | head -1)") KiB"
} | tee "$OUT/summary.txt"
