package main

import (
	"strings"
	"testing"
	"time"

	"github.com/msgprobe/msgprobe/report"
)

// What a user sees when trying each format: the nagios word agrees with the
// exit code whatever --fail-on says, down endpoints keep their perfdata
// label, CSV lines end in CRLF and carry the diagnosis.
func TestFormatsTellTheSameTruth(t *testing.T) {
	dir := t.TempDir()
	goodConfig(t, dir) // Alpha up, Beta degraded (one of two endpoints refused)
	for _, c := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"--fail-on", "never"}, 0, "MSGPROBE OK - 1 degraded: Beta |"},
		{[]string{"--fail-on", "down"}, 0, "MSGPROBE OK - 1 degraded: Beta |"},
		{nil, 1, "MSGPROBE WARNING - 1 degraded: Beta |"},
	} {
		r := msgprobe(t, dir, "", append([]string{"check", "-c", "good.yaml", "-f", "nagios", "--no-state"}, c.args...)...)
		if r.code != c.code || !strings.HasPrefix(r.stdout, c.want) || !strings.Contains(r.stdout, " 'Beta/two'=U") {
			t.Errorf("%v: exit %d, want %d\n%s", c.args, r.code, c.code, r.stdout)
		}
	}
	r := msgprobe(t, dir, "", "check", "-c", "good.yaml", "-f", "csv", "--no-state")
	lines := strings.SplitAfter(r.stdout, "\n")
	for _, l := range lines[:len(lines)-1] {
		if !strings.HasSuffix(l, "\r\n") {
			t.Errorf("CSV line without CRLF: %q", l)
		}
	}
	if last := lines[len(lines)-2]; !strings.HasPrefix(last, "(diagnosis),ok,,,degraded,") {
		t.Errorf("last CSV row is not the diagnosis: %q", last)
	}
}

// A YAML syntax error points at its column too, where yaml.v3 gives only a
// line, so that an editor jumps to the character.
func TestYAMLSyntaxErrorHasAColumn(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "bad.yaml", "version: 1\nservices:\n  - name: A: B\n    endpoints: [{target: \"tcp://127.0.0.1:1\"}]\n")
	r := msgprobe(t, dir, "", "check", "-c", "bad.yaml")
	if r.code != 3 || r.stderr != "bad.yaml:3:12: invalid YAML: mapping values are not allowed in this context\n" {
		t.Errorf("exit %d stderr %q", r.code, r.stderr)
	}
}

// Shell completion offers the values of -f, --fail-on and --family, and the
// config's service names and tags for -s and -t.
func TestCompletionOffersValues(t *testing.T) {
	dir := t.TempDir()
	goodConfig(t, dir) // services Alpha and Beta, Beta tagged b
	for _, c := range []struct {
		args []string
		want []string
	}{
		{[]string{"-f", ""}, report.Formats},
		{[]string{"--fail-on", ""}, []string{"degraded", "down", "never"}},
		{[]string{"--family", ""}, []string{"any", "both", "ipv4", "ipv6"}},
		{[]string{"-c", "good.yaml", "-s", ""}, []string{"Alpha", "Beta"}},
		{[]string{"-c", "good.yaml", "-t", ""}, []string{"b"}},
	} {
		r := msgprobe(t, dir, "", append([]string{"__complete", "check"}, c.args...)...)
		got := strings.Split(strings.TrimSpace(r.stdout), "\n")
		if len(got) != len(c.want)+1 || strings.Join(got[:len(c.want)], " ") != strings.Join(c.want, " ") || got[len(c.want)] != ":4" {
			t.Errorf("%v: %q, want %q then :4 (no file completion)", c.args, got, c.want)
		}
	}
	r := msgprobe(t, dir, "", "check", "--help")
	for _, want := range []string{"--service NAME", "--tag TAG", "--timeout DUR", "--family FAMILY", "  # Probe each service over IPv4 and IPv6"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("--help lacks %q", want)
		}
	}
	if strings.Contains(r.stdout, "stringArray") {
		t.Errorf("--help shows a type for a placeholder:\n%s", r.stdout)
	}
}

// The table fits the terminal's width: COLUMNS narrower than the table
// wraps DETAIL at word boundaries, under its column.
func TestTableWrapsToColumns(t *testing.T) {
	dir := t.TempDir()
	goodConfig(t, dir)
	code, out, _ := inProcess(t, dir, &fakeClock{t: time.Now()}, map[string]string{"COLUMNS": "50"}, "check", "-c", "good.yaml", "--no-state")
	detail := strings.Index(out, "DETAIL")
	for _, line := range strings.Split(strings.TrimSuffix(out, "\n"), "\n") {
		if len([]rune(line)) > 50 && len([]rune(line)) > detail+24 {
			t.Errorf("exit %d, line wider than the terminal: %q\n%s", code, line, out)
		}
	}
	if !strings.Contains(out, "\n"+strings.Repeat(" ", detail)+"refused at connect") && !strings.Contains(out, "\n"+strings.Repeat(" ", detail)+"at connect") {
		t.Errorf("DETAIL not wrapped under its column:\n%s", out)
	}
}
