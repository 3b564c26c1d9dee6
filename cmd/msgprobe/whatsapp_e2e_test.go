package main

import (
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/msgprobe/msgprobe/internal/fixture"
	"github.com/msgprobe/msgprobe/internal/proto/whatsapp"
	"github.com/msgprobe/msgprobe/internal/proto/whatsapp/watest"
)

// The Done-when of WhatsApp's handshake, as a user sees it: a listener
// that accepts and says nothing is down under whatsapp:// while tcp:// on
// the same port is up, and the service line names both layers; a server
// whose chain another root signed is down with protocol_untrusted; the same
// kind of server, with its root given in whatsapp.root_key, is up.
func TestWhatsAppThroughTheBinary(t *testing.T) {
	dir := t.TempDir()
	silent := fixture.TCPListener(t)
	pki := watest.NewPKI(time.Now())
	mobile := pki.Server()
	mobile.Header = whatsapp.HeaderMobile
	signed := fixture.WhatsAppTCP(t, fixture.WhatsApp{Server: mobile})
	web := fixture.WhatsAppWS(t, fixture.WhatsApp{Server: pki.Server(), Origin: "https://web.whatsapp.com"})
	root := hex.EncodeToString(pki.Root.Public[:])

	writeFile(t, dir, "wa.yaml", fmt.Sprintf(`version: 1
defaults: {timeout: 500ms, samples: 1}
services:
  - name: Silent
    functions:
      messaging: {critical: true}
    endpoints:
      - {name: chat, target: "whatsapp://%[1]s", role: messaging}
      - {name: chat-tcp, target: "tcp://%[1]s"}
  - name: Impostor
    functions:
      messaging: {critical: true}
    endpoints:
      - {name: chat, target: "whatsapp://%[2]s", role: messaging}
  - name: Trusted
    functions:
      messaging: {critical: true}
    endpoints:
      - name: chat
        target: whatsapp://%[2]s
        role: messaging
        whatsapp: {root_key: %[3]s}
      - name: web-chat
        target: whatsapp+ws://%[4]s
        role: messaging
        whatsapp: {root_key: %[3]s}
`, silent, signed, root, strings.TrimPrefix(web, "ws://")))

	r := msgprobe(t, dir, "", "check", "-c", "wa.yaml", "-f", "json")
	rep := decodeReport(t, r.stdout)
	services := map[string]string{}
	for _, s := range rep.Services {
		services[s.Name] = s.Status + ": " + s.Reason
	}
	if want := "down: messaging down (chat: connected, no WhatsApp handshake reply in 500ms), chat-tcp up"; services["Silent"] != want {
		t.Errorf("Silent = %q, want %q", services["Silent"], want)
	}
	if got := services["Impostor"]; !strings.HasPrefix(got, "down: ") || !strings.Contains(got, "WhatsApp certificate chain not signed by WhatsApp's root key") {
		t.Errorf("Impostor = %q, want down for a chain WhatsApp's root did not sign", got)
	}
	if got := services["Trusted"]; got != "up: " {
		t.Errorf("Trusted = %q, want up", got)
	}
	for _, s := range rep.Services {
		for _, e := range s.Endpoints {
			want := map[string]string{"Silent": "protocol_timeout", "Impostor": "protocol_untrusted"}[s.Name]
			if e.Name == "chat-tcp" || want == "" {
				continue
			}
			if len(e.Errors) != 1 || e.Errors[0].Class != want || e.Errors[0].Phase != "handshake" {
				t.Errorf("%s/%s errors = %+v, want %s at handshake", s.Name, e.Name, e.Errors, want)
			}
		}
	}

	// The report carries the verified chain's fields.
	var raw struct {
		Services []struct {
			Name      string `json:"name"`
			Endpoints []struct {
				Name     string         `json:"name"`
				Protocol map[string]any `json:"protocol"`
			} `json:"endpoints"`
		} `json:"services"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &raw); err != nil {
		t.Fatal(err)
	}
	for _, s := range raw.Services {
		if s.Name != "Trusted" {
			continue
		}
		for _, e := range s.Endpoints {
			p := e.Protocol
			if p["leaf_issuer_serial"] != float64(4711) || p["intermediate_serial"] != float64(4711) ||
				p["leaf_not_after"] != pki.LeafCert.NotAfter.UTC().Format(time.RFC3339) {
				t.Errorf("%s protocol details = %v", e.Name, p)
			}
		}
	}

	// The text report says the same in its service line.
	r = msgprobe(t, dir, "", "check", "-c", "wa.yaml")
	if !strings.Contains(r.stdout, "messaging down (chat: connected, no WhatsApp handshake reply in 500ms), chat-tcp up") {
		t.Errorf("text report lacks the Silent service's line:\n%s", r.stdout)
	}
}
