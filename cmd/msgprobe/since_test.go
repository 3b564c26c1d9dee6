package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/msgprobe/msgprobe/internal/fixture"
)

// fakeClock is a clock the test moves forward.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// inProcess runs msgprobe in this process with the clock given.
func inProcess(t *testing.T, dir string, clock *fakeClock, env map[string]string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	io := &IO{Out: &out, Err: &errb, WorkDir: dir, Now: clock.Now, Env: func(k string) (string, bool) {
		v, ok := env[k]
		return v, ok
	}}
	code = Main(args, io)
	return code, out.String(), errb.String()
}

// The done-when of the cron scenario: a crontab line runs every minute
// during a two-minute outage; of its three rounds, the first prints the
// outage, the second nothing (still down, already told), the third the
// recovery: exactly two lines.
func TestCronTwoMinuteOutagePrintsTwoLines(t *testing.T) {
	dir := t.TempDir()
	signal := newSwitchable(t)
	writeFile(t, dir, "cron.yaml", fmt.Sprintf(`version: 1
defaults: {timeout: 2s, samples: 1}
services:
  - name: Signal
    endpoints:
      - {name: chat, target: "tcp://%s"}
`, signal.addr()))
	clock := &fakeClock{t: time.Date(2026, 11, 25, 9, 36, 0, 0, time.Local)}
	env := map[string]string{"HOME": dir, "PATH": "/usr/bin:/bin"}
	cron := []string{"check", "-c", "cron.yaml", "-q", "-f", "prometheus=m.prom", "--deadline", "20s"}

	// 09:36, before the outage: all up, silent.
	if code, out, errs := inProcess(t, dir, clock, env, cron...); code != 0 || out != "" || errs != "" {
		t.Fatalf("09:36, up: exit %d stdout %q stderr %q", code, out, errs)
	}

	// The outage starts at 09:36:30 and lasts two minutes; cron runs at
	// 09:37, 09:38 and 09:39.
	var printed []string
	signal.down()
	for i, want := range []int{2, 2, 0} {
		clock.advance(time.Minute)
		if i == 2 {
			listenAgain(t, signal.addr())
		}
		code, out, errs := inProcess(t, dir, clock, env, cron...)
		if code != want || errs != "" {
			t.Fatalf("round %d: exit %d, want %d; stderr %q", i+1, code, want, errs)
		}
		printed = append(printed, strings.Split(strings.TrimSuffix(out, "\n"), "\n")...)
	}
	var lines []string
	for _, l := range printed {
		if l != "" {
			lines = append(lines, l)
		}
	}
	want := []string{
		"Signal: up → down (up since 09:36, 1 run): chat: 1/1 attempts refused at connect",
		"Signal: down → up (down since 09:37, 2 runs)",
	}
	if strings.Join(lines, "\n") != strings.Join(want, "\n") {
		t.Errorf("cron printed:\n%s\nwant:\n%s", strings.Join(lines, "\n"), strings.Join(want, "\n"))
	}

	// The textfile of the last round says since when Signal is up again.
	prom := string(readFile(t, filepath.Join(dir, "m.prom")))
	recovered := `msgprobe_service_status_since_timestamp_seconds{service="Signal"} ` + strconv.FormatFloat(float64(clock.Now().Unix()), 'g', -1, 64)
	if !strings.Contains(prom, recovered) {
		t.Errorf("textfile lacks %s:\n%s", recovered, prom)
	}
}

// listenAgain accepts on addr again, as a service that came back.
func listenAgain(t *testing.T, addr string) {
	t.Helper()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
}

// "since when" in the table and the JSON, from the default state, and the
// switches that turn it off.
func TestSinceWhenFromTheDefaultState(t *testing.T) {
	dir := t.TempDir()
	signal := newSwitchable(t)
	writeFile(t, dir, "c.yaml", fmt.Sprintf(`version: 1
defaults: {timeout: 2s, samples: 1}
services:
  - name: Signal
    endpoints:
      - {name: chat, target: "tcp://%s"}
`, signal.addr()))
	clock := &fakeClock{t: time.Date(2026, 11, 25, 9, 30, 0, 0, time.Local)}
	state := filepath.Join(dir, "xdg")
	env := map[string]string{"HOME": filepath.Join(dir, "home"), "XDG_STATE_HOME": state}

	signal.down()
	code, out, errs := inProcess(t, dir, clock, env, "check", "-c", "c.yaml")
	if code != 2 || errs != "" || !hasRow(out, "Signal", "down", "chat:") {
		t.Fatalf("first run: exit %d stderr %q\n%s", code, errs, out)
	}
	files, _ := filepath.Glob(filepath.Join(state, "msgprobe", "state-*.json"))
	if len(files) != 1 {
		t.Fatalf("default state files: %v", files)
	}

	clock.advance(14 * time.Minute)
	code, out, _ = inProcess(t, dir, clock, env, "check", "-c", "c.yaml")
	if code != 2 || !hasRow(out, "Signal", "down", "14m", "(since", "09:30)") || !hasRow(out, "chat", "down", "14m", "(since", "09:30)") {
		t.Errorf("second run, 14 minutes later:\n%s", out)
	}
	code, out, _ = inProcess(t, dir, clock, env, "check", "-c", "c.yaml", "-f", "json")
	var rep struct {
		Services []struct {
			Status      string
			StatusSince string `json:"status_since"`
			StatusRuns  int    `json:"status_runs"`
			Endpoints   []struct {
				StatusSince string `json:"status_since"`
			}
		}
	}
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatal(err)
	}
	since := time.Date(2026, 11, 25, 9, 30, 0, 0, time.Local).UTC().Format(time.RFC3339)
	if s := rep.Services[0]; s.StatusSince != since || s.StatusRuns != 3 || s.Endpoints[0].StatusSince != since {
		t.Errorf("JSON since: %+v, want %s", rep.Services[0], since)
	}

	// Off: --no-state, --state '', and CI.
	for _, args := range [][]string{{"--no-state"}, {"--state", ""}} {
		_, out, _ = inProcess(t, dir, clock, env, append([]string{"check", "-c", "c.yaml"}, args...)...)
		if strings.Contains(out, "since") {
			t.Errorf("%q still shows since:\n%s", args, out)
		}
	}
	ci := map[string]string{"HOME": env["HOME"], "XDG_STATE_HOME": state, "CI": "true"}
	if _, out, _ = inProcess(t, dir, clock, ci, "check", "-c", "c.yaml"); strings.Contains(out, "since") {
		t.Errorf("CI keeps state:\n%s", out)
	}
}

// A home that cannot be written never fails a run: a warning with a hint,
// none under -q.
func TestUnwritableStateHomeIsAWarning(t *testing.T) {
	// A file where the directory should be blocks root as well.
	dir := t.TempDir()
	goodConfig(t, dir)
	writeFile(t, dir, "xdg", "a file, not a directory")
	env := map[string]string{"XDG_STATE_HOME": filepath.Join(dir, "xdg")}
	clock := &fakeClock{t: time.Now()}
	code, out, errs := inProcess(t, dir, clock, env, "check", "-c", "good.yaml", "-s", "alpha")
	if code != 0 || !strings.HasPrefix(out, "SERVICE") ||
		!strings.HasPrefix(errs, "msgprobe: warning: not keeping state between runs: cannot create ") ||
		!strings.Contains(errs, "\nhint: set XDG_STATE_HOME to a writable directory") {
		t.Errorf("exit %d stderr %q\n%s", code, errs, out)
	}
	code, out, errs = inProcess(t, dir, clock, env, "check", "-c", "good.yaml", "-s", "alpha", "-q")
	if code != 0 || out != "" || errs != "" {
		t.Errorf("-q: exit %d stdout %q stderr %q", code, out, errs)
	}
}

// --watch on a screen shorter than the report shows the services that are
// not up first, and keeps the summary and the diagnosis in view.
func TestWatchOnAShortScreenShowsTroubleFirst(t *testing.T) {
	dir := t.TempDir()
	var b strings.Builder
	b.WriteString("version: 1\ndefaults: {timeout: 2s, samples: 1}\nservices:\n")
	up := fixture.TCPListener(t)
	for _, name := range []string{"A", "B", "C", "D", "E", "F"} {
		fmt.Fprintf(&b, "  - name: %s\n    endpoints:\n      - {name: x, target: \"tcp://%s\"}\n", name, up)
	}
	fmt.Fprintf(&b, "  - name: Broken\n    endpoints:\n      - {name: x, target: \"tcp://%s\"}\n", fixture.ClosedPort(t))
	writeFile(t, dir, "w.yaml", b.String())
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out := &roundCounter{marker: clearScreen, n: 2, cancel: cancel}
	io := &IO{Out: out, Err: new(bytes.Buffer), OutTTY: true, WorkDir: dir, Height: 10}
	opts := &checkOptions{Configs: []string{"w.yaml"}, FailOn: "degraded", Concurrency: 4, NoColor: true, NoState: true, Watch: 10 * time.Millisecond}
	runCheck(ctx, opts, io)
	screen := strings.Split(out.String(), clearScreen)[1]
	lines := strings.Split(strings.TrimSuffix(screen, "\n"), "\n")
	if len(lines) > 10 || !strings.HasPrefix(lines[1], "Broken") || !strings.Contains(screen, "more lines: the services that are up") ||
		!strings.Contains(screen, "7 services: 6 up") || !strings.Contains(screen, "diagnosis: service_outage") {
		t.Errorf("%d lines:\n%s", len(lines), screen)
	}
}
