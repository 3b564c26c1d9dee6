package probe

import (
	"errors"
	"strings"
	"testing"
	"time"
)

var testNow = time.Date(2026, 11, 25, 9, 38, 0, 0, time.UTC)

func okAttempt(total time.Duration) Attempt {
	return Attempt{Timings: Timings{Connect: total / 2, Total: total}}
}

func failAttempt(c Class, p Phase, msg string) Attempt {
	return Attempt{Failure: &Failure{Class: c, Phase: p, Err: errors.New(msg)}}
}

func testEndpoint(name string) *Endpoint {
	return &Endpoint{Name: name, Kind: KindTCP, Settings: Settings{
		Timeout: 5 * time.Second, Samples: 3, DegradedLatency: 800 * time.Millisecond, CertMinDays: 7,
	}}
}

func TestJudgeEndpoint(t *testing.T) {
	ms := time.Millisecond
	tlsIn := func(days int) *TLSInfo {
		return &TLSInfo{Version: 0x0304, NotAfter: testNow.Add(time.Duration(days)*24*time.Hour + time.Hour)}
	}
	withTLS := func(a Attempt, info *TLSInfo) Attempt { a.TLS = info; return a }
	tests := []struct {
		name     string
		attempts []Attempt
		status   Status
		reason   string
	}{
		{"all ok", []Attempt{okAttempt(40 * ms), okAttempt(42 * ms), okAttempt(55 * ms)}, Up, ""},
		{"all refused", []Attempt{
			failAttempt(ClassConnectionRefused, PhaseConnect, "refused"),
			failAttempt(ClassConnectionRefused, PhaseConnect, "refused"),
			failAttempt(ClassConnectionRefused, PhaseConnect, "refused"),
		}, Down, "3/3 attempts refused at connect"},
		{"one timeout", []Attempt{okAttempt(41 * ms), failAttempt(ClassTimeout, PhaseTLS, "i/o timeout"), okAttempt(42 * ms)},
			Degraded, "1/3 attempts timed out at tls"},
		{"mixed failures, most frequent first", []Attempt{
			failAttempt(ClassTimeout, PhaseTTFB, "timeout"),
			failAttempt(ClassHTTPStatus, PhaseHTTP, "status 503, expected 2xx/3xx"),
			failAttempt(ClassHTTPStatus, PhaseHTTP, "status 503, expected 2xx/3xx"),
		}, Down, "2/3 attempts got status 503, expected 2xx/3xx, 1/3 timed out at ttfb"},
		{"slow p50", []Attempt{okAttempt(1240 * ms), okAttempt(1300 * ms), okAttempt(100 * ms)},
			Degraded, "p50 1.24s > 800ms"},
		{"p50 at the threshold is up", []Attempt{okAttempt(800 * ms), okAttempt(800 * ms), okAttempt(800 * ms)}, Up, ""},
		{"cert expiring", []Attempt{withTLS(okAttempt(10*ms), tlsIn(3))}, Degraded, "certificate expires in 3 days"},
		{"cert fine", []Attempt{withTLS(okAttempt(10*ms), tlsIn(46))}, Up, ""},
		{"canceled is down even after a success", []Attempt{okAttempt(10 * ms), {Failure: &Failure{Class: ClassCanceled, Err: ErrDeadline}}},
			Down, "1/2 attempts canceled: run deadline reached"},
		{"nothing probed", nil, Down, "not probed"},
		{"unreachable, the kernel's word", []Attempt{failAttempt(ClassNetworkUnreachable, PhaseConnect, "network is unreachable")},
			Down, "1/1 attempts found the network unreachable"},
		{"unreachable, msgprobe's own finding", []Attempt{failAttempt(ClassNetworkUnreachable, PhaseConnect, "::1 is not an IPv4 address")},
			Down, "1/1 attempts found the network unreachable: ::1 is not an IPv4 address"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := JudgeEndpoint(testEndpoint("e"), tt.attempts, testNow)
			if r.Status != tt.status || r.Reason != tt.reason {
				t.Errorf("got %s %q, want %s %q", r.Status, r.Reason, tt.status, tt.reason)
			}
		})
	}
}

func TestJudgeEndpointStatistics(t *testing.T) {
	ms := time.Millisecond
	a := []Attempt{okAttempt(55 * ms), failAttempt(ClassTimeout, PhaseTLS, "x"), okAttempt(41 * ms), okAttempt(42 * ms)}
	a[0].Timings.DNS = 3 * ms
	a[2].Timings.DNS = 1 * ms
	r := JudgeEndpoint(testEndpoint("e"), a, testNow)
	want := Latency{Min: 41 * ms, P50: 42 * ms, P95: 55 * ms, Max: 55 * ms}
	if r.Latency == nil || *r.Latency != want {
		t.Fatalf("latency %+v, want %+v", r.Latency, want)
	}
	if r.Phases.DNS != 1*ms {
		// the median of the attempts that measured DNS (1ms, 3ms) by nearest rank
		t.Errorf("dns median %v, want 1ms", r.Phases.DNS)
	}
	if r.Failures != 1 || len(r.Errors) != 1 || r.Errors[0].Count != 1 || r.Errors[0].Class != ClassTimeout {
		t.Errorf("failures %d errors %+v", r.Failures, r.Errors)
	}
	down := JudgeEndpoint(testEndpoint("e"), []Attempt{failAttempt(ClassEOF, PhaseTLS, "EOF")}, testNow)
	if down.Latency != nil {
		t.Errorf("a down endpoint has no latency, got %+v", down.Latency)
	}
}

func result(name string, st Status, critical bool) EndpointResult {
	ep := testEndpoint(name)
	ep.Critical = critical
	r := EndpointResult{Endpoint: ep, Status: st}
	if st != Up {
		r.Reason = "3/3 attempts refused at connect"
		r.Errors = []ErrorCount{{Class: ClassConnectionRefused, Phase: PhaseConnect, Count: 3}}
	}
	return r
}

func TestJudgeService(t *testing.T) {
	tests := []struct {
		name   string
		eps    []EndpointResult
		status Status
		reason string
	}{
		{"all up", []EndpointResult{result("a", Up, false), result("b", Up, false)}, Up, ""},
		{"one down", []EndpointResult{result("a", Up, false), result("b", Down, false)}, Degraded, "b: 3/3 attempts refused at connect"},
		{"critical down", []EndpointResult{result("a", Up, false), result("chat", Down, true)}, Down, "chat: 3/3 attempts refused at connect"},
		{"critical degraded is degraded", []EndpointResult{result("a", Up, false), result("chat", Degraded, true)}, Degraded, "chat: 3/3 attempts refused at connect"},
		{"all down", []EndpointResult{result("a", Down, false), result("b", Down, false)}, Down, "a: 3/3 attempts refused at connect; b: 3/3 attempts refused at connect"},
		{"reason is one line", []EndpointResult{result("a", Down, false), result("b", Down, false), result("c", Down, false), result("d", Up, false)}, Degraded,
			"a: 3/3 attempts refused at connect; b: 3/3 attempts refused at connect; +1 more"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := JudgeService(&Service{Name: "S"}, tt.eps)
			if r.Status != tt.status || r.Reason != tt.reason {
				t.Errorf("got %s %q, want %s %q", r.Status, r.Reason, tt.status, tt.reason)
			}
		})
	}
}

func TestJudgeServiceFunctions(t *testing.T) {
	role := func(r EndpointResult, role string) EndpointResult { r.Endpoint.Role = role; return r }
	svc := &Service{Name: "WhatsApp", Functions: map[string]Function{"messaging": {Critical: true}}}
	tests := []struct {
		name   string
		svc    *Service
		eps    []EndpointResult
		status Status
		reason string
	}{
		{"seed outage: messaging down, web up", svc, []EndpointResult{
			role(result("e1", Down, false), "messaging"), role(result("e2", Down, false), "messaging"),
			role(result("web", Up, false), "web"),
		}, Down, "messaging down (e1, e2 refused), web up"},
		{"one redundant server down", svc, []EndpointResult{
			role(result("e1", Down, false), "messaging"), role(result("e2", Up, false), "messaging"),
			role(result("web", Up, false), "web"),
		}, Degraded, "messaging degraded (e1 refused), web up"},
		{"min_up", &Service{Functions: map[string]Function{"messaging": {MinUp: 2}}}, []EndpointResult{
			role(result("e1", Down, false), "messaging"), role(result("e2", Up, false), "messaging"),
			role(result("web", Up, false), "web"),
		}, Degraded, "messaging down (e1 refused), web up"},
		{"non-critical function down", &Service{}, []EndpointResult{
			role(result("m", Down, false), "media"), role(result("web", Up, false), "web"),
		}, Degraded, "media down (m refused), web up"},
		{"all up", svc, []EndpointResult{role(result("e1", Up, false), "messaging"), role(result("web", Up, false), "web")}, Up, ""},
		{"the seed outage reads well", svc, []EndpointResult{
			role(result("e1", Down, false), "messaging"), role(result("e2", Down, false), "messaging"),
			role(result("e3", Down, false), "messaging"), role(result("e4", Down, false), "messaging"),
			role(result("web", Up, false), "web"),
		}, Down, "messaging down (e1–e4 refused), web up"},
		{"causes are grouped, the largest first", svc, []EndpointResult{
			role(result("e1", Up, false), "messaging"), role(timedOut("e2"), "messaging"),
			role(result("e3", Down, false), "messaging"), role(result("e4", Down, false), "messaging"),
		}, Degraded, "messaging degraded (e3, e4 refused, e2 timed out at connect)"},
		{"one cause took everything down", svc, []EndpointResult{
			role(result("e1", Down, false), "messaging"), role(result("web", Down, false), "web"), result("star", Down, false),
		}, Down, "messaging, web, star down (refused)"},
		{"an endpoint without a role is named once", svc, []EndpointResult{
			role(result("e1", Up, false), "messaging"), result("star", Down, false),
		}, Degraded, "star down (refused), messaging up"},
		{"slow is said as the reason", svc, []EndpointResult{
			role(result("e1", Up, false), "messaging"), role(slow("cdn"), "media"),
		}, Degraded, "media degraded (cdn p50 1.24s > 800ms), messaging up"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := JudgeService(tt.svc, tt.eps)
			if r.Status != tt.status || r.Reason != tt.reason {
				t.Errorf("got %s %q, want %s %q", r.Status, r.Reason, tt.status, tt.reason)
			}
		})
	}
}

func timedOut(name string) EndpointResult {
	r := result(name, Down, false)
	r.Errors = []ErrorCount{{Class: ClassTimeout, Phase: PhaseConnect, Count: 3}}
	return r
}

func slow(name string) EndpointResult {
	r := result(name, Degraded, false)
	r.Errors, r.Reason = nil, "p50 1.24s > 800ms"
	return r
}

func TestCompressNames(t *testing.T) {
	for _, tt := range []struct {
		names []string
		want  string
	}{
		{[]string{"e1", "e2", "e3", "e4"}, "e1–e4"},
		{[]string{"dc1", "dc2", "dc3", "dc4", "dc5"}, "dc1–dc5"},
		{[]string{"chat-e1-5222", "chat-e2-5222", "chat-e3-5222", "chat-e4-5222", "chat-e5-443", "chat-e6-443"},
			"chat-e1–e4-5222, chat-e5-443, chat-e6-443"},
		{[]string{"e1", "e2"}, "e1, e2"},
		{[]string{"e1", "e3", "e4", "e5"}, "e1, e3–e5"},
		{[]string{"e09", "e10", "e11"}, "e09, e10, e11"},
		{[]string{"a", "b", "c", "d", "e", "f"}, "a, b, c, d +2"},
		{[]string{"10", "11", "12"}, "10–12"},
	} {
		if got := compressNames(tt.names); got != tt.want {
			t.Errorf("%v: %q, want %q", tt.names, got, tt.want)
		}
	}
}

func TestJudgeRun(t *testing.T) {
	svc := func(st Status) ServiceResult { return ServiceResult{Service: &Service{Name: "S"}, Status: st} }
	rep := &Report{Services: []ServiceResult{svc(Up), svc(Degraded), svc(Up)}}
	JudgeRun(rep)
	if rep.Status != Degraded || rep.Summary != (Summary{Up: 2, Degraded: 1}) || rep.Note != "" {
		t.Errorf("got %s %+v %q", rep.Status, rep.Summary, rep.Note)
	}

	rep = &Report{
		Controls: []EndpointResult{result("c1", Down, false), result("c2", Down, false)},
		Services: []ServiceResult{svc(Down), svc(Up)},
	}
	JudgeRun(rep)
	if rep.Status != Unknown || rep.Summary != (Summary{Unknown: 2}) || rep.Diagnosis.Code != DiagLocalNetwork || rep.Note != rep.Diagnosis.Message ||
		!strings.Contains(rep.Note, "your network looks down") {
		t.Errorf("all controls down: got %s %+v %q", rep.Status, rep.Summary, rep.Note)
	}

	rep = &Report{
		Controls: []EndpointResult{result("c1", Down, false), result("c2", Up, false)},
		Services: []ServiceResult{svc(Down)},
	}
	JudgeRun(rep)
	if rep.Status != Down || rep.Note != "" || rep.Diagnosis.Code != DiagServiceOutage {
		t.Errorf("one control up: got %s %q %+v", rep.Status, rep.Note, rep.Diagnosis)
	}
}

func TestFormatDuration(t *testing.T) {
	for d, want := range map[time.Duration]string{
		1240 * time.Millisecond:  "1.24s",
		800 * time.Millisecond:   "800ms",
		42300 * time.Microsecond: "42ms",
		1500 * time.Microsecond:  "1.5ms",
		850 * time.Microsecond:   "850µs",
		12 * time.Second:         "12.0s",
	} {
		if got := FormatDuration(d); got != want {
			t.Errorf("FormatDuration(%v) = %q, want %q", d, got, want)
		}
	}
}
