#!/usr/bin/env bash
# Benchmark msgprobe against the floor: the same network work done by a
# minimal stdlib program. See bench/README.md.
#
# Environment:
#   NS           endpoint counts            (default "100 1000 10000")
#   SAMPLES      attempts per endpoint      (default "1 3")
#   ROUNDS       interleaved rounds         (default 3)
#   CONCURRENCY  endpoints probed at once   (default 64)
#   TIMEOUT      bound on one attempt       (default 10s)
#   RUN_TIMEOUT  bound on one whole run     (default 15m)
#   MSGPROBE     a prebuilt msgprobe binary (default: go build ./cmd/msgprobe)
#   KEEP         keep the work directory    (default: removed on exit)
set -euo pipefail

NS=${NS:-"100 1000 10000"}
SAMPLES=${SAMPLES:-"1 3"}
ROUNDS=${ROUNDS:-3}
CONCURRENCY=${CONCURRENCY:-64}
TIMEOUT=${TIMEOUT:-10s}
RUN_TIMEOUT=${RUN_TIMEOUT:-15m}

cd "$(dirname "$0")/.."
say() { printf 'bench: %s\n' "$*" >&2; }

# Each attempt holds a socket on both sides until it is closed; the default
# soft limit (often 1024) is too low for a fleet serving 64 clients at once
# plus sockets still closing.
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
say "open files limit: $(ulimit -n)"

tmp=$(mktemp -d "${TMPDIR:-/tmp}/msgprobe-bench.XXXXXX")
fleet_pid=
cleanup() {
	exec 3>&- # the fleet stops when its stdin closes ...
	if [[ -n $fleet_pid ]]; then
		kill "$fleet_pid" 2>/dev/null || true # ... or when signalled
		wait "$fleet_pid" 2>/dev/null || true
	fi
	if [[ -n ${KEEP:-} ]]; then
		say "kept $tmp"
	else
		rm -rf "$tmp"
	fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

say "building into $tmp"
for cmd in fleet gen floor rusage check tabulate; do
	go build -o "$tmp/$cmd" "./bench/$cmd"
done
if [[ -n ${MSGPROBE:-} ]]; then
	msgprobe=$MSGPROBE
elif go build -o "$tmp/msgprobe" ./cmd/msgprobe 2>"$tmp/build.log"; then
	msgprobe=$tmp/msgprobe
else
	head -n 5 "$tmp/build.log" >&2
	say "warning: msgprobe does not build (set MSGPROBE=/path/to/msgprobe to use a prebuilt one); measuring the floor only"
	msgprobe=
fi

# The fleet reads a pipe that only this script holds open (fd 3, closed in
# every child), so it stops even when the script is killed without a chance
# to run its trap.
mkfifo "$tmp/fleet.stdin"
"$tmp/fleet" -ca "$tmp/ca.pem" -addrs "$tmp/addrs.json" <"$tmp/fleet.stdin" &
fleet_pid=$!
exec 3>"$tmp/fleet.stdin"
for _ in $(seq 100); do
	[[ -s $tmp/addrs.json ]] && break
	kill -0 "$fleet_pid" 2>/dev/null || { say "the fleet did not start"; exit 1; }
	sleep 0.1
done
[[ -s $tmp/addrs.json ]] || { say "the fleet did not write its addresses in 10s"; exit 1; }

results=$tmp/results.txt
: >"$results"

# measure TOOL N SAMPLES ROUND: one timed run, validated, appended to $results.
measure() {
	local tool=$1 n=$2 s=$3 round=$4 cfg=$tmp/config-$2.yaml
	local out=$tmp/out-$tool.json fig=$tmp/fig valid=1
	rm -f "$out" "$fig"
	local -a cmd
	case $tool in
	floor) cmd=("$tmp/floor" -c "$cfg" -samples "$s" -concurrency "$CONCURRENCY" -timeout "$TIMEOUT") ;;
	msgprobe) cmd=("$msgprobe" check -c "$cfg" --samples "$s" --concurrency "$CONCURRENCY" --timeout "$TIMEOUT" -f json -o "$out") ;;
	esac
	if [[ $tool == floor ]]; then
		"$tmp/rusage" -o "$fig" -timeout "$RUN_TIMEOUT" -- "${cmd[@]}" >"$out" 3>&- || valid=0
	else
		"$tmp/rusage" -o "$fig" -timeout "$RUN_TIMEOUT" -- "${cmd[@]}" >"$tmp/msgprobe.stdout" 3>&- || valid=0
	fi
	local -a check=("$tmp/check" -n "$n" -samples "$s")
	[[ $tool == floor ]] && check+=(-floor)
	if [[ ! -s $out ]] || ! "${check[@]}" "$out"; then
		valid=0
	fi
	if [[ ! -s $fig ]]; then
		say "$tool N=$n samples=$s round $round: no measurement"
		echo "$n $s $tool $round 0 0 0 0 0" >>"$results"
		return
	fi
	read -r wall user sys rss <"$fig"
	echo "$n $s $tool $round $valid $wall $user $sys $rss" >>"$results"
	local tag=ok
	((valid)) || tag=INVALID
	say "$tool N=$n samples=$s round $round: ${wall}s wall, ${user}s user, ${sys}s sys, ${rss} KiB peak ($tag)"
}

for n in $NS; do
	"$tmp/gen" -n "$n" -timeout "$TIMEOUT" -addrs "$tmp/addrs.json" -ca "$tmp/ca.pem" -o "$tmp/config-$n.yaml" 3>&-
	for s in $SAMPLES; do
		# Interleaved, so that drift in the machine's load hits both alike.
		for round in $(seq "$ROUNDS"); do
			measure floor "$n" "$s" "$round"
			if [[ -n $msgprobe ]]; then
				measure msgprobe "$n" "$s" "$round"
			fi
		done
	done
done

echo
echo "concurrency $CONCURRENCY, timeout $TIMEOUT, $ROUNDS round(s), medians over rounds; $(nproc) CPUs"
"$tmp/tabulate" "$results"
