#!/usr/bin/env bash
# Peak memory of msgprobe against endpoints that stream response headers
# without end, next to an idle run of the same size (endpoints that accept
# and never answer). See bench/README.md.
#
# Environment:
#   N            endpoints, each probed once       (default 256)
#   CONCURRENCY  --concurrency                     (default N)
#   TIMEOUT      --timeout (the idle run lasts it) (default 3s)
#   ROUNDS       runs of each                      (default 3)
#   MSGPROBE     a prebuilt msgprobe binary        (default: go build ./cmd/msgprobe)
#
# Prints, per mode, the median wall time and the median and largest peak RSS.
set -euo pipefail

N=${N:-256}
CONCURRENCY=${CONCURRENCY:-$N}
TIMEOUT=${TIMEOUT:-3s}
ROUNDS=${ROUNDS:-3}
cd "$(dirname "$0")/.."
say() { printf 'bench: %s\n' "$*" >&2; }

tmp=$(mktemp -d "${TMPDIR:-/tmp}/msgprobe-headers.XXXXXX")
pids=()
cleanup() {
	for fd in 3 4; do eval "exec $fd>&-"; done
	for p in "${pids[@]}"; do
		kill "$p" 2>/dev/null || true
		wait "$p" 2>/dev/null || true
	done
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

for cmd in hostile gen rusage; do
	go build -o "$tmp/$cmd" "./bench/$cmd"
done
msgprobe=${MSGPROBE:-}
if [[ -z $msgprobe ]]; then
	go build -o "$tmp/msgprobe" ./cmd/msgprobe
	msgprobe=$tmp/msgprobe
fi
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

fd=3
for mode in headers hold; do
	mkfifo "$tmp/$mode.stdin"
	"$tmp/hostile" -mode "$mode" -addr "$tmp/$mode.addr" <"$tmp/$mode.stdin" &
	pids+=($!)
	eval "exec $fd>\"$tmp/$mode.stdin\""
	fd=$((fd + 1))
done
for mode in headers hold; do
	for _ in $(seq 100); do
		[[ -s $tmp/$mode.addr ]] && break
		sleep 0.1
	done
	[[ -s $tmp/$mode.addr ]] || { say "the $mode server did not start in 10s"; exit 1; }
	printf '{"ca":"","http":["%s"]}\n' "$(cat "$tmp/$mode.addr")" >"$tmp/$mode.json"
	"$tmp/gen" -n "$N" -kinds http -samples 1 -timeout "$TIMEOUT" -addrs "$tmp/$mode.json" -o "$tmp/$mode.yaml"
done

echo "$N endpoints, --concurrency $CONCURRENCY, --timeout $TIMEOUT, $ROUNDS rounds; $(nproc) CPUs"
printf '%-8s %8s %16s %16s  %s\n' mode "wall s" "peak RSS MiB" "max RSS MiB" "classes"
for mode in hold headers; do
	: >"$tmp/$mode.rusage"
	for _ in $(seq "$ROUNDS"); do
		"$tmp/rusage" -o "$tmp/$mode.rusage" -timeout 5m -- \
			"$msgprobe" check -c "$tmp/$mode.yaml" --concurrency "$CONCURRENCY" -f json -o "$tmp/$mode.out.json" 3>&- 4>&- || true
	done
	classes=$(grep -o '"class": *"[a-z_]*"' "$tmp/$mode.out.json" | sort | uniq -c | awk '{printf "%s×%s ", $1, $3}' | tr -d '"')
	median() { sort -n | sed -n "$(( (ROUNDS + 1) / 2 ))p"; }
	wall=$(cut -d' ' -f1 "$tmp/$mode.rusage" | median)
	rss=$(cut -d' ' -f4 "$tmp/$mode.rusage" | median)
	most=$(cut -d' ' -f4 "$tmp/$mode.rusage" | sort -n | tail -n1)
	printf '%-8s %8.3f %16.1f %16.1f  %s\n' "$mode" "$wall" "$(awk -v k="$rss" 'BEGIN { print k / 1024 }')" "$(awk -v k="$most" 'BEGIN { print k / 1024 }')" "$classes"
done
