package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/msgprobe/msgprobe/internal/fixture"
	"github.com/msgprobe/msgprobe/probe"
)

// A file with five different mistakes: five positioned errors with their
// hints in one run, in file order, exit 3, for validate and check alike.
func TestFiveMistakesInOneRun(t *testing.T) {
	dir := t.TempDir()
	data, err := os.ReadFile(filepath.Join("..", "..", "probe", "testdata", "config", "invalid-five.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, dir, "five.yaml", string(data))
	want := `five.yaml:3:12: timeout 5 has no unit
hint: did you mean "5s"?
five.yaml:8:17: tcp:// target has no port
hint: write it as tcp://e1.whatsapp.net:PORT
five.yaml:10:17: unknown scheme "htps" in target
hint: did you mean "https"?
five.yaml:11:9: unknown key "timout" in endpoint
hint: did you mean "timeout"?
five.yaml:12:11: duplicate service name "Whatsapp" (first at line 5, column 11)
hint: service names are compared without case
`
	for _, args := range [][]string{{"validate", "-c", "five.yaml"}, {"check", "-c", "five.yaml"}, {"list", "-c", "five.yaml"}} {
		r := msgprobe(t, dir, "", args...)
		if r.code != 3 || r.stdout != "" {
			t.Errorf("%v: exit %d stdout %q, want 3 and nothing", args, r.code, r.stdout)
		}
		if r.stderr != want {
			t.Errorf("%v: stderr\n%s\nwant\n%s", args, r.stderr, want)
		}
		if n := len(regexp.MustCompile(`(?m)^five\.yaml:\d+:\d+: `).FindAllString(r.stderr, -1)); n != 5 {
			t.Errorf("%v: %d positioned errors, want 5", args, n)
		}
	}
}

func TestSeveralConfigFiles(t *testing.T) {
	dir := t.TempDir()
	up := fixture.TCPListener(t)
	if err := os.Mkdir(filepath.Join(dir, "conf.d"), 0o755); err != nil {
		t.Fatal(err)
	}
	writeFile(t, dir, "conf.d/00-defaults.yaml", "version: 1\ndefaults: {timeout: 2s, samples: 1}\n")
	writeFile(t, dir, "conf.d/10-alpha.yaml", fmt.Sprintf("version: 1\nservices:\n  - name: Alpha\n    endpoints:\n      - target: tcp://%s\n", up))
	writeFile(t, dir, "conf.d/notes.txt", "ignored")
	writeFile(t, dir, "beta.yml", fmt.Sprintf("version: 1\ndefaults: {samples: 3}\nservices:\n  - name: Beta\n    endpoints:\n      - target: tcp://%s\n", up))

	warning := "beta.yml:2:1: warning: defaults here are not used: conf.d/00-defaults.yaml:2:1 sets them first\n" +
		"hint: the first file that sets defaults wins; remove these or move them there\n"
	r := msgprobe(t, dir, "", "validate", "-c", "conf.d", "-c", "beta.yml")
	if r.code != 0 || r.stdout != "conf.d, beta.yml: ok, 3 files, 2 services, 2 endpoints, 0 controls\n" || r.stderr != warning {
		t.Errorf("validate: exit %d stdout %q stderr %q", r.code, r.stdout, r.stderr)
	}

	r = msgprobe(t, dir, "", "check", "-c", "conf.d", "-c", "beta.yml", "-f", "json")
	rep := decodeReport(t, r.stdout)
	if r.code != 0 || len(rep.Services) != 2 || rep.Services[0].Name != "Alpha" || rep.Services[1].Name != "Beta" {
		t.Fatalf("check: exit %d services %+v stderr %q", r.code, rep.Services, r.stderr)
	}
	// The first file's samples: 1 applies to Beta too.
	if a := rep.Services[1].Endpoints[0].Attempts; a != 1 {
		t.Errorf("Beta made %d attempts, want 1 from conf.d/00-defaults.yaml", a)
	}

	// Standard input is one of the files.
	r = msgprobe(t, dir, fmt.Sprintf("version: 1\nservices: [{name: Gamma, endpoints: [{target: 'tcp://%s'}]}]\n", up),
		"validate", "-c", "conf.d", "-c", "-")
	if r.code != 0 || !strings.Contains(r.stdout, "3 files, 2 services") {
		t.Errorf("validate with stdin: exit %d stdout %q stderr %q", r.code, r.stdout, r.stderr)
	}

	// A duplicate across files names both positions.
	writeFile(t, dir, "dup.yaml", "version: 1\nservices:\n  - name: alpha\n    endpoints:\n      - target: tcp://127.0.0.1:1\n")
	r = msgprobe(t, dir, "", "validate", "-c", "conf.d", "-c", "dup.yaml")
	want := "dup.yaml:3:11: duplicate service name \"alpha\" (first at conf.d/10-alpha.yaml:3:11)\nhint: service names are compared without case\n"
	if r.code != 3 || r.stderr != want {
		t.Errorf("duplicate across files: exit %d stderr %q, want %q", r.code, r.stderr, want)
	}

	if err := os.Mkdir(filepath.Join(dir, "empty"), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"validate", "-c", "conf.d/notes.txt/"}, "msgprobe: cannot read config conf.d/notes.txt/: not a directory\n"},
		{[]string{"validate", "-c", "beta.yml", "-c", "beta.yml"}, "msgprobe: cannot read config beta.yml: it is given twice\n"},
		{[]string{"list", "-c", "nowhere"}, "msgprobe: cannot read config nowhere: no such file or directory\nhint: without -c, msgprobe probes its built-in catalog; 'msgprobe list' shows it\n"},
		{[]string{"validate", "-c", "empty"}, "msgprobe: cannot read config empty: the directory holds no *.yaml or *.yml file\n"},
	} {
		r = msgprobe(t, dir, "", tt.args...)
		if r.code != 3 || r.stderr != tt.want {
			t.Errorf("%v: exit %d stderr %q, want %q", tt.args, r.code, r.stderr, tt.want)
		}
	}
}

const listConfig = `version: 1
defaults:
  timeout: 4s
controls:
  - name: ctl
    target: tcp://127.0.0.1:1
services:
  - name: Alpha
    samples: 2
    cert_min_days: 14
    endpoints:
      - name: web
        target: https://probe:hunter2@127.0.0.1:8443/
        degraded_latency: 300ms
        http:
          headers:
            Authorization: Bearer ${MSGPROBE_E2E_TOKEN}
            User-Agent: msgprobe
      - name: chat
        target: tcp://127.0.0.1:5222
        timeout: 1s
`

func TestListShowsEffectiveSettingsAndLevels(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "l.yaml", listConfig)
	t.Setenv("MSGPROBE_E2E_TOKEN", "s3cr3t-t0ken")

	r := msgprobe(t, dir, "", "list", "-c", "l.yaml")
	if r.code != 0 || r.stderr != "" {
		t.Fatalf("list: exit %d stderr %q", r.code, r.stderr)
	}
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	if len(lines) != 4 {
		t.Fatalf("want a header and 3 rows:\n%s", r.stdout)
	}
	fields := func(line string) []string { return regexp.MustCompile(`\s{2,}`).Split(strings.TrimSpace(line), -1) }
	want := [][]string{
		{"SERVICE", "ENDPOINT", "ROLE", "TARGET", "TIMEOUT", "SAMPLES", "DEGRADED", "CERT DAYS", "NOTES"},
		{"(control)", "ctl", "-", "tcp://127.0.0.1:1", "4s (defaults)", "3 (built-in)", "1s (built-in)", "-"},
		{"Alpha", "web", "-", "https://probe:xxxxx@127.0.0.1:8443/", "4s (defaults)", "2 (service)", "300ms (endpoint)", "14 (service)", "2 headers"},
		{"Alpha", "chat", "-", "tcp://127.0.0.1:5222", "1s (endpoint)", "2 (service)", "1s (built-in)", "-"},
	}
	for i, w := range want {
		if got := fields(lines[i]); strings.Join(got, "|") != strings.Join(w, "|") {
			t.Errorf("row %d: %q\nwant %q", i, got, w)
		}
	}

	r = msgprobe(t, dir, "", "list", "-c", "l.yaml", "-f", "json")
	if r.code != 0 {
		t.Fatalf("list -f json: exit %d stderr %q", r.code, r.stderr)
	}
	type setting struct {
		Value any    `json:"value"`
		SetBy string `json:"set_by"`
		At    string `json:"at"`
	}
	var doc struct {
		Sources  []string `json:"sources"`
		Controls []struct {
			Name    string  `json:"name"`
			Timeout setting `json:"timeout"`
		} `json:"controls"`
		Services []struct {
			Name      string `json:"name"`
			Endpoints []struct {
				Name            string   `json:"name"`
				Target          string   `json:"target"`
				Timeout         setting  `json:"timeout"`
				Samples         setting  `json:"samples"`
				DegradedLatency setting  `json:"degraded_latency"`
				CertMinDays     *setting `json:"cert_min_days"`
				HTTP            *struct {
					Method      string   `json:"method"`
					HeaderNames []string `json:"header_names"`
				} `json:"http"`
			} `json:"endpoints"`
		} `json:"services"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &doc); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, r.stdout)
	}
	web, chat := doc.Services[0].Endpoints[0], doc.Services[0].Endpoints[1]
	checks := []struct {
		what string
		got  setting
		want setting
	}{
		{"control timeout", doc.Controls[0].Timeout, setting{"4s", "defaults", "l.yaml:3:12"}},
		{"web timeout", web.Timeout, setting{"4s", "defaults", "l.yaml:3:12"}},
		{"web samples", web.Samples, setting{float64(2), "service", "l.yaml:9:14"}},
		{"web degraded_latency", web.DegradedLatency, setting{"300ms", "endpoint", "l.yaml:14:27"}},
		{"chat timeout", chat.Timeout, setting{"1s", "endpoint", "l.yaml:21:18"}},
		{"chat degraded_latency", chat.DegradedLatency, setting{"1s", "built-in", ""}},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s: %+v, want %+v", c.what, c.got, c.want)
		}
	}
	if web.CertMinDays == nil || *web.CertMinDays != (setting{float64(14), "service", "l.yaml:10:20"}) || chat.CertMinDays != nil {
		t.Errorf("cert_min_days: web %+v chat %+v", web.CertMinDays, chat.CertMinDays)
	}
	if web.HTTP == nil || strings.Join(web.HTTP.HeaderNames, ",") != "Authorization,User-Agent" || web.HTTP.Method != "GET" {
		t.Errorf("web http %+v", web.HTTP)
	}
	if web.Target != "https://probe:xxxxx@127.0.0.1:8443/" || strings.Join(doc.Sources, ",") != "l.yaml" {
		t.Errorf("target %q sources %v", web.Target, doc.Sources)
	}

	// No command ever shows the secrets.
	for _, args := range [][]string{{"list", "-c", "l.yaml"}, {"list", "-c", "l.yaml", "-f", "json"}, {"validate", "-c", "l.yaml"}} {
		r := msgprobe(t, dir, "", args...)
		if strings.Contains(r.stdout+r.stderr, "s3cr3t") || strings.Contains(r.stdout+r.stderr, "hunter2") {
			t.Errorf("%v shows a secret:\n%s%s", args, r.stdout, r.stderr)
		}
	}

	r = msgprobe(t, dir, "", "list", "-f", "yaml")
	if r.code != 3 || !strings.Contains(r.stderr, `unknown list format "yaml"`) || !strings.Contains(r.stderr, "hint: use table or json") {
		t.Errorf("bad format: exit %d stderr %q", r.code, r.stderr)
	}
}

func TestSchemaCommand(t *testing.T) {
	r := msgprobe(t, t.TempDir(), "", "schema")
	if r.code != 0 || r.stderr != "" {
		t.Fatalf("exit %d stderr %q", r.code, r.stderr)
	}
	if !bytes.Equal([]byte(r.stdout), probe.Schema()) {
		t.Errorf("schema prints something else than probe.Schema")
	}
	var s struct {
		Schema string `json:"$schema"`
		ID     string `json:"$id"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &s); err != nil || s.Schema != "https://json-schema.org/draft/2020-12/schema" || s.ID != probe.SchemaURL {
		t.Errorf("schema header %+v, %v", s, err)
	}
}
