// Package prometheus_test checks the Prometheus examples with Prometheus's
// own promtool: the rules load, their unit tests pass, the scrape config
// is valid. The end-to-end test with a real Prometheus scraping two serve
// processes is in cmd/msgprobe (prometheus_e2e_test.go).
package prometheus_test

import (
	"encoding/json"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

func promtool(t *testing.T, args ...string) {
	t.Helper()
	bin, err := exec.LookPath("promtool")
	if err != nil {
		t.Skip("promtool not found: bash .ci/run unpacks it from Debian's prometheus package (apt-get download prometheus)")
	}
	out, err := exec.Command(bin, args...).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "SUCCESS") {
		t.Fatalf("promtool %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

func TestRulesLoad(t *testing.T) { promtool(t, "check", "rules", "msgprobe.rules.yml") }

// Every alert has a firing and a non-firing case there.
func TestRulesUnitTests(t *testing.T) { promtool(t, "test", "rules", "msgprobe.rules.test.yml") }

func TestScrapeConfig(t *testing.T) { promtool(t, "check", "config", "prometheus.yml") }

// TestEveryAlertFiresAndHolds reads the unit tests: every alert of the
// rules has a case where it fires and one where it must not.
func TestEveryAlertFiresAndHolds(t *testing.T) {
	var rules struct {
		Groups []struct {
			Rules []struct{ Alert string }
		}
	}
	var tests struct {
		Tests []struct {
			AlertRuleTest []struct {
				Alertname string
				ExpAlerts []any `yaml:"exp_alerts"`
			} `yaml:"alert_rule_test"`
		}
	}
	decode(t, "msgprobe.rules.yml", &rules)
	decode(t, "msgprobe.rules.test.yml", &tests)
	fires, holds := map[string]bool{}, map[string]bool{}
	for _, tc := range tests.Tests {
		for _, a := range tc.AlertRuleTest {
			if len(a.ExpAlerts) > 0 {
				fires[a.Alertname] = true
			} else {
				holds[a.Alertname] = true
			}
		}
	}
	n := 0
	for _, g := range rules.Groups {
		for _, r := range g.Rules {
			if r.Alert == "" {
				continue
			}
			n++
			if !fires[r.Alert] || !holds[r.Alert] {
				t.Errorf("%s: a firing case %v, a non-firing case %v", r.Alert, fires[r.Alert], holds[r.Alert])
			}
		}
	}
	if n != 4 {
		t.Errorf("%d alerts, want MessagingServiceDown, VantageNetworkProblem, VantageOffline, ProviderOutage", n)
	}
}

func decode(t *testing.T, name string, v any) {
	t.Helper()
	data, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(data, v); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
}

// dashboardExprs are the PromQL expressions of the Grafana dashboard, its
// panels' queries and its annotation's.
func dashboardExprs(t *testing.T) []string {
	t.Helper()
	data, err := os.ReadFile("grafana-dashboard.json")
	if err != nil {
		t.Fatal(err)
	}
	var d struct {
		Panels []struct {
			Title   string
			Targets []struct{ Expr string }
		}
		Annotations struct{ List []struct{ Expr string } }
	}
	if err := json.Unmarshal(data, &d); err != nil {
		t.Fatalf("grafana-dashboard.json: %v", err)
	}
	var exprs []string
	for _, p := range d.Panels {
		if len(p.Targets) == 0 {
			t.Errorf("panel %q has no query", p.Title)
		}
		for _, q := range p.Targets {
			if strings.TrimSpace(q.Expr) == "" {
				t.Errorf("panel %q has an empty query", p.Title)
			}
			exprs = append(exprs, q.Expr)
		}
	}
	for _, a := range d.Annotations.List {
		exprs = append(exprs, a.Expr)
	}
	return exprs
}

// The dashboard reads the recording rules by name: each must exist. (Its
// msgprobe_* names are checked against serve's /metrics, and every query
// is run by a real Prometheus, in cmd/msgprobe's end-to-end test.)
func TestDashboardReadsRecordedNames(t *testing.T) {
	var rules struct {
		Groups []struct {
			Rules []struct{ Record string }
		}
	}
	decode(t, "msgprobe.rules.yml", &rules)
	recorded := map[string]bool{}
	for _, g := range rules.Groups {
		for _, r := range g.Rules {
			recorded[r.Record] = r.Record != ""
		}
	}
	re := regexp.MustCompile(`\bmsgprobe:[a-z_:]+`)
	for _, e := range dashboardExprs(t) {
		for _, name := range re.FindAllString(e, -1) {
			if !recorded[name] {
				t.Errorf("the dashboard reads %s, which no rule records", name)
			}
		}
	}
}
