# Sourced by the swarm benchmarks: HOSTS private hosts (network namespaces ${P}-h0 ..., each
# with a daemon, data under $ROOT/hN) on one underlay bridge (namespace ${P}-u), 198.51.100.10
# and up, then a swarm of them (host 0 the manager, lease TTL $TTL). Writes $ROOT/hosts:
# "<netns> <socket> <daemon pid file> <underlay address>" per host. Defines `f I ARGS...`
# (ferry on host I) and `start_daemon I`; removes everything on exit (plus the namespaces
# named in $EXTRA_NETNS).
# Needs: HOSTS, TTL, P, ROOT, FERRY_BIN.

U=$P-u

cleanup() {
  for i in $(seq 0 $((HOSTS - 1))); do
    local pf=$ROOT/h$i/daemon.pid
    [ -f "$pf" ] && kill -9 "$(cat "$pf")" 2>/dev/null || true
    local p
    p=$(ip netns pids "$P-h$i" 2>/dev/null || true)
    [ -n "$p" ] && kill -9 $p 2>/dev/null || true
    ip netns del "$P-h$i" 2>/dev/null || true
  done
  ip netns del "$U" 2>/dev/null || true
  for ns in ${EXTRA_NETNS:-}; do ip netns del "$ns" 2>/dev/null || true; done
}
trap cleanup EXIT
cleanup
rm -rf "$ROOT"
mkdir -p "$ROOT"

ip netns add "$U"
ip -n "$U" link add ul type bridge
ip -n "$U" link set ul up

start_daemon() {
  local i=$1 r=$ROOT/h$1
  mkdir -p "$r"
  ip netns exec "$P-h$i" "$FERRY_BIN" daemon --data-root "$r/data" --exec-root "$r/run" \
    --bip 10.210.$i.1/24 >>"$r/daemon.log" 2>&1 &
  echo $! >"$r/daemon.pid"
  for _ in $(seq 1 400); do
    FERRY_HOST=unix://$r/run/ferry.sock "$FERRY_BIN" info >/dev/null 2>&1 && return 0
    sleep 0.05
  done
  echo "daemon $i did not start: $r/daemon.log" >&2
  return 1
}
f() { local i=$1; shift; FERRY_HOST=unix://$ROOT/h$i/run/ferry.sock "$FERRY_BIN" "$@"; }

: >"$ROOT/hosts"
for i in $(seq 0 $((HOSTS - 1))); do
  ns=$P-h$i addr=198.51.100.$((10 + i))
  ip netns add "$ns"
  ip -n "$U" link add u$i type veth peer name ul0 netns "$ns"
  ip -n "$U" link set u$i master ul up
  ip -n "$ns" addr add $addr/24 dev ul0
  ip -n "$ns" link set ul0 up
  ip -n "$ns" link set lo up
  start_daemon $i
  echo "$ns $ROOT/h$i/run/ferry.sock $ROOT/h$i/daemon.pid $addr" >>"$ROOT/hosts"
done

f 0 swarm init --advertise-addr 198.51.100.10 --lease-ttl "$TTL" >/dev/null
token=$(f 0 swarm join-token -q worker)
for i in $(seq 1 $((HOSTS - 1))); do
  f $i swarm join --advertise-addr 198.51.100.$((10 + i)) --token "$token" 198.51.100.10:2377 >/dev/null
done
