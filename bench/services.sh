#!/usr/bin/env bash
# Services: new TCP connections per second and their latency through a service's VIP (at
# connect time, and through the host's nftables path) vs straight to a replica (the client
# picking one of the replicas' addresses at random, so the servers share the load alike), through the routing mesh (a published port) from the host, and the
# time a scale change takes to take effect (the command, then the first answer of the new
# replica through the VIP), at 3 replicas and at 60.
#
# Client and servers are bench/connrate (each connection: connect, the server writes its host
# name and closes). ferry runs in a private network namespace (bench/private-host.sh). With
# ENGINES=docker, Docker in swarm mode (IPVS VIPs, the ingress mesh) is measured in the same
# run, on an attachable overlay network, with connrate imported as an image; it needs a
# running dockerd (../shared/bench/setup-anchors.sh) and initialises a single-node swarm on
# 127.0.0.1 if there is none.
#
# usage: sudo [ENGINES=docker] bench/services.sh [RUNS=5] [SECS=3]
# Results: $RESULTS/services/STAMP/{raw.jsonl,summary.txt}
set -euo pipefail
RUNS=${1:-5}
SECS=${2:-3}
REPO=$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/.." && pwd)
export FERRY_BIN=${FERRY_BIN:-$REPO/target/release/ferry}
CONNRATE=${CONNRATE:-$REPO/target/release/connrate}
[ -x "$FERRY_BIN" ] && [ -x "$CONNRATE" ] || (cd "$REPO" && cargo build --release -p ferry -p connrate)
DOCKER_BIN=${DOCKER_BIN:-/usr/bin/docker}
RESULTS=${RESULTS:-/tmp/ferry-bench/results}
OUT=$RESULTS/services/$(date +%Y%m%d-%H%M%S)
mkdir -p "$OUT"
RAW=$OUT/raw.jsonl
. "$REPO/bench/private-host.sh"

# record ENGINE WHAT JSON: one line of raw results.
record() { printf '{"engine":"%s","what":"%s","r":%s}\n' "$1" "$2" "$3" >>"$RAW"; }
now_ms() { date +%s%3N; }

# --- ferry ---------------------------------------------------------------------------------
fe() { "$FERRY_BIN" "$@"; }
jqr() { jq -r "$@"; }

ferry_bench() {
  trap private_host_down EXIT
  private_host_up
  fe network create bsvc >/dev/null
  fe service create --name web --replicas 3 --network bsvc -p 8080:80 -- "$CONNRATE" serve 80 2 >/dev/null
  fe run -d --name cl --network bsvc -- sleep 3600 >/dev/null
  local vip r1 r1host all clpid
  vip=$(fe service inspect web | jqr '.[0].Endpoint.VirtualIPs[0].Addr | split("/")[0]')
  r1=$(fe inspect web.1 | jqr '.[0].NetworkSettings.Networks.bsvc.IPAddress')
  r1host=$(fe inspect web.1 | jqr '.[0].Config.Hostname')
  # "direct": the client picks one of the replicas' addresses itself, at random, so the
  # servers share the load as behind the VIP and only the VIP's own cost differs.
  all=$(for i in 1 2 3; do fe inspect "web.$i" | jqr '.[0].NetworkSettings.Networks.bsvc.IPAddress + ":80"'; done | paste -sd,)
  fe exec cl -- "$CONNRATE" until "$r1:80" "$r1host" 10 >/dev/null
  # `ferry exec` runs in the sandbox's cgroup, where connects to a VIP are balanced at
  # connect time; nsenter from here (outside that cgroup) takes the host's nftables path.
  clpid=$(fe inspect cl | jqr '.[0].State.Pid')
  for _ in $(seq "$RUNS"); do
    for t in 1 2; do
      record ferry "vip-t$t" "$(fe exec cl -- "$CONNRATE" run "$vip:80" "$SECS" "$t")"
      record ferry "direct-t$t" "$(fe exec cl -- "$CONNRATE" run "$all" "$SECS" "$t")"
    done
  done
  # The host's path: hairpin (masqueraded back into the bridge) and loopback mesh clients.
  for _ in $(seq "$RUNS"); do
    for t in 1 2; do
      record ferry "vip-host-path-t$t" "$(nsenter -t "$clpid" -n "$CONNRATE" run "$vip:80" "$SECS" "$t")"
    done
    record ferry mesh-t1 "$(in_host "$CONNRATE" run 127.0.0.1:8080 "$SECS" 1)"
  done
  # The host's own connections to the replicas come from the bridge's address, which is also
  # what hairpin and loopback clients are masqueraded to, and the host's connect() knows
  # nothing of conntrack's mappings: within conntrack's TIME_WAIT (120 s) of masqueraded
  # connections, either kind collides with the other's. So the host's direct baseline waits
  # them out.
  sleep 125
  for _ in $(seq "$RUNS"); do
    record ferry host-direct-t1 "$(in_host "$CONNRATE" run "$all" "$SECS" 1)"
  done
  for base in 3 60; do
    fe service scale "web=$base" >/dev/null
    for _ in $(seq "$RUNS"); do
      local n=$((base + 1)) t0 t1 t2 host
      t0=$(now_ms)
      fe service scale "web=$n" >/dev/null
      t1=$(now_ms)
      host=$(fe inspect "web.$n" | jqr '.[0].Config.Hostname')
      fe exec cl -- "$CONNRATE" until "$vip:80" "$host" 20 >/dev/null
      t2=$(now_ms)
      record ferry "scale-up-from-$base" "{\"command_ms\":$((t1 - t0)),\"effect_ms\":$((t2 - t0))}"
      t0=$(now_ms)
      fe service scale "web=$base" >/dev/null
      t1=$(now_ms)
      record ferry "scale-down-from-$n" "{\"command_ms\":$((t1 - t0)),\"effect_ms\":$((t1 - t0))}"
    done
  done
  private_host_down
  trap - EXIT
}

# --- Docker (swarm mode) -------------------------------------------------------------------
de() { "$DOCKER_BIN" "$@"; }

docker_image() {
  local root
  root=$(mktemp -d)
  cp "$CONNRATE" "$root/connrate"
  # The binary's shared libraries, at their paths.
  for lib in $(ldd "$CONNRATE" | grep -o '/[^ ]*'); do
    mkdir -p "$root$(dirname "$lib")"
    cp -L "$lib" "$root$lib"
  done
  mkdir -p "$root/etc" "$root/proc" "$root/sys" "$root/dev"
  tar -C "$root" -c . | de import - connrate:bench >/dev/null
  rm -rf "$root"
}

docker_cleanup() {
  de service rm dweb >/dev/null 2>&1 || true
  de rm -f dcl >/dev/null 2>&1 || true
  for _ in $(seq 30); do de network rm dbsvc >/dev/null 2>&1 && break; sleep 1; done
}

# A task's container on this node: its name starts with SERVICE.SLOT.
docker_task() { de ps -q --filter "name=dweb.$1." | head -n1; }

docker_bench() {
  de info --format '{{.Swarm.LocalNodeState}}' | grep -qx active ||
    de swarm init --advertise-addr 127.0.0.1 >/dev/null
  docker_image
  docker_cleanup
  trap docker_cleanup EXIT
  de network create -d overlay --attachable dbsvc >/dev/null
  de service create -q --name dweb --replicas 3 --network dbsvc -p 8080:80 \
    connrate:bench /connrate serve 80 2 >/dev/null
  de run -d --name dcl --network dbsvc connrate:bench /connrate serve 9 >/dev/null
  local vip c1 r1
  vip=$(de service inspect dweb | jq -r --arg n "$(de network inspect -f '{{.Id}}' dbsvc)" \
    '.[0].Endpoint.VirtualIPs[] | select(.NetworkID == $n) | .Addr | split("/")[0]')
  c1=$(docker_task 1)
  r1=$(de inspect "$c1" | jq -r '.[0].NetworkSettings.Networks.dbsvc.IPAddress')
  local all
  all=$(for i in 1 2 3; do de inspect "$(docker_task "$i")" | jq -r '.[0].NetworkSettings.Networks.dbsvc.IPAddress + ":80"'; done | paste -sd,)
  de exec dcl /connrate until "$r1:80" "$(de inspect -f '{{.Config.Hostname}}' "$c1")" 10 >/dev/null
  # Swarm's VIPs and ingress mesh are IPVS; a kernel without IPVS leaves them dead. Then only
  # the direct path is measured, and a scale change counts until the new task answers on its
  # own address (a lower bound of the time until the VIP would send it connections).
  local via_vip=1
  if ! de exec dcl /connrate until "$vip:80" "$(de inspect -f '{{.Config.Hostname}}' "$c1")" 5 >/dev/null 2>&1 &&
    ! de exec dcl /connrate run "$vip:80" 2 1 | grep -qv '"connections":0,'; then
    via_vip=0
    record docker vip-unavailable '{"ipvs":0}'
  fi
  for _ in $(seq "$RUNS"); do
    for t in 1 2; do
      [ $via_vip = 1 ] && record docker "vip-t$t" "$(de exec dcl /connrate run "$vip:80" "$SECS" "$t")"
      record docker "direct-t$t" "$(de exec dcl /connrate run "$all" "$SECS" "$t")"
    done
    [ $via_vip = 1 ] && record docker mesh-t1 "$("$CONNRATE" run 127.0.0.1:8080 "$SECS" 1)"
  done
  for base in 3 60; do
    de service scale -d "dweb=$base" >/dev/null
    # Wait for the base count to run.
    for _ in $(seq 120); do
      [ "$(de ps -q --filter name=dweb. | wc -l)" -eq "$base" ] && break
      sleep 1
    done
    for _ in $(seq "$RUNS"); do
      local n=$((base + 1)) t0 t1 t2 c
      t0=$(now_ms)
      de service scale "dweb=$n" >/dev/null 2>&1
      t1=$(now_ms)
      c=$(docker_task "$n")
      local target=$vip:80
      [ $via_vip = 1 ] || target=$(de inspect "$c" | jq -r '.[0].NetworkSettings.Networks.dbsvc.IPAddress'):80
      de exec dcl /connrate until "$target" "$(de inspect -f '{{.Config.Hostname}}' "$c")" 20 >/dev/null
      t2=$(now_ms)
      record docker "scale-up-from-$base" "{\"command_ms\":$((t1 - t0)),\"effect_ms\":$((t2 - t0))}"
      t0=$(now_ms)
      de service scale "dweb=$base" >/dev/null 2>&1
      t1=$(now_ms)
      record docker "scale-down-from-$n" "{\"command_ms\":$((t1 - t0)),\"effect_ms\":$((t1 - t0))}"
    done
  done
  docker_cleanup
  trap - EXIT
  # Let dockerd finish tearing the tasks down before anything else is measured.
  for _ in $(seq 120); do
    [ -z "$(de ps -aq)" ] && break
    sleep 1
  done
  sleep 10
}

for e in ${ENGINES:-}; do
  case $e in
    docker) docker_bench ;;
    *) echo "bench/services.sh: no service benchmark for $e" >&2 ;;
  esac
done
ferry_bench
python3 "$REPO/bench/services_summary.py" "$RAW" | tee "$OUT/summary.txt"
