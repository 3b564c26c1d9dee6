package main

import (
	"strings"
	"testing"
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
