package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/msgprobe/msgprobe/internal/fixture"
)

// Out of descriptors, msgprobe says so and judges nothing: the endpoints
// and services it could not probe are unknown, the diagnosis is
// local_resource, the exit 3; never a service outage (bb3a3a4 said
// "service_outage", exit 2). The limit that starves it depends on what the
// Go runtime holds, so the test walks up from the lowest limit the binary
// starts with: every limit must give either a clean run or a local_resource
// one, and some limit must give the latter. Descriptors the child inherits
// stand for what else a process holds, so that the runtime can start while
// the probes cannot.
func TestOutOfDescriptorsIsUnknown(t *testing.T) {
	dir := t.TempDir()
	var b strings.Builder
	b.WriteString("version: 1\ndefaults: {samples: 2}\nservices:\n")
	// By name, through a resolver on loopback: a lookup asks for A and
	// AAAA at once, on two sockets.
	_, port, _ := net.SplitHostPort(fixture.TCPListener(t))
	hosts := map[string][]string{}
	for i := range 10 {
		fmt.Fprintf(&b, "  - name: s%d\n    endpoints:\n", i)
		for j := range 4 {
			name := fmt.Sprintf("e%d.s%d.test", j, i)
			hosts[name] = []string{"127.0.0.1"}
			fmt.Fprintf(&b, "      - name: e%d\n        target: tcp://%s:%s\n", j, name, port)
		}
	}
	dns := fixture.DNSServer(t, hosts)
	writeFile(t, dir, "many.yaml", b.String())
	var held []*os.File
	for range 4 {
		f, err := os.Open(os.DevNull)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		held = append(held, f)
	}
	starved := false
	for limit := 4; limit <= 20; limit++ {
		out := filepath.Join(dir, fmt.Sprintf("report-%d.json", limit))
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		// The shell lowers both limits, so Go cannot raise the soft one.
		cmd := exec.CommandContext(ctx, "sh", "-c", fmt.Sprintf(`ulimit -n %d && exec "$0" check -c many.yaml --resolver %s -f json -o %s`, limit, dns.Addr, out), binary)
		cmd.Dir = dir
		cmd.ExtraFiles = held
		var errb bytes.Buffer
		cmd.Stderr = &errb
		err := cmd.Run()
		cancel()
		code := 0
		if ee := (*exec.ExitError)(nil); errors.As(err, &ee) {
			code = ee.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		data, rerr := os.ReadFile(out)
		if rerr != nil {
			// Too few descriptors for the runtime, the config or the
			// report itself: not a run to judge.
			t.Logf("ulimit -n %d: exit %d, no report: %s", limit, code, firstLine(errb.String()))
			continue
		}
		var rep jsonReport
		if err := json.Unmarshal(data, &rep); err != nil {
			t.Fatalf("ulimit -n %d: report is not JSON: %v", limit, err)
		}
		t.Logf("ulimit -n %d: exit %d, %s: %s", limit, code, rep.Diagnosis.Code, rep.Diagnosis.Message)
		switch {
		case code == 0 && rep.Status == "up":
		case code == 3 && rep.Status == "unknown" && rep.Diagnosis.Code == "local_resource":
			starved = true
			if !strings.HasPrefix(rep.Diagnosis.Message, "this machine ran out of file descriptors (too many open files): ") ||
				!strings.HasSuffix(rep.Diagnosis.Message, "; lower --concurrency or raise ulimit -n") || rep.Note != rep.Diagnosis.Message {
				t.Errorf("ulimit -n %d: diagnosis %q note %q", limit, rep.Diagnosis.Message, rep.Note)
			}
			for _, s := range rep.Services {
				for _, e := range s.Endpoints {
					if e.Status == "down" {
						t.Errorf("ulimit -n %d: %s/%s down (%s) for lack of descriptors", limit, s.Name, e.Name, e.Reason)
					}
				}
			}
		default:
			t.Errorf("ulimit -n %d: exit %d, status %s, diagnosis %+v\n%s", limit, code, rep.Status, rep.Diagnosis, data)
		}
		if starved && code == 0 {
			break
		}
	}
	if !starved {
		t.Error("no limit starved msgprobe of descriptors: the test shows nothing")
	}
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	return line
}

// No secret of the config reaches any output: every report format, the
// state file, list, validate and the error messages, with a secret in each
// place a config can hold one: an encoded password, a user name alone (a
// token from the environment), a query value, a header value and the text
// of body_contains; and a password with an unencoded / ? or # is a config
// error that quotes nothing of it.
func TestNoSecretInAnyOutput(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("MSGPROBE_E2E_TOKEN", "T0KEN-S3CRET")
	web := fixture.HTTPServer(t, fixture.Respond(http.StatusOK, "hello"), nil)
	hostPort := strings.TrimPrefix(web, "http://")
	closed := fixture.ClosedPort(t)
	secrets := []string{"PASSW0RD-S3CRET", "T0KEN-S3CRET", "QUERY-S3CRET", "HEADER-S3CRET", "BODY-S3CRET", "SLASH-S3CRET"}
	writeFile(t, dir, "s.yaml", fmt.Sprintf(`version: 1
defaults: {samples: 1, timeout: 2s}
services:
  - name: Secrets
    endpoints:
      - target: http://alice:PASSW0RD-S3CRET%%2Fx@%[1]s/
      - target: http://${MSGPROBE_E2E_TOKEN}@%[1]s/
      - target: http://%[1]s/metrics?token=QUERY-S3CRET&v=1
      - name: header
        target: http://%[1]s/h
        http:
          headers: {Authorization: Bearer HEADER-S3CRET}
      - name: body
        target: http://%[1]s/b
        expect: {body_contains: "xx BODY-S3CRET xx"}
      - target: http://bob:PASSW0RD-S3CRET@%[2]s/?token=QUERY-S3CRET
`, hostPort, closed))
	writeFile(t, dir, "bad.yaml", fmt.Sprintf(`version: 1
services:
  - name: Bad
    endpoints:
      - target: https://alice:12/SLASH-S3CRET@%s/
      - target: https://alice:SLASH-S3CRET:x@%[1]s:port/
`, hostPort))

	var seen []string
	look := func(what, text string) {
		seen = append(seen, what)
		for _, s := range secrets {
			if strings.Contains(text, s) {
				t.Errorf("%s shows %s:\n%s", what, s, text)
			}
		}
	}
	formats := []string{"json", "csv", "markdown", "junit", "prometheus", "nagios"}
	args := []string{"check", "-c", "s.yaml", "--state", "state.json", "--fail-on", "never", "-f", "table"}
	for _, f := range formats {
		args = append(args, "-f", f+"="+f+".out")
	}
	// Twice: the second run reads the state and reports transitions.
	for range 2 {
		r := msgprobe(t, dir, "", args...)
		if r.code != 0 {
			t.Fatalf("check: exit %d\n%s", r.code, r.stderr)
		}
		look("check's output", r.stdout+r.stderr)
	}
	for _, f := range append(formats, "state") {
		name := f + ".out"
		if f == "state" {
			name = "state.json"
		}
		data, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil || len(data) == 0 {
			t.Fatalf("%s: %v", name, err)
		}
		look(name, string(data))
	}
	// The reports say what failed without the secrets: the refused
	// endpoint, the body that lacked the text.
	if data, _ := os.ReadFile(filepath.Join(dir, "json.out")); !strings.Contains(string(data), "http://bob:xxxxx@"+closed+"/?token=xxxxx") ||
		!strings.Contains(string(data), `does not contain the expected text (\"xx BODY-\u2026\", 17 bytes)`) &&
			!strings.Contains(string(data), `does not contain the expected text (\"xx BODY-…\", 17 bytes)`) {
		t.Errorf("json report lacks the masked target or the body reason:\n%s", data)
	}
	for _, a := range [][]string{{"list", "-c", "s.yaml"}, {"list", "-c", "s.yaml", "-f", "json"}, {"validate", "-c", "s.yaml"}} {
		r := msgprobe(t, dir, "", a...)
		if r.code != 0 {
			t.Errorf("%v: exit %d %s", a, r.code, r.stderr)
		}
		look(strings.Join(a, " "), r.stdout+r.stderr)
	}
	for _, a := range [][]string{{"validate", "-c", "bad.yaml"}, {"check", "-c", "bad.yaml"}, {"list", "-c", "bad.yaml"}} {
		r := msgprobe(t, dir, "", a...)
		if r.code != 3 || !strings.Contains(r.stderr, "bad.yaml:5:17: target's user name or password holds an unencoded /, ? or #") ||
			!strings.Contains(r.stderr, "bad.yaml:6:17: invalid target: its user name or password does not parse") {
			t.Errorf("%v: exit %d\n%s", a, r.code, r.stderr)
		}
		look(strings.Join(a, " "), r.stdout+r.stderr)
	}
	t.Logf("looked at: %s", strings.Join(seen, ", "))
}

// validate catches what would otherwise be an outage: a header value
// net/http will not send (bb3a3a4: validate said ok, then check said the
// service was down, exit 2).
func TestValidateCatchesAHeaderNetHTTPWouldNotSend(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "h.yaml", "version: 1\nservices:\n  - name: s\n    endpoints:\n      - target: http://127.0.0.1:1/\n        http:\n          headers: {X-Token: \"abc\\u007f\"}\n")
	for _, cmd := range []string{"validate", "check"} {
		r := msgprobe(t, dir, "", cmd, "-c", "h.yaml")
		if r.code != 3 || !strings.Contains(r.stderr, `h.yaml:7:30: header "X-Token" has a control character (byte 0x7f at position 4) in its value`) {
			t.Errorf("%s: exit %d\n%s", cmd, r.code, r.stderr)
		}
	}
}
