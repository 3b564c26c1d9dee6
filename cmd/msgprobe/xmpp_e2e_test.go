package main

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/msgprobe/msgprobe/internal/fixture"
)

// xmppReport is what the XMPP end-to-end tests read from the JSON report.
type xmppReport struct {
	Services []struct {
		Name      string `json:"name"`
		Status    string `json:"status"`
		Reason    string `json:"reason"`
		Endpoints []struct {
			Name   string `json:"name"`
			Status string `json:"status"`
			Reason string `json:"reason"`
			Errors []struct {
				Class   string `json:"class"`
				Phase   string `json:"phase"`
				Message string `json:"message"`
			} `json:"errors"`
			TLS *struct {
				Version string `json:"version"`
			} `json:"tls"`
			Protocol struct {
				Domain         string   `json:"domain"`
				StartTLS       string   `json:"starttls"`
				SASLMechanisms []string `json:"sasl_mechanisms"`
			} `json:"protocol"`
		} `json:"endpoints"`
	} `json:"services"`
}

// TestXMPPAgainstProsody: through the binary, a real Prosody is up over
// xmpp:// with the TLS version and SASL mechanisms in the JSON; a Prosody
// without STARTTLS is down with starttls_unavailable, unless the endpoint
// says STARTTLS is optional.
func TestXMPPAgainstProsody(t *testing.T) {
	dir := t.TempDir()
	ca := fixture.NewCA(t)
	caFile := writeFile(t, dir, "ca.pem", string(ca.PEM()))
	withTLS := fixture.StartProsody(t, ca, fixture.ProsodyConfig{DirectTLS: true})
	plain := fixture.StartProsody(t, nil, fixture.ProsodyConfig{TLS: fixture.ProsodyTLSOff})
	writeFile(t, dir, "c.yaml", fmt.Sprintf(`version: 1
defaults: {timeout: 5s, samples: 1}
services:
  - name: Prosody
    endpoints:
      - name: starttls
        target: xmpp://%[1]s
        xmpp: {domain: example.test}
        tls: {ca_file: %[2]s}
      - name: direct-tls
        target: xmpps://%[3]s
        xmpp: {domain: example.test}
        tls: {ca_file: %[2]s}
  - name: Plain
    endpoints:
      - name: required
        target: xmpp://%[4]s
        xmpp: {domain: example.test}
  - name: PlainOptional
    endpoints:
      - name: optional
        target: xmpp://%[4]s
        xmpp: {domain: example.test, starttls: optional}
`, withTLS.Addr, caFile, withTLS.DirectTLSAddr, plain.Addr))
	r := msgprobe(t, dir, "", "check", "-c", "c.yaml", "-f", "json")
	if r.code != 2 {
		t.Fatalf("exit %d, want 2 (Plain is down)\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
	}
	var rep xmppReport
	if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil {
		t.Fatalf("%v\n%s", err, r.stdout)
	}
	if len(rep.Services) != 3 {
		t.Fatalf("services: %+v", rep.Services)
	}
	for _, e := range rep.Services[0].Endpoints {
		if e.Status != "up" {
			t.Errorf("%s: %s %q, want up", e.Name, e.Status, e.Reason)
		}
		if e.TLS == nil || !strings.HasPrefix(e.TLS.Version, "TLS 1.") {
			t.Errorf("%s: tls %+v, want a TLS version", e.Name, e.TLS)
		}
		if !slices.Contains(e.Protocol.SASLMechanisms, "SCRAM-SHA-1") || e.Protocol.Domain != "example.test" {
			t.Errorf("%s: protocol %+v, want SCRAM-SHA-1 among the mechanisms", e.Name, e.Protocol)
		}
	}
	if got := rep.Services[0].Endpoints[0].Protocol.StartTLS; got != "required" {
		t.Errorf("starttls = %q, want required", got)
	}
	req := rep.Services[1].Endpoints[0]
	if req.Status != "down" || len(req.Errors) == 0 || req.Errors[0].Class != "starttls_unavailable" || req.Errors[0].Phase != "starttls" {
		t.Errorf("STARTTLS required on a plain server: %s %+v", req.Status, req.Errors)
	}
	if !strings.Contains(req.Reason, "XMPP server offers no STARTTLS") {
		t.Errorf("reason %q does not name the XMPP layer", req.Reason)
	}
	opt := rep.Services[2].Endpoints[0]
	if opt.Status != "up" || opt.TLS != nil || opt.Protocol.StartTLS != "absent" {
		t.Errorf("STARTTLS optional on a plain server: %s %q tls %+v protocol %+v", opt.Status, opt.Reason, opt.TLS, opt.Protocol)
	}
}

// TestXMPPSilentListenerThroughTheBinary: a listener that accepts TCP and says nothing is
// down under xmpp:// with protocol_timeout while tcp:// on the same port is
// up, and the service line names both layers.
func TestXMPPSilentListenerThroughTheBinary(t *testing.T) {
	dir := t.TempDir()
	addr := fixture.TCPListener(t)
	writeFile(t, dir, "c.yaml", fmt.Sprintf(`version: 1
defaults: {timeout: 2s, samples: 1}
services:
  - name: Chat
    functions: {messaging: {critical: true}}
    endpoints:
      - name: port
        target: tcp://%[1]s
      - name: stream
        target: xmpp://%[1]s
        role: messaging
        xmpp: {domain: example.test}
`, addr))
	r := msgprobe(t, dir, "", "check", "-c", "c.yaml", "-f", "json")
	var rep xmppReport
	if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil {
		t.Fatalf("%v\n%s\n%s", err, r.stdout, r.stderr)
	}
	eps := rep.Services[0].Endpoints
	if eps[0].Status != "up" {
		t.Errorf("tcp:// %s %q, want up", eps[0].Status, eps[0].Reason)
	}
	if eps[1].Status != "down" || len(eps[1].Errors) == 0 || eps[1].Errors[0].Class != "protocol_timeout" || eps[1].Errors[0].Phase != "stream" {
		t.Fatalf("xmpp:// %s %+v, want down with protocol_timeout at stream", eps[1].Status, eps[1].Errors)
	}
	if !strings.Contains(eps[1].Reason, "connected, no XMPP stream header in 2s") {
		t.Errorf("xmpp:// reason %q", eps[1].Reason)
	}
	// The service line names both layers: the stream that connected and
	// never answered, and the port that is up.
	if svc := rep.Services[0]; svc.Status != "down" || svc.Reason != "messaging down (stream: connected, no XMPP stream header in 2s), port up" {
		t.Errorf("service %s, reason %q", svc.Status, svc.Reason)
	}
	text := msgprobe(t, dir, "", "check", "-c", "c.yaml")
	if !strings.Contains(text.stdout, "messaging down (stream: connected, no XMPP stream header in 2s), port up") {
		t.Errorf("text report does not give the XMPP reason:\n%s", text.stdout)
	}
}

// TestXMPPDeliverThroughTheBinary: against a real Prosody, a round trip is
// up with its round-trip time in the JSON; a wrong password is auth_failed
// after exactly one login even with three samples; and neither password
// appears in any format, the state file, list or validate.
func TestXMPPDeliverThroughTheBinary(t *testing.T) {
	const (
		good = "Right-pw-9f3c-do-not-print"
		bad  = "Wrong-pw-77aa-do-not-print"
	)
	dir := t.TempDir()
	ca := fixture.NewCA(t)
	caFile := writeFile(t, dir, "ca.pem", string(ca.PEM()))
	p := fixture.StartProsody(t, ca, fixture.ProsodyConfig{Users: map[string]string{"alice": good}})
	t.Setenv("XMPP_PASSWORD", good)
	t.Setenv("XMPP_BAD_PASSWORD", bad)
	writeFile(t, dir, "c.yaml", fmt.Sprintf(`version: 1
services:
  - name: XMPP
    endpoints:
      - name: roundtrip
        target: xmpp+deliver://alice@%[1]s
        xmpp: {domain: example.test}
        tls: {ca_file: %[2]s}
        deliver: {password: "${XMPP_PASSWORD}", within: 3s}
  - name: Wrong
    endpoints:
      - name: bad-password
        target: xmpp+deliver://alice@%[1]s
        samples: 3
        xmpp: {domain: example.test}
        tls: {ca_file: %[2]s}
        deliver: {password: "${XMPP_BAD_PASSWORD}", within: 3s}
`, p.Addr, caFile))
	r := msgprobe(t, dir, "", "check", "-c", "c.yaml", "-f", "json", "-f", "table=t.txt", "-f", "csv=r.csv",
		"-f", "markdown=r.md", "-f", "junit=r.xml", "-f", "prometheus=r.prom", "-f", "nagios=r.nagios", "--state", "state.json")
	if r.code != 2 {
		t.Fatalf("exit %d, want 2 (Wrong is down)\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
	}
	var rep struct {
		Services []struct {
			Status    string `json:"status"`
			Endpoints []struct {
				Status   string `json:"status"`
				Reason   string `json:"reason"`
				Attempts int    `json:"attempts"`
				Errors   []struct {
					Class string `json:"class"`
					Phase string `json:"phase"`
				} `json:"errors"`
				Protocol map[string]any `json:"protocol"`
			} `json:"endpoints"`
		} `json:"services"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil {
		t.Fatalf("%v\n%s", err, r.stdout)
	}
	rt := rep.Services[0].Endpoints[0]
	if rt.Status != "up" || rep.Services[0].Status != "up" {
		t.Errorf("round trip %s %q, service %s; want up", rt.Status, rt.Reason, rep.Services[0].Status)
	}
	if ms, _ := rt.Protocol["roundtrip_ms"].(float64); ms <= 0 {
		t.Errorf("protocol %v, want roundtrip_ms", rt.Protocol)
	}
	wrong := rep.Services[1].Endpoints[0]
	if wrong.Status != "down" || wrong.Attempts != 3 || len(wrong.Errors) == 0 || wrong.Errors[0].Class != "auth_failed" || wrong.Errors[0].Phase != "login" {
		t.Errorf("wrong password: %s, %d attempts, %+v", wrong.Status, wrong.Attempts, wrong.Errors)
	}
	// One login for the round trip, one for the three samples of the
	// wrong password: the refusal is replayed, never retried.
	if n, f := p.AuthAttempts(), p.AuthFailures(); n != 2 || f != 1 {
		t.Errorf("Prosody saw %d logins and %d refusals, want 2 and 1", n, f)
	}

	outputs := map[string]string{"stdout": r.stdout, "stderr": r.stderr}
	for _, f := range []string{"t.txt", "r.csv", "r.md", "r.xml", "r.prom", "r.nagios", "state.json"} {
		outputs[f] = string(readFile(t, filepath.Join(dir, f)))
	}
	l := msgprobe(t, dir, "", "list", "-c", "c.yaml")
	outputs["list"] = l.stdout + l.stderr
	v := msgprobe(t, dir, "", "validate", "-c", "c.yaml")
	outputs["validate"] = v.stdout + v.stderr
	for name, out := range outputs {
		for _, secret := range []string{good, bad} {
			if strings.Contains(out, secret) {
				t.Errorf("%s carries a password:\n%s", name, out)
			}
		}
	}
	if !strings.Contains(outputs["t.txt"], "XMPP server refused the login: not-authorized") {
		t.Errorf("table:\n%s", outputs["t.txt"])
	}
}
