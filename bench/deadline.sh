#!/usr/bin/env bash
# How far past --deadline a run ends: msgprobe against endpoints that accept
# and never answer, so that every attempt is still running, and most
# endpoints not yet started, when the deadline comes. See bench/README.md.
#
# Environment:
#   NS           endpoint counts                (default "5000")
#   DEADLINE     --deadline                     (default 2s)
#   CONCURRENCY  --concurrency                  (default 64)
#   ROUNDS       runs of each                   (default 5)
#   MSGPROBE     a prebuilt msgprobe binary     (default: go build ./cmd/msgprobe)
#
# Prints, per N, the median and largest wall time and overshoot (wall time
# minus the deadline), and the exit codes seen.
set -euo pipefail

NS=${NS:-5000}
DEADLINE=${DEADLINE:-2s}
CONCURRENCY=${CONCURRENCY:-64}
ROUNDS=${ROUNDS:-5}
cd "$(dirname "$0")/.."
say() { printf 'bench: %s\n' "$*" >&2; }

tmp=$(mktemp -d "${TMPDIR:-/tmp}/msgprobe-deadline.XXXXXX")
server_pid=
cleanup() {
	exec 3>&-
	if [[ -n $server_pid ]]; then
		kill "$server_pid" 2>/dev/null || true
		wait "$server_pid" 2>/dev/null || true
	fi
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

mkfifo "$tmp/hold.stdin"
"$tmp/hostile" -mode hold -addr "$tmp/hold.addr" <"$tmp/hold.stdin" &
server_pid=$!
exec 3>"$tmp/hold.stdin"
for _ in $(seq 100); do
	[[ -s $tmp/hold.addr ]] && break
	sleep 0.1
done
[[ -s $tmp/hold.addr ]] || { say "the server did not start in 10s"; exit 1; }
printf '{"ca":"","http":["%s"]}\n' "$(cat "$tmp/hold.addr")" >"$tmp/hold.json"

deadline_s=$(awk -v d="$DEADLINE" 'BEGIN {
	if (d ~ /ms$/) { sub(/ms$/, "", d); print d / 1000 } else { sub(/s$/, "", d); print d } }')
echo "--deadline $DEADLINE, --concurrency $CONCURRENCY, $ROUNDS rounds, endpoints that never answer; $(nproc) CPUs"
printf '%8s %10s %10s %14s %14s  %s\n' N "wall s" "max s" "overshoot ms" "max over ms" "exit codes"
for n in $NS; do
	"$tmp/gen" -n "$n" -kinds http -samples 1 -timeout 60s -addrs "$tmp/hold.json" -o "$tmp/$n.yaml"
	: >"$tmp/$n.rusage"
	codes=
	for _ in $(seq "$ROUNDS"); do
		code=0
		"$tmp/rusage" -o "$tmp/$n.rusage" -timeout 5m -- \
			"$msgprobe" check -c "$tmp/$n.yaml" --deadline "$DEADLINE" --concurrency "$CONCURRENCY" -f json -o "$tmp/$n.out.json" 3>&- || code=$?
		codes="$codes$code "
	done
	cut -d' ' -f1 "$tmp/$n.rusage" | sort -n | awk -v n="$n" -v d="$deadline_s" -v codes="$codes" '
		{ w[NR] = $1 }
		END {
			m = w[int((NR + 1) / 2)]
			printf "%8d %10.3f %10.3f %14.0f %14.0f  %s\n", n, m, w[NR], (m - d) * 1000, (w[NR] - d) * 1000, codes
		}'
done
