#!/usr/bin/env bash
# Scale: the 1000th sandbox, network or connect must cost what the first does.
# Starts COUNT sandboxes one by one on one network (timing each `ferry run -d`), creates NETS
# networks one by one (timing each `ferry network create`), then times connect/disconnect of
# one sandbox with all of them present. Prints medians of the first and last windows of 10.
#
# usage: sudo bench/scale.sh [COUNT=1000] [NETS=200]
# Needs a running daemon: FERRY_HOST and FERRY_BIN as for bench/run.sh (bench/run.sh sets
# them up; standalone: FERRY_BIN=target/release/ferry FERRY_HOST=unix:///run/ferry/ferry.sock).
set -euo pipefail
COUNT=${1:-1000}
NETS=${2:-200}
F=${FERRY_BIN:-ferry}
OUT=${RESULTS:-/tmp/ferry-bench/results}/ferry/scale/$(date +%Y%m%d-%H%M%S)
mkdir -p "$OUT"
ms() { local t0=${EPOCHREALTIME/./}; "$@" >/dev/null; local t1=${EPOCHREALTIME/./}; echo "scale=3; ($t1-$t0)/1000" | bc; }
med() { sort -n | awk '{a[NR]=$1} END {if (NR%2) print a[(NR+1)/2]; else print (a[NR/2]+a[NR/2+1])/2}'; }
window() { sed -n "$2,$3p" "$1" | med; }

"$F" network create --subnet 10.240.0.0/16 scale-net >/dev/null
for i in $(seq 1 "$COUNT"); do ms "$F" run -d --name "scale-$i" --network scale-net -- sleep 3600; done >"$OUT/run_ms.txt"
for i in $(seq 1 "$NETS"); do ms "$F" network create --subnet "10.241.$((i - 1)).0/24" "scale-n$i"; done >"$OUT/netcreate_ms.txt"
for i in $(seq 1 30); do
  ms "$F" network connect "scale-n$i" scale-1 >>"$OUT/connect_ms.txt"
  ms "$F" network disconnect "scale-n$i" scale-1 >>"$OUT/disconnect_ms.txt"
done
{
  echo "run -d on one network: k=1..10 median $(window "$OUT/run_ms.txt" 1 10) ms; k=$((COUNT - 9))..$COUNT median $(window "$OUT/run_ms.txt" $((COUNT - 9)) "$COUNT") ms; all $(med <"$OUT/run_ms.txt") ms"
  echo "network create: k=1..10 median $(window "$OUT/netcreate_ms.txt" 1 10) ms; k=$((NETS - 9))..$NETS median $(window "$OUT/netcreate_ms.txt" $((NETS - 9)) "$NETS") ms"
  echo "connect with $COUNT sandboxes and $NETS networks present: median $(med <"$OUT/connect_ms.txt") ms; disconnect $(med <"$OUT/disconnect_ms.txt") ms"
  echo "daemon RSS: $(ps -o rss= -C ferry | sort -n | tail -1) KiB"
} | tee "$OUT/summary.txt"
for i in $(seq 1 "$COUNT"); do "$F" rm -f "scale-$i" >/dev/null; done
for i in $(seq 1 "$NETS"); do "$F" network rm "scale-n$i" >/dev/null; done
"$F" network rm scale-net >/dev/null
