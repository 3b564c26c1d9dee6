package report

import (
	"bytes"
	"crypto/tls"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/msgprobe/msgprobe/probe"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

var fixedNow = time.Date(2026, 11, 25, 9, 38, 0, 0, time.UTC)

func fixedClock() time.Time { return fixedNow }

func msd(f float64) time.Duration { return time.Duration(f * float64(time.Millisecond)) }

// attempts builds n attempts whose totals are the given durations; a zero
// duration is a failed attempt with the given failure.
func attempts(f *probe.Failure, totals ...time.Duration) []probe.Attempt {
	out := make([]probe.Attempt, len(totals))
	for i, d := range totals {
		out[i] = probe.Attempt{Start: fixedNow, Timings: probe.Timings{Total: d}}
		if d == 0 {
			out[i].Failure = f
			out[i].Timings.Total = 5 * time.Second
		}
	}
	return out
}

func endpoint(service, name, target string, kind probe.Kind, degraded time.Duration) *probe.Endpoint {
	return &probe.Endpoint{
		Service: service, Name: name, Target: target, Kind: kind,
		Settings: probe.Settings{Timeout: 5 * time.Second, Samples: 3, DegradedLatency: degraded, CertMinDays: 7},
	}
}

// fixture is the report every golden file is rendered from: one service of
// each status, TLS details, controls and a note.
func fixture() *probe.Report {
	timeout := &probe.Failure{Class: probe.ClassTimeout, Phase: probe.PhaseTLS}
	refused := &probe.Failure{Class: probe.ClassConnectionRefused, Phase: probe.PhaseConnect}
	status503 := &probe.Failure{Class: probe.ClassHTTPStatus, Phase: probe.PhaseHTTP}

	waWeb := endpoint("WhatsApp", "web", "https://web.whatsapp.com/", probe.KindHTTPS, 800*time.Millisecond)
	waWeb.Role = "web"
	waChat := endpoint("WhatsApp", "chat", "tcp://e1.whatsapp.net:5222", probe.KindTCP, 800*time.Millisecond)
	waChat.Critical, waChat.Role = true, "messaging"
	sigChat := endpoint("Signal", "chat", "tls://chat.signal.org:443", probe.KindTLS, time.Second)
	sigCDN := endpoint("Signal", "cdn", "https://cdn.signal.org/", probe.KindHTTPS, time.Second)
	sigCDN.TLS.InsecureSkipVerify = true
	tgAPI := endpoint("Telegram", "api", "tcp://149.154.167.51:443", probe.KindTCP, time.Second)
	tgAPI.Critical = true
	tgWeb := endpoint("Telegram", "web", "https://web.telegram.org/", probe.KindHTTPS, time.Second)
	olvid := endpoint("Olvid", "server", "https://server.olvid.io/", probe.KindHTTPS, time.Second)
	cf := endpoint("", "cloudflare", "https://1.1.1.1/", probe.KindHTTPS, time.Second)
	quad9 := endpoint("", "quad9", "tcp://9.9.9.9:53", probe.KindTCP, time.Second)

	return &probe.Report{
		StartedAt: fixedNow,
		Duration:  msd(812.4),
		Status:    probe.Unknown,
		Summary:   probe.Summary{Up: 1, Degraded: 1, Down: 1, Unknown: 1},
		Note:      "1 of 2 controls failed: quad9",
		Diagnosis: probe.Diagnosis{Code: probe.DiagServiceOutage, Message: "Telegram down; your network works (1 of 2 controls answer)"},
		Controls: []probe.EndpointResult{
			{
				Endpoint: cf, Status: probe.Up, Attempts: attempts(nil, msd(12), msd(12.4), msd(15)),
				Latency:    &probe.Latency{Min: msd(12), P50: msd(12.4), P95: msd(15), Max: msd(15)},
				Phases:     probe.Timings{Connect: msd(3.1), TLS: msd(5.2), TTFB: msd(3.9), Total: msd(12.4)},
				HTTPStatus: 200,
				TLS:        &probe.TLSInfo{Version: tls.VersionTLS13, NotAfter: time.Date(2027, 6, 13, 23, 59, 59, 0, time.UTC), Subject: "cloudflare-dns.com", Issuer: "DigiCert Global G2 TLS RSA SHA256 2020 CA1", Verified: true},
				DaysLeft:   200,
			},
			{
				Endpoint: quad9, Status: probe.Down, Reason: "3/3 attempts timed out at connect",
				Attempts: attempts(&probe.Failure{Class: probe.ClassTimeout, Phase: probe.PhaseConnect}, 0, 0, 0), Failures: 3,
				Errors: []probe.ErrorCount{{Class: probe.ClassTimeout, Phase: probe.PhaseConnect, Message: "dial tcp 9.9.9.9:53: i/o timeout", Count: 3}},
			},
		},
		Services: []probe.ServiceResult{
			{
				Service: &probe.Service{Name: "WhatsApp", Tags: []string{"meta", "popular"}},
				Status:  probe.Up,
				Endpoints: []probe.EndpointResult{
					{
						Endpoint: waWeb, Status: probe.Up, Attempts: attempts(nil, msd(41), msd(42.3), msd(55.1)),
						Latency:    &probe.Latency{Min: msd(41), P50: msd(42.3), P95: msd(55.1), Max: msd(55.1)},
						Phases:     probe.Timings{DNS: msd(2.1), Connect: msd(11), TLS: msd(29.2), TTFB: msd(0.04), Total: msd(42.3)},
						HTTPStatus: 200,
						TLS:        &probe.TLSInfo{Version: tls.VersionTLS13, NotAfter: time.Date(2027, 1, 10, 0, 0, 0, 0, time.UTC), Subject: "*.whatsapp.com", Issuer: "DigiCert Global G2 TLS RSA SHA256 2020 CA1", Verified: true},
						DaysLeft:   46,
					},
					{
						Endpoint: waChat, Status: probe.Up, Attempts: attempts(nil, msd(30.2), msd(31.9), msd(35)),
						Latency: &probe.Latency{Min: msd(30.2), P50: msd(31.9), P95: msd(35), Max: msd(35)},
						Phases:  probe.Timings{DNS: msd(1.8), Connect: msd(29.7), Total: msd(31.9)},
					},
				},
			},
			{
				Service: &probe.Service{Name: "Signal", Tags: []string{"privacy"}},
				Status:  probe.Degraded,
				Reason:  "chat: 1/3 attempts timed out at tls; p50 1.24s > 1s",
				Endpoints: []probe.EndpointResult{
					{
						Endpoint: sigChat, Status: probe.Degraded, Reason: "1/3 attempts timed out at tls; p50 1.24s > 1s",
						Attempts: attempts(timeout, msd(1180), 0, msd(1240)), Failures: 1,
						Latency:  &probe.Latency{Min: msd(1180), P50: msd(1240), P95: msd(1240), Max: msd(1240)},
						Phases:   probe.Timings{DNS: msd(4.5), Connect: msd(95.2), TLS: msd(1140.3), Total: msd(1240)},
						Errors:   []probe.ErrorCount{{Class: probe.ClassTimeout, Phase: probe.PhaseTLS, Message: "tls handshake: i/o timeout", Count: 1}},
						TLS:      &probe.TLSInfo{Version: tls.VersionTLS13, NotAfter: time.Date(2027, 2, 13, 12, 0, 0, 0, time.UTC), Subject: "chat.signal.org", Issuer: "Signal Messenger, LLC", Verified: true},
						DaysLeft: 80,
					},
					{
						Endpoint: sigCDN, Status: probe.Up, Attempts: attempts(nil, msd(88), msd(90.5), msd(97.25)),
						Latency:    &probe.Latency{Min: msd(88), P50: msd(90.5), P95: msd(97.25), Max: msd(97.25)},
						Phases:     probe.Timings{DNS: msd(3), Connect: msd(20.1), TLS: msd(40.2), TTFB: msd(27.1), Total: msd(90.5)},
						HTTPStatus: 200,
						TLS:        &probe.TLSInfo{Version: tls.VersionTLS12, NotAfter: time.Date(2027, 3, 1, 0, 0, 0, 0, time.UTC), Subject: "cdn.signal.org", Issuer: "Signal Messenger, LLC", Verified: false},
						DaysLeft:   95,
					},
				},
			},
			{
				Service: &probe.Service{Name: "Telegram"},
				Status:  probe.Down,
				Reason:  "api (critical) is down: 3/3 attempts refused at connect",
				Endpoints: []probe.EndpointResult{
					{
						Endpoint: tgAPI, Status: probe.Down, Reason: "3/3 attempts refused at connect",
						Attempts: attempts(refused, 0, 0, 0), Failures: 3,
						Errors: []probe.ErrorCount{{Class: probe.ClassConnectionRefused, Phase: probe.PhaseConnect, Message: "dial tcp 149.154.167.51:443: connect: connection refused", Count: 3}},
					},
					{
						Endpoint: tgWeb, Status: probe.Down, Reason: "3/3 attempts got HTTP 503 | expected 2xx or 3xx",
						Attempts: attempts(status503, 0, 0, 0), Failures: 3,
						Errors:     []probe.ErrorCount{{Class: probe.ClassHTTPStatus, Phase: probe.PhaseHTTP, Message: "unexpected status 503 <Service Unavailable>", Count: 3}},
						HTTPStatus: 503,
						TLS:        &probe.TLSInfo{Version: tls.VersionTLS13, NotAfter: time.Date(2026, 12, 25, 0, 0, 0, 0, time.UTC), Subject: "*.web.telegram.org", Issuer: "GlobalSign GCC R6 AlphaSSL CA 2025", Verified: true},
						DaysLeft:   30,
					},
				},
			},
			{
				Service: &probe.Service{Name: "Olvid"},
				Status:  probe.Unknown,
				Reason:  "not probed before the deadline",
				Endpoints: []probe.EndpointResult{
					{Endpoint: olvid, Status: probe.Unknown, Reason: "not probed before the deadline"},
				},
			},
		},
	}
}

func render(t *testing.T, format string, opt Options, r *probe.Report) string {
	t.Helper()
	if opt.Now == nil {
		opt.Now = fixedClock
	}
	rd, err := New(format, opt)
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	if err := rd.Render(&b, r); err != nil {
		t.Fatalf("render %s: %v", format, err)
	}
	return b.String()
}

func TestGolden(t *testing.T) {
	cases := []struct {
		file   string
		format string
		opt    Options
	}{
		{"table.golden", "table", Options{}},
		{"table_color.golden", "table", Options{Color: true}},
		{"json.golden", "json", Options{}},
		{"csv.golden", "csv", Options{}},
		{"markdown.golden", "markdown", Options{}},
		{"junit.golden", "junit", Options{FailOn: probe.Degraded}},
		{"junit_fail_on_down.golden", "junit", Options{FailOn: probe.Down}},
		{"prometheus.golden", "prometheus", Options{}},
		{"nagios.golden", "nagios", Options{}},
	}
	for _, c := range cases {
		t.Run(c.file, func(t *testing.T) {
			got := render(t, c.format, c.opt, fixture())
			path := filepath.Join("testdata", c.file)
			if *update {
				if err := os.MkdirAll("testdata", 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run go test ./report -update to create it)", err)
			}
			if got != string(want) {
				t.Errorf("%s differs from the golden file (run go test ./report -update and review the diff)\ngot:\n%s\nwant:\n%s", c.format, got, want)
			}
		})
	}
}

func TestNewUnknownFormat(t *testing.T) {
	_, err := New("yaml", Options{})
	if err == nil {
		t.Fatal("New accepted an unknown format")
	}
	for _, f := range Formats {
		if !strings.Contains(err.Error(), f) {
			t.Errorf("error %q does not list the valid format %q", err, f)
		}
	}
}

func TestEveryFormatHasARenderer(t *testing.T) {
	for _, f := range Formats {
		if _, err := New(f, Options{}); err != nil {
			t.Errorf("format %q listed in Formats: %v", f, err)
		}
	}
}

// An empty report (no services, no controls, zero start) must render in
// every format without failing, with the clock standing in for the start.
func TestEmptyReport(t *testing.T) {
	for _, f := range Formats {
		out := render(t, f, Options{}, &probe.Report{})
		if out == "" {
			t.Errorf("%s wrote nothing for an empty report", f)
		}
	}
	if out := render(t, "json", Options{}, &probe.Report{}); !strings.Contains(out, `"started_at": "2026-11-25T09:38:00Z"`) {
		t.Errorf("json of a report without start time does not use the clock:\n%s", out)
	}
}

func TestTargetPasswordRedacted(t *testing.T) {
	r := fixture()
	r.Services[0].Endpoints[0].Endpoint.Target = "https://bob:s3cret@web.whatsapp.com/"
	for _, f := range Formats {
		out := render(t, f, Options{FailOn: probe.Degraded}, r)
		if strings.Contains(out, "s3cret") {
			t.Errorf("%s output leaks the password of a target:\n%s", f, out)
		}
	}
}

func TestHuman(t *testing.T) {
	for _, c := range []struct {
		d    time.Duration
		want string
	}{
		{0, "0ms"},
		{msd(0.44), "0.4ms"},
		{msd(4.25), "4.3ms"},
		{msd(42.3), "42ms"},
		{msd(9.96), "10ms"},
		{msd(999.4), "999ms"},
		{msd(999.6), "1.00s"},
		{msd(1240), "1.24s"},
		{msd(12345), "12.3s"},
	} {
		if got := human(c.d); got != c.want {
			t.Errorf("human(%v) = %q, want %q", c.d, got, c.want)
		}
	}
}
