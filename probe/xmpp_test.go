package probe

import (
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/msgprobe/msgprobe/internal/fixture"
)

// xmppEndpoint loads one endpoint from YAML lines (indented as an item of a
// service's endpoints) through the real loader, so that the xmpp block and
// the prober are tested together.
func xmppEndpoint(t testing.TB, lines string) *Endpoint {
	t.Helper()
	cfg := "version: 1\nservices:\n  - name: chat\n    endpoints:\n" + lines
	c, err := Load("test.yaml", []byte(cfg), func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatalf("load:\n%s\n%v", cfg, err)
	}
	return c.Services[0].Endpoints[0]
}

// caBlock is a tls block trusting ca, as YAML lines under an endpoint.
func caBlock(ca *fixture.CA) string {
	return "        tls:\n          ca_pem: " + strconv.Quote(string(ca.PEM())) + "\n"
}

func xmppTarget_(scheme, addr, domain, extra string) string {
	s := fmt.Sprintf("      - name: x\n        target: %s://%s\n        timeout: 3s\n", scheme, addr)
	if domain != "" {
		s += "        xmpp:\n          domain: " + domain + "\n" + extra
	}
	return s
}

func wantMechanisms(t *testing.T, a Attempt, want ...string) {
	t.Helper()
	got, _ := a.Details["sasl_mechanisms"].([]string)
	for _, m := range want {
		if !slices.Contains(got, m) {
			t.Errorf("SASL mechanisms %v, want %s among them", got, m)
		}
	}
}

// TestXMPPProsodyStartTLS: a real Prosody with STARTTLS required is up,
// with the TLS version and the SASL mechanisms of the second stream.
func TestXMPPProsodyStartTLS(t *testing.T) {
	t.Parallel() // each test runs a Prosody of its own
	ca := fixture.NewCA(t)
	p := fixture.StartProsody(t, ca, fixture.ProsodyConfig{})
	ep := xmppEndpoint(t, xmppTarget_("xmpp", p.Addr, p.Domain, "")+caBlock(ca))
	a := runProbe(t, ep, nil, 10*time.Second)
	wantOK(t, a)
	if a.TLS == nil || a.TLS.Version < tls.VersionTLS12 || !a.TLS.Verified || a.TLS.Subject != p.Domain {
		t.Fatalf("TLS = %+v, want a verified handshake for %s", a.TLS, p.Domain)
	}
	wantMechanisms(t, a, "SCRAM-SHA-1", "PLAIN")
	if a.Details["starttls"] != "required" {
		t.Errorf("starttls = %v, want required", a.Details["starttls"])
	}
	if a.Timings.Connect <= 0 || a.Timings.TLS <= 0 || a.Timings.TTFB <= 0 {
		t.Errorf("timings %+v, want connect, tls and ttfb measured", a.Timings)
	}
	var steps []Phase
	for _, s := range a.Timings.Steps {
		steps = append(steps, s.Phase)
		if s.D <= 0 {
			t.Errorf("step %s took %v", s.Phase, s.D)
		}
	}
	if !slices.Equal(steps, []Phase{PhaseStream, PhaseStartTLS, PhaseFeatures}) {
		t.Errorf("steps %v, want stream, starttls, features", steps)
	}
	if n := p.AuthAttempts(); n != 0 {
		t.Errorf("the probe tried to log in %d times; it must not", n)
	}
}

// TestXMPPProsodyNoStartTLS: without STARTTLS the endpoint is down unless
// the config says STARTTLS is optional.
func TestXMPPProsodyNoStartTLS(t *testing.T) {
	t.Parallel() // each test runs a Prosody of its own
	p := fixture.StartProsody(t, nil, fixture.ProsodyConfig{TLS: fixture.ProsodyTLSOff})
	ep := xmppEndpoint(t, xmppTarget_("xmpp", p.Addr, p.Domain, ""))
	a := runProbe(t, ep, nil, 10*time.Second)
	wantFailure(t, a, ClassStartTLSUnavailable, PhaseStartTLS)
	if got := a.Failure.Error(); got != "XMPP server offers no STARTTLS, and TLS is required" {
		t.Errorf("message = %q", got)
	}

	ep = xmppEndpoint(t, xmppTarget_("xmpp", p.Addr, p.Domain, "          starttls: optional\n"))
	a = runProbe(t, ep, nil, 10*time.Second)
	wantOK(t, a)
	if a.TLS != nil {
		t.Errorf("TLS = %+v on a server without TLS", a.TLS)
	}
	wantMechanisms(t, a, "SCRAM-SHA-1")
	if a.Details["starttls"] != "absent" {
		t.Errorf("starttls = %v, want absent", a.Details["starttls"])
	}
}

// TestXMPPProsodyOptionalUsesTLS: starttls: optional still upgrades when
// the server offers it.
func TestXMPPProsodyOptionalUsesTLS(t *testing.T) {
	t.Parallel() // each test runs a Prosody of its own
	ca := fixture.NewCA(t)
	p := fixture.StartProsody(t, ca, fixture.ProsodyConfig{TLS: fixture.ProsodyTLSOptional, DirectTLS: true})
	ep := xmppEndpoint(t, xmppTarget_("xmpp", p.Addr, p.Domain, "          starttls: optional\n")+caBlock(ca))
	a := runProbe(t, ep, nil, 10*time.Second)
	wantOK(t, a)
	if a.TLS == nil || a.Details["starttls"] != "offered" {
		t.Errorf("TLS %+v, starttls %v: want TLS through an offered STARTTLS", a.TLS, a.Details["starttls"])
	}

	// The same server's direct TLS port.
	ep = xmppEndpoint(t, xmppTarget_("xmpps", p.DirectTLSAddr, p.Domain, "")+caBlock(ca))
	a = runProbe(t, ep, nil, 10*time.Second)
	wantOK(t, a)
	if a.TLS == nil || !a.TLS.Verified {
		t.Fatalf("TLS = %+v", a.TLS)
	}
	wantMechanisms(t, a, "SCRAM-SHA-1", "PLAIN")
	if _, ok := a.Details["starttls"]; ok {
		t.Errorf("starttls reported over direct TLS: %v", a.Details)
	}
}

// TestXMPPProsodyStreamError: asking a real Prosody for a domain it does
// not serve gives its host-unknown stream error.
func TestXMPPProsodyStreamError(t *testing.T) {
	t.Parallel() // each test runs a Prosody of its own
	ca := fixture.NewCA(t)
	p := fixture.StartProsody(t, ca, fixture.ProsodyConfig{})
	ep := xmppEndpoint(t, xmppTarget_("xmpp", p.Addr, "nope.test", "")+caBlock(ca))
	a := runProbe(t, ep, nil, 10*time.Second)
	wantFailure(t, a, ClassXMPPStreamError, PhaseStream)
	if got := a.Failure.Error(); !strings.HasPrefix(got, "XMPP stream error: host-unknown") {
		t.Errorf("message = %q", got)
	}
}

// TestXMPPProsodyUntrusted: a certificate from another CA fails at tls.
func TestXMPPProsodyUntrusted(t *testing.T) {
	t.Parallel() // each test runs a Prosody of its own
	p := fixture.StartProsody(t, fixture.NewCA(t), fixture.ProsodyConfig{})
	ep := xmppEndpoint(t, xmppTarget_("xmpp", p.Addr, p.Domain, "")+caBlock(fixture.NewCA(t)))
	wantFailure(t, runProbe(t, ep, nil, 10*time.Second), ClassTLSCertUntrusted, PhaseTLS)
}

// TestXMPPHostile: every hostile server ends within the timeout with the
// class and phase that name what it did.
func TestXMPPHostile(t *testing.T) {
	ca := fixture.NewCA(t)
	const domain = "example.test"
	for _, tc := range []struct {
		name   string
		b      fixture.XMPPBehaviour
		scheme string
		class  Class
		phase  Phase
		msg    string
	}{
		{"good", fixture.XMPPGood, "xmpp", "", "", ""},
		{"direct TLS", fixture.XMPPDirectTLS, "xmpps", "", "", ""},
		{"byte by byte", fixture.XMPPByteByByte, "xmpp", "", "", ""},
		{"garbage", fixture.XMPPGarbage, "xmpp", ClassProtocol, PhaseStream, "XMPP server sent text, not a stream header"},
		{"closes mid-stream", fixture.XMPPCloseMidStream, "xmpp", ClassEOF, PhaseStream, "XMPP server closed the connection before its stream features"},
		{"stream error", fixture.XMPPStreamError, "xmpp", ClassXMPPStreamError, PhaseStream, "XMPP stream error: host-unknown"},
		{"wrong from", fixture.XMPPWrongFrom, "xmpp", ClassProtocol, PhaseStream, `XMPP server answered for "other.test", not "example.test"`},
		{"no STARTTLS", fixture.XMPPNoStartTLS, "xmpp", ClassStartTLSUnavailable, PhaseStartTLS, "XMPP server offers no STARTTLS, and TLS is required"},
		{"STARTTLS refused", fixture.XMPPRefuseStartTLS, "xmpp", ClassStartTLSUnavailable, PhaseStartTLS, "XMPP server answered STARTTLS with <failure/>"},
		{"injection after proceed", fixture.XMPPInjectAfterProceed, "xmpp", ClassProtocol, PhaseStartTLS, "XMPP server sent data after <proceed/>, before TLS"},
		{"silent after STARTTLS", fixture.XMPPSilentAfterStartTLS, "xmpp", ClassProtocolTimeout, PhaseStartTLS, "connected, no answer to STARTTLS in 1s"},
		{"plain server on direct TLS", fixture.XMPPNoStartTLS, "xmpps", ClassEOF, PhaseTLS, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			addr := fixture.XMPPServer(t, ca, domain, tc.b)
			lines := strings.Replace(xmppTarget_(tc.scheme, addr, domain, ""), "timeout: 3s", "timeout: 1s", 1) + caBlock(ca)
			ep := xmppEndpoint(t, lines)
			start := time.Now()
			a := runProbe(t, ep, nil, ep.Timeout)
			if took := time.Since(start); took > ep.Timeout+time.Second {
				t.Errorf("took %v, beyond the %v timeout", took, ep.Timeout)
			}
			if tc.class == "" {
				wantOK(t, a)
				wantMechanisms(t, a, "SCRAM-SHA-256", "SCRAM-SHA-1")
				return
			}
			wantFailure(t, a, tc.class, tc.phase)
			if tc.msg != "" && !strings.HasPrefix(a.Failure.Error(), tc.msg) {
				t.Errorf("message = %q, want it to start with %q", a.Failure.Error(), tc.msg)
			}
		})
	}
}

// TestXMPPSilentListener: a listener that accepts and says nothing is a
// protocol timeout at stream, with a reason that says so.
func TestXMPPSilentListener(t *testing.T) {
	addr := fixture.TCPListener(t)
	ep := xmppEndpoint(t, strings.Replace(xmppTarget_("xmpp", addr, "example.test", ""), "timeout: 3s", "timeout: 1s", 1))
	a := runProbe(t, ep, nil, ep.Timeout)
	wantFailure(t, a, ClassProtocolTimeout, PhaseStream)
	if got := a.Failure.Error(); got != "connected, no XMPP stream header in 1s" {
		t.Errorf("message = %q", got)
	}
}

// TestXMPPHugeStanza: a server streaming a 100 MB element is cut off at the
// negotiation budget, without the prober's memory growing with it.
func TestXMPPHugeStanza(t *testing.T) {
	addr := fixture.XMPPServer(t, nil, "example.test", fixture.XMPPHugeStanza)
	ep := xmppEndpoint(t, xmppTarget_("xmpp", addr, "example.test", ""))
	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	a := runProbe(t, ep, nil, 5*time.Second)
	runtime.ReadMemStats(&after)
	wantFailure(t, a, ClassProtocol, PhaseStream)
	if got := a.Failure.Error(); got != "XMPP server sent more than 64 KiB without finishing its answer" {
		t.Errorf("message = %q", got)
	}
	// The fixture's writer reuses one 64 KiB buffer; everything else the
	// process allocated meanwhile is the prober's.
	if grew := after.TotalAlloc - before.TotalAlloc; grew > 16<<20 {
		t.Errorf("allocated %d MiB during the attempt", grew>>20)
	}
}

// srvDNS is the fixture DNS server with the SRV records of XMPP
// discovery added, and its resolver in Options.
type srvDNS struct{ *fixture.DNS }

func startSRVDNS(t *testing.T, srv map[string]string, a map[string]string) *srvDNS {
	t.Helper()
	hosts := map[string][]string{}
	for name, ip := range a {
		hosts[name] = []string{ip}
	}
	s := &srvDNS{fixture.DNSServer(t, hosts)}
	for name, target := range srv {
		host, port, _ := net.SplitHostPort(target)
		n, err := strconv.Atoi(port)
		if err != nil {
			t.Fatal(err)
		}
		s.AddSRV(name, 10, 1, uint16(n), host)
	}
	return s
}

func (s *srvDNS) options() *Options { return &Options{Resolver: s.Resolver()} }

// TestXMPPSRV: without a port, the address comes from _xmpp-client._tcp,
// and the certificate is verified for the XMPP domain, not for the SRV
// target (which it does not name).
func TestXMPPSRV(t *testing.T) {
	t.Parallel() // each test runs a Prosody of its own
	ca := fixture.NewCA(t)
	p := fixture.StartProsody(t, ca, fixture.ProsodyConfig{DirectTLS: true})
	_, port, _ := net.SplitHostPort(p.Addr)
	_, directPort, _ := net.SplitHostPort(p.DirectTLSAddr)
	dns := startSRVDNS(t, map[string]string{
		"_xmpp-client._tcp.example.test":  "xmpp.hosting.test:" + port,
		"_xmpps-client._tcp.example.test": "xmpp.hosting.test:" + directPort,
	}, map[string]string{"xmpp.hosting.test": "127.0.0.1"})

	for _, scheme := range []string{"xmpp", "xmpps"} {
		ep := xmppEndpoint(t, xmppTarget_(scheme, "example.test", "", "")+caBlock(ca))
		a := runProbe(t, ep, dns.options(), 10*time.Second)
		wantOK(t, a)
		if a.TLS == nil || a.TLS.Subject != "example.test" {
			t.Errorf("%s: TLS = %+v", scheme, a.TLS)
		}
		want := p.Addr
		if scheme == "xmpps" {
			want = p.DirectTLSAddr
		}
		if a.RemoteAddr != want {
			t.Errorf("%s: connected to %s, want the SRV target %s", scheme, a.RemoteAddr, want)
		}
		if a.Timings.DNS <= 0 {
			t.Errorf("%s: dns time not measured", scheme)
		}
	}
}

// TestXMPPSRVMissing: a domain without _xmpps-client records has no direct
// TLS; without _xmpp-client records xmpp:// falls back to the domain on
// 5222.
func TestXMPPSRVMissing(t *testing.T) {
	dns := startSRVDNS(t, nil, map[string]string{"example.test": "127.0.0.1"})
	ep := xmppEndpoint(t, xmppTarget_("xmpps", "example.test", "", ""))
	a := runProbe(t, ep, dns.options(), 5*time.Second)
	wantFailure(t, a, ClassDNSNXDomain, PhaseDNS)
	if !strings.Contains(a.Failure.Error(), "no _xmpps-client._tcp SRV record") {
		t.Errorf("message = %q", a.Failure.Error())
	}

	// The fallback: the domain itself on 5222, where a silent listener
	// shows the connection was made there.
	ln, err := net.Listen("tcp", "127.0.0.1:5222")
	if err != nil {
		t.Skipf("cannot listen on 127.0.0.1:5222 to test the fallback: %v", err)
	}
	defer ln.Close()
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() { defer wg.Done(); defer c.Close(); _, _ = io.Copy(io.Discard, c) }()
		}
	}()
	ep = xmppEndpoint(t, strings.Replace(xmppTarget_("xmpp", "example.test", "", ""), "timeout: 3s", "timeout: 1s", 1))
	a = runProbe(t, ep, dns.options(), ep.Timeout)
	wantFailure(t, a, ClassProtocolTimeout, PhaseStream)
	if a.RemoteAddr != "127.0.0.1:5222" {
		t.Errorf("connected to %s, want the fallback 127.0.0.1:5222", a.RemoteAddr)
	}
	ln.Close()
	wg.Wait()
}

// TestXMPPConfig covers the xmpp block's checks.
func TestXMPPConfig(t *testing.T) {
	for _, tc := range []struct{ lines, want string }{
		{"      - name: x\n        target: xmpp://127.0.0.1:5222\n", "is an IP address, and the XMPP domain is not named"},
		{"      - name: x\n        target: xmpp://example.test\n        xmpp: {starttls: maybe}\n", `xmpp.starttls "maybe" is neither required nor optional`},
		{"      - name: x\n        target: xmpp://example.test\n        xmpp: {domain: 'a b'}\n", `xmpp.domain "a b" is not a domain name`},
		{"      - name: x\n        target: xmpp://example.test\n        xmpp: {domian: x}\n", "domian"},
		{"      - name: x\n        target: xmpp://user@example.test\n", "must not carry a user name"},
		{"      - name: x\n        target: xmpp://example.test/path\n", "must not have a path"},
	} {
		cfg := "version: 1\nservices:\n  - name: chat\n    endpoints:\n" + tc.lines
		_, err := Load("test.yaml", []byte(cfg), func(string) (string, bool) { return "", false })
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: err = %v, want %q", tc.lines, err, tc.want)
		}
		if err != nil && !strings.Contains(err.Error(), "test.yaml:") {
			t.Errorf("%q: error without a position: %v", tc.lines, err)
		}
	}
	ep := xmppEndpoint(t, "      - name: x\n        target: xmpp://Example.TEST\n")
	o := optionsOf[XMPPOptions](ep, "xmpp")
	if o.Domain != "example.test" || !o.SRV || o.StartTLSOptional || ep.Port != "5222" {
		t.Errorf("options %+v, port %s", o, ep.Port)
	}
	if ep.TLSConfig == nil || ep.TLSConfig.ServerName != "example.test" || ep.TLSConfig.NextProtos != nil {
		t.Errorf("TLS config %+v", ep.TLSConfig)
	}
	ep = xmppEndpoint(t, "      - name: x\n        target: xmpps://127.0.0.1:5223\n        xmpp: {domain: example.test}\n")
	if o := optionsOf[XMPPOptions](ep, "xmpp"); o.SRV || o.Domain != "example.test" {
		t.Errorf("options %+v", o)
	}
	if !slices.Equal(ep.TLSConfig.NextProtos, []string{"xmpp-client"}) || ep.TLSConfig.ServerName != "example.test" {
		t.Errorf("xmpps TLS config: ALPN %v, name %q", ep.TLSConfig.NextProtos, ep.TLSConfig.ServerName)
	}
}
