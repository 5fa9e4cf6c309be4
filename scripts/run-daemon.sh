#!/usr/bin/env bash
# Sets up a fresh Debian/Ubuntu host for ferry and runs the daemon in the foreground.
#
# usage: sudo bash scripts/run-daemon.sh [ferry daemon flags...]
#
# Installs the system packages ferry uses, builds ferry in release mode, then replaces itself
# with `ferry daemon`. Defaults: API socket /run/ferry/ferry.sock, data root /var/lib/ferry,
# exec root /run/ferry. Any arguments are passed to `ferry daemon`.
set -euo pipefail

die() { echo "run-daemon.sh: $*" >&2; exit 1; }

[ "$(id -u)" = 0 ] || die "must run as root (ferry creates bridges, veths and namespaces)"

cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/.."

if command -v apt-get >/dev/null 2>&1; then
  echo "==> Installing system packages" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update
  apt-get install -y nftables iproute2 socat protobuf-compiler etcd-server
else
  echo "==> apt-get not found: make sure nftables, iproute2, socat, protoc (protobuf-compiler, to build the etcd client) and etcd (etcd-server, for swarm managers) are installed" >&2
fi

command -v cargo >/dev/null 2>&1 ||
  die "cargo not found (sudo resets PATH; try: sudo env \"PATH=\$PATH\" bash scripts/run-daemon.sh)"

echo "==> Building ferry (release)" >&2
cargo build --release -p ferry

echo "==> Starting ferry daemon (socket /run/ferry/ferry.sock unless told otherwise)" >&2
exec target/release/ferry daemon "$@"
