package main

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/msgprobe/msgprobe/internal/fixture"
)

// Ctrl-C ends the run and still reports what was measured: the endpoint
// that was cut short is down with class canceled, the finished one keeps its
// verdict.
func TestInterruptReportsWhatWasMeasured(t *testing.T) {
	dir := t.TempDir()
	arrived := make(chan struct{}, 16)
	stuck := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		arrived <- struct{}{}
		<-r.Context().Done()
	})
	// One endpoint at a time, the quick one first: when the stuck server
	// sees its request, the quick endpoint's attempt is over, and the
	// interrupt cannot race it.
	writeFile(t, dir, "c.yaml", fmt.Sprintf(`version: 1
defaults: {timeout: 60s, samples: 1}
services:
  - name: Quick
    endpoints:
      - target: tcp://%s
  - name: Stuck
    endpoints:
      - target: %s/
`, fixture.TCPListener(t), fixture.HTTPServer(t, stuck, nil)))

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, binary, "check", "-c", "c.yaml", "-f", "json", "--concurrency", "1")
	cmd.Dir = dir
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-arrived:
	case <-ctx.Done():
		t.Fatal("the request never reached the stuck server")
	}
	if err := cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	err := cmd.Wait()
	if ctx.Err() != nil {
		t.Fatal("msgprobe did not end after Ctrl-C")
	}
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 2 {
		t.Fatalf("exit %v, want 2 (the stuck service is down)\nstderr: %s", err, errb.String())
	}
	rep := decodeReport(t, out.String())
	stuckEp := rep.Services[1].Endpoints[0]
	if stuckEp.Status != "down" || stuckEp.Errors[0].Class != "canceled" || !strings.Contains(stuckEp.Reason, "interrupted") {
		t.Errorf("stuck endpoint: %s %q %+v", stuckEp.Status, stuckEp.Reason, stuckEp.Errors)
	}
	if rep.Services[0].Status != "up" {
		t.Errorf("quick service: %s %q", rep.Services[0].Status, rep.Services[0].Reason)
	}
	if !strings.Contains(errb.String(), "msgprobe: interrupted") {
		t.Errorf("stderr %q", errb.String())
	}
}
