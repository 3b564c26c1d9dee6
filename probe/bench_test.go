package probe

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/msgprobe/msgprobe/internal/fixture"
	"github.com/msgprobe/msgprobe/internal/proto/whatsapp"
	"github.com/msgprobe/msgprobe/internal/proto/whatsapp/watest"
)

// The benchmarks below measure msgprobe's hot paths: one attempt of each
// kind against a loopback server, judging, and the runner's bookkeeping.
// The servers run in the same process, so time and allocations per attempt
// include the server's side of the handshake; compare runs of the same
// benchmark, not these figures with a client alone. Run them with
//
//	unshare -rn sh -c 'ip link set lo up; go test -run ^$ -bench . -benchmem ./probe'

func benchEndpoint(b *testing.B, target string) *Endpoint {
	b.Helper()
	u, err := url.Parse(target)
	if err != nil {
		b.Fatal(err)
	}
	return &Endpoint{
		Name: target, Target: target, Kind: Kind(u.Scheme), URL: u,
		Host: u.Hostname(), Port: u.Port(),
		Settings: Settings{Timeout: 10 * time.Second, Samples: 1},
	}
}

// benchAttempts makes one attempt per iteration, with the prober a run
// uses for the endpoint's attempts, and fails the benchmark on the first
// failed one: a failing attempt is not a fast one.
func benchAttempts(b *testing.B, ep *Endpoint) {
	b.Helper()
	ctx := context.Background()
	probe := (&Runner{}).proberFor(ep)
	b.ReportAllocs()
	for b.Loop() {
		actx, cancel := context.WithTimeout(ctx, ep.Timeout)
		a := probe(actx, ep, nil)
		cancel()
		if a.Failure != nil {
			b.Fatalf("attempt failed: %s at %s: %v", a.Failure.Class, a.Failure.Phase, a.Failure)
		}
	}
}

func BenchmarkAttemptTCP(b *testing.B) {
	benchAttempts(b, benchEndpoint(b, "tcp://"+fixture.TCPListener(b)))
}

func BenchmarkAttemptTLS(b *testing.B) {
	ca := fixture.NewCA(b)
	ep := benchEndpoint(b, "tls://"+fixture.TLSServer(b, ca.Valid("127.0.0.1")))
	ep.TLSConfig = &tls.Config{RootCAs: ca.Pool(), ServerName: "127.0.0.1"}
	benchAttempts(b, ep)
}

func BenchmarkAttemptHTTP(b *testing.B) {
	base := fixture.HTTPServer(b, fixture.Respond(http.StatusOK, "ok"), nil)
	benchAttempts(b, benchEndpoint(b, base+"/"))
}

func BenchmarkAttemptHTTPS(b *testing.B) {
	ca := fixture.NewCA(b)
	cert := ca.Valid("127.0.0.1")
	base := fixture.HTTPServer(b, fixture.Respond(http.StatusOK, "ok"), &cert)
	ep := benchEndpoint(b, base+"/")
	ep.TLSConfig = &tls.Config{RootCAs: ca.Pool(), ServerName: "127.0.0.1"}
	benchAttempts(b, ep)
}

// BenchmarkDNSAttempt is one dns:// query over UDP to a loopback server;
// BenchmarkDNSAttemptTCP one whose UDP answer comes truncated, asked again
// over TCP.
func BenchmarkDNSAttempt(b *testing.B) {
	srv := fixture.DNSServer(b, map[string][]string{"chat.test": {"127.0.0.1"}})
	benchAttempts(b, benchDNSEndpoint(b, "dns://"+srv.Addr+"/chat.test?type=A"))
}

func BenchmarkDNSAttemptTCP(b *testing.B) {
	srv := fixture.DNSServer(b, map[string][]string{"chat.test": {"127.0.0.1"}})
	srv.Behave(fixture.Truncate, "chat.test")
	benchAttempts(b, benchDNSEndpoint(b, "dns://"+srv.Addr+"/chat.test?type=A"))
}

func benchDNSEndpoint(b *testing.B, target string) *Endpoint {
	b.Helper()
	ep, err := loadOne(target, "timeout: 10s", "expect: {answer_contains: 127.0.0.1}")
	if err != nil {
		b.Fatal(err)
	}
	return ep
}

// benchResults are the attempts of n endpoints, three each, in the mix a
// run meets: mostly successes with TLS details, some failures.
func benchResults(n int) ([]*Endpoint, [][]Attempt) {
	eps := make([]*Endpoint, n)
	all := make([][]Attempt, n)
	info := &TLSInfo{Version: tls.VersionTLS13, NotAfter: testNow.Add(90 * 24 * time.Hour), Subject: "chat.test", Issuer: "bench CA", Verified: true}
	refused := &Failure{Class: ClassConnectionRefused, Phase: PhaseConnect, Err: errors.New("connect: connection refused")}
	for i := range n {
		ep := testEndpoint(fmt.Sprintf("e%d", i))
		ep.Kind = KindHTTPS
		eps[i] = ep
		as := make([]Attempt, 3)
		for j := range as {
			d := time.Duration(10+i%7+j) * time.Millisecond
			as[j] = Attempt{Start: testNow, HTTPStatus: 200, TLS: info,
				Timings: Timings{Connect: d / 4, TLS: d / 2, TTFB: d / 8, Total: d}}
		}
		switch i % 10 {
		case 0:
			as[1] = Attempt{Start: testNow, Failure: refused, Timings: Timings{Total: time.Millisecond}}
		case 1:
			for j := range as {
				as[j] = Attempt{Start: testNow, Failure: refused, Timings: Timings{Total: time.Millisecond}}
			}
		}
		all[i] = as
	}
	return eps, all
}

// BenchmarkJudgeEndpoints judges 10,000 endpoints of three attempts each,
// what the runner does once a run of that size has finished.
func BenchmarkJudgeEndpoints(b *testing.B) {
	eps, all := benchResults(10_000)
	b.ReportAllocs()
	for b.Loop() {
		for i, ep := range eps {
			_ = JudgeEndpoint(ep, all[i], testNow)
		}
	}
}

// BenchmarkJudgeServices judges 1,000 services of ten endpoints and the run.
func BenchmarkJudgeServices(b *testing.B) {
	eps, all := benchResults(10_000)
	results := make([]EndpointResult, len(eps))
	for i, ep := range eps {
		results[i] = JudgeEndpoint(ep, all[i], testNow)
	}
	svcs := make([]*Service, len(eps)/10)
	for i := range svcs {
		svcs[i] = &Service{Name: fmt.Sprintf("s%d", i)}
	}
	b.ReportAllocs()
	for b.Loop() {
		rep := &Report{Services: make([]ServiceResult, len(svcs))}
		for i, s := range svcs {
			rep.Services[i] = JudgeService(s, results[i*10:i*10+10])
		}
		JudgeRun(rep)
	}
}

// BenchmarkRunner runs 10,000 endpoints of three attempts through the
// worker pool with a prober that does no network work, so that what remains
// is the runner's own cost: scheduling, collecting results and judging.
func BenchmarkRunner(b *testing.B) {
	cfg := testConfig(1_000, 10, 3)
	ok := func(context.Context, *Endpoint, *Options) Attempt {
		return Attempt{Timings: Timings{Connect: time.Millisecond, Total: 2 * time.Millisecond}}
	}
	r := &Runner{Concurrency: 64, Probe: ok, Now: func() time.Time { return testNow }}
	b.ReportAllocs()
	for b.Loop() {
		if rep := r.Run(context.Background(), cfg); rep.Status != Up {
			b.Fatalf("status %s, want up", rep.Status)
		}
	}
}

// BenchmarkWhatsAppAttempt is one whatsapp:// handshake: connect, the
// ClientHello, the loopback responder's ServerHello, two X25519 and two
// signature verifications. The responder's side (two X25519, the AES-GCM
// seals) is in the figures too; the chain is signed once, outside the loop.
func BenchmarkWhatsAppAttempt(b *testing.B) {
	pki := watest.NewPKI(time.Now())
	srv := pki.Server()
	srv.Header = whatsapp.HeaderMobile
	ep := benchEndpoint(b, "whatsapp://"+fixture.WhatsAppTCP(b, fixture.WhatsApp{Server: srv}))
	ep.Options = map[string]any{"whatsapp": &WhatsAppOptions{RootKey: pki.Root.Public, RootSet: true}}
	benchAttempts(b, ep)
}

// BenchmarkWhatsAppWSAttempt is the same handshake behind a WebSocket
// upgrade, as whatsapp+ws:// makes it.
func BenchmarkWhatsAppWSAttempt(b *testing.B) {
	pki := watest.NewPKI(time.Now())
	url := fixture.WhatsAppWS(b, fixture.WhatsApp{Server: pki.Server()})
	ep := benchEndpoint(b, "whatsapp+"+url)
	ep.Options = map[string]any{"whatsapp": &WhatsAppOptions{RootKey: pki.Root.Public, RootSet: true}}
	benchAttempts(b, ep)
}

// The WebSocket attempts upgrade, read the server's one message (a
// one-step dialogue) and close with the handshake, as a run's do.
func benchWS(b *testing.B, cert *tls.Certificate, pool *x509.CertPool) {
	base := fixture.WSServer(b, cert, nil, fixture.WSSend(`{"op":10}`))
	ep := benchEndpoint(b, base+"/")
	setOptions(ep, "websocket", &WSOptions{Dialogue: []WSStep{{Kind: WSExpect, Data: []byte(`"op":10`)}}})
	if pool != nil {
		ep.TLSConfig = &tls.Config{RootCAs: pool, ServerName: "127.0.0.1"}
	}
	benchAttempts(b, ep)
}

func BenchmarkWSAttempt(b *testing.B) { benchWS(b, nil, nil) }

func BenchmarkWSSAttempt(b *testing.B) {
	ca := fixture.NewCA(b)
	cert := ca.Valid("127.0.0.1")
	benchWS(b, &cert, ca.Pool())
}
