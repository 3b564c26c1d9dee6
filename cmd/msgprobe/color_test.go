package main

import (
	"bytes"
	"fmt"
	"strings"
	"testing"

	"github.com/msgprobe/msgprobe/internal/fixture"
)

// Colors appear on a terminal only, and never with --no-color or NO_COLOR.
func TestColorFollowsTheTerminal(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "c.yaml", fmt.Sprintf("version: 1\nservices:\n  - name: A\n    endpoints:\n      - target: tcp://%s\n        samples: 1\n", fixture.TCPListener(t)))
	tests := []struct {
		name  string
		tty   bool
		env   map[string]string
		args  []string
		color bool
	}{
		{"terminal", true, nil, nil, true},
		{"pipe", false, nil, nil, false},
		{"--no-color", true, nil, []string{"--no-color"}, false},
		{"NO_COLOR", true, map[string]string{"NO_COLOR": "1"}, nil, false},
		{"json on a terminal", true, nil, []string{"-f", "json"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out, errb bytes.Buffer
			io := &IO{
				In: strings.NewReader(""), Out: &out, Err: &errb, OutTTY: tt.tty, WorkDir: dir,
				Env: func(k string) (string, bool) { v, ok := tt.env[k]; return v, ok },
			}
			code := Main(append([]string{"check", "-c", "c.yaml"}, tt.args...), io)
			if code != 0 {
				t.Fatalf("exit %d: %s", code, errb.String())
			}
			if got := strings.Contains(out.String(), "\x1b["); got != tt.color {
				t.Errorf("colored %v, want %v:\n%q", got, tt.color, out.String())
			}
		})
	}
}
