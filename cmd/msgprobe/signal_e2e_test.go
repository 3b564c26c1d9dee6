package main

import (
	"fmt"
	"strings"
	"testing"

	"github.com/msgprobe/msgprobe/internal/fixture"
)

// Under signal://, TLS comes before any Signal framing: a listener that
// accepts and says nothing is down with a timeout at tls, while tcp:// on
// the same port is up, and the service's line names both layers. A
// Signal-like server that upgrades and then stays silent is the
// protocol_timeout, and a healthy one is up on both sockets.
func TestSignalLayersApart(t *testing.T) {
	dir := t.TempDir()
	ca := fixture.NewCA(t)
	writeFile(t, dir, "ca.pem", string(ca.PEM()))
	silent := fixture.TCPListener(t)
	mute := fixture.StartSignal(t, ca.Valid("127.0.0.1"), fixture.SignalSilent)
	good := fixture.StartSignal(t, ca.Valid("127.0.0.1"), fixture.SignalHealthy)
	writeFile(t, dir, "signal.yaml", fmt.Sprintf(`version: 1
defaults: {timeout: 500ms, samples: 2}
services:
  - name: Silent
    functions: {messaging: {critical: true}}
    endpoints:
      - {name: chat-tcp, target: "tcp://%[1]s"}
      - {name: chat, target: "signal://%[1]s", role: messaging, tls: {ca_file: ca.pem}}
  - name: Mute
    functions: {messaging: {critical: true}}
    endpoints:
      - {name: chat-tcp, target: "tcp://%[2]s"}
      - {name: chat, target: "signal://%[2]s", role: messaging, tls: {ca_file: ca.pem}}
  - name: Good
    endpoints:
      - {name: chat, target: "signal://%[3]s", role: messaging, tls: {ca_file: ca.pem}}
      - {name: provisioning, target: "signal://%[3]s", role: messaging, signal: {socket: provisioning}, tls: {ca_file: ca.pem}}
`, silent, mute.Addr, good.Addr))

	r := msgprobe(t, dir, "", "check", "-c", "signal.yaml")
	if r.code != 2 {
		t.Fatalf("exit %d, want 2\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
	}
	lines := map[string]string{}
	for _, l := range strings.Split(r.stdout, "\n") {
		if name, rest, ok := strings.Cut(l, " "); ok {
			lines[name] = strings.Join(strings.Fields(rest), " ")
		}
	}
	want := map[string]string{
		"Silent": "down messaging down (chat timed out at tls), chat-tcp up",
		"Mute":   "down messaging down (chat: connected, no Signal keepalive answer in 500ms), chat-tcp up",
		"Good":   "up",
	}
	for name, w := range want {
		if !strings.HasPrefix(lines[name], w) {
			t.Errorf("%s's line\n%q\nwant it to start with\n%q\nall output:\n%s", name, lines[name], w, r.stdout)
		}
	}

	r = msgprobe(t, dir, "", "check", "-c", "signal.yaml", "-f", "json")
	rep := decodeReport(t, r.stdout)
	for _, s := range rep.Services {
		for _, e := range s.Endpoints {
			switch {
			case e.Name == "chat-tcp" || s.Name == "Good":
				if e.Status != "up" {
					t.Errorf("%s/%s: %s %q, want up", s.Name, e.Name, e.Status, e.Reason)
				}
				// The provisioning address may be read before its dialogue's
				// clock shows a tenth of a millisecond: present is enough.
				_, dialogue := e.Phases["dialogue"]
				if s.Name == "Good" && (e.TLS == nil || e.Phases["upgrade"] <= 0 || !dialogue) {
					t.Errorf("Good/%s: TLS %v, phases %v: want upgrade and dialogue timed", e.Name, e.TLS, e.Phases)
				}
			case s.Name == "Silent":
				if e.Status != "down" || len(e.Errors) != 1 || e.Errors[0].Class != "timeout" || e.Errors[0].Phase != "tls" || e.Errors[0].Count != 2 {
					t.Errorf("Silent/chat: %s %+v, want down with 2 timeouts at tls", e.Status, e.Errors)
				}
			case s.Name == "Mute":
				if e.Status != "down" || len(e.Errors) != 1 || e.Errors[0].Class != "protocol_timeout" || e.Errors[0].Phase != "dialogue" {
					t.Errorf("Mute/chat: %s %+v, want down with protocol_timeout at dialogue", e.Status, e.Errors)
				}
			}
		}
	}
}
