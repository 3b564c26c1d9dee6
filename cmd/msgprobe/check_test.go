package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"gopkg.in/yaml.v3"
)

func TestParseFormats(t *testing.T) {
	tests := []struct {
		values []string
		output string
		want   string // "format>file" joined by spaces, or "error: substring"
	}{
		{nil, "", "table>"},
		{[]string{"json"}, "r.json", "json>r.json"},
		{[]string{"junit=report.xml", "prometheus=m.prom", "table"}, "", "junit>report.xml prometheus>m.prom table>"},
		{[]string{"JSON=a.json", "csv"}, "out.csv", "json>a.json csv>out.csv"},
		{[]string{"json", "table"}, "", "error: formats json and table would all go to standard output"},
		{[]string{"json", "csv"}, "x", "error: would all go to x"},
		{[]string{"yaml"}, "", "error: unknown format \"yaml\""},
		{[]string{"junit="}, "", "error: -f junit= names no file"},
		{[]string{"junit=r.xml", "csv=./r.xml"}, "", "error: write the same file"},
		{[]string{"junit=r.xml"}, "o.txt", "error: -o o.txt has nothing to write"},
		{[]string{"junit=r.xml", "table"}, "r.xml", "error: -o r.xml and -f junit=r.xml write the same file"},
	}
	for _, tt := range tests {
		specs, err := parseFormats(tt.values, tt.output)
		var got string
		if err != nil {
			got = "error: " + err.Error()
		} else {
			var parts []string
			for _, s := range specs {
				parts = append(parts, s.format+">"+s.file)
			}
			got = strings.Join(parts, " ")
		}
		if strings.HasPrefix(tt.want, "error: ") {
			if !strings.HasPrefix(got, "error: ") || !strings.Contains(got, strings.TrimPrefix(tt.want, "error: ")) {
				t.Errorf("%v -o %q: got %q, want %q", tt.values, tt.output, got, tt.want)
			}
		} else if got != tt.want {
			t.Errorf("%v -o %q: got %q, want %q", tt.values, tt.output, got, tt.want)
		}
	}
}

// roundCounter cancels the watch once it has seen n rounds.
type roundCounter struct {
	mu     sync.Mutex
	buf    bytes.Buffer
	marker string
	n      int
	cancel context.CancelFunc
}

func (r *roundCounter) Write(p []byte) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.buf.Write(p)
	if strings.Count(r.buf.String(), r.marker) >= r.n {
		r.cancel()
	}
	return len(p), nil
}

func (r *roundCounter) String() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.buf.String()
}

func TestWatchRedrawsOnATerminal(t *testing.T) {
	dir := t.TempDir()
	goodConfig(t, dir)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out := &roundCounter{marker: clearScreen, n: 3, cancel: cancel}
	var errb bytes.Buffer
	io := &IO{Out: out, Err: &errb, OutTTY: true, WorkDir: dir}
	opts := &checkOptions{Configs: []string{"good.yaml"}, FailOn: "degraded", Concurrency: 4, NoColor: true, Watch: 10 * time.Millisecond, Formats: []string{"table", "json=r.json"}}
	err := runCheck(ctx, opts, io)
	if ctx.Err() == context.DeadlineExceeded {
		t.Fatal("the watch did not stop within 30s")
	}
	if se, ok := err.(*statusExit); !ok || se.code != exitDegraded {
		t.Fatalf("exit %v, want the last round's, degraded", err)
	}
	got := out.String()
	if n := strings.Count(got, clearScreen); n != 3 || !strings.HasPrefix(got, clearScreen) {
		t.Fatalf("%d redraws, want 3:\n%q", n, got)
	}
	for i := 1; i <= 3; i++ {
		if !strings.Contains(got, fmt.Sprintf("round %d · ", i)) || !strings.Contains(got, "every 10ms · no change since ") {
			t.Errorf("round %d: no watch line in\n%s", i, got)
		}
	}
	decodeReport(t, string(readFile(t, filepath.Join(dir, "r.json"))))
	if errb.Len() != 0 {
		t.Errorf("stderr: %q", errb.String())
	}
}

func readFile(t *testing.T, path string) []byte {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func TestWatchLine(t *testing.T) {
	at := time.Date(2026, 11, 25, 9, 41, 7, 0, time.UTC)
	if got := watchLine(7, 30*time.Second, at, at.Add(-3*time.Minute), at.Add(-30*time.Second), "Signal: up → down (up since 09:38, 3 runs)"); got != "round 7 · 09:41:07 · every 30s · last change 09:40:37: Signal: up → down (up since 09:38, 3 runs)" {
		t.Errorf("got %q", got)
	}
	if got := watchLine(1, time.Minute, at, at, time.Time{}, ""); got != "round 1 · 09:41:07 · every 1m0s · no change since 09:41:07" {
		t.Errorf("got %q", got)
	}
}

// examplesDir is the repository's examples directory, seen from this
// package.
const examplesDir = "../../examples"

// TestExamplesAreAccepted parses every ready-to-use example (crontab,
// systemd units, CI workflows) and checks that each msgprobe command line
// in it is one the CLI accepts: the flags parse with the real command tree,
// the formats and --fail-on are valid, and the services and tags it selects
// exist in the built-in catalog.
func TestExamplesAreAccepted(t *testing.T) {
	commands := map[string][][]string{}
	add := func(file, line string) {
		if args := msgprobeArgs(t, line); args != nil {
			commands[file] = append(commands[file], args)
		}
	}

	crontab := string(readFile(t, filepath.Join(examplesDir, "cron", "crontab")))
	for _, line := range strings.Split(crontab, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") || regexpEnv.MatchString(line) {
			continue
		}
		fields := strings.Fields(line)
		if len(fields) < 6 {
			t.Fatalf("crontab: not a schedule and a command: %q", line)
		}
		for _, f := range fields[:5] {
			if strings.Trim(f, "0123456789*/,-") != "" {
				t.Errorf("crontab: bad schedule field %q in %q", f, line)
			}
		}
		add("crontab", strings.Join(fields[5:], " "))
	}

	service := parseUnit(t, filepath.Join(examplesDir, "cron", "msgprobe.service"))
	if service["Service"]["Type"] != "oneshot" || service["Service"]["ExecStart"] == "" {
		t.Errorf("msgprobe.service: %v", service["Service"])
	}
	add("msgprobe.service", service["Service"]["ExecStart"])
	timer := parseUnit(t, filepath.Join(examplesDir, "cron", "msgprobe.timer"))
	if timer["Timer"]["Unit"] != "msgprobe.service" || timer["Timer"]["OnCalendar"] == "" || timer["Install"]["WantedBy"] != "timers.target" {
		t.Errorf("msgprobe.timer: %v", timer)
	}

	var gh struct {
		On   map[string]any `yaml:"on"`
		Jobs map[string]struct {
			RunsOn string `yaml:"runs-on"`
			Steps  []struct {
				Name string            `yaml:"name"`
				Uses string            `yaml:"uses"`
				Run  string            `yaml:"run"`
				With map[string]string `yaml:"with"`
			} `yaml:"steps"`
		} `yaml:"jobs"`
	}
	decodeYAML(t, filepath.Join(examplesDir, "ci", "github-actions.yml"), &gh)
	var summary, upload bool
	for _, job := range gh.Jobs {
		for _, step := range job.Steps {
			for _, line := range strings.Split(step.Run, "\n") {
				add("github-actions.yml", line)
			}
			summary = summary || strings.Contains(step.Run, `>> "$GITHUB_STEP_SUMMARY"`)
			upload = upload || strings.HasPrefix(step.Uses, "actions/upload-artifact@") && strings.HasSuffix(step.With["path"], ".xml")
		}
	}
	if len(gh.On) == 0 || !summary || !upload {
		t.Errorf("github-actions.yml: triggers %v, step summary %v, JUnit upload %v", gh.On, summary, upload)
	}

	var gl map[string]struct {
		Script    []string `yaml:"script"`
		Artifacts struct {
			When    string            `yaml:"when"`
			Reports map[string]string `yaml:"reports"`
		} `yaml:"artifacts"`
	}
	decodeYAML(t, filepath.Join(examplesDir, "ci", "gitlab-ci.yml"), &gl)
	for name, job := range gl {
		for _, line := range job.Script {
			add("gitlab-ci.yml", line)
		}
		if job.Artifacts.When != "always" || job.Artifacts.Reports["junit"] == "" {
			t.Errorf("gitlab-ci.yml: job %s does not keep its JUnit report: %+v", name, job.Artifacts)
		}
	}

	for _, file := range []string{"crontab", "msgprobe.service", "github-actions.yml", "gitlab-ci.yml"} {
		if len(commands[file]) == 0 {
			t.Errorf("%s: no msgprobe command line found", file)
		}
		for _, args := range commands[file] {
			if err := acceptArgs(args); err != nil {
				t.Errorf("%s: msgprobe %s: %v", file, strings.Join(args, " "), err)
			}
		}
	}
	// The helper must reject what the CLI rejects, or the test proves nothing.
	for _, bad := range [][]string{{"check", "--stat", "x"}, {"check", "-f", "junit", "-f", "json"}, {"check", "-t", "no-such-tag"}, {"check", "--fail-on", "sometimes"}, {"chek"}} {
		if acceptArgs(bad) == nil {
			t.Errorf("msgprobe %s was accepted", strings.Join(bad, " "))
		}
	}
}

var regexpEnv = regexp.MustCompile(`^[A-Z_]+=`)

// msgprobeArgs returns the arguments of the msgprobe command on a shell
// line, or nil when the line runs something else. It splits words the way
// a shell does for the simple lines examples hold (quotes, no expansion)
// and stops at a pipe, a redirection or a command separator.
func msgprobeArgs(t *testing.T, line string) []string {
	t.Helper()
	var words []string
	var cur strings.Builder
	inWord := false
	var quote rune
	flush := func() {
		if inWord {
			words = append(words, cur.String())
		}
		cur.Reset()
		inWord = false
	}
scan:
	for _, r := range strings.TrimSpace(line) {
		switch {
		case quote != 0 && r == quote:
			quote = 0
		case quote != 0:
			cur.WriteRune(r)
		case r == '\'' || r == '"':
			quote, inWord = r, true
		case r == ' ' || r == '\t':
			flush()
		case strings.ContainsRune("|&;<>", r):
			break scan
		default:
			cur.WriteRune(r)
			inWord = true
		}
	}
	if quote != 0 {
		t.Fatalf("unbalanced quote in %q", line)
	}
	flush()
	if len(words) == 0 || filepath.Base(words[0]) != "msgprobe" {
		return nil
	}
	return words[1:]
}

// acceptArgs parses args with the real command tree, without running
// anything, and applies the checks check makes before it probes.
func acceptArgs(args []string) error {
	io := &IO{Out: new(bytes.Buffer), Err: new(bytes.Buffer)}
	root := newRoot(io)
	cmd, rest, err := root.Find(args)
	if err != nil {
		return err
	}
	if cmd.Name() != "check" {
		return fmt.Errorf("not a check command: %s", cmd.CommandPath())
	}
	if err := cmd.ParseFlags(rest); err != nil {
		return err
	}
	if err := cmd.ValidateArgs(cmd.Flags().Args()); err != nil {
		return err
	}
	flags := cmd.Flags()
	formats, _ := flags.GetStringArray("format")
	output, _ := flags.GetString("output")
	if _, err := parseFormats(formats, output); err != nil {
		return err
	}
	failOn, _ := flags.GetString("fail-on")
	if _, _, err := failOnLevel(failOn); err != nil {
		return err
	}
	if configs, _ := flags.GetStringArray("config"); len(configs) == 0 {
		cfg, err := loadConfig(nil, io)
		if err != nil {
			return err
		}
		services, _ := flags.GetStringArray("service")
		tags, _ := flags.GetStringArray("tag")
		return selectServices(cfg, services, tags)
	}
	return nil
}

// parseUnit reads a systemd unit file: sections of Key=Value lines.
func parseUnit(t *testing.T, path string) map[string]map[string]string {
	t.Helper()
	unit := map[string]map[string]string{}
	section := ""
	for i, line := range strings.Split(string(readFile(t, path)), "\n") {
		line = strings.TrimSpace(line)
		switch {
		case line == "" || strings.HasPrefix(line, "#") || strings.HasPrefix(line, ";"):
		case strings.HasPrefix(line, "[") && strings.HasSuffix(line, "]"):
			section = line[1 : len(line)-1]
			if unit[section] != nil {
				t.Errorf("%s:%d: section [%s] repeated", path, i+1, section)
			}
			unit[section] = map[string]string{}
		default:
			key, value, ok := strings.Cut(line, "=")
			if !ok || section == "" || strings.TrimSpace(key) == "" || strings.ContainsAny(key, " \t") {
				t.Fatalf("%s:%d: not a Key=Value line in a section: %q", path, i+1, line)
			}
			unit[section][key] = value
		}
	}
	if unit["Unit"]["Description"] == "" {
		t.Errorf("%s: no [Unit] Description", path)
	}
	return unit
}

func decodeYAML(t *testing.T, path string, v any) {
	t.Helper()
	dec := yaml.NewDecoder(bytes.NewReader(readFile(t, path)))
	dec.KnownFields(false)
	if err := dec.Decode(v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}
