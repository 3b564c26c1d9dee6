package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/msgprobe/msgprobe/internal/fixture"
)

// The crontab line runs as cron runs it: the environment cron gives
// (env -i PATH=/usr/bin:/bin, no HOME), the crontab's own PATH= line, the
// binary by its absolute path. Only two things change: the binary is the
// one under test, and -c points the probe at loopback instead of the
// catalog. The textfile is written, stdout is empty while all is up.
func TestCrontabLineRunsUnderCronsEnvironment(t *testing.T) {
	crontab := string(readFile(t, filepath.Join(examplesDir, "cron", "crontab")))
	var pathLine, command string
	for _, line := range strings.Split(crontab, "\n") {
		switch {
		case strings.HasPrefix(line, "PATH="):
			pathLine = line
		case line != "" && !strings.HasPrefix(line, "#") && !regexpEnv.MatchString(line):
			command = strings.Join(strings.Fields(line)[5:], " ")
		}
	}
	if pathLine == "" || !strings.HasPrefix(command, "/usr/local/bin/msgprobe ") {
		t.Fatalf("the crontab has no PATH= line (%q) or does not name the binary by its absolute path: %q", pathLine, command)
	}
	const textfile = "/var/lib/prometheus/node-exporter/msgprobe.prom"
	if !strings.Contains(command, "prometheus="+textfile) {
		t.Fatalf("the crontab does not write Debian's textfile directory: %q", command)
	}
	dir := t.TempDir()
	writeFile(t, dir, "loop.yaml", fmt.Sprintf("version: 1\ndefaults: {timeout: 2s, samples: 1}\nservices:\n  - name: A\n    endpoints: [{target: \"tcp://%s\"}]\n", fixture.TCPListener(t)))
	prom := filepath.Join(dir, "node-exporter", "msgprobe.prom")
	os.Mkdir(filepath.Dir(prom), 0o755)
	line := strings.Replace(command, "/usr/local/bin/msgprobe", binary, 1)
	line = strings.Replace(line, textfile, prom, 1) + " -c " + filepath.Join(dir, "loop.yaml")

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "env", "-i", "PATH=/usr/bin:/bin", "sh", "-c", pathLine+"; "+line)
	cmd.Dir = "/"
	out, err := cmd.CombinedOutput()
	if err != nil || len(out) != 0 {
		t.Fatalf("the crontab line under cron's environment: %v\n%s", err, out)
	}
	if m := string(readFile(t, prom)); !strings.Contains(m, `msgprobe_service_up{service="A"} 1`) {
		t.Errorf("textfile:\n%s", m)
	}
}

// Every failure to write a report or the state says what to fix.
func TestWriteFailuresSayWhatToFix(t *testing.T) {
	dir := t.TempDir()
	goodConfig(t, dir)
	r := msgprobe(t, dir, "", "check", "-c", "good.yaml", "-f", "prometheus=no/such/m.prom")
	if r.code != 3 || !strings.Contains(r.stderr, "\nhint: create the directory first: mkdir -p no/such\n") {
		t.Errorf("missing directory: exit %d stderr %q", r.code, r.stderr)
	}
	r = msgprobe(t, dir, "", "check", "-c", "good.yaml", "--state", "no/such/st.json")
	if r.code != 3 || !strings.Contains(r.stderr, "\nhint: create the directory first: mkdir -p no/such\n") {
		t.Errorf("missing state directory: exit %d stderr %q", r.code, r.stderr)
	}
	if os.Geteuid() != 0 {
		ro := filepath.Join(dir, "ro")
		os.Mkdir(ro, 0o555)
		r = msgprobe(t, dir, "", "check", "-c", "good.yaml", "-f", "json=ro/r.json")
		if r.code != 3 || !strings.Contains(r.stderr, "hint: make ro writable by ") {
			t.Errorf("read-only directory: exit %d stderr %q", r.code, r.stderr)
		}
	}
}
