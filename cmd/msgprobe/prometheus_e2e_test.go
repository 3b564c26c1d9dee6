package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/msgprobe/msgprobe/internal/fixture"
)

// freeLoopbackPort returns a port free a moment ago, for a server (such as
// Prometheus) that cannot say which port it took.
func freeLoopbackPort(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// promAlert is an alert of Prometheus's /api/v1/alerts.
type promAlert struct {
	Labels      map[string]string `json:"labels"`
	Annotations map[string]string `json:"annotations"`
	State       string            `json:"state"`
}

// TestPrometheusComparesVantagePoints is the whole chain with a real
// Prometheus: two serve processes are two vantage points; Alpha is up from
// paris and refused from tokyo, so Prometheus, scraping both with the
// example rules loaded, must raise VantageNetworkProblem for tokyo; then
// Alpha is refused from both, and it must raise MessagingServiceDown.
func TestPrometheusComparesVantagePoints(t *testing.T) {
	bin, err := exec.LookPath("prometheus")
	if err != nil {
		fixture.Missing(t, "prometheus", "prometheus not found: bash .ci/run unpacks it from Debian's prometheus package (apt-get download prometheus)")
	}
	dir := t.TempDir()
	control := newSwitchable(t)
	alphaParis := newSwitchable(t)
	refused := newSwitchable(t)
	refused.down()
	vantageConfig := func(name, alpha string) {
		writeFile(t, dir, name, fmt.Sprintf(`version: 1
defaults: {timeout: 1s, samples: 1}
controls:
  - {name: ctl, target: "tcp://%s"}
services:
  - name: Alpha
    tags: [acme]
    endpoints:
      - {name: chat, target: "tcp://%s", role: messaging}
  - name: Beta
    tags: [acme]
    endpoints:
      - {name: chat, target: "tcp://%s"}
`, control.addr(), alpha, control.addr()))
	}
	vantageConfig("paris.yaml", alphaParis.addr())
	vantageConfig("tokyo.yaml", refused.addr())
	paris := startServe(t, dir, "-c", "paris.yaml", "--interval", "1s")
	tokyo := startServe(t, dir, "-c", "tokyo.yaml", "--interval", "1s")

	// The example rules as shipped, but for their `for:` durations: a
	// test cannot wait minutes.
	rules, err := os.ReadFile(filepath.Join(examplesDir, "prometheus", "msgprobe.rules.yml"))
	if err != nil {
		t.Fatal(err)
	}
	rules = regexp.MustCompile(`(?m)^(\s+for:\s*)\S+$`).ReplaceAll(rules, []byte("${1}2s"))
	writeFile(t, dir, "rules.yml", string(rules))
	writeFile(t, dir, "prometheus.yml", fmt.Sprintf(`global:
  scrape_interval: 1s
  scrape_timeout: 1s
  evaluation_interval: 1s
rule_files: [rules.yml]
scrape_configs:
  - job_name: msgprobe
    static_configs:
      - targets: ["%s"]
        labels: {vantage: paris}
      - targets: ["%s"]
        labels: {vantage: tokyo}
`, paris.addr, tokyo.addr))
	listen := freeLoopbackPort(t)
	var promLog bytes.Buffer
	var promMu sync.Mutex
	prom := exec.Command(bin,
		"--config.file="+filepath.Join(dir, "prometheus.yml"),
		"--storage.tsdb.path="+filepath.Join(dir, "tsdb"),
		"--web.listen-address="+listen,
		"--log.level=warn")
	prom.Dir = dir
	prom.Stdout = &lockedWriter{w: &promLog, mu: &promMu}
	prom.Stderr = prom.Stdout
	if err := prom.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { prom.Wait(); close(exited) }()
	t.Cleanup(func() {
		prom.Process.Signal(os.Interrupt)
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			prom.Process.Kill()
			<-exited
		}
	})
	logs := func() string {
		promMu.Lock()
		defer promMu.Unlock()
		return "prometheus:\n" + promLog.String() + "\nserve paris:\n" + paris.logText() + "\nserve tokyo:\n" + tokyo.logText()
	}
	base := "http://" + listen
	client := &http.Client{Timeout: 5 * time.Second}

	// until polls f every 200ms until it returns true, for at most within.
	until := func(what string, within time.Duration, f func() bool) {
		t.Helper()
		deadline := time.Now().Add(within)
		tick := time.NewTicker(200 * time.Millisecond)
		defer tick.Stop()
		for !f() {
			select {
			case <-exited:
				t.Fatalf("prometheus exited while waiting for %s:\n%s", what, logs())
			case <-tick.C:
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: not within %v\n%s", what, within, logs())
			}
		}
	}
	until("prometheus ready", 60*time.Second, func() bool {
		resp, err := client.Get(base + "/-/ready")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == 200
	})
	alerts := func() []promAlert {
		t.Helper()
		resp, err := client.Get(base + "/api/v1/alerts")
		if err != nil {
			t.Fatalf("GET /api/v1/alerts: %v", err)
		}
		defer resp.Body.Close()
		var doc struct {
			Status string
			Data   struct{ Alerts []promAlert }
		}
		if err := json.NewDecoder(resp.Body).Decode(&doc); err != nil || doc.Status != "success" {
			t.Fatalf("/api/v1/alerts: %v %q", err, doc.Status)
		}
		return doc.Data.Alerts
	}
	firing := func(as []promAlert, name string, labels map[string]string) *promAlert {
		for i, a := range as {
			if a.Labels["alertname"] != name || a.State != "firing" {
				continue
			}
			if !slices.ContainsFunc(mapKeys(labels), func(k string) bool { return a.Labels[k] != labels[k] }) {
				return &as[i]
			}
		}
		return nil
	}

	var got []promAlert
	until("VantageNetworkProblem for Alpha at tokyo", 90*time.Second, func() bool {
		got = alerts()
		return firing(got, "VantageNetworkProblem", map[string]string{"service": "Alpha", "vantage": "tokyo"}) != nil
	})
	for _, a := range got {
		if a.Labels["alertname"] == "MessagingServiceDown" || (a.Labels["alertname"] == "VantageNetworkProblem" && a.Labels["vantage"] != "tokyo") || a.Labels["service"] == "Beta" {
			t.Errorf("alert with Alpha down from tokyo only: %+v", a)
		}
	}
	vnp := firing(got, "VantageNetworkProblem", map[string]string{"service": "Alpha", "vantage": "tokyo"})
	if d := vnp.Annotations["description"]; !strings.Contains(d, "Failing there: messaging.") || !strings.Contains(d, "Down there since ") {
		t.Errorf("VantageNetworkProblem description: %q", d)
	}

	alphaParis.down()
	until("MessagingServiceDown for Alpha", 90*time.Second, func() bool {
		got = alerts()
		return firing(got, "MessagingServiceDown", map[string]string{"service": "Alpha"}) != nil
	})
	msd := firing(got, "MessagingServiceDown", map[string]string{"service": "Alpha"})
	if d := msd.Annotations["description"]; !strings.Contains(d, "Alpha is down from 2 of the 2 vantage points") || !strings.Contains(d, "Failing: messaging.") || !strings.Contains(d, "First seen down ") {
		t.Errorf("MessagingServiceDown description: %q", d)
	}
	for _, a := range got {
		if a.Labels["alertname"] == "VantageNetworkProblem" && a.State == "firing" && a.Labels["service"] == "Alpha" {
			t.Errorf("VantageNetworkProblem still firing with Alpha down everywhere: %+v", a)
		}
	}

	// Every query of the Grafana dashboard runs, and finds series, but
	// the certificates' (the fixture's endpoints are plain TCP).
	for _, expr := range grafanaExprs(t) {
		e := strings.NewReplacer("$vantage", ".*", "$service", ".*", "$__rate_interval", "1m").Replace(expr)
		resp, err := client.Get(base + "/api/v1/query?query=" + url.QueryEscape(e))
		if err != nil {
			t.Fatal(err)
		}
		var doc struct {
			Status, Error string
			Data          struct{ Result []json.RawMessage }
		}
		err = json.NewDecoder(resp.Body).Decode(&doc)
		resp.Body.Close()
		if err != nil || doc.Status != "success" {
			t.Errorf("dashboard query %s: %v %s %s", e, err, doc.Status, doc.Error)
			continue
		}
		if len(doc.Data.Result) == 0 && !strings.Contains(e, "tls_cert") {
			t.Errorf("dashboard query %s finds nothing", e)
		}
	}
}

// grafanaExprs are the queries of examples/prometheus/grafana-dashboard.json.
func grafanaExprs(t *testing.T) []string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(examplesDir, "prometheus", "grafana-dashboard.json"))
	if err != nil {
		t.Fatal(err)
	}
	var d struct {
		Panels      []struct{ Targets []struct{ Expr string } }
		Annotations struct{ List []struct{ Expr string } }
	}
	if err := json.Unmarshal(data, &d); err != nil {
		t.Fatal(err)
	}
	var exprs []string
	for _, p := range d.Panels {
		for _, q := range p.Targets {
			exprs = append(exprs, q.Expr)
		}
	}
	for _, a := range d.Annotations.List {
		exprs = append(exprs, a.Expr)
	}
	return exprs
}

func mapKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	return keys
}

type lockedWriter struct {
	w  *bytes.Buffer
	mu *sync.Mutex
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// TestExampleRulesUseServedMetricNames checks every metric name the
// examples (rules, their tests, the dashboard) query against what serve's /metrics really has, so that a
// renamed family cannot leave the rules silently matching nothing.
func TestExampleRulesUseServedMetricNames(t *testing.T) {
	dir := t.TempDir()
	up := newSwitchable(t)
	refused := newSwitchable(t)
	refused.down()
	serveConfig(t, dir, "s.yaml", up.addr(), up.addr(), refused.addr())
	// A TLS endpoint too, for the certificate's family.
	ca := fixture.NewCA(t)
	writeFile(t, dir, "ca.pem", string(ca.PEM()))
	writeFile(t, dir, "tls.yaml", fmt.Sprintf(`version: 1
services:
  - name: Gamma
    endpoints:
      - {name: tls, target: "tls://%s", tls: {ca_file: ca.pem}}
`, fixture.TLSServer(t, ca.Valid("127.0.0.1"))))
	s := startServe(t, dir, "-c", "s.yaml", "-c", "tls.yaml", "--interval", "1h")
	s.waitLog(roundLine, 15*time.Second)
	_, text := s.get("/metrics")
	served := map[string]bool{}
	for _, m := range regexp.MustCompile(`(?m)^# TYPE (\S+) `).FindAllStringSubmatch(text, -1) {
		served[m[1]] = true
	}
	files, err := filepath.Glob(filepath.Join(examplesDir, "prometheus", "*.*"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no examples: %v", err)
	}
	names := regexp.MustCompile(`\bmsgprobe_[a-z_]+\b`)
	for _, f := range files {
		if strings.HasSuffix(f, ".go") {
			continue
		}
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, name := range names.FindAllString(string(data), -1) {
			if !served[name] {
				t.Errorf("%s queries %s, which serve does not serve", filepath.Base(f), name)
			}
		}
	}
}
