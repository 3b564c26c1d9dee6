package probe

import (
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/msgprobe/msgprobe/internal/fixture"
)

// dEP builds an endpoint verdict for the diagnosis tests: up, or down with
// two attempts that failed with class at phase.
func dEP(name, host string, st Status, class Class, phase Phase) EndpointResult {
	r := EndpointResult{Endpoint: &Endpoint{Name: name, Host: host}, Status: st}
	if st == Up {
		r.Attempts = []Attempt{okAttempt(10), okAttempt(10)}
		return r
	}
	r.Attempts = []Attempt{failAttempt(class, phase, "x"), failAttempt(class, phase, "x")}
	r.Errors = []ErrorCount{{Class: class, Phase: phase, Message: "x", Count: 2}}
	r.Failures = 2
	return r
}

func upIP(name string) EndpointResult   { return dEP(name, "192.0.2.1", Up, "", "") }
func upName(name string) EndpointResult { return dEP(name, name+".test", Up, "", "") }

func dSvc(name string, st Status, tags []string, eps ...EndpointResult) ServiceResult {
	if len(eps) == 0 {
		if st == Up {
			eps = []EndpointResult{upName(name)}
		} else {
			eps = []EndpointResult{dEP(name, name+".test", Down, ClassConnectionRefused, PhaseConnect)}
		}
	}
	return ServiceResult{Service: &Service{Name: name, Tags: tags}, Status: st, Endpoints: eps}
}

func withRedirect(e EndpointResult, to string) EndpointResult { e.Redirect = to; return e }

func withTLS(e EndpointResult, verified bool) EndpointResult {
	e.TLS = &TLSInfo{Verified: verified}
	return e
}

func TestDiagnose(t *testing.T) {
	refusedIP := func(n string) EndpointResult {
		return dEP(n, "192.0.2.9", Down, ClassConnectionRefused, PhaseConnect)
	}
	servfail := func(n string) EndpointResult { return dEP(n, n+".test", Down, ClassDNSError, PhaseDNS) }
	meta := []string{"meta", "popular"}
	upControls := []EndpointResult{upIP("cf-ip"), upName("cf-name"), upIP("g-ip")}

	tests := []struct {
		name     string
		controls []EndpointResult
		services []ServiceResult
		code     string
		message  string
	}{
		{"all up", upControls, []ServiceResult{dSvc("A", Up, nil), dSvc("B", Up, nil)},
			DiagOK, "all 2 services up"},
		{"degraded is named, not an outage", upControls, []ServiceResult{dSvc("A", Up, nil), dSvc("B", Degraded, nil)},
			DiagOK, "no outage; degraded: B"},
		{"controls refused", []EndpointResult{refusedIP("c1"), refusedIP("c2")}, []ServiceResult{dSvc("A", Up, nil)},
			DiagLocalNetwork, "your network looks down: every control failed (refused), so no service is judged"},
		{"offline: unreachable by IP, resolver unreachable by name", []EndpointResult{
			dEP("cf-ip", "1.1.1.1", Down, ClassNetworkUnreachable, PhaseConnect),
			dEP("cf-name", "cloudflare-dns.com", Down, ClassNetworkUnreachable, PhaseDNS),
		}, []ServiceResult{dSvc("A", Down, nil, dEP("chat", "a.test", Down, ClassNetworkUnreachable, PhaseDNS))},
			DiagLocalNetwork, "your network looks down: every control failed (network unreachable, resolver unreachable), so no service is judged"},
		{"controls cut short by the run's deadline", []EndpointResult{dEP("c1", "192.0.2.1", Down, ClassCanceled, PhaseConnect)},
			[]ServiceResult{dSvc("A", Up, nil)},
			DiagLocalNetwork, "the run ended before any control answered, so no service is judged"},
		{"controls by name only, failing at dns: cannot tell dns from network", []EndpointResult{servfail("c1"), servfail("c2")},
			[]ServiceResult{dSvc("A", Down, nil, servfail("a"))},
			DiagLocalNetwork, "your network looks down: every control failed (dns error), so no service is judged"},
		{"resolver failing", []EndpointResult{upIP("c-ip"), servfail("c-name")},
			[]ServiceResult{dSvc("A", Down, nil, servfail("a1"), servfail("a2")), dSvc("B", Down, nil, servfail("b"))},
			DiagLocalDNS, "your DNS resolver is failing: every name failed to resolve (dns error) while controls by IP answer; the services may be fine"},
		{"resolver failing, several causes", []EndpointResult{upIP("c-ip"), servfail("c-name")},
			[]ServiceResult{dSvc("A", Down, nil, dEP("a", "a.test", Down, ClassDNSTimeout, PhaseDNS))},
			DiagLocalDNS, "your DNS resolver is failing: every name failed to resolve (dns error, timed out at dns) while controls by IP answer; the services may be fine"},
		{"one name resolved: not the resolver", []EndpointResult{upIP("c-ip"), servfail("c-name")},
			[]ServiceResult{dSvc("A", Down, nil, servfail("a")), dSvc("B", Down, nil, dEP("b", "b.test", Down, ClassConnectionRefused, PhaseConnect))},
			DiagServiceOutage, "A, B down; your network works (1 of 2 controls answer)"},
		{"untrusted certificate on a control", []EndpointResult{upIP("c1"), dEP("c2", "192.0.2.2", Down, ClassTLSCertUntrusted, PhaseTLS)},
			[]ServiceResult{dSvc("A", Up, nil)},
			DiagIntercepted, "a captive portal or TLS-intercepting proxy is in the way: control c2 met an untrusted certificate"},
		{"every control intercepted is not a dead network", []EndpointResult{
			dEP("c1", "192.0.2.1", Down, ClassTLSCertHostname, PhaseTLS), dEP("c2", "c2.test", Down, ClassTLSCertUntrusted, PhaseTLS),
		}, []ServiceResult{dSvc("A", Down, nil)},
			DiagIntercepted, "a captive portal or TLS-intercepting proxy is in the way: control c1 met a certificate for another host"},
		{"redirect to a login page", []EndpointResult{upIP("c1"), withRedirect(upName("c2"), "http://wifi.example/login?orig=c2")},
			[]ServiceResult{dSvc("A", Up, nil)},
			DiagIntercepted, "a captive portal or TLS-intercepting proxy is in the way: control c2 was redirected to http://wifi.example/login?orig=c2"},
		{"redirect to https on the same host is harmless", []EndpointResult{withRedirect(upName("c1"), "https://www.c1.test/")},
			[]ServiceResult{dSvc("A", Up, nil)}, DiagOK, "the service is up"},
		{"a redirect over verified TLS is the control's own", []EndpointResult{withTLS(withRedirect(upName("c1"), "https://elsewhere.test/login"), true)},
			[]ServiceResult{dSvc("A", Up, nil)}, DiagOK, "the service is up"},
		{"a redirect over unverified TLS is not trusted", []EndpointResult{withTLS(withRedirect(upName("c1"), "https://elsewhere.test/"), false)},
			[]ServiceResult{dSvc("A", Up, nil)}, DiagIntercepted,
			"a captive portal or TLS-intercepting proxy is in the way: control c1 was redirected to https://elsewhere.test/"},
		{"meta down, the rest up", upControls, []ServiceResult{
			dSvc("WhatsApp", Down, meta), dSvc("Telegram", Up, []string{"popular"}), dSvc("Messenger", Down, meta),
			dSvc("Signal", Degraded, nil), dSvc("Instagram", Down, meta),
		}, DiagProviderOutage, "Meta-wide outage: WhatsApp, Messenger, Instagram; your network works (the controls answer)"},
		{"an operator tag of the user's own, shown as first written", upControls, []ServiceResult{
			dSvc("Chat", Down, []string{"ExampleCorp"}), dSvc("Mail", Down, []string{"examplecorp"}), dSvc("Other", Up, nil),
		}, DiagProviderOutage, "ExampleCorp-wide outage: Chat, Mail; your network works (the controls answer)"},
		{"a known operator wins over a trait grouping the same services", upControls, []ServiceResult{
			dSvc("A", Down, []string{"e2ee", "meta"}), dSvc("B", Down, []string{"e2ee", "meta"}), dSvc("C", Up, nil),
		}, DiagProviderOutage, "Meta-wide outage: A, B; your network works (the controls answer)"},
		{"no provider when another service is down too", upControls, []ServiceResult{
			dSvc("A", Down, meta), dSvc("B", Down, meta), dSvc("C", Down, nil), dSvc("D", Up, nil),
		}, DiagServiceOutage, "A, B, C down; your network works (the controls answer)"},
		{"no provider when one service of the tag works", upControls, []ServiceResult{
			dSvc("A", Down, meta), dSvc("B", Up, meta), dSvc("C", Up, nil),
		}, DiagServiceOutage, "A down; your network works (the controls answer)"},
		{"no provider when the tag covers everything", upControls, []ServiceResult{
			dSvc("A", Down, meta), dSvc("B", Down, meta),
		}, DiagServiceOutage, "A, B down; your network works (the controls answer)"},
		{"no controls: the network rules cannot fire", nil, []ServiceResult{
			dSvc("A", Down, nil, refusedIP("a")), dSvc("B", Down, nil, servfail("b")),
		}, DiagServiceOutage, "A, B down (no controls configured to rule out your network)"},
		{"no controls, a provider still shows, and nothing rules out the network", nil, []ServiceResult{
			dSvc("A", Down, meta), dSvc("B", Down, meta), dSvc("C", Up, nil),
		}, DiagProviderOutage, "Meta-wide outage: A, B (no controls configured to rule out your network)"},
		{"many services down stay one line", upControls, []ServiceResult{
			dSvc("A", Down, nil), dSvc("B", Down, nil), dSvc("C", Down, nil), dSvc("D", Down, nil), dSvc("E", Down, nil), dSvc("F", Down, nil), dSvc("G", Down, nil),
		}, DiagServiceOutage, "A, B, C, D, E +2 more down; your network works (the controls answer)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rep := &Report{Controls: tt.controls, Services: tt.services}
			d := Diagnose(rep)
			if d.Code != tt.code || d.Message != tt.message {
				t.Errorf("got %s %q\nwant %s %q", d.Code, d.Message, tt.code, tt.message)
			}
		})
	}
}

// Each rule on its own: it fires on its case and stays quiet on the others'.
func TestDiagnosisRulesAreIndependent(t *testing.T) {
	refused := dEP("c", "192.0.2.9", Down, ClassConnectionRefused, PhaseConnect)
	cases := map[string]*Report{
		DiagLocalNetwork: {Controls: []EndpointResult{refused}, Services: []ServiceResult{dSvc("A", Up, nil)}},
		DiagLocalDNS: {Controls: []EndpointResult{upIP("i"), dEP("n", "n.test", Down, ClassDNSNXDomain, PhaseDNS)},
			Services: []ServiceResult{dSvc("A", Down, nil, dEP("a", "a.test", Down, ClassDNSNXDomain, PhaseDNS))}},
		DiagIntercepted: {Controls: []EndpointResult{upIP("i"), dEP("n", "n.test", Down, ClassTLSCertUntrusted, PhaseTLS)},
			Services: []ServiceResult{dSvc("A", Up, nil)}},
		DiagProviderOutage: {Controls: []EndpointResult{upIP("i")},
			Services: []ServiceResult{dSvc("A", Down, []string{"meta"}), dSvc("B", Down, []string{"meta"}), dSvc("C", Up, nil)}},
		DiagServiceOutage: {Controls: []EndpointResult{upIP("i")}, Services: []ServiceResult{dSvc("A", Down, nil), dSvc("B", Up, nil)}},
	}
	rules := map[string]diagnosisRule{
		DiagLocalNetwork:   diagnoseLocalNetwork,
		DiagLocalDNS:       diagnoseLocalDNS,
		DiagIntercepted:    diagnoseIntercepted,
		DiagProviderOutage: diagnoseProviderOutage,
		DiagServiceOutage:  diagnoseServiceOutage,
	}
	for code, rule := range rules {
		for caseCode, rep := range cases {
			d, ok := rule(rep)
			// A provider outage, and a resolver that fails every name, also
			// leave services down: the order of the rules decides.
			want := code == caseCode || code == DiagServiceOutage && (caseCode == DiagProviderOutage || caseCode == DiagLocalDNS)
			if ok != want {
				t.Errorf("rule %s on the %s case: fired %v, want %v", code, caseCode, ok, want)
			}
			if ok && d.Code != code {
				t.Errorf("rule %s returned code %s", code, d.Code)
			}
		}
	}
}

func TestJudgeRunActsOnTheDiagnosis(t *testing.T) {
	servfail := func(n string) EndpointResult { return dEP(n, n+".test", Down, ClassDNSError, PhaseDNS) }

	// local_dns: what needed a lookup is unknown, what did not keeps its
	// verdict, and the run is unknown (exit 3).
	rep := &Report{
		Controls: []EndpointResult{upIP("c-ip"), servfail("c-name")},
		Services: []ServiceResult{
			dSvc("Named", Down, nil, servfail("a")),
			dSvc("ByIP", Up, nil, upIP("b")),
		},
	}
	JudgeRun(rep)
	if rep.Diagnosis.Code != DiagLocalDNS || rep.Services[0].Status != Unknown || rep.Services[1].Status != Up ||
		rep.Status != Unknown || rep.Summary != (Summary{Up: 1, Unknown: 1}) || rep.Note != rep.Diagnosis.Message {
		t.Errorf("local_dns: %+v %s %+v %q, services %s %s", rep.Diagnosis, rep.Status, rep.Summary, rep.Note,
			rep.Services[0].Status, rep.Services[1].Status)
	}

	// Every control intercepted: the spec's rule still makes every service
	// unknown, and the note is the diagnosis.
	rep = &Report{
		Controls: []EndpointResult{dEP("c", "192.0.2.1", Down, ClassTLSCertUntrusted, PhaseTLS)},
		Services: []ServiceResult{dSvc("A", Down, nil), dSvc("B", Up, nil)},
	}
	JudgeRun(rep)
	if rep.Diagnosis.Code != DiagIntercepted || rep.Status != Unknown || rep.Summary != (Summary{Unknown: 2}) || rep.Note != rep.Diagnosis.Message {
		t.Errorf("intercepted, every control down: %+v %s %+v %q", rep.Diagnosis, rep.Status, rep.Summary, rep.Note)
	}

	// One control intercepted: the verdicts stand, the diagnosis explains.
	rep = &Report{
		Controls: []EndpointResult{upIP("i"), dEP("c", "192.0.2.1", Down, ClassTLSCertUntrusted, PhaseTLS)},
		Services: []ServiceResult{dSvc("A", Down, nil), dSvc("B", Up, nil)},
	}
	JudgeRun(rep)
	if rep.Diagnosis.Code != DiagIntercepted || rep.Status != Down || rep.Note != "" {
		t.Errorf("intercepted, one control: %+v %s %q", rep.Diagnosis, rep.Status, rep.Note)
	}
}

func TestRedirectOf(t *testing.T) {
	target, _ := url.Parse("http://c.test/")
	followed, _ := url.Parse("http://portal.test/login")
	tests := []struct {
		name string
		resp *http.Response
		want string
	}{
		{"not followed", &http.Response{StatusCode: 302, Header: http.Header{"Location": {"https://u:secret@portal.test/login"}},
			Request: &http.Request{URL: target}}, "https://u:xxxxx@portal.test/login"},
		{"relative location", &http.Response{StatusCode: 301, Header: http.Header{"Location": {"/next"}},
			Request: &http.Request{URL: target}}, "http://c.test/next"},
		{"followed", &http.Response{StatusCode: 200, Request: &http.Request{URL: followed, Response: &http.Response{StatusCode: 302}}},
			"http://portal.test/login"},
		{"the target's own answer", &http.Response{StatusCode: 200, Request: &http.Request{URL: target}}, ""},
	}
	for _, tt := range tests {
		if got := redirectOf(tt.resp); got != tt.want {
			t.Errorf("%s: %q, want %q", tt.name, got, tt.want)
		}
	}
}

func TestRedirectsAway(t *testing.T) {
	for _, tt := range []struct {
		host, location string
		want           bool
	}{
		{"c.test", "https://c.test/", false},
		{"c.test", "https://www.c.test/dns-query", false},
		{"www.c.test", "https://c.test/", false},
		{"c.test", "http://portal.test/", true},
		{"1.1.1.1", "https://1.1.1.1/", false},
		{"c.test", "https://c.test/captive/login", true},
		{"c.test", "https://c.test/?next=signin", true},
	} {
		if got := redirectsAway(tt.host, tt.location); got != tt.want {
			t.Errorf("%s -> %s: %v, want %v", tt.host, tt.location, got, tt.want)
		}
	}
}

// The HTTP prober records where a redirect pointed: the intercepted rule
// depends on it.
func TestHTTPRecordsRedirect(t *testing.T) {
	portal := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "http://portal.test/login", http.StatusFound)
	})
	ep := targetEndpoint(t, fixture.HTTPServer(t, portal, nil)+"/")
	a := runProbe(t, ep, nil, 10*time.Second)
	wantOK(t, a)
	if a.HTTPStatus != http.StatusFound || a.Redirect != "http://portal.test/login" {
		t.Errorf("status %d redirect %q", a.HTTPStatus, a.Redirect)
	}
	r := JudgeEndpoint(ep, []Attempt{a}, testNow)
	if r.Redirect != a.Redirect {
		t.Errorf("the endpoint's verdict lost the redirect: %q", r.Redirect)
	}
}
