package main

import (
	"fmt"
	"strings"
	"testing"

	"github.com/msgprobe/msgprobe/internal/fixture"
)

// A listener that accepts and says nothing is down under mtproto:// and
// threema:// while tcp:// on the same port is up, and each service's line
// names both layers; a DC echoing another nonce is down with protocol, one
// without the expected key fingerprint with protocol_untrusted; a DC and a
// Threema server holding the configured keys are up.
func TestMTProtoAndThreemaThroughTheBinary(t *testing.T) {
	dir := t.TempDir()
	silent := fixture.TCPListener(t)
	threema := fixture.Threema(t, fixture.ThreemaOptions{})
	writeFile(t, dir, "m.yaml", fmt.Sprintf(`version: 1
defaults: {timeout: 1s, samples: 2}
services:
  - name: Telegram
    functions: {messaging: {critical: true}}
    endpoints:
      - {name: dc2, role: messaging, target: "mtproto://%[1]s"}
      - {name: dc2-tcp, target: "tcp://%[1]s"}
  - name: Threema
    functions: {messaging: {critical: true}}
    endpoints:
      - {name: chat, role: messaging, target: "threema://%[1]s"}
      - {name: chat-tcp, target: "tcp://%[1]s"}
  - name: Impostors
    endpoints:
      - name: wrong-nonce
        target: mtproto://%[2]s
        mtproto: {fingerprints: [0xfeedfacecafe0001]}
      - name: no-fingerprint
        target: mtproto://%[3]s
      - name: flood
        target: mtproto://%[4]s
        mtproto: {transport: abridged, obfuscated: true, dc: 2}
  - name: Fixtures
    endpoints:
      - name: dc-obfuscated
        target: mtproto://%[3]s
        mtproto: {obfuscated: true, dc: 2, fingerprints: [0xfeedfacecafe0001]}
      - name: threema
        target: threema://%[5]s
        threema: {server_keys: [%[6]s]}
`, silent,
		fixture.MTProtoServer(t, fixture.MTProtoDC{WrongNonce: true}),
		fixture.MTProtoServer(t, fixture.MTProtoDC{}),
		fixture.MTProtoServer(t, fixture.MTProtoDC{TransportError: -429}),
		threema.Addr, threema.PublicKeyHex()))

	r := msgprobe(t, dir, "", "check", "-c", "m.yaml", "-f", "json")
	if r.code != 2 {
		t.Fatalf("exit %d, want 2\nstderr: %s", r.code, r.stderr)
	}
	rep := decodeReport(t, r.stdout)
	want := map[string]struct{ status, class, reason string }{
		"dc2":            {"down", "protocol_timeout", "2/2 attempts: connected, no MTProto answer in 1s"},
		"dc2-tcp":        {"up", "", ""},
		"chat":           {"down", "protocol_timeout", "2/2 attempts: connected, no Threema server hello in 1s"},
		"chat-tcp":       {"up", "", ""},
		"wrong-nonce":    {"down", "protocol", "2/2 attempts failed at handshake: MTProto resPQ echoes another nonce than ours"},
		"no-fingerprint": {"down", "protocol_untrusted", "2/2 attempts: MTProto resPQ lists none of the expected key fingerprints (it lists 0xfeedfacecafe0001)"},
		"flood":          {"down", "mtproto_transport_error", "2/2 attempts: Telegram transport error -429 (too many connections from this address)"},
		"dc-obfuscated":  {"up", "", ""},
		"threema":        {"up", "", ""},
	}
	for name, w := range want {
		e := rep.endpoint(t, name)
		if e.Status != w.status {
			t.Errorf("%s: %s (%s), want %s", name, e.Status, e.Reason, w.status)
		}
		if w.class != "" && (len(e.Errors) != 1 || e.Errors[0].Class != w.class || e.Errors[0].Phase != "handshake") {
			t.Errorf("%s: errors %+v, want %s at handshake", name, e.Errors, w.class)
		}
		if w.reason != "" && e.Reason != w.reason {
			t.Errorf("%s: reason %q, want %q", name, e.Reason, w.reason)
		}
		if w.status == "up" && !strings.HasSuffix(name, "-tcp") {
			if _, ok := e.Phases["handshake"]; !ok {
				t.Errorf("%s: no handshake phase in %v", name, e.Phases)
			}
		}
	}
	for _, s := range rep.Services {
		switch s.Name {
		case "Telegram":
			if s.Status != "down" || !strings.Contains(s.Reason, "connected, no MTProto answer in 1s") || !strings.Contains(s.Reason, "dc2-tcp up") {
				t.Errorf("Telegram: %s %q, want down naming both layers", s.Status, s.Reason)
			}
		case "Threema":
			if s.Status != "down" || !strings.Contains(s.Reason, "connected, no Threema server hello in 1s") || !strings.Contains(s.Reason, "chat-tcp up") {
				t.Errorf("Threema: %s %q, want down naming both layers", s.Status, s.Reason)
			}
		}
	}
	if !strings.Contains(r.stdout, `"fingerprints": [`) || !strings.Contains(r.stdout, `"server_key": "`+threema.PublicKeyHex()+`"`) {
		t.Errorf("the report lacks the protocol details:\n%s", r.stdout)
	}

	r = msgprobe(t, dir, "", "check", "-c", "m.yaml", "--no-color")
	t.Logf("msgprobe check -c m.yaml --no-color\n%s", r.stdout)
	for _, line := range []string{
		"messaging down (dc2: connected, no MTProto answer in 1s), dc2-tcp up",
		"messaging down (chat: connected, no Threema server hello in 1s), chat-tcp up",
	} {
		if !strings.Contains(r.stdout, line) {
			t.Errorf("table lacks %q:\n%s", line, r.stdout)
		}
	}
	r = msgprobe(t, dir, "", "list", "-c", "m.yaml")
	t.Logf("msgprobe list -c m.yaml\n%s", r.stdout)
	if !strings.Contains(r.stdout, "abridged, obfuscated (dc 2)") && !strings.Contains(r.stdout, "abridged obfuscated (dc 2)") {
		t.Errorf("list lacks the mtproto notes:\n%s", r.stdout)
	}
}
