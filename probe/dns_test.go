package probe

import (
	"fmt"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/msgprobe/msgprobe/internal/fixture"
)

func noEnv(string) (string, bool) { return "", false }

// loadOne loads a configuration of one endpoint with target and the extra
// endpoint lines given (indented as endpoint keys), as a user would write
// it, and returns the endpoint or the loader's error.
func loadOne(target string, extra ...string) (*Endpoint, error) {
	var b strings.Builder
	fmt.Fprintf(&b, "version: 1\nservices:\n  - name: S\n    endpoints:\n      - name: e\n        target: %q\n", target)
	for _, line := range extra {
		b.WriteString("        " + line + "\n")
	}
	cfg, err := Load("t.yaml", []byte(b.String()), noEnv)
	if err != nil {
		return nil, err
	}
	return cfg.Services[0].Endpoints[0], nil
}

func mustLoadOne(t *testing.T, target string, extra ...string) *Endpoint {
	t.Helper()
	ep, err := loadOne(target, extra...)
	if err != nil {
		t.Fatalf("%s: %v", target, err)
	}
	return ep
}

func TestDNSTargets(t *testing.T) {
	for _, tc := range []struct {
		target, server, port, question string
	}{
		{"dns:///uptime.signal.org?type=A", "", "", "uptime.signal.org. A IN"},
		{"dns:///uptime.signal.org", "", "", "uptime.signal.org. A IN"},
		{"dns://127.0.0.1/whatsapp.net?type=NS", "127.0.0.1", "53", "whatsapp.net. NS IN"},
		{"dns://[::1]:5353/example.org.?TYPE=aaaa;CLASS=IN", "::1", "5353", "example.org. AAAA IN"},
		{"dns://ns.test:53/_xmpp-client._tcp.chat.test?type=SRV&class=in", "ns.test", "53", "_xmpp-client._tcp.chat.test. SRV IN"},
		{"dns:///version.bind?type=TXT;class=CH", "", "", "version.bind. TXT CH"},
		{"dns:///x.test?type=TYPE65", "", "", "x.test. HTTPS IN"},
		{"dns:///.?type=NS", "", "", ". NS IN"},
	} {
		ep := mustLoadOne(t, tc.target)
		d := dnsTarget(ep)
		if ep.Kind != KindDNS || d == nil {
			t.Fatalf("%s: kind %s, target %+v", tc.target, ep.Kind, d)
		}
		q := fmt.Sprintf("%s %s %s", d.Question.Name, dnsTypeName(d.Question.Type), dnsClassName(d.Question.Class))
		if ep.Host != tc.server || ep.Port != tc.port || q != tc.question {
			t.Errorf("%s: server %q port %q question %q, want %q %q %q", tc.target, ep.Host, ep.Port, q, tc.server, tc.port, tc.question)
		}
		if d.Expect.Rcode != dns.RcodeSuccess || d.Expect.MinAnswers != 1 {
			t.Errorf("%s: default expect %+v, want NOERROR and one record", tc.target, d.Expect)
		}
	}

	ep := mustLoadOne(t, "dns:///gone.test", "expect: {rcode: nxdomain}")
	if e := dnsTarget(ep).Expect; e.Rcode != dns.RcodeNameError || e.MinAnswers != 0 {
		t.Errorf("rcode nxdomain: %+v, want NXDOMAIN without records", e)
	}
	ep = mustLoadOne(t, "dns:///uptime.signal.org", `expect: {answer_contains: 127.0.0.1, outage_answers: {127.0.0.2: "Signal reports an outage", 127.0.0.3: down}, min_answers: 2}`)
	if e := dnsTarget(ep).Expect; e.Contains != "127.0.0.1" || e.MinAnswers != 2 || len(e.Outages) != 2 ||
		e.Outages[0] != (DNSOutage{"127.0.0.2", "Signal reports an outage"}) || e.Outages[1].Answer != "127.0.0.3" {
		t.Errorf("expect: %+v", e)
	}
}

// Every mistake in a dns:// target or its expect keys is one positioned
// line, with a hint where one helps.
func TestDNSConfigErrors(t *testing.T) {
	for _, tc := range []struct {
		target string
		extra  string
		want   string
	}{
		{"dns://127.0.0.1", "", `t.yaml:6:17: dns target names no name to query
hint: write dns:///NAME?type=T for the resolver, dns://SERVER/NAME?type=T for a server of your choice`},
		{"dns:///a.test?type=BOGUS", "", `t.yaml:6:17: dns target has an unknown type "BOGUS"
hint: types are named as in zone files: A, AAAA, NS, MX, TXT, SRV, CNAME, SOA, ...`},
		{"dns:///a.test?kind=A", "", `t.yaml:6:17: dns target has an unknown query key "kind"
hint: a dns target's query says ?type=T, and optionally ;class=C`},
		{"dns:///a/b", "", `t.yaml:6:17: dns target name "a/b" holds a /
hint: the path of a dns target is one name`},
		{"dns:///a..b", "", `t.yaml:6:17: dns target name "a..b" is not a domain name`},
		{"dns://u:p@127.0.0.1/a.test", "", `t.yaml:6:17: dns target has user info or a fragment
hint: write dns://SERVER:PORT/NAME?type=T`},
		{"dns://127.0.0.1:0/a.test", "", `t.yaml:6:17: dns target has an invalid port "0"`},
		{"dns:///a.test", "expect: {rcode: NOPE}", `t.yaml:7:25: expect.rcode "NOPE" is not a DNS rcode
hint: rcodes are named as dig shows them: NOERROR, NXDOMAIN, SERVFAIL, REFUSED, ...`},
		{"dns:///a.test", "expect: {min_answers: -1}", `t.yaml:7:31: expect.min_answers must be between 0 and 65535, got -1`},
		{"dns:///a.test", `expect: {answer_contains: ""}`, `t.yaml:7:35: expect.answer_contains is empty
hint: leave answer_contains out to accept any records`},
		{"dns:///a.test", `expect: {outage_answers: [127.0.0.2]}`, `t.yaml:7:34: expect.outage_answers must be a mapping, got a list
hint: write a mapping of answer: reason, like {127.0.0.2: "Signal reports an outage"}`},
		{"dns:///a.test", `expect: {outage_answers: {127.0.0.2: ""}}`, `t.yaml:7:46: expect.outage_answers reason is empty
hint: the reason is what the report says when this answer comes`},
		{"dns:///a.test", "expect: {status: [200]}", `t.yaml:7:18: expect.status does not apply to dns:// targets`},
		{"dns:///a.test", "tls: {server_name: x}", `t.yaml:7:9: tls block does not apply to dns:// targets
hint: dns:// queries in the clear; use tls://SERVER:853 to check a DNS-over-TLS server's handshake`},
		{"https://a.test/", "expect: {answer_contains: x}", `t.yaml:7:18: expect.answer_contains does not apply to https:// targets`},
	} {
		_, err := loadOne(tc.target, tc.extra)
		if err == nil {
			t.Errorf("%s %s: loaded", tc.target, tc.extra)
			continue
		}
		if got := err.Error(); got != tc.want {
			t.Errorf("%s %s:\n got: %s\nwant: %s", tc.target, tc.extra, got, tc.want)
		}
	}
}

// dnsFixture is a DNS server on loopback with the names the attempts below
// ask for.
func dnsFixture(t *testing.T) *fixture.DNS {
	t.Helper()
	s := fixture.DNSServer(t, map[string][]string{"up.test": {"127.0.0.1"}, "outage.test": {"127.0.0.2"}, "weird.test": {"10.0.0.1"}})
	s.Add("zone.test. NS ns1.zone.test.", "zone.test. NS ns2.zone.test.", "zone.test. A 127.0.0.9")
	for _, n := range []string{"servfail.test", "refused.test", "silent.test", "garbage.test", "wrongid.test",
		"wrongq.test", "trunc.test", "huge.test", "cut.test", "trickle.test", "slow.test", "formerr.test"} {
		s.Add(n + ". A 127.0.0.1")
	}
	s.ServFail("servfail.test")
	s.Refuse("refused.test")
	s.Rcode(dns.RcodeFormatError, "formerr.test")
	s.Behave(fixture.Silent, "silent.test")
	s.Behave(fixture.Garbage, "garbage.test")
	s.Behave(fixture.WrongID, "wrongid.test")
	s.Behave(fixture.WrongQuestion, "wrongq.test")
	s.Behave(fixture.Truncate, "trunc.test")
	s.Behave(fixture.HugeTCP, "huge.test")
	s.Behave(fixture.CutTCP, "cut.test")
	s.Behave(fixture.TrickleTCP, "trickle.test")
	s.Delay(300*time.Millisecond, "slow.test")
	// An answer too large for UDP: 600 TXT records of 80 bytes, about 50 KB.
	for i := range 600 {
		s.Add(fmt.Sprintf(`many.test. TXT "record %03d %s"`, i, strings.Repeat("x", 70)))
	}
	return s
}

// Each kind of answer, and each hostile server, ends with its class, its
// phase and a one-line reason that names the layer, within the timeout.
func TestDNSAttempts(t *testing.T) {
	srv := dnsFixture(t)
	outage := `expect: {answer_contains: 127.0.0.1, outage_answers: {127.0.0.2: "Signal reports an outage"}}`
	for _, tc := range []struct {
		name, expect string
		class        Class // empty: up
		phase        Phase
		msg          string
		transport    string // of a success
	}{
		{name: "up.test", expect: outage, transport: "udp"},
		{name: "zone.test?type=NS", expect: "expect: {min_answers: 2, answer_contains: ns1.zone.test}", transport: "udp"},
		{name: "outage.test", expect: outage, class: ClassDNSAnswer, phase: PhaseAnswer,
			msg: "Signal reports an outage (DNS answer 127.0.0.2)"},
		{name: "weird.test", expect: outage, class: ClassDNSAnswer, phase: PhaseAnswer,
			msg: `DNS answer for weird.test A is 10.0.0.1, want one with "127.0.0.1"`},
		{name: "up.test", expect: "expect: {answer_not_contains: 127.0.0.1}", class: ClassDNSAnswer, phase: PhaseAnswer,
			msg: `DNS answer for up.test A is 127.0.0.1, want none with "127.0.0.1"`},
		{name: "zone.test?type=NS", expect: "expect: {min_answers: 3}", class: ClassDNSNoAnswer, phase: PhaseAnswer,
			msg: "DNS answer for zone.test NS has 2 NS records, expected at least 3"},
		{name: "up.test?type=AAAA", class: ClassDNSNoAnswer, phase: PhaseAnswer, msg: "DNS answer for up.test AAAA has no AAAA record"},
		{name: "nx.test", class: ClassDNSRcode, phase: PhaseAnswer, msg: "DNS server answered NXDOMAIN for nx.test A"},
		{name: "nx.test", expect: "expect: {rcode: NXDOMAIN}", transport: "udp"},
		{name: "up.test", expect: "expect: {rcode: NXDOMAIN}", class: ClassDNSRcode, phase: PhaseAnswer,
			msg: "DNS server answered NOERROR for up.test A, expected NXDOMAIN"},
		{name: "formerr.test", class: ClassDNSRcode, phase: PhaseAnswer, msg: "DNS server answered FORMERR for formerr.test A"},
		{name: "servfail.test", class: ClassDNSServfail, phase: PhaseDNS, msg: "DNS server answered SERVFAIL for servfail.test A"},
		{name: "refused.test", class: ClassDNSRefused, phase: PhaseDNS, msg: "DNS server answered REFUSED for refused.test A"},
		{name: "garbage.test", class: ClassProtocol, phase: PhaseDNS,
			msg: "DNS server answered something that is not DNS (bad question name: bad rdata)"},
		{name: "wrongid.test", class: ClassProtocol, phase: PhaseDNS, msg: "DNS answer's id is not the query's"},
		{name: "wrongq.test", class: ClassProtocol, phase: PhaseDNS, msg: "DNS answer is not for wrongq.test A"},
		{name: "trunc.test", transport: "tcp"},
		{name: "many.test?type=TXT", expect: "expect: {min_answers: 600}", transport: "tcp"},
		{name: "trickle.test", transport: "tcp"},
		{name: "slow.test", transport: "udp"},
		{name: "cut.test", class: ClassEOF, phase: PhaseDNS, msg: "connection closed by the peer"},
		{name: "huge.test", class: ClassProtocol, phase: PhaseDNS},
	} {
		t.Run(tc.name+" "+tc.expect, func(t *testing.T) {
			var extra []string
			if tc.expect != "" {
				extra = append(extra, tc.expect)
			}
			ep := mustLoadOne(t, "dns://"+srv.Addr+"/"+tc.name, extra...)
			start := time.Now()
			a := runProbe(t, ep, nil, 5*time.Second)
			if took := time.Since(start); took > 4*time.Second {
				t.Errorf("took %s", took)
			}
			if tc.class == "" {
				if a.Failure != nil {
					t.Fatalf("%s at %s: %v", a.Failure.Class, a.Failure.Phase, a.Failure)
				}
				if a.Details["transport"] != tc.transport || a.Details["rcode"] == nil || a.RemoteAddr != srv.Addr {
					t.Errorf("details %v from %s, want transport %s from %s", a.Details, a.RemoteAddr, tc.transport, srv.Addr)
				}
				if a.Timings.DNS <= 0 || a.Timings.DNS > a.Timings.Total {
					t.Errorf("timings %+v", a.Timings)
				}
				return
			}
			if a.Failure == nil {
				t.Fatalf("up (%v), want %s", a.Details, tc.class)
			}
			f := a.Failure
			if f.Class != tc.class || f.Phase != tc.phase || (tc.msg != "" && f.Error() != tc.msg) {
				t.Errorf("%s at %s: %q\nwant %s at %s: %q", f.Class, f.Phase, f, tc.class, tc.phase, tc.msg)
			}
			if strings.ContainsAny(f.Error(), "\n\r") {
				t.Errorf("message spans lines: %q", f)
			}
		})
	}
}

// A server that never answers is dns_timeout at dns, within the timeout.
func TestDNSSilentServer(t *testing.T) {
	srv := dnsFixture(t)
	for _, name := range []string{"silent.test", "slow.test"} {
		ep := mustLoadOne(t, "dns://"+srv.Addr+"/"+name)
		start := time.Now()
		a := runProbe(t, ep, nil, 150*time.Millisecond)
		took := time.Since(start)
		if a.Failure == nil || a.Failure.Class != ClassDNSTimeout || a.Failure.Phase != PhaseDNS {
			t.Fatalf("%s: %+v, want dns_timeout at dns", name, a.Failure)
		}
		if took > time.Second {
			t.Errorf("%s: took %s with a 150ms timeout", name, took)
		}
		r := JudgeEndpoint(ep, []Attempt{a, a, a}, time.Now())
		if r.Reason != "3/3 attempts timed out at dns" {
			t.Errorf("%s: reason %q", name, r.Reason)
		}
	}
}

// A length prefix of 65535 followed by 100 MB: the attempt reads one
// message's worth and no more, and ends at once with protocol.
func TestDNSHugeTCPAnswerIsBounded(t *testing.T) {
	srv := dnsFixture(t)
	ep := mustLoadOne(t, "dns://"+srv.Addr+"/huge.test")
	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	a := runProbe(t, ep, nil, 5*time.Second)
	runtime.ReadMemStats(&after)
	if a.Failure == nil || a.Failure.Class != ClassProtocol || a.Failure.Phase != PhaseDNS {
		t.Fatalf("%+v, want protocol at dns", a.Failure)
	}
	// The attempt holds one 64 KiB message; the server's side, in this
	// process too, a 64 KiB buffer it writes again and again.
	if grew := after.TotalAlloc - before.TotalAlloc; grew > 4<<20 {
		t.Errorf("the attempt allocated %d bytes", grew)
	}
}

// No port listens: the kernel's "port unreachable" comes back as refused.
func TestDNSClosedPort(t *testing.T) {
	srv := dnsFixture(t)
	closed := fixture.ClosedPort(t) // a TCP port just freed; UDP on it is as unlikely to listen
	ep := mustLoadOne(t, "dns://"+closed+"/up.test")
	a := runProbe(t, ep, nil, 2*time.Second)
	if a.Failure == nil || a.Failure.Class != ClassConnectionRefused || a.Failure.Phase != PhaseDNS {
		t.Fatalf("%+v, want connection_refused at dns", a.Failure)
	}
	_ = srv
}

// Without a server in the target, the query goes to the configured
// resolver (resolver: or --resolver), through the resolver every lookup
// uses, over UDP and TCP alike.
func TestDNSConfiguredResolver(t *testing.T) {
	srv := dnsFixture(t)
	for _, name := range []string{"up.test", "trunc.test"} {
		ep := mustLoadOne(t, "dns:///"+name)
		a := runProbe(t, ep, &Options{Resolver: NewResolver(srv.Addr)}, 5*time.Second)
		if a.Failure != nil || a.RemoteAddr != srv.Addr {
			t.Errorf("%s: %v from %s, want up from %s", name, a.Failure, a.RemoteAddr, srv.Addr)
		}
	}
	if udp, tcp := srv.Queries(); udp != 2 || tcp != 1 {
		t.Errorf("%d UDP and %d TCP queries, want 2 and 1", udp, tcp)
	}
	// Nothing listens where the resolver should: as for a lookup, the
	// resolver is unreachable, and DNS is what is broken.
	ep := mustLoadOne(t, "dns:///up.test")
	a := runProbe(t, ep, &Options{Resolver: NewResolver(fixture.ClosedPort(t))}, 2*time.Second)
	if f := a.Failure; f == nil || f.Class != ClassDNSError || f.Phase != PhaseDNS || f.Error() != "resolver unreachable: connection refused" {
		t.Errorf("closed resolver: %+v", f)
	}
}

// A server named by a name is looked up first, with the run's resolver.
func TestDNSServerByName(t *testing.T) {
	srv := dnsFixture(t)
	_, port, _ := strings.Cut(srv.Addr, ":")
	names := fixture.DNSServer(t, map[string][]string{"ns.test": {"127.0.0.1"}})
	ep := mustLoadOne(t, "dns://ns.test:"+port+"/up.test")
	a := runProbe(t, ep, &Options{Resolver: names.Resolver()}, 5*time.Second)
	if a.Failure != nil || a.RemoteAddr != srv.Addr {
		t.Errorf("%v from %s", a.Failure, a.RemoteAddr)
	}
	ep = mustLoadOne(t, "dns://nx.test:"+port+"/up.test")
	a = runProbe(t, ep, &Options{Resolver: names.Resolver()}, 5*time.Second)
	if a.Failure == nil || a.Failure.Class != ClassDNSNXDomain || a.Failure.Phase != PhaseDNS {
		t.Errorf("%+v, want dns_nxdomain at dns", a.Failure)
	}
}

// The reason lines a report shows, one per class.
func TestDNSReasons(t *testing.T) {
	srv := dnsFixture(t)
	for _, tc := range []struct{ name, expect, reason string }{
		{"outage.test", `expect: {answer_contains: 127.0.0.1, outage_answers: {127.0.0.2: "Signal reports an outage"}}`,
			"2/2 attempts: Signal reports an outage (DNS answer 127.0.0.2)"},
		{"servfail.test", "", "2/2 attempts: DNS server answered SERVFAIL for servfail.test A"},
		{"garbage.test", "", "2/2 attempts failed at dns: DNS server answered something that is not DNS (bad question name: bad rdata)"},
	} {
		var extra []string
		if tc.expect != "" {
			extra = append(extra, tc.expect)
		}
		ep := mustLoadOne(t, "dns://"+srv.Addr+"/"+tc.name, extra...)
		as := []Attempt{runProbe(t, ep, nil, 5*time.Second), runProbe(t, ep, nil, 5*time.Second)}
		if r := JudgeEndpoint(ep, as, time.Now()); r.Status != Down || r.Reason != tc.reason {
			t.Errorf("%s: %s %q, want down %q", tc.name, r.Status, r.Reason, tc.reason)
		}
	}
}

// The schema sees the same mistakes of shape as the loader in dns://
// targets and the new expect keys, so an editor flags them as typed.
func TestDNSSchema(t *testing.T) {
	sch := compileSchema(t)
	doc := func(target, extra string) []byte {
		return fmt.Appendf(nil, "version: 1\nservices:\n  - name: S\n    endpoints:\n      - name: e\n        target: %q\n        %s\n", target, extra)
	}
	for _, tc := range []struct {
		target, extra string
		ok            bool
	}{
		{"dns:///uptime.signal.org?type=A", "expect: {answer_contains: 127.0.0.1, outage_answers: {127.0.0.2: down}}", true},
		{"dns://127.0.0.1", "expect: {}", false},
		{"dns:///a.test", "expect: {outage_answers: [127.0.0.2]}", false},
		{"dns:///a.test", "expect: {min_answers: -1}", false},
		{"dns:///a.test", "expect: {status: [200]}", false},
		{"dns:///a.test", "tls: {server_name: x}", false},
		{"https://a.test/", "expect: {answer_contains: x}", false},
		{"https://a.test/", "expect: {json: {a: {exists: true}, b: [1, x], c: null}, headers: {X-A: {exists: false}, X-B: v}}", true},
		{"https://a.test/", "expect: {json: {a: {exist: true}}}", false},
		{"https://a.test/", "expect: {headers: {X-A: {}}}", false},
		{"tcp://a.test:1", "expect: {json: {a: 1}}", false},
	} {
		data := doc(tc.target, tc.extra)
		schemaErr := schemaCheck(sch, data)
		_, loadErr := Load("t.yaml", data, noEnv)
		if (schemaErr == nil) != tc.ok || (loadErr == nil) != tc.ok {
			t.Errorf("%s %s: schema %v, loader %v; want ok=%v", tc.target, tc.extra, schemaErr, loadErr, tc.ok)
		}
	}
}
