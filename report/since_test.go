package report

import (
	"strings"
	"testing"
	"time"

	"github.com/msgprobe/msgprobe/probe"
)

// withSpans is the fixture as a run with state sees it: Telegram down for
// 14 minutes, Signal recovered 3 minutes ago, WhatsApp up since the first
// run, and the change of this run.
func withSpans() *probe.Report {
	r := fixture()
	at := r.StartedAt
	for i := range r.Services {
		s := &r.Services[i]
		switch s.Service.Name {
		case "Telegram":
			s.Span = probe.Span{Known: true, Since: at.Add(-14 * time.Minute), Runs: 15, Changed: true, Previous: probe.Up}
			for j := range s.Endpoints {
				s.Endpoints[j].Span = s.Span
			}
		case "Signal":
			s.Status = probe.Up
			s.Span = probe.Span{Known: true, Since: at.Add(-3 * time.Minute), Runs: 4, Changed: true, Previous: probe.Down}
		case "WhatsApp":
			s.Span = probe.Span{Known: true, Since: at.Add(-time.Hour), Runs: 61}
		}
	}
	r.Transitions = []probe.Transition{{Service: "Telegram", From: probe.Up, To: probe.Down, Since: at.Add(-time.Hour), Runs: 60}}
	return r
}

func TestEveryFormatCarriesSinceWhen(t *testing.T) {
	r := withSpans()
	tgSince := r.StartedAt.Add(-14 * time.Minute).UTC().Format(time.RFC3339)
	tgUnix := string(appendPromFloat(nil, float64(r.StartedAt.Add(-14*time.Minute).UnixMilli())/1e3))
	for _, c := range []struct {
		format string
		want   []string
		not    []string
	}{
		{"table", []string{"down 14m (since 09:24)", "up 3m (since 09:35)", "Telegram: up → down (up since 08:38, 60 runs)"}, []string{"up 1h"}},
		{"markdown", []string{"❌ down 14m (since 09:24)", "✅ up 3m (since 09:35)", "### Changes since the last run", "- Telegram: up → down"}, nil},
		{"json", []string{`"status_since": "` + tgSince + `"`, `"status_runs": 15`, `"previous_status": "down"`, `"transitions": [`}, nil},
		{"csv", []string{"," + tgSince + "\r\n"}, nil},
		{"junit", []string{`<property name="status_since" value="` + tgSince + `">`}, nil},
		{"prometheus", []string{
			`msgprobe_service_status_since_timestamp_seconds{service="Telegram"} ` + tgUnix,
			`msgprobe_endpoint_status_since_timestamp_seconds{endpoint="api",kind="tcp",service="Telegram",target="tcp://149.154.167.51:443"} ` + tgUnix,
			`msgprobe_service_status_changed{service="Telegram"} 1`,
			`msgprobe_service_status_changed{service="WhatsApp"} 0`,
		}, nil},
	} {
		out := render(t, c.format, Options{}, r)
		for _, w := range c.want {
			if !strings.Contains(out, w) {
				t.Errorf("%s lacks %q:\n%s", c.format, w, out)
			}
		}
		for _, w := range c.not {
			if strings.Contains(out, w) {
				t.Errorf("%s has %q:\n%s", c.format, w, out)
			}
		}
	}
	// Without state, no format shows any.
	for f, marker := range map[string]string{"table": "(since ", "markdown": "(since ", "json": "status_since",
		"junit": "status_since", "prometheus": "_since_timestamp", "csv": "Z\r\n(diagnosis)"} {
		if out := render(t, f, Options{}, fixture()); strings.Contains(out, marker) {
			t.Errorf("%s shows a since without state:\n%s", f, out)
		}
	}
}

func TestSpanAge(t *testing.T) {
	for d, want := range map[time.Duration]string{
		45 * time.Second: "45s", 14 * time.Minute: "14m", 2*time.Hour + 5*time.Minute: "2h5m",
		3 * time.Hour: "3h", 76 * time.Hour: "3d4h", 48 * time.Hour: "2d",
	} {
		if got := spanAge(d); got != want {
			t.Errorf("spanAge(%v) = %q, want %q", d, got, want)
		}
	}
}
