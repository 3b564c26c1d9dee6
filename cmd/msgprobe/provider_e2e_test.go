package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/msgprobe/msgprobe/internal/fixture"
)

// providerPage serves body at path over HTTPS with a certificate of ca.
func providerPage(t *testing.T, ca *fixture.CA, path, body string) string {
	t.Helper()
	mux := http.NewServeMux()
	mux.HandleFunc(path, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, body)
	})
	cert := ca.Valid("127.0.0.1")
	return fixture.HTTPServer(t, mux, &cert)
}

// The provider's status corroborates the verdict, never makes it: Discord
// down, its Statuspage confirming an incident; Slack down while its status
// API says ok; Signal up while its DNS flag says outage.
func TestProviderStatusCorroborates(t *testing.T) {
	dir := t.TempDir()
	ca := fixture.NewCA(t)
	writeFile(t, dir, "ca.pem", string(ca.PEM()))
	clock := &fakeClock{t: time.Date(2026, 11, 25, 9, 40, 0, 0, time.Local)}
	started := time.Date(2026, 11, 25, 9, 12, 0, 0, time.Local).Format(time.RFC3339)
	discord := providerPage(t, ca, "/api/v2/summary.json", `{"page":{"id":"srhpyqt94yxb","name":"Discord"},
"status":{"indicator":"major","description":"Partial System Outage"},"components":[],
"incidents":[{"name":"Messages failing to send","status":"investigating","impact":"major","created_at":"`+started+`","started_at":"`+started+`"}]}`)
	slack := providerPage(t, ca, "/api/v2.0.0/current", `{"status":"ok","active_incidents":[],"date_created":"`+started+`","date_updated":"`+started+`"}`)
	dns := fixture.DNSServer(t, map[string][]string{"uptime.signal.test": {"127.0.0.2"}})
	writeFile(t, dir, "p.yaml", fmt.Sprintf(`version: 1
resolver: %s
defaults: {timeout: 2s, samples: 1}
services:
  - name: Discord
    provider_status: {statuspage: %s, tls: {ca_file: ca.pem}}
    endpoints:
      - {name: gateway, target: "tcp://%s"}
  - name: Slack
    provider_status: {slack: %s/, tls: {ca_file: ca.pem}}
    endpoints:
      - {name: api, target: "tcp://%s"}
  - name: Signal
    provider_status: {dns: uptime.signal.test, up: 127.0.0.1}
    endpoints:
      - {name: chat, target: "tcp://%s"}
`, dns.Addr, discord, fixture.ClosedPort(t), slack, fixture.ClosedPort(t), fixture.TCPListener(t)))

	env := map[string]string{}
	code, out, errs := inProcess(t, dir, clock, env, "check", "-c", "p.yaml")
	if code != 2 || errs != "" {
		t.Fatalf("exit %d stderr %q\n%s", code, errs, out)
	}
	if !hasRow(out, "provider", "says", `"Messages`, "failing", "to", `send"`, "(investigating)", "since", "09:12") {
		t.Errorf("no provider line under Discord:\n%s", out)
	}
	if !hasRow(out, "provider", "says", "127.0.0.2:", "uptime.signal.test", "is", "not", "127.0.0.1") {
		t.Errorf("no provider line under Signal:\n%s", out)
	}
	if strings.Count(out, "provider says") != 2 {
		t.Errorf("the operational Slack got a provider line:\n%s", out)
	}
	if !hasRow(out, "Signal", "up") {
		t.Errorf("the provider's flag changed Signal's verdict:\n%s", out)
	}
	want := `diagnosis: service_outage — Discord, Slack down (no controls configured to rule out your network); Discord's provider confirms: "Messages failing to send" since 09:12; Slack's provider reports no incident`
	if !strings.Contains(out, want) {
		t.Errorf("diagnosis:\n%s\nwant %s", out, want)
	}

	code, out, _ = inProcess(t, dir, clock, env, "check", "-c", "p.yaml", "-s", "discord", "-f", "json")
	var rep struct {
		Diagnosis struct{ Message string }
		Services  []struct {
			Status   string
			Provider struct {
				Source, Kind, Indicator string
				Operational             bool
				Incidents               []struct{ Title, Status, Since string }
			}
		}
	}
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatal(err)
	}
	p := rep.Services[0].Provider
	if code != 2 || p.Kind != "statuspage" || p.Source != discord+"/api/v2/summary.json" || p.Operational || p.Indicator != "major" ||
		len(p.Incidents) != 1 || p.Incidents[0].Title != "Messages failing to send" {
		t.Errorf("JSON provider: %+v", p)
	}
	if want := `Discord down (no controls configured to rule out your network); the provider confirms: "Messages failing to send" since 09:12`; rep.Diagnosis.Message != want {
		t.Errorf("diagnosis %q\nwant      %q", rep.Diagnosis.Message, want)
	}
}

// A provider that does not answer, answers garbage or too much never holds
// up the run nor changes a verdict.
func TestProviderStatusHostile(t *testing.T) {
	dir := t.TempDir()
	ca := fixture.NewCA(t)
	writeFile(t, dir, "ca.pem", string(ca.PEM()))
	hang := fixture.HTTPServer(t, fixture.Hang(t), nil)
	endless := fixture.HTTPServer(t, fixture.EndlessBody(t), nil)
	garbage := fixture.HTTPServer(t, fixture.Respond(200, "<html>captive portal</html>"), nil)
	writeFile(t, dir, "h.yaml", fmt.Sprintf(`version: 1
defaults: {timeout: 2s, samples: 1}
services:
  - name: A
    provider_status: {statuspage: %s, timeout: 300ms}
    endpoints: [{name: x, target: "tcp://%s"}]
  - name: B
    provider_status: {statuspage: %s}
    endpoints: [{name: x, target: "tcp://%s"}]
  - name: C
    provider_status: {slack: %s}
    endpoints: [{name: x, target: "tcp://%s"}]
`, hang, fixture.ClosedPort(t), endless, fixture.ClosedPort(t), garbage, fixture.ClosedPort(t)))
	start := time.Now()
	r := msgprobe(t, dir, "", "check", "-c", "h.yaml", "-f", "json")
	if r.elapsed > 10*time.Second || time.Since(start) > 10*time.Second {
		t.Errorf("took %s", r.elapsed)
	}
	var rep struct {
		Diagnosis struct{ Message string }
		Services  []struct {
			Status   string
			Provider struct{ Error string }
		}
	}
	if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil {
		t.Fatal(err)
	}
	for i, want := range []string{"timed out", "larger than 1 MiB", "not a status document"} {
		if s := rep.Services[i]; s.Status != "down" || !strings.Contains(s.Provider.Error, want) {
			t.Errorf("service %d: %s, provider error %q, want %q", i, s.Status, s.Provider.Error, want)
		}
	}
	if strings.Contains(rep.Diagnosis.Message, "provider") {
		t.Errorf("an unread provider is quoted: %q", rep.Diagnosis.Message)
	}
}
