package main

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"strings"
	"testing"

	"github.com/msgprobe/msgprobe/internal/fixture"
)

// diagnosed is the part of the JSON report the diagnosis tests read.
type diagnosed struct {
	Status    string `json:"status"`
	Note      string `json:"note"`
	Diagnosis struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"diagnosis"`
	Services []struct {
		Name      string         `json:"name"`
		Status    string         `json:"status"`
		Endpoints []jsonEndpoint `json:"endpoints"`
	} `json:"services"`
}

// checkDiagnosis runs check on cfg as a table and as JSON and asserts the
// exit code, the table's last line and the JSON diagnosis.
func checkDiagnosis(t *testing.T, dir, cfg string, code int, wantCode, wantMessage string, args ...string) diagnosed {
	t.Helper()
	writeFile(t, dir, "d.yaml", cfg)
	base := append([]string{"check", "-c", "d.yaml", "--no-color"}, args...)

	r := msgprobe(t, dir, "", base...)
	if r.code != code {
		t.Fatalf("table: exit %d, want %d\nstdout:\n%s\nstderr:\n%s", r.code, code, r.stdout, r.stderr)
	}
	lines := strings.Split(strings.TrimRight(r.stdout, "\n"), "\n")
	if got, want := lines[len(lines)-1], "diagnosis: "+wantCode+" — "+wantMessage; got != want {
		t.Errorf("table's last line:\n got %q\nwant %q\n%s", got, want, r.stdout)
	}

	r = msgprobe(t, dir, "", append(base, "-f", "json")...)
	if r.code != code {
		t.Fatalf("json: exit %d, want %d\nstderr:\n%s", r.code, code, r.stderr)
	}
	var rep diagnosed
	decodeInto(t, r.stdout, &rep)
	if rep.Diagnosis.Code != wantCode || rep.Diagnosis.Message != wantMessage {
		t.Errorf("json diagnosis %+v, want %s %q", rep.Diagnosis, wantCode, wantMessage)
	}
	return rep
}

func decodeInto(t *testing.T, s string, v any) {
	t.Helper()
	if err := json.Unmarshal([]byte(s), v); err != nil {
		t.Fatalf("stdout is not a JSON report: %v\n%s", err, s)
	}
}

// closedUDPPort is a loopback UDP address nothing listens on: a query sent
// there comes back as "connection refused".
func closedUDPPort(t *testing.T) string {
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := pc.LocalAddr().String()
	pc.Close()
	return addr
}

func TestDiagnosisLocalNetwork(t *testing.T) {
	dir := t.TempDir()
	up := fixture.TCPListener(t)
	cfg := fmt.Sprintf(`version: 1
defaults: {timeout: 2s, samples: 2}
controls:
  - name: by-ip
    target: tcp://%s
  - name: by-name
    target: tcp://ctl.test:443
services:
  - name: Alpha
    endpoints:
      - target: tcp://%s
`, fixture.ClosedPort(t), up)
	msg := "your network looks down: every control failed (refused, dns error), so no service is judged"
	rep := checkDiagnosis(t, dir, cfg, 3, "local_network", msg, "--resolver", closedUDPPort(t))
	if rep.Status != "unknown" || rep.Services[0].Status != "unknown" || rep.Note != msg {
		t.Errorf("status %s, Alpha %s, note %q", rep.Status, rep.Services[0].Status, rep.Note)
	}

	r := msgprobe(t, dir, "", "check", "-c", "d.yaml", "-f", "nagios", "--resolver", closedUDPPort(t))
	if want := "MSGPROBE UNKNOWN - local_network: " + msg; r.code != 3 || !strings.HasPrefix(r.stdout, want) {
		t.Errorf("nagios: exit %d %q, want it to start with %q", r.code, r.stdout, want)
	}
	r = msgprobe(t, dir, "", "check", "-c", "d.yaml", "-f", "markdown", "--resolver", closedUDPPort(t))
	if want := "**Diagnosis:** `local_network` — " + msg + "\n"; !strings.Contains(r.stdout, want) {
		t.Errorf("markdown lacks %q:\n%s", want, r.stdout)
	}
}

// A resolver that answers SERVFAIL for every name, while the controls by IP
// answer: the services are not blamed. The config's resolver: works, and
// --resolver wins over it.
func TestDiagnosisLocalDNS(t *testing.T) {
	dir := t.TempDir()
	ca := fixture.NewCA(t)
	writeFile(t, dir, "ca.pem", string(ca.PEM()))
	web := hostPort(fixture.HTTPServer(t, fixture.Respond(200, "hello"), nil))
	_, webPort, _ := net.SplitHostPort(web)
	tcp := fixture.TCPListener(t)
	_, tcpPort, _ := net.SplitHostPort(tcp)
	names := map[string][]string{"ctl.test": {"127.0.0.1"}, "chat.test": {"127.0.0.1"}, "mail.test": {"127.0.0.1"}}
	good := fixture.DNSServer(t, names)
	failing := fixture.DNSServer(t, names)
	failing.ServFail("*")

	cfg := fmt.Sprintf(`version: 1
resolver: %[1]s
defaults: {timeout: 2s, samples: 2}
controls:
  - name: ip-control
    target: tls://%[2]s
    tls: {ca_file: ca.pem}
  - name: name-control
    target: http://ctl.test:%[3]s/
services:
  - name: Chat
    endpoints:
      - name: api
        target: http://chat.test:%[3]s/
  - name: Mail
    endpoints:
      - name: smtp
        target: tcp://mail.test:%[4]s
`, good.Addr, fixture.TLSServer(t, ca.Valid("127.0.0.1")), webPort, tcpPort)

	checkDiagnosis(t, dir, cfg, 0, "ok", "all 2 services up")

	msg := "your DNS resolver is failing: every name failed to resolve (dns error) while controls by IP answer; the services may be fine"
	rep := checkDiagnosis(t, dir, cfg, 3, "local_dns", msg, "--resolver", failing.Addr)
	for _, s := range rep.Services {
		if s.Status != "unknown" {
			t.Errorf("%s: %s, want unknown", s.Name, s.Status)
		}
	}
	e := rep.Services[0].Endpoints[0]
	if len(e.Errors) != 1 || e.Errors[0].Class != "dns_error" || e.Errors[0].Phase != "dns" ||
		e.Reason != "2/2 attempts failed at dns: lookup chat.test: server misbehaving" {
		t.Errorf("api: %q %+v", e.Reason, e.Errors)
	}

	r := msgprobe(t, dir, "", "check", "-c", "d.yaml", "--resolver", "no-port")
	if r.code != 3 || !strings.Contains(r.stderr, "--resolver") || !strings.Contains(r.stderr, "hint: ") {
		t.Errorf("bad --resolver: exit %d stderr %q", r.code, r.stderr)
	}
}

func TestDiagnosisIntercepted(t *testing.T) {
	dir := t.TempDir()
	ca := fixture.NewCA(t)
	other := fixture.NewCA(t)
	writeFile(t, dir, "ca.pem", string(ca.PEM()))
	cfg := fmt.Sprintf(`version: 1
defaults: {timeout: 2s, samples: 2}
controls:
  - name: genuine
    target: tls://%s
    tls: {ca_file: ca.pem}
  - name: portal
    target: tls://%s
    tls: {ca_file: ca.pem}
services:
  - name: Alpha
    endpoints:
      - target: tcp://%s
`, fixture.TLSServer(t, ca.Valid("127.0.0.1")), fixture.TLSServer(t, other.Valid("127.0.0.1")), fixture.TCPListener(t))
	checkDiagnosis(t, dir, cfg, 0, "intercepted",
		"a captive portal or TLS-intercepting proxy is in the way: control portal met an untrusted certificate")

	login := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "http://portal.test/login?from=ctl", http.StatusFound)
	})
	cfg = fmt.Sprintf(`version: 1
defaults: {timeout: 2s, samples: 2}
controls:
  - name: wifi
    target: http://%s/
services:
  - name: Alpha
    endpoints:
      - target: tcp://%s
`, hostPort(fixture.HTTPServer(t, login, nil)), fixture.TCPListener(t))
	checkDiagnosis(t, dir, cfg, 0, "intercepted",
		"a captive portal or TLS-intercepting proxy is in the way: control wifi was redirected to http://portal.test/login?from=xxxxx")
}

// outageConfig has two controls that answer and the services given, each
// up (a listener) or refused (a closed port).
func outageConfig(t *testing.T, services ...string) string {
	var b strings.Builder
	fmt.Fprintf(&b, `version: 1
defaults: {timeout: 2s, samples: 2}
controls:
  - name: c1
    target: tcp://%s
  - name: c2
    target: tcp://%s
services:
`, fixture.TCPListener(t), fixture.TCPListener(t))
	for _, s := range services {
		name, tags, _ := strings.Cut(s, " ")
		down := strings.HasSuffix(name, "!")
		name = strings.TrimSuffix(name, "!")
		target := fixture.TCPListener(t)
		if down {
			target = fixture.ClosedPort(t)
		}
		fmt.Fprintf(&b, "  - name: %s\n    tags: [%s]\n    endpoints:\n      - name: chat\n        target: tcp://%s\n", name, tags, target)
	}
	return b.String()
}

func TestDiagnosisProviderOutage(t *testing.T) {
	dir := t.TempDir()
	cfg := outageConfig(t, "WhatsApp! meta,popular", "Telegram popular", "Messenger! meta", "Signal e2ee")
	rep := checkDiagnosis(t, dir, cfg, 2, "provider_outage", "Meta-wide outage: WhatsApp, Messenger")
	if rep.Status != "down" || rep.Note != "" {
		t.Errorf("status %s note %q", rep.Status, rep.Note)
	}
}

func TestDiagnosisServiceOutage(t *testing.T) {
	dir := t.TempDir()
	cfg := outageConfig(t, "WhatsApp meta", "Telegram! popular", "Signal e2ee")
	checkDiagnosis(t, dir, cfg, 2, "service_outage", "Telegram down; your network works (the controls answer)")
}

func TestDiagnosisOK(t *testing.T) {
	dir := t.TempDir()
	cfg := outageConfig(t, "WhatsApp meta", "Telegram popular")
	checkDiagnosis(t, dir, cfg, 0, "ok", "all 2 services up")
}
