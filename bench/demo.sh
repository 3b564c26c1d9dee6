#!/usr/bin/env bash
# The README's sample output, reproduced: starts the benchmark fleet on
# loopback (its plain HTTP answering after 1.2s), writes a demo config naming
# its listeners after real services, and runs msgprobe on it. Extra arguments
# go to `msgprobe check` (e.g. -f json). Nothing leaves the machine; to be
# sure, run it as: unshare -rn sh -c 'ip link set lo up; bash bench/demo.sh'
set -euo pipefail
cd "$(dirname "$0")/.."
tmp=$(mktemp -d)
fleet_pid=
cleanup() {
	exec 3>&- 2>/dev/null || true
	[[ -n $fleet_pid ]] && { kill "$fleet_pid" 2>/dev/null || true; wait "$fleet_pid" 2>/dev/null || true; }
	rm -rf "$tmp"
}
trap cleanup EXIT
go build -o "$tmp/msgprobe" ./cmd/msgprobe
go build -o "$tmp/fleet" ./bench/fleet
go build -o "$tmp/demo" ./bench/demo
mkfifo "$tmp/fleet.stdin"
"$tmp/fleet" -n 2 -delay 1200ms -ca "$tmp/ca.pem" -addrs "$tmp/addrs.json" <"$tmp/fleet.stdin" >/dev/null 2>&1 &
fleet_pid=$!
exec 3>"$tmp/fleet.stdin"
for _ in $(seq 100); do [[ -s $tmp/addrs.json ]] && break; sleep 0.1; done
"$tmp/demo" -addrs "$tmp/addrs.json" -o "$tmp/demo.yaml"
cd "$tmp"
set +e
./msgprobe check -c demo.yaml "$@"
code=$?
echo "exit $code"
