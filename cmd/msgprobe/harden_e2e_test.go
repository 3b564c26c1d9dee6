package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
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
