#!/usr/bin/env bash
# The cost of starting and removing a sandbox, for one ferry build or two side by side (for
# example before and after a change to how sandboxes start), each on a private host of its own.
#
# usage: sudo bench/start.sh [N]            N starts per variant and pass (default 40)
#   FERRY_BIN=path        the build to measure (default: target/release/ferry, built here)
#   BASE_BIN=path         a second build, measured in the same run, in alternation
#   VARIANTS="..."        `run` flag sets, `|`-separated (default: the default confinement;
#                         --init=false; --privileged --init=false)
#   PASSES=3              passes; builds and variants alternate inside each pass
#
# Each start is `ferry run -d --network none -- sleep 600` timed as a whole CLI call (the
# daemon's reply comes once the program runs), then `rm -f`. Prints the median and the
# 10th-90th percentiles of each, in ms.
set -euo pipefail

REPO=$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/.." && pwd)
N=${1:-40}
PASSES=${PASSES:-3}
BENCH_ROOT=${BENCH_ROOT:-/tmp/ferry-bench-start}
IFS='|' read -r -a VARIANTS <<<"${VARIANTS:- |--init=false|--privileged --init=false}"

[ "$(id -u)" = 0 ] || { echo "bench/start.sh: must run as root" >&2; exit 1; }
if [ -z "${FERRY_BIN:-}" ]; then
  (cd "$REPO" && cargo build --release -q -p ferry)
  FERRY_BIN=$REPO/target/release/ferry
fi

BENCH_NS=ferry-bench-start
# shellcheck source=bench/private-host.sh
source "$REPO/bench/private-host.sh"

out=$BENCH_ROOT/samples
mkdir -p "$BENCH_ROOT"
: >"$out"

measure() { # label bin flags...
  local label=$1 bin=$2
  shift 2
  FERRY_BIN=$bin BENCH_ROOT=$BENCH_ROOT/$label private_host_up
  for _ in $(seq 3); do # warm-up
    "$bin" run -d --name warm --network none "$@" -- sleep 600 >/dev/null
    "$bin" rm -f warm >/dev/null
  done
  for i in $(seq "$N"); do
    local t0 t1 t2
    t0=$(date +%s%N)
    "$bin" run -d --name "s$i" --network none "$@" -- sleep 600 >/dev/null
    t1=$(date +%s%N)
    "$bin" rm -f "s$i" >/dev/null
    t2=$(date +%s%N)
    echo "$label|$*|start|$(((t1 - t0) / 1000))" >>"$out"
    echo "$label|$*|rm -f|$(((t2 - t1) / 1000))" >>"$out"
  done
  FERRY_BIN=$bin BENCH_ROOT=$BENCH_ROOT/$label private_host_down
}

for _ in $(seq "$PASSES"); do
  for v in "${VARIANTS[@]}"; do
    # shellcheck disable=SC2086
    measure this "$FERRY_BIN" $v
    if [ -n "${BASE_BIN:-}" ]; then
      # The base build may not know the new flags: it runs with none.
      measure base "$BASE_BIN"
    fi
  done
done

python3 - "$out" <<'EOF'
import sys, statistics, collections
rows = collections.defaultdict(list)
for line in open(sys.argv[1]):
    label, flags, what, us = line.rstrip("\n").split("|")
    rows[(label, flags.strip() or "(default)", what)].append(int(us) / 1000)
print(f"| build | flags | operation | median ms | p10–p90 ms | n |")
print(f"|---|---|---|---|---|---|")
for (label, flags, what), v in sorted(rows.items()):
    v.sort()
    q = lambda p: v[min(len(v) - 1, int(p * len(v)))]
    print(f"| {label} | {flags} | {what} | {statistics.median(v):.1f} | {q(0.1):.1f}–{q(0.9):.1f} | {len(v)} |")
EOF
