package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"testing"

	"github.com/msgprobe/msgprobe/internal/fixture"
)

// rowOf is the table's row of the endpoint named name, spaces squeezed:
// name, status, latency, loss, detail.
func rowOf(t *testing.T, table, name string) string {
	t.Helper()
	for _, line := range strings.Split(table, "\n") {
		fields := strings.Fields(line)
		if len(fields) > 0 && fields[0] == name {
			return strings.Join(fields, " ")
		}
	}
	t.Fatalf("no row for %s in:\n%s", name, table)
	return ""
}

var latencyRE = regexp.MustCompile(`[0-9.]+ms`)

// Signal's own flag, uptime.signal.org, through the configured resolver:
// 127.0.0.1 is up; 127.0.0.2 is down with the reason the configuration
// gives; anything else is down as an unexpected answer. The JSON report
// carries the answer.
func TestSignalUptimeFlag(t *testing.T) {
	dir := t.TempDir()
	dns := fixture.DNSServer(t, map[string][]string{"uptime.signal.org": {"127.0.0.1"}})
	writeFile(t, dir, "signal.yaml", fmt.Sprintf(`version: 1
resolver: %s
defaults: {timeout: 2s, samples: 2}
services:
  - name: Signal
    endpoints:
      - name: uptime-flag
        target: dns:///uptime.signal.org?type=A
        expect:
          answer_contains: 127.0.0.1
          outage_answers: {127.0.0.2: Signal reports an outage}
`, dns.Addr))

	r := msgprobe(t, dir, "", "check", "-c", "signal.yaml", "--no-color")
	if r.code != 0 {
		t.Fatalf("up: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if row := latencyRE.ReplaceAllString(rowOf(t, r.stdout, "uptime-flag"), "Xms"); !strings.HasPrefix(row, "uptime-flag up") {
		t.Errorf("up row: %q", row)
	}
	r = msgprobe(t, dir, "", "check", "-c", "signal.yaml", "-f", "json")
	var rep struct {
		Services []struct {
			Endpoints []struct {
				Status   string         `json:"status"`
				Protocol map[string]any `json:"protocol"`
			} `json:"endpoints"`
		} `json:"services"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil {
		t.Fatalf("%v\n%s", err, r.stdout)
	}
	if p := rep.Services[0].Endpoints[0].Protocol; p["rcode"] != "NOERROR" || fmt.Sprint(p["answers"]) != "[127.0.0.1]" || p["transport"] != "udp" {
		t.Errorf("protocol details: %v\n%s", p, r.stdout)
	}

	dns.Replace("uptime.signal.org", "uptime.signal.org. 60 IN A 127.0.0.2")
	r = msgprobe(t, dir, "", "check", "-c", "signal.yaml", "--no-color")
	if r.code != 2 {
		t.Fatalf("outage: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	const want = "uptime-flag down - 2/2 2/2 attempts: Signal reports an outage (DNS answer 127.0.0.2)"
	if row := rowOf(t, r.stdout, "uptime-flag"); row != want {
		t.Errorf("outage row:\n got %q\nwant %q\n%s", row, want, r.stdout)
	}

	dns.Replace("uptime.signal.org", "uptime.signal.org. 60 IN A 10.0.0.1")
	r = msgprobe(t, dir, "", "check", "-c", "signal.yaml", "--no-color")
	const weird = `uptime-flag down - 2/2 2/2 attempts: DNS answer for uptime.signal.org A is 10.0.0.1, want one with "127.0.0.1"`
	if row := rowOf(t, r.stdout, "uptime-flag"); r.code != 2 || row != weird {
		t.Errorf("weird answer: exit %d row\n got %q\nwant %q", r.code, row, weird)
	}
}

// A DNS server that answers SERVFAIL, one that says nothing, and one that
// answers garbage, beside a tcp:// endpoint on the DNS server's own port:
// the rows tell the DNS layer from the transport.
func TestDNSFailuresThroughTheBinary(t *testing.T) {
	dir := t.TempDir()
	dns := fixture.DNSServer(t, nil)
	dns.Add("whatsapp.net. NS a.ns.whatsapp.net.", "silent.test. A 127.0.0.1", "garbage.test. A 127.0.0.1")
	dns.ServFail("whatsapp.net")
	dns.Behave(fixture.Silent, "silent.test")
	dns.Behave(fixture.Garbage, "garbage.test")
	writeFile(t, dir, "zones.yaml", fmt.Sprintf(`version: 1
defaults: {timeout: 500ms, samples: 1}
services:
  - name: WhatsApp
    endpoints:
      - name: zone-ns
        target: dns://%[1]s/whatsapp.net?type=NS
      - name: dns-port
        target: tcp://%[1]s
      - name: silent
        target: dns://%[1]s/silent.test
      - name: garbage
        target: dns://%[1]s/garbage.test
`, dns.Addr))
	r := msgprobe(t, dir, "", "check", "-c", "zones.yaml", "--no-color")
	if r.code != 1 { // the tcp:// endpoint is up: the service is degraded
		t.Fatalf("exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	for name, want := range map[string]string{
		"zone-ns": "zone-ns down - 1/1 1/1 attempts: DNS server answered SERVFAIL for whatsapp.net NS",
		"silent":  "silent down - 1/1 1/1 attempts timed out at dns",
		"garbage": "garbage down - 1/1 1/1 attempts failed at dns: DNS server answered something that is not DNS (bad question name: bad rdata)",
	} {
		if row := rowOf(t, r.stdout, name); row != want {
			t.Errorf("%s:\n got %q\nwant %q", name, row, want)
		}
	}
	if row := rowOf(t, r.stdout, "dns-port"); !strings.HasPrefix(row, "dns-port up") {
		t.Errorf("dns-port: %q", row)
	}
}

// Signal's REST answer proves the backend only with its X-Signal-Timestamp
// header; Matrix's versions must be listed. The golden lines a user reads.
func TestHTTPExpectationsThroughTheBinary(t *testing.T) {
	dir := t.TempDir()
	backend := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Signal-Timestamp", "1767225600000")
		w.WriteHeader(http.StatusUnauthorized)
	})
	edge := fixture.Respond(http.StatusUnauthorized, "")
	versions := fixture.Respond(http.StatusOK, `{"versions":["r0.6.1","v1.1"]}`)
	portal := fixture.Respond(http.StatusOK, `<html>Sign in</html>`)
	writeFile(t, dir, "http.yaml", fmt.Sprintf(`version: 1
defaults: {timeout: 2s, samples: 1}
services:
  - name: Signal
    endpoints:
      - name: backend
        target: %[1]s/v1/accounts/whoami
        expect: {status: [401], headers: {X-Signal-Timestamp: {exists: true}}}
      - name: edge-only
        target: %[2]s/v1/accounts/whoami
        expect: {status: [401], headers: {X-Signal-Timestamp: {exists: true}}}
  - name: Matrix
    endpoints:
      - name: versions
        target: %[3]s/_matrix/client/versions
        expect: {json: {versions: {exists: true}}}
      - name: too-old
        target: %[3]s/_matrix/client/versions
        expect: {json: {versions: [v1.11]}}
      - name: portal
        target: %[4]s/_matrix/client/versions
        expect: {json: {versions: {exists: true}}}
`, fixture.HTTPServer(t, backend, nil), fixture.HTTPServer(t, edge, nil), fixture.HTTPServer(t, versions, nil), fixture.HTTPServer(t, portal, nil)))
	r := msgprobe(t, dir, "", "check", "-c", "http.yaml", "--no-color")
	if r.code != 1 { // each service has an endpoint up: degraded
		t.Fatalf("exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	for name, want := range map[string]string{
		"edge-only": "edge-only down - 1/1 1/1 attempts: header X-Signal-Timestamp: found nothing, want a value",
		"too-old":   `too-old down - 1/1 1/1 attempts: JSON versions: found ["r0.6.1","v1.1"], want an array holding "v1.11"`,
		"portal":    `portal down - 1/1 1/1 attempts: body is not JSON (starts "<html>Sign in</html>")`,
	} {
		if row := rowOf(t, r.stdout, name); row != want {
			t.Errorf("%s:\n got %q\nwant %q", name, row, want)
		}
	}
	for _, name := range []string{"backend", "versions"} {
		if row := rowOf(t, r.stdout, name); !strings.HasPrefix(row, name+" up") {
			t.Errorf("%s: %q", name, row)
		}
	}
}
