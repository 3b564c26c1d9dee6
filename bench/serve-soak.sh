#!/usr/bin/env bash
# Soak test of `msgprobe serve`: N endpoints of the loopback fleet probed
# every INTERVAL for DURATION, a real Prometheus scraping /metrics every
# SCRAPE. Reports serve's RSS and go_goroutines after one minute and at the
# end (flat memory, no goroutine growth), the rounds and overruns, and
# checks from serve's log that no round overlapped the next.
#
# Environment:
#   N            endpoints                      (default 1000)
#   SAMPLES      attempts per endpoint          (default 1: 1,000 × 3 took 8 s a round on a loaded 2-CPU machine)
#   INTERVAL     serve --interval               (default 10s)
#   SCRAPE       Prometheus scrape interval     (default 5s)
#   DURATION     seconds to run                 (default 300)
#   CONCURRENCY  serve --concurrency            (default 64)
#   FIRST        seconds before the first figures (default 60)
#   PROMETHEUS   prometheus binary              (default: from PATH; without one, curl scrapes instead)
#   MSGPROBE     a prebuilt msgprobe binary     (default: go build ./cmd/msgprobe)
#   KEEP         keep the work directory        (default: removed on exit)
#
# Everything listens on 127.0.0.1. To be sure nothing leaves the machine:
#   unshare -rn sh -c 'ip link set lo up; bash bench/serve-soak.sh'
set -euo pipefail

N=${N:-1000}
SAMPLES=${SAMPLES:-1}
INTERVAL=${INTERVAL:-10s}
SCRAPE=${SCRAPE:-5s}
DURATION=${DURATION:-300}
CONCURRENCY=${CONCURRENCY:-64}
FIRST=${FIRST:-60} # seconds before the first snapshot

cd "$(dirname "$0")/.."
say() { printf 'soak: %s\n' "$*" >&2; }

ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

tmp=$(mktemp -d "${TMPDIR:-/tmp}/msgprobe-soak.XXXXXX")
fleet_pid= serve_pid= prom_pid=
cleanup() {
	exec 3>&- || true
	for pid in $prom_pid $serve_pid $fleet_pid; do
		kill "$pid" 2>/dev/null || true
		wait "$pid" 2>/dev/null || true
	done
	if [[ -n ${KEEP:-} ]]; then say "kept $tmp"; else rm -rf "$tmp"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

for cmd in fleet gen; do
	go build -o "$tmp/$cmd" "./bench/$cmd"
done
msgprobe=${MSGPROBE:-$tmp/msgprobe}
[[ -n ${MSGPROBE:-} ]] || go build -o "$msgprobe" ./cmd/msgprobe
prometheus=${PROMETHEUS:-$(command -v prometheus || true)}

# The fleet stops when the pipe only this script holds (fd 3) closes.
mkfifo "$tmp/fleet.stdin"
"$tmp/fleet" -ca "$tmp/ca.pem" -addrs "$tmp/addrs.json" <"$tmp/fleet.stdin" &
fleet_pid=$!
exec 3>"$tmp/fleet.stdin"
for _ in $(seq 100); do [[ -s $tmp/addrs.json ]] && break; sleep 0.1; done
[[ -s $tmp/addrs.json ]] || { say "the fleet did not start"; exit 1; }
"$tmp/gen" -n "$N" -samples "$SAMPLES" -timeout 5s -addrs "$tmp/addrs.json" -o "$tmp/config.yaml" 3>&-

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])' 2>/dev/null || echo $((20000 + RANDOM % 20000)); }
serve_addr=127.0.0.1:$(free_port)
"$msgprobe" serve -c "$tmp/config.yaml" --interval "$INTERVAL" --concurrency "$CONCURRENCY" \
	--listen "$serve_addr" 2>"$tmp/serve.log" 3>&- &
serve_pid=$!
started=$(date +%s)
for _ in $(seq 300); do curl -fs "http://$serve_addr/-/ready" >/dev/null 2>&1 && break; sleep 0.1; done
curl -fs "http://$serve_addr/-/ready" >/dev/null || { say "serve is not ready after 30s"; cat "$tmp/serve.log" >&2; exit 1; }
say "serve pid $serve_pid on $serve_addr: $N endpoints × $SAMPLES samples every $INTERVAL"

prom_addr=
if [[ -n $prometheus ]]; then
	prom_addr=127.0.0.1:$(free_port)
	cat >"$tmp/prometheus.yml" <<EOF
global: {scrape_interval: $SCRAPE, scrape_timeout: $SCRAPE, evaluation_interval: $SCRAPE}
scrape_configs:
  - job_name: msgprobe
    static_configs: [{targets: ["$serve_addr"], labels: {vantage: soak}}]
EOF
	"$prometheus" --config.file="$tmp/prometheus.yml" --storage.tsdb.path="$tmp/tsdb" \
		--web.listen-address="$prom_addr" --log.level=warn 2>"$tmp/prometheus.log" 3>&- &
	prom_pid=$!
	say "prometheus pid $prom_pid on $prom_addr scraping every $SCRAPE"
else
	say "no prometheus: curl scrapes /metrics every $SCRAPE instead"
	(while kill -0 "$serve_pid" 2>/dev/null; do curl -fs "http://$serve_addr/metrics" >/dev/null || true; sleep "${SCRAPE%s}"; done) 3>&- &
	prom_pid=$!
fi

rss_kib() { awk '/^VmRSS:/ {print $2}' "/proc/$serve_pid/status"; }
metric() { curl -fs "http://$serve_addr/metrics" | awk -v m="$1" '$1 == m {print $2}'; }
snapshot() {
	local label=$1
	printf '%-8s rss %6d KiB  go_goroutines %s  heap_inuse %s B  rounds %s  overruns %s\n' "$label" \
		"$(rss_kib)" "$(metric go_goroutines)" "$(metric go_memstats_heap_inuse_bytes)" \
		"$(metric msgprobe_rounds_total)" "$(metric msgprobe_round_overruns_total)" | tee -a "$tmp/snapshots"
}
wait_until() { local at=$1; while (($(date +%s) - started < at)); do sleep 1; kill -0 "$serve_pid" || { say "serve died"; exit 1; }; done; }

wait_until "$FIRST"
snapshot "at ${FIRST}s"
wait_until "$DURATION"
snapshot "at ${DURATION}s"

if [[ -n $prom_addr ]]; then
	q() { curl -fsG "http://$prom_addr/api/v1/query" --data-urlencode "query=$1" | sed -E 's/.*"value":\[[^,]*,"([^"]*)".*/\1/'; }
	say "prometheus: scrapes $(q 'count_over_time(up{job="msgprobe"}[10m])'), failed $(q 'count_over_time(up{job="msgprobe"}[10m]) - sum_over_time(up{job="msgprobe"}[10m])'), scrape median $(q 'quantile_over_time(0.5, scrape_duration_seconds{job="msgprobe"}[10m])')s, slowest $(q 'max_over_time(scrape_duration_seconds{job="msgprobe"}[10m])')s, samples per scrape $(q 'scrape_samples_scraped{job="msgprobe"}')"
	say "prometheus: go_goroutines min $(q 'min_over_time(go_goroutines{job="msgprobe"}[10m])') max $(q 'max_over_time(go_goroutines{job="msgprobe"}[10m])'); RSS MiB min $(q 'min_over_time(process_resident_memory_bytes{job="msgprobe"}[10m]) / 2^20') max $(q 'max_over_time(process_resident_memory_bytes{job="msgprobe"}[10m]) / 2^20')"
fi

# No overlap: every round starts after the previous one ended. serve logs
# each round's start (RFC 3339) and duration (Go's notation).
awk '/msg=round round=/ {
	for (i = 1; i <= NF; i++) { split($i, kv, "="); f[kv[1]] = kv[2] }
	print f["round"], f["started"], f["duration"]
}' "$tmp/serve.log" >"$tmp/rounds"
overlaps=0 prev_end=0 count=0 longest=0
while read -r n start dur; do
	s=$(date -d "$start" +%s.%N)
	d=$(awk -v d="$dur" 'BEGIN {
		v = d + 0; if (d ~ /ms$/) v /= 1000; else if (d ~ /µs$|us$/) v /= 1e6; else if (d ~ /m[0-9.]*s$/) { split(d, p, "m"); v = p[1] * 60 + p[2] }
		printf "%.6f", v }')
	if awk -v s="$s" -v p="$prev_end" 'BEGIN { exit !(s < p) }'; then overlaps=$((overlaps + 1)); say "round $n started before the previous one ended"; fi
	prev_end=$(awk -v s="$s" -v d="$d" 'BEGIN { printf "%.6f", s + d }')
	longest=$(awk -v a="$longest" -v b="$d" 'BEGIN { print (b > a ? b : a) }')
	count=$((count + 1))
done <"$tmp/rounds"
say "$count rounds logged, longest ${longest}s, $overlaps overlapping the previous one"
cat "$tmp/snapshots"
((overlaps == 0))
