package main

import (
	"fmt"
	"strings"
	"testing"

	"github.com/msgprobe/msgprobe/internal/fixture"
)

// A listener that accepts and says nothing is down under ws:// and wss://
// with protocol_timeout, at the upgrade, while tcp:// on the same port is
// up, and each service's line in the table names both layers: the socket
// that connected and did not upgrade, and the port that is up.
func TestWebSocketLayersApart(t *testing.T) {
	dir := t.TempDir()
	ca := fixture.NewCA(t)
	writeFile(t, dir, "ca.pem", string(ca.PEM()))
	plain := fixture.TCPListener(t)
	// TLS completes, then nothing: the WebSocket layer is the one silent.
	secure := fixture.TLSServer(t, ca.Valid("127.0.0.1"))
	cert := ca.Valid("127.0.0.1")
	good := fixture.WSServer(t, &cert, nil, fixture.WSSend(`{"op":10}`), fixture.WSExpect(`"op":1`), fixture.WSSend(`{"op":11}`))
	writeFile(t, dir, "ws.yaml", fmt.Sprintf(`version: 1
defaults: {timeout: 500ms, samples: 2}
services:
  - name: Plain
    functions: {messaging: {critical: true}}
    endpoints:
      - {name: port, target: "tcp://%[1]s"}
      - {name: socket, target: "ws://%[1]s/chat", role: messaging}
  - name: Secure
    functions: {messaging: {critical: true}}
    endpoints:
      - {name: port, target: "tcp://%[2]s"}
      - name: socket
        target: wss://%[2]s/chat
        role: messaging
        tls: {ca_file: ca.pem}
        websocket:
          dialogue: [{expect: hello}]
  - name: Good
    endpoints:
      - name: socket
        target: %[3]s/?v=10
        tls: {ca_file: ca.pem}
        websocket:
          dialogue: [{expect: '"op":10'}, {send: '{"op":1,"d":null}'}, {expect: '"op":11'}]
`, plain, secure, good))

	r := msgprobe(t, dir, "", "check", "-c", "ws.yaml")
	if r.code != 2 {
		t.Fatalf("exit %d, want 2\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
	}
	lines := map[string]string{}
	for _, l := range strings.Split(r.stdout, "\n") {
		if name, _, ok := strings.Cut(l, " "); ok && (name == "Plain" || name == "Secure") {
			lines[name] = l
		}
	}
	want := map[string]string{
		"Plain":  "Plain              down                   messaging down (socket: connected, no WebSocket upgrade in 500ms), port up",
		"Secure": "Secure             down                   messaging down (socket: connected, no WebSocket upgrade in 500ms), port up",
	}
	for name, w := range want {
		if lines[name] != w {
			t.Errorf("%s's line\n%q\nwant\n%q\nall output:\n%s", name, lines[name], w, r.stdout)
		}
	}

	r = msgprobe(t, dir, "", "check", "-c", "ws.yaml", "-f", "json")
	rep := decodeReport(t, r.stdout)
	for _, s := range rep.Services {
		for _, e := range s.Endpoints {
			switch e.Name {
			case "port":
				if e.Status != "up" {
					t.Errorf("%s/port: %s %q, want up", s.Name, e.Status, e.Reason)
				}
			case "socket":
				if s.Name == "Good" {
					if e.Status != "up" || e.TLS == nil || e.Phases["upgrade"] <= 0 || e.Phases["dialogue"] <= 0 {
						t.Errorf("Good/socket: %s %q, TLS %v, phases %v: want up with upgrade and dialogue timed", e.Status, e.Reason, e.TLS, e.Phases)
					}
					continue
				}
				if e.Status != "down" || len(e.Errors) != 1 || e.Errors[0].Class != "protocol_timeout" ||
					e.Errors[0].Phase != "upgrade" || e.Errors[0].Count != 2 {
					t.Errorf("%s/socket: %s %+v, want down with 2 protocol_timeout at upgrade", s.Name, e.Status, e.Errors)
				}
			}
		}
	}
}
