package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil/promlint"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/msgprobe/msgprobe/internal/fixture"
)

// switchable is a loopback listener the test can take down: while up it
// accepts and holds connections; once closed its port refuses.
type switchable struct {
	ln   net.Listener
	once sync.Once
	wg   sync.WaitGroup
}

func newSwitchable(t *testing.T) *switchable {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &switchable{ln: ln}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	t.Cleanup(s.down)
	return s
}

func (s *switchable) addr() string { return s.ln.Addr().String() }

// down closes the listener and waits for its accept loop to end.
func (s *switchable) down() {
	s.once.Do(func() {
		s.ln.Close()
		s.wg.Wait()
	})
}

type stateFileView struct {
	Services map[string]struct {
		Status    string    `json:"status"`
		Since     time.Time `json:"since"`
		Runs      int       `json:"runs"`
		Endpoints map[string]struct {
			Status string `json:"status"`
			Runs   int    `json:"runs"`
		} `json:"endpoints"`
	} `json:"services"`
}

func readState(t *testing.T, path string) stateFileView {
	t.Helper()
	var st stateFileView
	if err := json.Unmarshal(readFile(t, path), &st); err != nil {
		t.Fatalf("state file: %v", err)
	}
	return st
}

// The scenario of a crontab line: runs are silent while all is well, and
// the run that finds a change prints exactly that change.
func TestCronScenario(t *testing.T) {
	dir := t.TempDir()
	signal := newSwitchable(t)
	writeFile(t, dir, "cron.yaml", fmt.Sprintf(`version: 1
defaults: {timeout: 2s, samples: 1}
services:
  - name: Signal
    endpoints:
      - name: chat
        target: tcp://%s
  - name: Olvid
    endpoints:
      - name: server
        target: tcp://%s
`, signal.addr(), fixture.TCPListener(t)))
	args := []string{"check", "-c", "cron.yaml", "-q", "--state", "st.json", "--deadline", "20s", "-f", "prometheus=m.prom", "-f", "json=r.json"}

	for run := 1; run <= 2; run++ {
		r := msgprobe(t, dir, "", args...)
		if r.code != 0 || r.stdout != "" || r.stderr != "" {
			t.Fatalf("run %d, all up: exit %d stdout %q stderr %q", run, r.code, r.stdout, r.stderr)
		}
	}
	st := readState(t, filepath.Join(dir, "st.json"))
	sig := st.Services["Signal"]
	if sig.Status != "up" || sig.Runs != 2 || sig.Endpoints["chat"].Runs != 2 || st.Services["Olvid"].Runs != 2 {
		t.Fatalf("state after two runs up: %+v", st)
	}

	signal.down()
	r := msgprobe(t, dir, "", args...)
	since := sig.Since.Local()
	clock := since.Format("15:04")
	if y, m, d := since.Date(); y != time.Now().Year() || m != time.Now().Month() || d != time.Now().Day() {
		clock = since.Format("2006-01-02 15:04")
	}
	want := "Signal: up → down (up since " + clock + ", 2 runs): chat: 1/1 attempts refused at connect\n"
	if r.code != 2 || r.stdout != want || r.stderr != "" {
		t.Fatalf("run 3, Signal down: exit %d\nstdout %q\nwant   %q\nstderr %q", r.code, r.stdout, want, r.stderr)
	}
	var rep struct {
		Transitions []struct {
			Service, Endpoint, From, To, Since string
			Runs                               int
		} `json:"transitions"`
	}
	if err := json.Unmarshal(readFile(t, filepath.Join(dir, "r.json")), &rep); err != nil {
		t.Fatal(err)
	}
	if len(rep.Transitions) != 2 || rep.Transitions[0].Endpoint != "" || rep.Transitions[1].Endpoint != "chat" ||
		rep.Transitions[0].From != "up" || rep.Transitions[0].To != "down" || rep.Transitions[0].Runs != 2 {
		t.Errorf("JSON transitions: %+v", rep.Transitions)
	}
	if m := string(readFile(t, filepath.Join(dir, "m.prom"))); !strings.Contains(m, `msgprobe_endpoint_up{`) {
		t.Errorf("textfile not rewritten:\n%s", m)
	}

	// Still down: no transition, and nothing to say that the last run did
	// not say; the exit code still says down.
	r = msgprobe(t, dir, "", args...)
	if r.code != 2 || r.stdout != "" || r.stderr != "" {
		t.Errorf("run 4, still down: exit %d stdout %q stderr %q", r.code, r.stdout, r.stderr)
	}
	if st := readState(t, filepath.Join(dir, "st.json")); st.Services["Signal"].Status != "down" || st.Services["Signal"].Runs != 2 {
		t.Errorf("state after two runs down: %+v", st.Services["Signal"])
	}
	assertNoFiles(t, dir, "cron.yaml", "st.json", "m.prom", "r.json")
}

func TestCorruptStateIsAWarning(t *testing.T) {
	dir := t.TempDir()
	goodConfig(t, dir)
	writeFile(t, dir, "st.json", "{not json")
	r := msgprobe(t, dir, "", "check", "-c", "good.yaml", "-s", "alpha", "-q", "--state", "st.json")
	if r.code != 0 || r.stdout != "" || !strings.HasPrefix(r.stderr, "msgprobe: warning: ignoring the state in st.json (") || strings.Count(r.stderr, "\n") != 1 {
		t.Fatalf("exit %d stdout %q stderr %q", r.code, r.stdout, r.stderr)
	}
	if st := readState(t, filepath.Join(dir, "st.json")); st.Services["Alpha"].Status != "up" {
		t.Errorf("state not rewritten: %+v", st)
	}
	// Without -q the first run says the state starts afresh, and the table
	// shows no change.
	os.Remove(filepath.Join(dir, "st.json"))
	r = msgprobe(t, dir, "", "check", "-c", "good.yaml", "-s", "alpha", "--state", "st.json")
	if r.code != 0 || r.stderr != "msgprobe: warning: no state in st.json yet, starting a new one\n" || strings.Contains(r.stdout, "→") {
		t.Errorf("missing state: exit %d stdout %q stderr %q", r.code, r.stdout, r.stderr)
	}
	r = msgprobe(t, dir, "", "check", "-c", "good.yaml", "--state", "st.json")
	if r.code != 1 || strings.Contains(r.stdout, "→") {
		t.Errorf("a service seen for the first time is no transition:\n%s", r.stdout)
	}
}

// The "done when" of the cron and CI issue: one run writes JUnit for the CI
// and the textfile for node_exporter, and prints the table for the log;
// every file is read back by its consumer.
func TestSeveralFormatsInOneRun(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "fixtures.yaml", fixtures(t, dir))
	r := msgprobe(t, dir, "", "check", "-c", "fixtures.yaml", "-f", "junit=r.xml", "-f", "prometheus=m.prom", "-f", "table")
	if r.code != 2 || r.stderr != "" {
		t.Fatalf("exit %d stderr %q", r.code, r.stderr)
	}
	if !strings.HasPrefix(r.stdout, "SERVICE") || !strings.Contains(r.stdout, "2 services: 1 up, 0 degraded, 1 down, 0 unknown") {
		t.Errorf("stdout is not the table:\n%s", r.stdout)
	}
	assertNoFiles(t, dir, "fixtures.yaml", "ca.pem", "r.xml", "m.prom")

	var suites struct {
		Tests    int `xml:"tests,attr"`
		Failures int `xml:"failures,attr"`
		Suites   []struct {
			Name  string `xml:"name,attr"`
			Cases []struct {
				Name    string    `xml:"name,attr"`
				Failure *struct{} `xml:"failure"`
			} `xml:"testcase"`
		} `xml:"testsuite"`
	}
	if err := xml.Unmarshal(readFile(t, filepath.Join(dir, "r.xml")), &suites); err != nil {
		t.Fatalf("r.xml: %v", err)
	}
	if suites.Tests != 13 || suites.Failures != 9 || len(suites.Suites) != 2 || suites.Suites[1].Name != "Broken" {
		t.Errorf("junit: %d tests, %d failures, %d suites", suites.Tests, suites.Failures, len(suites.Suites))
	}

	prom := readFile(t, filepath.Join(dir, "m.prom"))
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(bytes.NewReader(prom))
	if err != nil {
		t.Fatalf("m.prom: %v", err)
	}
	for _, name := range []string{"msgprobe_endpoint_up", "msgprobe_service_status", "msgprobe_run_duration_seconds", "msgprobe_tls_cert_not_after_timestamp_seconds"} {
		if families[name] == nil {
			t.Errorf("m.prom lacks %s", name)
		}
	}
	if up := families["msgprobe_endpoint_up"]; up != nil && len(up.Metric) != 13 {
		t.Errorf("msgprobe_endpoint_up has %d series, want 13", len(up.Metric))
	}

	// The rules of `promtool check metrics`, applied in process.
	problems, err := promlint.New(bytes.NewReader(prom)).Lint()
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("promlint: %s: %s", p.Metric, p.Text)
	}

	t.Run("promtool", func(t *testing.T) {
		promtool, err := exec.LookPath("promtool")
		if err != nil {
			fixture.Missing(t, "promtool", "promtool is not installed (Debian: the prometheus package; .ci/run fetches it)")
		}
		cmd := exec.Command(promtool, "check", "metrics")
		cmd.Stdin = bytes.NewReader(prom)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("promtool check metrics: %v\n%s", err, out)
		}
	})
}

func TestUnwritableOutputFailsBeforeProbing(t *testing.T) {
	dir := t.TempDir()
	goodConfig(t, dir)
	for _, args := range [][]string{
		{"-f", "junit=r.xml", "-f", "prometheus=no/such/m.prom", "-f", "table"},
		{"-f", "junit=r.xml", "--state", "no/such/st.json"},
		{"-f", "json", "-f", "csv"},
		{"-f", "junit=r.xml", "-o", "out.txt"},
	} {
		r := msgprobe(t, dir, "", append([]string{"check", "-c", "good.yaml"}, args...)...)
		// No table on stdout: nothing was probed.
		if r.code != 3 || r.stdout != "" || !strings.HasPrefix(r.stderr, "msgprobe: ") {
			t.Errorf("%v: exit %d stdout %q stderr %q", args, r.code, r.stdout, r.stderr)
		}
	}
	assertNoFiles(t, dir, "good.yaml")
}

// startWatch runs msgprobe --watch with its stdout on a pipe.
func startWatch(t *testing.T, dir string, args ...string) (*exec.Cmd, io.Reader) {
	t.Helper()
	cmd := exec.Command(binary, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "NO_COLOR=")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = new(bytes.Buffer)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill() })
	return cmd, out
}

// within fails the test when f does not return before a generous deadline.
func within(t *testing.T, what string, f func() error) {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- f() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("%s: not done within 30s", what)
	}
}

// interrupt sends Ctrl-C and returns the exit code.
func interrupt(t *testing.T, cmd *exec.Cmd, out io.Reader) int {
	t.Helper()
	if err := cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	// Drain stdout so that a last write cannot block the process.
	go io.Copy(io.Discard, out)
	code := -1
	within(t, "exit after Ctrl-C", func() error {
		err := cmd.Wait()
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
			return nil
		}
		code = 0
		return err
	})
	return code
}

func TestWatchUntilInterrupted(t *testing.T) {
	dir := t.TempDir()
	goodConfig(t, dir)

	t.Run("json", func(t *testing.T) {
		cmd, out := startWatch(t, dir, "check", "-c", "good.yaml", "--watch", "20ms", "-f", "json", "-f", "markdown=summary.md")
		dec := json.NewDecoder(out)
		within(t, "three rounds", func() error {
			for i := 0; i < 3; i++ {
				var rep struct {
					Status      string            `json:"status"`
					Transitions []json.RawMessage `json:"transitions"`
				}
				if err := dec.Decode(&rep); err != nil {
					return fmt.Errorf("round %d: %v", i+1, err)
				}
				if rep.Status != "degraded" || rep.Transitions == nil {
					return fmt.Errorf("round %d: status %s, transitions %v", i+1, rep.Status, rep.Transitions)
				}
			}
			return nil
		})
		if code := interrupt(t, cmd, out); code != 1 {
			t.Errorf("exit %d, want 1, the last round's\nstderr: %s", code, cmd.Stderr)
		}
		if !strings.Contains(string(readFile(t, filepath.Join(dir, "summary.md"))), "Beta") {
			t.Error("summary.md not written")
		}
	})

	t.Run("table", func(t *testing.T) {
		cmd, out := startWatch(t, dir, "check", "-c", "good.yaml", "--watch", "20ms")
		lines := bufio.NewScanner(out)
		var seen []string
		within(t, "two rounds", func() error {
			rounds := 0
			for rounds < 3 && lines.Scan() {
				seen = append(seen, lines.Text())
				if strings.HasPrefix(lines.Text(), "== round ") {
					rounds++
				}
			}
			if rounds < 3 {
				return fmt.Errorf("output ended after %d rounds:\n%s", rounds, strings.Join(seen, "\n"))
			}
			return nil
		})
		text := strings.Join(seen, "\n")
		if strings.Contains(text, clearScreen) || !strings.Contains(text, "== round 2 · ") || !strings.Contains(text, "\n\n== round 2") {
			t.Errorf("piped rounds are not separated clearly:\n%s", text)
		}
		if code := interrupt(t, cmd, out); code != 1 {
			t.Errorf("exit %d, want 1", code)
		}
	})
}
