package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/msgprobe/msgprobe/internal/fixture"
)

// binary is msgprobe built once for the end-to-end tests.
var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "msgprobe-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binary = filepath.Join(dir, "msgprobe")
	// The default state goes to a directory of the tests' own, never to
	// the home of whoever runs them, and a CI run keeps it too.
	os.Setenv("XDG_STATE_HOME", filepath.Join(dir, "state"))
	os.Unsetenv("CI")
	build := exec.Command("go", "build", "-o", binary, ".")
	build.Stderr = os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "building msgprobe:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

type result struct {
	stdout, stderr string
	code           int
	elapsed        time.Duration
}

// msgprobe runs the built binary with args in dir, with stdin, bounded by a
// generous deadline: a run that outlives it is a hang and fails the test.
func msgprobe(t *testing.T, dir, stdin string, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, binary, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "NO_COLOR=")
	cmd.Stdin = strings.NewReader(stdin)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	start := time.Now()
	err := cmd.Run()
	r := result{stdout: out.String(), stderr: errb.String(), elapsed: time.Since(start)}
	if ctx.Err() != nil {
		t.Fatalf("msgprobe %s did not end within 30s\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), r.stdout, r.stderr)
	}
	if ee, ok := err.(*exec.ExitError); ok {
		r.code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("running msgprobe: %v", err)
	}
	return r
}

func writeFile(t *testing.T, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// jsonReport is the part of the JSON report the end-to-end tests read.
type jsonReport struct {
	Status    string         `json:"status"`
	Note      string         `json:"note"`
	Summary   map[string]int `json:"summary"`
	Diagnosis struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"diagnosis"`
	Controls []jsonEndpoint `json:"controls"`
	Services []struct {
		Name      string         `json:"name"`
		Status    string         `json:"status"`
		Reason    string         `json:"reason"`
		Endpoints []jsonEndpoint `json:"endpoints"`
	} `json:"services"`
}

type jsonEndpoint struct {
	Name     string `json:"name"`
	Status   string `json:"status"`
	Reason   string `json:"reason"`
	Attempts int    `json:"attempts"`
	Failures int    `json:"failures"`
	Errors   []struct {
		Class string `json:"class"`
		Phase string `json:"phase"`
		Count int    `json:"count"`
	} `json:"errors"`
	HTTPStatus int `json:"http_status"`
	TLS        *struct {
		Version  string `json:"version"`
		DaysLeft int    `json:"days_left"`
	} `json:"tls"`
	Phases map[string]float64 `json:"phases_ms"`
}

func decodeReport(t *testing.T, s string) jsonReport {
	t.Helper()
	var r jsonReport
	if err := json.Unmarshal([]byte(s), &r); err != nil {
		t.Fatalf("stdout is not a JSON report: %v\n%s", err, s)
	}
	return r
}

func (r jsonReport) endpoint(t *testing.T, name string) jsonEndpoint {
	t.Helper()
	for _, s := range r.Services {
		for _, e := range s.Endpoints {
			if e.Name == name {
				return e
			}
		}
	}
	t.Fatalf("no endpoint %q in the report", name)
	return jsonEndpoint{}
}

// fixtures starts one server of every kind the probers must judge and
// returns a config that probes them all, one service per fixture.
func fixtures(t *testing.T, dir string) string {
	ca := fixture.NewCA(t)
	other := fixture.NewCA(t)
	caFile := writeFile(t, dir, "ca.pem", string(ca.PEM()))
	ok := hostPort(fixture.HTTPServer(t, fixture.Respond(200, "hello msgprobe"), nil))
	okTLS := fixture.TLSServer(t, ca.Valid("127.0.0.1", "localhost"))
	okHTTPS := hostPort(fixture.HTTPServer(t, fixture.Respond(200, "secure hello"), ptr(ca.Valid("127.0.0.1"))))
	return fmt.Sprintf(`version: 1
defaults:
  timeout: 2s
  samples: 2
services:
  - name: Good
    tags: [ok]
    endpoints:
      - name: tcp
        target: tcp://%[1]s
      - name: tls
        target: tls://%[2]s
        tls: {ca_file: ca.pem}
      - name: https
        target: https://%[3]s/
        tls: {ca_file: %[4]s}
        expect: {status: [200], body_contains: secure}
      - name: http
        target: http://%[1]s/
  - name: Broken
    tags: [bad]
    endpoints:
      - name: refused
        target: tcp://%[5]s
        critical: true
      - name: silent-tls
        target: tls://%[6]s
        timeout: 300ms
      - name: expired
        target: tls://%[7]s
        tls: {ca_file: ca.pem}
      - name: wrong-host
        target: tls://%[8]s
        tls: {ca_file: ca.pem}
      - name: untrusted
        target: tls://%[9]s
        tls: {ca_file: ca.pem}
      - name: status-503
        target: http://%[10]s/
      - name: hang-headers
        target: http://%[11]s/
        timeout: 300ms
      - name: body-miss
        target: http://%[1]s/
        expect: {body_contains: "not there"}
      - name: connect-hangs
        target: tcp://%[12]s
        timeout: 300ms
`,
		ok, okTLS, okHTTPS, caFile,
		fixture.ClosedPort(t),
		fixture.SilentTLS(t),
		fixture.TLSServer(t, ca.Expired("127.0.0.1")),
		fixture.TLSServer(t, ca.Valid("wrong.example")),
		fixture.TLSServer(t, other.Valid("127.0.0.1")),
		hostPort(fixture.HTTPServer(t, fixture.Respond(503, "unavailable"), nil)),
		hostPort(fixture.HTTPServer(t, fixture.Hang(t), nil)),
		fixture.BlackholeAddr(t),
	)
}

func ptr[T any](v T) *T { return &v }

// hostPort strips the scheme from a test server's URL.
func hostPort(url string) string {
	_, hp, _ := strings.Cut(url, "://")
	return hp
}

func TestCheckJudgesEveryFixture(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "fixtures.yaml", fixtures(t, dir))
	r := msgprobe(t, dir, "", "check", "-c", "fixtures.yaml", "-f", "json")
	if r.code != 2 {
		t.Fatalf("exit %d, want 2 (a critical endpoint is down)\nstderr: %s", r.code, r.stderr)
	}
	rep := decodeReport(t, r.stdout)
	if rep.Status != "down" || rep.Summary["up"] != 1 || rep.Summary["down"] != 1 {
		t.Errorf("status %s summary %v", rep.Status, rep.Summary)
	}
	for _, name := range []string{"tcp", "tls", "https", "http"} {
		e := rep.endpoint(t, name)
		if e.Status != "up" || e.Attempts != 2 || e.Failures != 0 {
			t.Errorf("%s: %s %q, %d/%d", name, e.Status, e.Reason, e.Failures, e.Attempts)
		}
		// Loopback connects can round to 0.0ms; measured phases are present.
		_, connect := e.Phases["connect"]
		_, total := e.Phases["total"]
		if !connect || !total {
			t.Errorf("%s: phases %v", name, e.Phases)
		}
	}
	if _, ok := rep.endpoint(t, "tcp").Phases["tls"]; ok {
		t.Error("tcp: a tls phase was reported for a plain connect")
	}
	if e := rep.endpoint(t, "tls"); e.TLS == nil || e.TLS.Version == "" || e.TLS.DaysLeft < 7 {
		t.Errorf("tls: handshake details missing: %+v", e.TLS)
	}
	if e := rep.endpoint(t, "https"); e.HTTPStatus != 200 || e.Phases["tls"] <= 0 {
		t.Errorf("https: status %d phases %v", e.HTTPStatus, e.Phases)
	}
	want := map[string]struct{ class, phase, reason string }{
		"refused":       {"connection_refused", "connect", "2/2 attempts refused at connect"},
		"silent-tls":    {"timeout", "tls", "2/2 attempts timed out at tls"},
		"expired":       {"tls_cert_expired", "tls", "2/2 attempts met an expired certificate"},
		"wrong-host":    {"tls_cert_hostname", "tls", "2/2 attempts met a certificate for another host"},
		"untrusted":     {"tls_cert_untrusted", "tls", "2/2 attempts met an untrusted certificate"},
		"status-503":    {"http_status", "http", ""},
		"hang-headers":  {"timeout", "ttfb", "2/2 attempts timed out at ttfb"},
		"body-miss":     {"http_body", "body", ""},
		"connect-hangs": {"timeout", "connect", "2/2 attempts timed out at connect"},
	}
	for name, w := range want {
		e := rep.endpoint(t, name)
		if e.Status != "down" || len(e.Errors) != 1 || e.Errors[0].Class != w.class || e.Errors[0].Phase != w.phase || e.Errors[0].Count != 2 {
			t.Errorf("%s: %s %+v, want down with 2 × %s at %s", name, e.Status, e.Errors, w.class, w.phase)
		}
		if w.reason != "" && e.Reason != w.reason {
			t.Errorf("%s: reason %q, want %q", name, e.Reason, w.reason)
		}
	}
	if e := rep.endpoint(t, "status-503"); e.HTTPStatus != 503 || !strings.Contains(e.Reason, "503") {
		t.Errorf("status-503: %d %q", e.HTTPStatus, e.Reason)
	}

	// The table says the same, one row per endpoint under its service.
	r = msgprobe(t, dir, "", "check", "-c", "fixtures.yaml", "--no-color")
	if r.code != 2 || strings.Contains(r.stdout, "\x1b[") {
		t.Fatalf("table: exit %d, colored %v\n%s", r.code, strings.Contains(r.stdout, "\x1b["), r.stdout)
	}
	for _, line := range []string{"2/2 attempts refused at connect", "2/2 attempts met an expired certificate"} {
		if !strings.Contains(r.stdout, line) {
			t.Errorf("table lacks %q:\n%s", line, r.stdout)
		}
	}
	if !strings.Contains(r.stdout, "2 services: 1 up, 0 degraded, 1 down, 0 unknown") {
		t.Errorf("table footer:\n%s", r.stdout)
	}
}

func goodConfig(t *testing.T, dir string) string {
	up := fixture.TCPListener(t)
	return writeFile(t, dir, "good.yaml", fmt.Sprintf(`version: 1
defaults: {timeout: 2s, samples: 1}
services:
  - name: Alpha
    endpoints:
      - target: tcp://%[1]s
  - name: Beta
    tags: [b]
    endpoints:
      - name: one
        target: tcp://%[1]s
      - name: two
        target: tcp://%[2]s
`, up, fixture.ClosedPort(t)))
}

func TestExitCodesFollowFailOn(t *testing.T) {
	dir := t.TempDir()
	goodConfig(t, dir)
	tests := []struct {
		args []string
		code int
	}{
		{[]string{"-s", "alpha"}, 0},
		{nil, 1},
		{[]string{"--fail-on", "degraded"}, 1},
		{[]string{"--fail-on", "down"}, 0},
		{[]string{"--fail-on", "never"}, 0},
		{[]string{"-t", "b", "--fail-on", "down"}, 0},
	}
	for _, tt := range tests {
		args := append([]string{"check", "-c", "good.yaml", "-f", "json"}, tt.args...)
		r := msgprobe(t, dir, "", args...)
		if r.code != tt.code {
			t.Errorf("%v: exit %d, want %d\n%s", tt.args, r.code, tt.code, r.stderr)
		}
		if r.stderr != "" {
			t.Errorf("%v: unexpected stderr %q", tt.args, r.stderr)
		}
	}
	r := msgprobe(t, dir, "", "check", "-c", "good.yaml", "-f", "json", "-s", "ALPHA")
	if rep := decodeReport(t, r.stdout); len(rep.Services) != 1 || rep.Services[0].Name != "Alpha" {
		t.Errorf("-s is case-insensitive and selects only Alpha: %+v", rep.Services)
	}
}

func TestUnknownWhenEveryControlFails(t *testing.T) {
	dir := t.TempDir()
	up := fixture.TCPListener(t)
	writeFile(t, dir, "c.yaml", fmt.Sprintf(`version: 1
defaults: {timeout: 1s, samples: 1}
controls:
  - name: ctl1
    target: tcp://%s
  - name: ctl2
    target: tcp://%s
services:
  - name: Alpha
    endpoints:
      - target: tcp://%s
`, fixture.ClosedPort(t), fixture.ClosedPort(t), up))
	r := msgprobe(t, dir, "", "check", "-c", "c.yaml", "--fail-on", "never")
	if r.code != 3 {
		t.Fatalf("exit %d, want 3", r.code)
	}
	if !strings.Contains(r.stdout, "diagnosis: local_network — your network looks down") || !strings.Contains(r.stdout, "unknown") {
		t.Errorf("table:\n%s", r.stdout)
	}
	r = msgprobe(t, dir, "", "check", "-c", "c.yaml", "-f", "json")
	rep := decodeReport(t, r.stdout)
	if r.code != 3 || rep.Status != "unknown" || rep.Services[0].Status != "unknown" || rep.Note == "" || len(rep.Controls) != 2 {
		t.Errorf("exit %d, json %+v", r.code, rep)
	}
}

func TestBadConfig(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "bad.yaml", "version: 1\nservices:\n  - name: A\n    endpoints:\n      - target: tcp://example.org:5222\n        timout: 5s\n")
	for _, cmd := range [][]string{{"check", "-c", "bad.yaml", "-o", "out.json"}, {"validate", "-c", "bad.yaml"}, {"list", "-c", "bad.yaml"}} {
		r := msgprobe(t, dir, "", cmd...)
		if r.code != 3 || r.stdout != "" {
			t.Errorf("%v: exit %d stdout %q, want 3 and nothing", cmd, r.code, r.stdout)
		}
		want := "bad.yaml:6:9: unknown key \"timout\" in endpoint\nhint: did you mean \"timeout\"?\n"
		if r.stderr != want {
			t.Errorf("%v: stderr %q, want positioned errors", cmd, r.stderr)
		}
	}
	assertNoFiles(t, dir, "bad.yaml")

	r := msgprobe(t, dir, "", "check", "-c", "missing.yaml")
	if r.code != 3 || !strings.HasPrefix(r.stderr, "msgprobe: ") || !strings.Contains(r.stderr, "missing.yaml") {
		t.Errorf("missing config: exit %d stderr %q", r.code, r.stderr)
	}
	r = msgprobe(t, dir, "", "check", "--fail-on", "sometimes")
	if r.code != 3 || !strings.Contains(r.stderr, "--fail-on") || !strings.Contains(r.stderr, "hint: ") {
		t.Errorf("bad flag value: exit %d stderr %q", r.code, r.stderr)
	}
	r = msgprobe(t, dir, "", "check", "--no-such-flag")
	if r.code != 3 || !strings.Contains(r.stderr, "unknown flag") {
		t.Errorf("unknown flag: exit %d stderr %q", r.code, r.stderr)
	}
	r = msgprobe(t, dir, "", "check", "-f", "yaml")
	if r.code != 3 || !strings.Contains(r.stderr, "unknown format") {
		t.Errorf("unknown format: exit %d stderr %q", r.code, r.stderr)
	}
	r = msgprobe(t, dir, "", "check", "-s", "nosuch", "-c", "-")
	if r.code != 3 {
		t.Errorf("empty stdin config: exit %d", r.code)
	}
}

// assertNoFiles fails when dir holds anything but the named files: a failed
// run must leave no report, not even a temporary one.
func assertNoFiles(t *testing.T, dir string, keep ...string) {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if !containsString(keep, e.Name()) {
			t.Errorf("unexpected file left behind: %s", e.Name())
		}
	}
}

func containsString(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

func TestOutputFileIsAtomic(t *testing.T) {
	dir := t.TempDir()
	goodConfig(t, dir)
	r := msgprobe(t, dir, "", "check", "-c", "good.yaml", "-f", "json", "-o", "report.json")
	if r.code != 1 || r.stdout != "" {
		t.Fatalf("exit %d stdout %q", r.code, r.stdout)
	}
	data, err := os.ReadFile(filepath.Join(dir, "report.json"))
	if err != nil {
		t.Fatal(err)
	}
	decodeReport(t, string(data))
	assertNoFiles(t, dir, "good.yaml", "report.json")

	r = msgprobe(t, dir, "", "check", "-c", "good.yaml", "-o", "no/such/dir/report.json")
	if r.code != 3 || !strings.Contains(r.stderr, "no/such/dir/report.json") {
		t.Errorf("unwritable output: exit %d stderr %q", r.code, r.stderr)
	}
	assertNoFiles(t, dir, "good.yaml", "report.json")

	// -q with a report file and no state: the file is written, stdout
	// names what is wrong, on every run.
	r = msgprobe(t, dir, "", "check", "-c", "good.yaml", "-q", "--no-state", "-o", "report.json")
	if r.code != 1 || !strings.Contains(r.stdout, "Beta degraded: two: 1/1 attempts refused at connect") {
		t.Errorf("quiet with a problem: exit %d stdout %q", r.code, r.stdout)
	}
	r = msgprobe(t, dir, "", "check", "-c", "good.yaml", "-q", "-s", "alpha")
	if r.code != 0 || r.stdout != "" || r.stderr != "" {
		t.Errorf("quiet and all up: exit %d stdout %q stderr %q", r.code, r.stdout, r.stderr)
	}
}

func TestConfigFromStdin(t *testing.T) {
	dir := t.TempDir()
	cfg, err := os.ReadFile(goodConfig(t, dir))
	if err != nil {
		t.Fatal(err)
	}
	r := msgprobe(t, dir, string(cfg), "check", "-c", "-", "-s", "alpha", "-f", "json")
	if r.code != 0 || decodeReport(t, r.stdout).Status != "up" {
		t.Errorf("exit %d stdout %s stderr %s", r.code, r.stdout, r.stderr)
	}
	r = msgprobe(t, dir, "version: 2\n", "validate", "-c", "-")
	if r.code != 3 || !strings.HasPrefix(r.stderr, "<stdin>:1:") {
		t.Errorf("bad stdin config: exit %d stderr %q", r.code, r.stderr)
	}
}

// Endpoints that accept and never answer are bounded by the timeout, and
// probed concurrently: the run takes about one timeout, not 200.
func TestManySilentEndpointsAreBounded(t *testing.T) {
	dir := t.TempDir()
	var b strings.Builder
	b.WriteString("version: 1\nservices:\n  - name: Silent\n    endpoints:\n")
	for i := range 200 {
		fmt.Fprintf(&b, "      - name: e%d\n        target: tls://%s\n", i, fixture.SilentTLS(t))
	}
	writeFile(t, dir, "silent.yaml", b.String())
	r := msgprobe(t, dir, "", "check", "-c", "silent.yaml", "--timeout", "1s", "--samples", "1", "--concurrency", "256", "-f", "json")
	if r.code != 2 {
		t.Fatalf("exit %d stderr %s", r.code, r.stderr)
	}
	rep := decodeReport(t, r.stdout)
	for _, e := range rep.Services[0].Endpoints {
		if e.Status != "down" || e.Errors[0].Class != "timeout" || e.Errors[0].Phase != "tls" {
			t.Fatalf("%s: %s %+v", e.Name, e.Status, e.Errors)
		}
	}
	t.Logf("200 silent endpoints, --timeout 1s --samples 1 --concurrency 256: %v", r.elapsed)
}

// --deadline ends the run whatever the endpoints do; what did not finish is
// down with class canceled.
func TestDeadlineBoundsTheRun(t *testing.T) {
	dir := t.TempDir()
	slow := fixture.HTTPServer(t, fixture.Slow(t, time.Minute, fixture.Respond(200, "late")), nil)
	quick := fixture.TCPListener(t)
	writeFile(t, dir, "slow.yaml", fmt.Sprintf(`version: 1
defaults: {timeout: 30s, degraded_latency: 10s, samples: 3}
services:
  - name: Slow
    endpoints:
      - target: %s/
  - name: Quick
    endpoints:
      - target: tcp://%s
`, slow, quick))
	r := msgprobe(t, dir, "", "check", "-c", "slow.yaml", "--deadline", "2s", "-f", "json")
	if r.code != 2 {
		t.Fatalf("exit %d stderr %s", r.code, r.stderr)
	}
	rep := decodeReport(t, r.stdout)
	e := rep.Services[0].Endpoints[0]
	if e.Status != "down" || e.Errors[0].Class != "canceled" || !strings.Contains(e.Reason, "run deadline reached") {
		t.Errorf("slow endpoint: %s %q %+v", e.Status, e.Reason, e.Errors)
	}
	if rep.Services[1].Status != "up" {
		t.Errorf("quick service: %s %q", rep.Services[1].Status, rep.Services[1].Reason)
	}
	t.Logf("--deadline 2s with a 60s-slow endpoint: the process took %v", r.elapsed)
}

func TestValidateListVersion(t *testing.T) {
	dir := t.TempDir()
	r := msgprobe(t, dir, "", "validate")
	if r.code != 0 || !strings.HasPrefix(r.stdout, "examples/messaging.yaml: ok, ") {
		t.Errorf("validate the catalog: exit %d %q %q", r.code, r.stdout, r.stderr)
	}
	r = msgprobe(t, dir, "", "list")
	for _, s := range []string{"WhatsApp", "Telegram", "Signal", "Olvid", "Messenger", "(control)", "tcp://e1.whatsapp.net:5222"} {
		if !strings.Contains(r.stdout, s) {
			t.Errorf("list lacks %q", s)
		}
	}
	r = msgprobe(t, dir, "", "version")
	if r.code != 0 || !strings.HasPrefix(r.stdout, "msgprobe ") {
		t.Errorf("version: %d %q", r.code, r.stdout)
	}
	r = msgprobe(t, dir, "", "completion", "bash")
	if r.code != 0 || !strings.Contains(r.stdout, "msgprobe") {
		t.Errorf("completion: %d", r.code)
	}
}

// With no network at all, the default catalog ends quickly with every
// service unknown and exit 3. The test makes its own empty network namespace,
// so it can never reach a real host.
func TestOfflineDefaultCatalog(t *testing.T) {
	if _, err := exec.LookPath("unshare"); err != nil {
		t.Skip("unshare is not available")
	}
	probe := exec.Command("unshare", "-rn", "true")
	if err := probe.Run(); err != nil {
		t.Skipf("unshare -rn does not work here: %v", err)
	}
	start := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "unshare", "-rn", binary, "check", "-f", "json")
	var out bytes.Buffer
	cmd.Stdout = &out
	err := cmd.Run()
	elapsed := time.Since(start)
	ee, ok := err.(*exec.ExitError)
	if !ok || ee.ExitCode() != 3 {
		t.Fatalf("exit %v, want 3", err)
	}
	rep := decodeReport(t, out.String())
	if rep.Status != "unknown" || rep.Diagnosis.Code != "local_network" || rep.Note != rep.Diagnosis.Message {
		t.Errorf("status %s diagnosis %+v note %q", rep.Status, rep.Diagnosis, rep.Note)
	}
	// Without a network, lookups fail at once and say so in a few words.
	for _, c := range rep.Controls {
		for _, e := range c.Errors {
			if e.Phase == "dns" && e.Class != "network_unreachable" && e.Class != "dns_error" {
				t.Errorf("%s: %s at dns, want network_unreachable (or dns_error from a local stub)", c.Name, e.Class)
			}
			if e.Phase == "dns" && e.Class == "network_unreachable" && !strings.HasSuffix(c.Reason, "failed at dns: resolver unreachable: network is unreachable") {
				t.Errorf("%s: reason %q", c.Name, c.Reason)
			}
		}
	}
	for _, s := range rep.Services {
		if s.Status != "unknown" {
			t.Errorf("%s: %s, want unknown", s.Name, s.Status)
		}
	}
	t.Logf("offline default catalog: %d services, %v, diagnosis %q", len(rep.Services), elapsed, rep.Diagnosis.Message)
}

// A low open-files limit caps the concurrency with a warning instead of
// failing attempts with "too many open files", which would read as an outage.
func TestLowFileLimitCapsConcurrency(t *testing.T) {
	dir := t.TempDir()
	var b strings.Builder
	b.WriteString("version: 1\ndefaults: {samples: 1}\nservices:\n  - name: Many\n    endpoints:\n")
	addr := fixture.TCPListener(t)
	for i := range 150 {
		fmt.Fprintf(&b, "      - name: e%d\n        target: tcp://%s\n", i, addr)
	}
	writeFile(t, dir, "many.yaml", b.String())
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	// The shell lowers both limits, so Go cannot raise the soft one.
	cmd := exec.CommandContext(ctx, "sh", "-c", `ulimit -n 64 && exec "$0" check -c many.yaml --concurrency 1000 -f json`, binary)
	cmd.Dir = dir
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		t.Fatalf("%v\nstderr: %s", err, errb.String())
	}
	if !strings.Contains(errb.String(), "msgprobe: warning: probing 16 endpoints at once, not 1000") {
		t.Errorf("stderr %q, want the cap named", errb.String())
	}
	rep := decodeReport(t, out.String())
	if rep.Status != "up" || len(rep.Services[0].Endpoints) != 150 {
		t.Errorf("status %s with %d endpoints", rep.Status, len(rep.Services[0].Endpoints))
	}
}
