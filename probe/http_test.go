package probe

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"testing/iotest"
	"time"

	"github.com/msgprobe/msgprobe/internal/fixture"
)

func httpEndpoint(t *testing.T, target string, cfg *tls.Config) *Endpoint {
	t.Helper()
	ep := targetEndpoint(t, target)
	ep.TLSConfig = cfg
	return ep
}

func TestHTTPSuccess(t *testing.T) {
	base := fixture.HTTPServer(t, fixture.Respond(http.StatusOK, "hello"), nil)
	a := runProbe(t, httpEndpoint(t, base+"/", nil), nil, 10*time.Second)
	wantOK(t, a)
	if a.HTTPStatus != http.StatusOK {
		t.Errorf("status %d, want 200", a.HTTPStatus)
	}
	if a.Timings.Connect <= 0 || a.Timings.TTFB <= 0 {
		t.Errorf("connect = %v, ttfb = %v, want both > 0", a.Timings.Connect, a.Timings.TTFB)
	}
	if a.Timings.TLS != 0 || a.TLS != nil {
		t.Errorf("plain http has tls = %v, info %v", a.Timings.TLS, a.TLS)
	}
	if a.Timings.Total < a.Timings.Connect+a.Timings.TTFB {
		t.Errorf("total %v is less than its phases", a.Timings.Total)
	}
}

func TestHTTPSSuccess(t *testing.T) {
	ca := fixture.NewCA(t)
	cert := ca.Valid("127.0.0.1")
	base := fixture.HTTPServer(t, fixture.Respond(http.StatusOK, "hello"), &cert)
	a := runProbe(t, httpEndpoint(t, base+"/", &tls.Config{RootCAs: ca.Pool(), ServerName: "127.0.0.1"}), nil, 10*time.Second)
	wantOK(t, a)
	if a.Timings.Connect <= 0 || a.Timings.TLS <= 0 || a.Timings.TTFB <= 0 {
		t.Errorf("connect = %v, tls = %v, ttfb = %v, want all > 0", a.Timings.Connect, a.Timings.TLS, a.Timings.TTFB)
	}
	if a.TLS == nil || !a.TLS.Verified || !a.TLS.NotAfter.Equal(cert.Leaf.NotAfter) {
		t.Errorf("TLS info %+v, want verified and the leaf's expiry", a.TLS)
	}
}

func TestHTTPSCertificateAndHandshakeFailures(t *testing.T) {
	ca := fixture.NewCA(t)
	wrong := ca.Valid("elsewhere.test")
	t.Run("wrong host", func(t *testing.T) {
		base := fixture.HTTPServer(t, fixture.Respond(http.StatusOK, ""), &wrong)
		a := runProbe(t, httpEndpoint(t, base+"/", &tls.Config{RootCAs: ca.Pool(), ServerName: "127.0.0.1"}), nil, 10*time.Second)
		wantFailure(t, a, ClassTLSCertHostname, PhaseTLS)
	})
	t.Run("skip verification", func(t *testing.T) {
		base := fixture.HTTPServer(t, fixture.Respond(http.StatusOK, ""), &wrong)
		a := runProbe(t, httpEndpoint(t, base+"/", &tls.Config{InsecureSkipVerify: true}), nil, 10*time.Second)
		wantOK(t, a)
		if a.TLS == nil || a.TLS.Verified {
			t.Errorf("TLS info %+v, want unverified", a.TLS)
		}
	})
	t.Run("silent", func(t *testing.T) {
		ep := httpEndpoint(t, "https://"+fixture.SilentTLS(t)+"/", &tls.Config{RootCAs: ca.Pool()})
		wantFailure(t, runProbe(t, ep, nil, 300*time.Millisecond), ClassTimeout, PhaseTLS)
	})
}

func TestHTTPRefused(t *testing.T) {
	a := runProbe(t, httpEndpoint(t, "http://"+fixture.ClosedPort(t)+"/", nil), nil, 10*time.Second)
	wantFailure(t, a, ClassConnectionRefused, PhaseConnect)
}

func TestHTTPHangingConnect(t *testing.T) {
	a := runProbe(t, httpEndpoint(t, "http://"+fixture.BlackholeAddr(t)+"/", nil), nil, 300*time.Millisecond)
	wantFailure(t, a, ClassTimeout, PhaseConnect)
}

func TestHTTPStatus(t *testing.T) {
	base := fixture.HTTPServer(t, fixture.Respond(http.StatusServiceUnavailable, "busy"), nil)
	ep := httpEndpoint(t, base+"/", nil)
	a := runProbe(t, ep, nil, 10*time.Second)
	wantFailure(t, a, ClassHTTPStatus, PhaseHTTP)
	if a.HTTPStatus != http.StatusServiceUnavailable {
		t.Errorf("status %d, want 503", a.HTTPStatus)
	}
	if got := a.Failure.Error(); got != "status 503, expected 2xx/3xx" {
		t.Errorf("message %q", got)
	}
	ep.Expect.Status = []int{200, 302}
	a = runProbe(t, ep, nil, 10*time.Second)
	if got := a.Failure.Error(); got != "status 503, expected 200, 302" {
		t.Errorf("message %q", got)
	}
	ep.Expect.Status = []int{503}
	wantOK(t, runProbe(t, ep, nil, 10*time.Second))
}

func TestHTTPBodyContains(t *testing.T) {
	base := fixture.HTTPServer(t, fixture.Respond(http.StatusOK, "<title>WhatsApp Web</title>"), nil)
	ep := httpEndpoint(t, base+"/", nil)
	ep.Expect.BodyContains = "WhatsApp"
	wantOK(t, runProbe(t, ep, nil, 10*time.Second))

	ep.Expect.BodyContains = "Telegram"
	a := runProbe(t, ep, nil, 10*time.Second)
	wantFailure(t, a, ClassHTTPBody, PhaseBody)
	if got := a.Failure.Error(); got != `body does not contain the expected text ("Tele…", 8 bytes)` {
		t.Errorf("message %q", got)
	}
}

func TestHTTPEndlessBodyIsBounded(t *testing.T) {
	base := fixture.HTTPServer(t, fixture.EndlessBody(t), nil)
	ep := httpEndpoint(t, base+"/", nil)
	ep.Expect.BodyContains = "never there"
	// The deadline is far: only the 1 MiB bound can end this attempt with
	// http_body rather than a timeout.
	a := runProbe(t, ep, nil, 30*time.Second)
	wantFailure(t, a, ClassHTTPBody, PhaseBody)
	if !strings.Contains(a.Failure.Error(), "in first 1 MiB") {
		t.Errorf("message %q", a.Failure.Error())
	}
}

func TestHTTPDripBody(t *testing.T) {
	base := fixture.HTTPServer(t, fixture.DripBody(t, "ready", 50*time.Millisecond), nil)
	ep := httpEndpoint(t, base+"/", nil)
	t.Run("found early", func(t *testing.T) {
		// The body never ends; finding the text must be enough.
		ep.Expect.BodyContains = "ready"
		wantOK(t, runProbe(t, ep, nil, 30*time.Second))
	})
	t.Run("never found", func(t *testing.T) {
		ep.Expect.BodyContains = "done"
		wantFailure(t, runProbe(t, ep, nil, 300*time.Millisecond), ClassTimeout, PhaseBody)
	})
	t.Run("not read", func(t *testing.T) {
		ep.Expect.BodyContains = ""
		wantOK(t, runProbe(t, ep, nil, 30*time.Second))
	})
}

func TestHTTPHangBeforeHeaders(t *testing.T) {
	base := fixture.HTTPServer(t, fixture.Hang(t), nil)
	a := runProbe(t, httpEndpoint(t, base+"/", nil), nil, 300*time.Millisecond)
	wantFailure(t, a, ClassTimeout, PhaseTTFB)
	if a.Timings.Connect <= 0 {
		t.Errorf("connect = %v, want > 0", a.Timings.Connect)
	}
}

func TestHTTPSlowHeaders(t *testing.T) {
	base := fixture.HTTPServer(t, fixture.Slow(t, time.Minute, fixture.Respond(http.StatusOK, "")), nil)
	a := runProbe(t, httpEndpoint(t, base+"/", nil), nil, 300*time.Millisecond)
	wantFailure(t, a, ClassTimeout, PhaseTTFB)
}

func TestHTTPDrippedHeaders(t *testing.T) {
	addr := fixture.DripServer(t, []byte("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"), 100*time.Millisecond)
	a := runProbe(t, httpEndpoint(t, "http://"+addr+"/", nil), nil, 500*time.Millisecond)
	wantFailure(t, a, ClassTimeout, PhaseHTTP)
	if a.Timings.TTFB <= 0 {
		t.Errorf("ttfb = %v, want > 0: the first byte came", a.Timings.TTFB)
	}
}

func TestHTTPMalformedResponse(t *testing.T) {
	addr := fixture.DripServer(t, []byte("SSH-2.0-OpenSSH_9.6\r\n\r\n"), 0)
	a := runProbe(t, httpEndpoint(t, "http://"+addr+"/", nil), nil, 10*time.Second)
	wantFailure(t, a, ClassProtocol, PhaseHTTP)
}

func TestHTTPPeerHangsUp(t *testing.T) {
	a := runProbe(t, httpEndpoint(t, "http://"+fixture.HangUp(t)+"/", nil), nil, 10*time.Second)
	if a.Failure == nil || (a.Failure.Class != ClassEOF && a.Failure.Class != ClassConnectionReset) {
		t.Fatalf("failure %+v, want eof or connection_reset", a.Failure)
	}
}

func TestHTTPRedirects(t *testing.T) {
	other := fixture.HTTPServer(t, fixture.Respond(http.StatusOK, "landed elsewhere"), nil)
	mux := http.NewServeMux()
	mux.Handle("/from", http.RedirectHandler("/to", http.StatusFound))
	mux.Handle("/to", fixture.Respond(http.StatusOK, "landed"))
	mux.Handle("/away", http.RedirectHandler(other+"/", http.StatusFound))
	mux.HandleFunc("/loop/{n}", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/loop/"+r.PathValue("n")+"x", http.StatusFound)
	})
	base := fixture.HTTPServer(t, mux, nil)

	t.Run("not followed", func(t *testing.T) {
		a := runProbe(t, httpEndpoint(t, base+"/from", nil), nil, 10*time.Second)
		wantOK(t, a)
		if a.HTTPStatus != http.StatusFound {
			t.Errorf("status %d, want 302", a.HTTPStatus)
		}
	})
	t.Run("not followed, 200 expected", func(t *testing.T) {
		ep := httpEndpoint(t, base+"/from", nil)
		ep.Expect.Status = []int{200}
		wantFailure(t, runProbe(t, ep, nil, 10*time.Second), ClassHTTPStatus, PhaseHTTP)
	})
	t.Run("followed", func(t *testing.T) {
		ep := httpEndpoint(t, base+"/from", nil)
		ep.HTTP.FollowRedirects = true
		ep.Expect.BodyContains = "landed"
		a := runProbe(t, ep, nil, 10*time.Second)
		wantOK(t, a)
		if a.HTTPStatus != http.StatusOK {
			t.Errorf("status %d, want 200", a.HTTPStatus)
		}
	})
	t.Run("followed to another host", func(t *testing.T) {
		ep := httpEndpoint(t, base+"/away", nil)
		ep.HTTP.FollowRedirects = true
		ep.Expect.BodyContains = "elsewhere"
		wantOK(t, runProbe(t, ep, nil, 10*time.Second))
	})
	t.Run("followed to a dead host", func(t *testing.T) {
		dead := http.NewServeMux()
		dead.Handle("/", http.RedirectHandler("http://"+fixture.ClosedPort(t)+"/", http.StatusFound))
		ep := httpEndpoint(t, fixture.HTTPServer(t, dead, nil)+"/", nil)
		ep.HTTP.FollowRedirects = true
		wantFailure(t, runProbe(t, ep, nil, 10*time.Second), ClassConnectionRefused, PhaseConnect)
	})
	t.Run("loop", func(t *testing.T) {
		ep := httpEndpoint(t, base+"/loop/x", nil)
		ep.HTTP.FollowRedirects = true
		a := runProbe(t, ep, nil, 10*time.Second)
		wantFailure(t, a, ClassHTTPStatus, PhaseHTTP)
		if !strings.Contains(a.Failure.Error(), "redirects") {
			t.Errorf("message %q", a.Failure.Error())
		}
	})
}

func TestHTTPSRedirectToAnotherHostName(t *testing.T) {
	// The loader names the endpoint's host in the TLS configuration; a
	// redirect to another name must be verified by that name.
	ca := fixture.NewCA(t)
	landing := ca.Valid("media.test")
	to := fixture.HTTPServer(t, fixture.Respond(http.StatusOK, "media"), &landing)
	_, toPort, _ := net.SplitHostPort(strings.TrimPrefix(to, "https://"))
	front := ca.Valid("web.test")
	from := fixture.HTTPServer(t, http.RedirectHandler("https://media.test:"+toPort+"/", http.StatusFound), &front)
	_, fromPort, _ := net.SplitHostPort(strings.TrimPrefix(from, "https://"))
	dns := fixture.DNSServer(t, map[string][]string{"web.test": {"127.0.0.1"}, "media.test": {"127.0.0.1"}})

	ep := httpEndpoint(t, "https://web.test:"+fromPort+"/", &tls.Config{RootCAs: ca.Pool(), ServerName: "web.test"})
	ep.HTTP.FollowRedirects = true
	ep.Expect.BodyContains = "media"
	a := runProbe(t, ep, &Options{Resolver: dns.Resolver()}, 10*time.Second)
	wantOK(t, a)
	if a.Timings.DNS <= 0 {
		t.Errorf("dns = %v, want > 0", a.Timings.DNS)
	}
	if ep.TLSConfig.ServerName != "web.test" {
		t.Error("the prober changed the endpoint's shared configuration")
	}
}

func TestHTTPRequestShape(t *testing.T) {
	var seen = make(chan string, 1)
	base := fixture.HTTPServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen <- fmt.Sprintf("%s %s %s", r.Method, r.Host, r.Header.Get("X-Probe"))
		if r.Method != http.MethodHead {
			_, _ = io.WriteString(w, "ok")
		}
	}), nil)
	ep := httpEndpoint(t, base+"/", nil)
	ep.HTTP.Method = http.MethodHead
	ep.HTTP.Headers = map[string]string{"host": "web.test", "X-Probe": "secret-value"}
	a := runProbe(t, ep, nil, 10*time.Second)
	wantOK(t, a)
	if got := <-seen; got != "HEAD web.test secret-value" {
		t.Errorf("server saw %q", got)
	}
}

func TestHTTPResolvesAndFailsDNS(t *testing.T) {
	base := fixture.HTTPServer(t, fixture.Respond(http.StatusOK, ""), nil)
	u, _ := url.Parse(base)
	dns := fixture.DNSServer(t, map[string][]string{"web.test": {"127.0.0.1"}}, "silent.test")
	opt := &Options{Resolver: dns.Resolver()}

	a := runProbe(t, httpEndpoint(t, "http://web.test:"+u.Port()+"/", nil), opt, 10*time.Second)
	wantOK(t, a)
	if a.Timings.DNS <= 0 {
		t.Errorf("dns = %v, want > 0", a.Timings.DNS)
	}
	wantFailure(t, runProbe(t, httpEndpoint(t, "http://nx.test/", nil), opt, 10*time.Second), ClassDNSNXDomain, PhaseDNS)
	wantFailure(t, runProbe(t, httpEndpoint(t, "http://silent.test/", nil), opt, 300*time.Millisecond), ClassDNSTimeout, PhaseDNS)
}

func TestHTTPCanceled(t *testing.T) {
	base := fixture.HTTPServer(t, fixture.Hang(t), nil)
	run, cancel := context.WithTimeoutCause(t.Context(), 200*time.Millisecond, errors.New("interrupted"))
	defer cancel()
	ctx, cancelAttempt := context.WithTimeout(run, 10*time.Second)
	defer cancelAttempt()
	a := runProbeCtx(t, ctx, httpEndpoint(t, base+"/", nil), nil)
	wantFailure(t, a, ClassCanceled, PhaseTTFB)
}

// The attempts at one endpoint share a client, but each must still pay for
// a connection of its own: a run's prober dials afresh every time.
func TestHTTPProberFreshConnectionPerAttempt(t *testing.T) {
	var conns atomic.Int32
	srv := httptest.NewUnstartedServer(fixture.Respond(http.StatusOK, "ok"))
	srv.Config.ConnState = func(_ net.Conn, st http.ConnState) {
		if st == http.StateNew {
			conns.Add(1)
		}
	}
	srv.Start()
	t.Cleanup(srv.Close)

	ep := httpEndpoint(t, srv.URL+"/", nil)
	probe := (&Runner{}).proberFor(ep)
	for range 3 {
		ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
		a := probe(ctx, ep, nil)
		cancel()
		wantOK(t, a)
		if a.Timings.Connect <= 0 {
			t.Errorf("connect = %v, want > 0: the attempt did not dial", a.Timings.Connect)
		}
	}
	if got := conns.Load(); got != 3 {
		t.Errorf("server saw %d connections for 3 attempts, want 3", got)
	}
}

// A server that streams headers without end must not choose how much
// msgprobe holds: the head is cut at its bound, in the http phase, with a
// reason that names the bound, long before the attempt's timeout.
func TestHTTPResponseHeadersAreBounded(t *testing.T) {
	ca := fixture.NewCA(t)
	cert := ca.Valid("127.0.0.1")
	for _, tc := range []struct {
		name, target string
		cfg          *tls.Config
	}{
		{"http", "http://" + fixture.EndlessHeaders(t, nil) + "/", nil},
		{"https", "https://" + fixture.EndlessHeaders(t, &cert) + "/", &tls.Config{RootCAs: ca.Pool(), ServerName: "127.0.0.1"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := runProbe(t, httpEndpoint(t, tc.target, tc.cfg), nil, 20*time.Second)
			wantFailure(t, a, ClassProtocol, PhaseHTTP)
			if got, want := a.Failure.Error(), "response headers exceed 64 KiB"; got != want {
				t.Errorf("reason %q, want %q", got, want)
			}
			if a.Timings.Total > 5*time.Second {
				t.Errorf("took %v to give up on the headers", a.Timings.Total)
			}
		})
	}
}

// The bound is the endpoint's when it sets one, and a head within it passes.
func TestHTTPResponseHeaderBoundIsConfigurable(t *testing.T) {
	head := "HTTP/1.1 200 OK\r\nContent-Length: 0\r\nX-Big: " + strings.Repeat("b", 100<<10) + "\r\n\r\n"
	addr := fixture.DripServer(t, []byte(head), 0)
	ep := httpEndpoint(t, "http://"+addr+"/", nil)
	a := runProbe(t, ep, nil, 10*time.Second)
	wantFailure(t, a, ClassProtocol, PhaseHTTP)
	if got, want := a.Failure.Error(), "response headers exceed 64 KiB"; got != want {
		t.Errorf("reason %q, want %q", got, want)
	}
	ep = httpEndpoint(t, "http://"+addr+"/", nil)
	ep.HTTP.MaxHeaderBytes = 256 << 10
	wantOK(t, runProbe(t, ep, nil, 10*time.Second))
}

// bodyContains finds the text wherever the reads cut it, tells a body of
// exactly the bound from a longer one, and holds far less than it reads.
func TestBodyContains(t *testing.T) {
	want := []byte("needle-in-the-body")
	for _, tc := range []struct {
		name            string
		body            []byte
		found, complete bool
	}{
		{"absent", bytes.Repeat([]byte("x"), 100<<10), false, true},
		{"across reads", append(bytes.Repeat([]byte("x"), 32<<10-5), append(want, 'y')...), true, false},
		{"at the very end", append(bytes.Repeat([]byte("x"), maxBody-len(want)), want...), true, false},
		{"exactly the bound", bytes.Repeat([]byte("x"), maxBody), false, true},
		{"past the bound", append(bytes.Repeat([]byte("x"), maxBody), want...), false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// One byte per read at the start, then large reads: the text
			// must be found whatever the cuts.
			r := iotest.HalfReader(bytes.NewReader(tc.body))
			found, complete, err := bodyContains(r, want)
			if err != nil || found != tc.found || complete != tc.complete {
				t.Errorf("found %t complete %t err %v, want %t %t", found, complete, err, tc.found, tc.complete)
			}
		})
	}
}

// A reason shows at most a short prefix of the expected text.
func TestHTTPBodyReasonHidesTheExpectedText(t *testing.T) {
	base := fixture.HTTPServer(t, fixture.Respond(http.StatusOK, "nothing here"), nil)
	ep := httpEndpoint(t, base+"/", nil)
	ep.Expect.BodyContains = "token=S3CRET-VALUE-42"
	a := runProbe(t, ep, nil, 10*time.Second)
	wantFailure(t, a, ClassHTTPBody, PhaseBody)
	if got := a.Failure.Error(); strings.Contains(got, "S3CRET") || !strings.Contains(got, `"token=S3…", 21 bytes`) {
		t.Errorf("reason %q", got)
	}
}
