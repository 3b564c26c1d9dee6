// Command demo writes the config behind the README's sample output: a few
// messaging services named after real ones, whose endpoints are the
// benchmark fleet's loopback listeners plus closed loopback ports, so one
// run shows a service down, one degraded and one up, with controls.
package main

import (
	"flag"
	"fmt"
	"os"
	"strings"

	"github.com/msgprobe/msgprobe/bench/internal/fleetaddr"
)

func main() {
	addrsPath := flag.String("addrs", "addrs.json", "the fleet's address `FILE`")
	out := flag.String("o", "demo.yaml", "write the config to `FILE`")
	flag.Parse()
	a, err := fleetaddr.Read(*addrsPath)
	if err == nil && (len(a.TCP) < 2 || len(a.TLS) < 2 || len(a.HTTPS) < 2 || len(a.HTTP) < 1) {
		err = fmt.Errorf("%s: the demo needs a fleet started with -n 2 or more", *addrsPath)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "demo:", err)
		os.Exit(1)
	}
	if err := os.WriteFile(*out, []byte(config(a)), 0o644); err != nil {
		fmt.Fprintln(os.Stderr, "demo:", err)
		os.Exit(1)
	}
}

func config(a *fleetaddr.Addrs) string {
	port := func(addr string) string { return addr[strings.LastIndex(addr, ":")+1:] }
	var b strings.Builder
	fmt.Fprintf(&b, `version: 1
defaults:
  timeout: 2s
  samples: 3
  degraded_latency: 800ms
controls:
  - name: resolver-ip
    target: tls://%s
    tls: {ca_file: %s}
  - name: resolver-name
    target: https://localhost:%s/
    tls: {ca_file: %s}
services:
  - name: WhatsApp
    tags: [meta, popular]
    functions: {messaging: {critical: true}}
    endpoints:
`, a.TLS[0], a.CA, port(a.HTTPS[0]), a.CA)
	// Ports 9 to 12 of 127.0.0.1 have no listener: these chat servers refuse.
	for i := 1; i <= 4; i++ {
		fmt.Fprintf(&b, "      - {name: chat-e%d, role: messaging, target: tcp://127.0.0.1:%d}\n", i, 8+i)
	}
	fmt.Fprintf(&b, `      - {name: web, role: web, target: https://%s/, tls: {ca_file: %s}}
  - name: Telegram
    tags: [popular]
    functions: {messaging: {critical: true}}
    endpoints:
      - {name: dc1, role: messaging, target: tcp://%s}
      - {name: dc2, role: messaging, target: tcp://%s}
      - {name: web, role: web, target: http://%s/}
  - name: Signal
    tags: [e2ee]
    endpoints:
      - {name: chat, target: https://%s/, tls: {ca_file: %s}, expect: {status: [200], body_contains: ok}}
      - {name: storage, target: tls://%s, tls: {ca_file: %s}}
`, a.HTTPS[1], a.CA, a.TCP[0], a.TCP[1], a.HTTP[0], a.HTTPS[0], a.CA, a.TLS[1], a.CA)
	return b.String()
}
