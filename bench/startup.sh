#!/usr/bin/env bash
# Measure short runs: msgprobe's start-up and a one-endpoint check against
# the floor doing the same. See bench/README.md.
#
# Environment:
#   RUNS      runs of each command          (default 100)
#   MSGPROBE  a prebuilt msgprobe binary    (default: go build ./cmd/msgprobe)
set -euo pipefail

RUNS=${RUNS:-100}
cd "$(dirname "$0")/.."
say() { printf 'bench: %s\n' "$*" >&2; }

tmp=$(mktemp -d "${TMPDIR:-/tmp}/msgprobe-startup.XXXXXX")
fleet_pid=
cleanup() {
	exec 3>&-
	if [[ -n $fleet_pid ]]; then
		kill "$fleet_pid" 2>/dev/null || true
		wait "$fleet_pid" 2>/dev/null || true
	fi
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

for cmd in fleet gen floor startup; do
	go build -o "$tmp/$cmd" "./bench/$cmd"
done
msgprobe=${MSGPROBE:-}
if [[ -z $msgprobe ]]; then
	go build -o "$tmp/msgprobe" ./cmd/msgprobe
	msgprobe=$tmp/msgprobe
fi

mkfifo "$tmp/fleet.stdin"
"$tmp/fleet" -ca "$tmp/ca.pem" -addrs "$tmp/addrs.json" <"$tmp/fleet.stdin" 2>/dev/null &
fleet_pid=$!
exec 3>"$tmp/fleet.stdin"
for _ in $(seq 100); do
	[[ -s $tmp/addrs.json ]] && break
	sleep 0.1
done
[[ -s $tmp/addrs.json ]] || { say "the fleet did not write its addresses in 10s"; exit 1; }

for kind in tcp https; do
	"$tmp/gen" -n 1 -kinds "$kind" -samples 1 -timeout 5s -addrs "$tmp/addrs.json" -o "$tmp/$kind.yaml" 3>&-
done

echo "$RUNS runs each, one after another; $(nproc) CPUs"
"$tmp/startup" -n "$RUNS" \
	"floor 1 tcp=$tmp/floor -c $tmp/tcp.yaml -samples 1" \
	"msgprobe 1 tcp=$msgprobe check -c $tmp/tcp.yaml -f json" \
	"floor 1 https=$tmp/floor -c $tmp/https.yaml -samples 1" \
	"msgprobe 1 https=$msgprobe check -c $tmp/https.yaml -f json" \
	"msgprobe version=$msgprobe version" \
	3>&-
