#!/bin/bash
# ferry's engine definition for the shared container-networking benchmarks.
#
# The benchmark scripts call engine-neutral e_<verb> functions (lib.sh); a file named by
# ENGINE_LIB may define e_<engine>_<verb> to replace any verb for <engine>. This file defines
# every verb for the engine "ferry", so that
#
#   ENGINE_LIB=$PWD/bench/ferry.sh ENGINES="docker podman ferry" $SHARED_BENCH/run_all.sh
#   ENGINE_LIB=$PWD/bench/ferry.sh $SHARED_BENCH/01_net_create_rm.sh ferry 30
#
# measure ferry beside Docker and podman. bench/run.sh does all of it (build, private daemon).
#
# Environment:
#   FERRY_BIN   the ferry CLI (default: ferry on PATH)
#   FERRY_HOST  the daemon's socket, e.g. unix:///tmp/ferry-bench/ferry-run/ferry.sock
#               (read by the CLI itself; default /run/ferry/ferry.sock)
#
# ferry's CLI mirrors docker's commands but has no Go templates (--format '{{...}}'): every field
# is read from JSON with jq. `ferry run` starts host programs, so there is no image: the command
# after `--` (e.g. `sleep 3600`) runs as is in the new sandbox.

command -v jq >/dev/null 2>&1 || { echo "bench/ferry.sh: jq is required (apt-get install jq)" >&2; exit 1; }

# 01_net_create_rm.sh times `network inspect $DEF` as the CLI floor and sets DEF only for docker
# and podman; ferry's default network of the same role is `bridge`.
DEF=${DEF:-bridge}

e_ferry_cli() { "${FERRY_BIN:-ferry}" "$@"; }

# No images: ferry runs host programs.
e_ferry_image() { :; }
e_ferry_ensure_image() { :; }

# e_ferry_net_create NAME [SUBNET]
e_ferry_net_create() {
  local n=$1 s=${2:-}
  if [ -n "$s" ]; then e_ferry_cli network create --subnet "$s" "$n"; else e_ferry_cli network create "$n"; fi
}
e_ferry_net_rm()     { e_ferry_cli network rm "$1"; }
e_ferry_net_exists() { e_ferry_cli network inspect "$1" >/dev/null 2>&1; }

# e_ferry_run NAME NET [extra run args...] -- CMD...   (detached; no image)
e_ferry_run() {
  local name=$1 net=$2; shift 2
  local extra=()
  while [ $# -gt 0 ] && [ "$1" != "--" ]; do extra+=("$1"); shift; done
  [ "${1:-}" = "--" ] && shift
  e_ferry_cli run -d --name "$name" --network "$net" "${extra[@]}" -- "$@"
}

# Force removal, no grace period (ferry rm -f kills at once).
e_ferry_rm() { e_ferry_cli rm -f "$@"; }

e_ferry_connect()    { e_ferry_cli network connect "$1" "$2"; }     # NET CTR
e_ferry_disconnect() { e_ferry_cli network disconnect "$1" "$2"; }  # NET CTR

# CTR -> PID of the sandbox's process (its namespaces are the sandbox's)
e_ferry_pid() { e_ferry_cli inspect "$1" | jq -r '.[0].State.Pid'; }

# CTR NET -> IPv4 address on NET
e_ferry_ip() {
  e_ferry_cli inspect "$1" | jq -r --arg net "$2" '.[0].NetworkSettings.Networks[$net].IPAddress // empty'
}

# NET -> gateway IPv4 (the first IPv4 IPAM config's gateway)
e_ferry_gw() {
  e_ferry_cli network inspect "$1" |
    jq -r '[.[0].IPAM.Config[]? | .Gateway // empty | select(test(":") | not)] | first // empty'
}

# CTR NET -> address of the sandbox's resolver, seen from inside its netns
e_ferry_dns_server() { echo 127.0.0.11; }

# names of our sandboxes (prefix anc-); Names is an array like ["/name"]
e_ferry_list_ours() {
  e_ferry_cli ps -a --format json |
    jq -r '.Names | if type == "array" then .[] else . end | ltrimstr("/")' |
    grep '^anc-' || true
}

# names of our networks (prefix anc-)
e_ferry_list_our_nets() {
  e_ferry_cli network ls --format json | jq -r '.Name' | grep '^anc-' || true
}

# ferry publishes ports in the kernel (nftables), with no proxy process per port.
e_ferry_proxy_procs() { :; }
