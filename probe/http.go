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
	"net/http/httptrace"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"
)

const (
	// maxBody bounds how much of a body is read for body_contains.
	maxBody = 1 << 20
	// maxRedirects bounds how many redirects follow_redirects follows.
	maxRedirects = 10
)

var errTooManyRedirects = fmt.Errorf("stopped after %d redirects", maxRedirects)

var httpProtocol = Protocol{
	Kind:    KindHTTP,
	Proves:  "an HTTP answer that meets expect",
	Blocks:  []string{"http", "expect"},
	Expect:  []string{"status", "body_contains", "json", "headers"},
	HTTP:    true,
	Target:  urlTarget("80"),
	Hints:   map[string]string{"tls": "use an https:// target"},
	Phases:  []Phase{PhaseDNS, PhaseConnect, PhaseRequest, PhaseTTFB, PhaseHTTP, PhaseBody},
	Classes: httpExpectClasses,
	Probe:   probeHTTP,
	Prober:  func(ep *Endpoint) ProbeFunc { return newHTTPProber(ep).probe },
}

var httpsProtocol = Protocol{
	Kind:    KindHTTPS,
	Proves:  "a verified TLS handshake and an HTTP answer that meets expect",
	Blocks:  []string{"http", "expect", "tls"},
	Expect:  []string{"status", "body_contains", "json", "headers"},
	TLS:     true,
	HTTP:    true,
	Target:  urlTarget("443"),
	Phases:  []Phase{PhaseDNS, PhaseConnect, PhaseTLS, PhaseRequest, PhaseTTFB, PhaseHTTP, PhaseBody},
	Classes: httpExpectClasses,
	Probe:   probeHTTP,
	Prober:  func(ep *Endpoint) ProbeFunc { return newHTTPProber(ep).probe },
}

// probeHTTP sends one request to ep over a fresh connection and judges the
// response's status and, when asked, its body.
func probeHTTP(ctx context.Context, ep *Endpoint, opt *Options) Attempt {
	return newHTTPProber(ep).probe(ctx, ep, opt)
}

// httpProber holds what the attempts at one endpoint share, built once: the
// request (its URL parsed and checked), the TLS configuration and the client.
// Its transport never holds a connection of its own: keep-alives are off, and
// each attempt's connection, dialed before the request, reaches the
// transport's dial through the request's context. So every attempt still
// pays for a fresh connection, and one attempt never gets another's.
type httpProber struct {
	req    *http.Request // nil when reqErr is set
	reqErr error
	cfg    *tls.Config
	client *http.Client
}

func newHTTPProber(ep *Endpoint) *httpProber {
	p := &httpProber{}
	p.req, p.reqErr = newRequest(context.Background(), ep)
	if ep.Kind == KindHTTPS {
		p.cfg = httpTLSConfig(ep)
	}
	transport := &http.Transport{
		// A probe measures the direct path; a proxy from the environment
		// would measure something else.
		Proxy:             nil,
		DialContext:       dialAttempt,
		TLSClientConfig:   p.cfg,
		DisableKeepAlives: true,
		// HTTP/1.1 only: a fresh HTTP/2 connection costs the same dns,
		// connect and tls, and one request on it shows nothing more, while
		// the trace of an HTTP/1.1 request maps one to one on our phases.
		ForceAttemptHTTP2: false,
	}
	follow := ep.HTTP.FollowRedirects
	p.client = &http.Client{
		Transport: transport,
		CheckRedirect: func(_ *http.Request, via []*http.Request) error {
			if !follow {
				return http.ErrUseLastResponse
			}
			if len(via) > maxRedirects {
				return errTooManyRedirects
			}
			return nil
		},
	}
	return p
}

// attemptKey carries an attempt's *httpTrace in its request's context, which
// the transport hands (values kept, cancellation dropped) to its dial.
type attemptKey struct{}

// dialAttempt is the transport's dial: the attempt's own connection first,
// then, for a redirect's hop, a new one under the attempt's context, which
// carries the deadline the transport's dial context lacks.
func dialAttempt(ctx context.Context, _, addr string) (net.Conn, error) {
	tr, _ := ctx.Value(attemptKey{}).(*httpTrace)
	if tr == nil {
		return nil, errors.New("http dial outside an attempt")
	}
	if c := tr.takeFirst(); c != nil {
		return c, nil
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, err
	}
	var hop Timings
	c, f := dialHost(tr.ctx, host, port, tr.opt, &hop, tr.setPhase)
	tr.dialed(c, f)
	if f != nil {
		return nil, f
	}
	return c, nil
}

// probe makes one attempt at ep, the endpoint p was built for.
func (p *httpProber) probe(ctx context.Context, ep *Endpoint, opt *Options) (a Attempt) {
	a.Start = opt.now()
	start := time.Now()
	defer func() { a.Timings.Total = time.Since(start) }()

	if p.reqErr != nil {
		a.Failure = &Failure{Class: ClassProtocol, Phase: PhaseRequest, Err: p.reqErr}
		return a
	}
	tr := &httpTrace{https: ep.Kind == KindHTTPS, ctx: ctx, opt: opt}
	req := p.req.WithContext(httptrace.WithClientTrace(context.WithValue(ctx, attemptKey{}, tr), tr.hooks()))

	// The endpoint is dialed here, not by the transport, so that dns and
	// connect are measured and fail in this goroutine: the transport dials
	// in a goroutine of its own, detached from the request's context.
	conn, f := dialHost(ctx, ep.Host, ep.Port, opt, &a.Timings, nil)
	if f != nil {
		a.Failure = f
		return a
	}
	a.RemoteAddr = conn.RemoteAddr().String()
	tr.first = conn
	defer func() {
		// The transport may never have asked for the connection, when ctx
		// ended first.
		if c := tr.takeFirst(); c != nil {
			_ = c.Close()
		}
	}()

	resp, err := p.client.Do(req)
	if resp != nil {
		defer resp.Body.Close()
	}
	tr.timings(&a.Timings)
	if err != nil {
		a.Failure = tr.failure(ctx, err)
		return a
	}
	a.HTTPStatus = resp.StatusCode
	a.Redirect = redirectOf(resp)
	if resp.TLS != nil {
		// Only these few fields are kept: the connection state and the
		// certificates it holds go with the response.
		a.TLS = tlsInfo(resp.TLS, p.cfg == nil || !p.cfg.InsecureSkipVerify)
	}
	if !ep.Expect.StatusOK(resp.StatusCode) {
		a.Failure = &Failure{Class: ClassHTTPStatus, Phase: PhaseHTTP,
			Err: fmt.Errorf("status %d, expected %s", resp.StatusCode, expectedStatus(ep.Expect))}
		return a
	}
	if f, judged := judgeHTTPExpect(ctx, ep, resp); judged {
		a.Failure = f
		return a
	}
	if want := ep.Expect.BodyContains; want != "" {
		found, complete, err := bodyContains(resp.Body, []byte(want))
		switch {
		case err != nil:
			a.Failure = classify(ctx, err, PhaseBody)
		case !found && complete:
			a.Failure = &Failure{Class: ClassHTTPBody, Phase: PhaseBody,
				Err: fmt.Errorf("body does not contain %q", want)}
		case !found:
			a.Failure = &Failure{Class: ClassHTTPBody, Phase: PhaseBody,
				Err: fmt.Errorf("body does not contain %q in first 1 MiB", want)}
		}
	}
	return a
}

// httpTLSConfig is the endpoint's TLS configuration for the transport. A
// redirect may lead to another host, which must be verified by its own name:
// unless the endpoint names the server itself, the copy names none, and the
// transport uses each host's. Nil leaves the transport's defaults, which do
// the same.
func httpTLSConfig(ep *Endpoint) *tls.Config {
	cfg := ep.TLSConfig
	if cfg == nil || !ep.HTTP.FollowRedirects || ep.TLS.ServerName != "" || cfg.ServerName == "" {
		return cfg
	}
	cfg = cfg.Clone()
	cfg.ServerName = ""
	return cfg
}

// newRequest builds ep's request. A Host header sets the request's host,
// as net/http otherwise ignores it.
func newRequest(ctx context.Context, ep *Endpoint) (*http.Request, error) {
	u := ep.URL
	if u == nil {
		var err error
		if u, err = url.Parse(ep.Target); err != nil {
			return nil, err
		}
	}
	method := ep.HTTP.Method
	if method == "" {
		method = http.MethodGet
	}
	req, err := http.NewRequestWithContext(ctx, method, u.String(), nil)
	if err != nil {
		return nil, err
	}
	for k, v := range ep.HTTP.Headers {
		if strings.EqualFold(k, "Host") {
			req.Host = v
			continue
		}
		req.Header.Set(k, v)
	}
	return req, nil
}

func expectedStatus(e Expect) string {
	if len(e.Status) == 0 {
		return "2xx/3xx"
	}
	codes := make([]string, len(e.Status))
	for i, c := range e.Status {
		codes[i] = strconv.Itoa(c)
	}
	return strings.Join(codes, ", ")
}

// bodyContains reads r until want shows up, the body ends (complete) or
// maxBody bytes were read, whichever comes first; it stops as soon as want
// is found, so a slow or endless body that has it does not fail.
func bodyContains(r io.Reader, want []byte) (found, complete bool, err error) {
	limited := &io.LimitedReader{R: r, N: maxBody + 1}
	var seen []byte
	chunk := make([]byte, 32<<10)
	for {
		n, err := limited.Read(chunk)
		from := max(0, len(seen)-len(want)+1)
		seen = append(seen, chunk[:n]...)
		if len(seen) > maxBody {
			seen = seen[:maxBody]
		}
		if bytes.Contains(seen[from:], want) {
			return true, false, nil
		}
		switch {
		case len(seen) >= maxBody && limited.N <= 0:
			return false, false, nil
		case errors.Is(err, io.EOF):
			return false, true, nil
		case err != nil:
			return false, false, err
		}
	}
}

// httpTrace follows an HTTP attempt through the transport's hooks. The hooks
// run on the transport's goroutines, possibly at once, so every field is
// behind mu. Phase durations are those of the first request: the endpoint's
// own, not a redirect's.
type httpTrace struct {
	https bool
	// ctx and opt are the attempt's, for a redirect's dial, which runs
	// under the transport's context.
	ctx context.Context
	opt *Options

	mu         sync.Mutex
	hop        int
	phase      Phase // the phase the current request is in
	tlsStart   time.Time
	wrote      time.Time
	tls, ttfb  time.Duration
	first      *boundConn // dialed before the request, until the transport takes it
	conn       *boundConn // the current request's connection
	dialFailed *Failure   // a redirect's dial failure
}

func (t *httpTrace) hooks() *httptrace.ClientTrace {
	return &httptrace.ClientTrace{
		GetConn: func(string) {
			t.mu.Lock()
			defer t.mu.Unlock()
			t.hop++
			switch {
			case t.hop > 1:
				t.phase = PhaseDNS
			case t.https:
				t.phase = PhaseTLS
			default:
				t.phase = PhaseRequest
			}
		},
		TLSHandshakeStart: func() {
			t.mu.Lock()
			defer t.mu.Unlock()
			t.phase = PhaseTLS
			if t.hop == 1 {
				t.tlsStart = time.Now()
			}
		},
		TLSHandshakeDone: func(_ tls.ConnectionState, err error) {
			t.mu.Lock()
			defer t.mu.Unlock()
			if err != nil {
				return
			}
			t.phase = PhaseRequest
			if t.hop == 1 && !t.tlsStart.IsZero() {
				t.tls = time.Since(t.tlsStart)
			}
		},
		WroteRequest: func(info httptrace.WroteRequestInfo) {
			t.mu.Lock()
			defer t.mu.Unlock()
			if info.Err != nil {
				return
			}
			t.phase = PhaseTTFB
			if t.hop == 1 {
				t.wrote = time.Now()
			}
		},
		GotFirstResponseByte: func() {
			t.mu.Lock()
			defer t.mu.Unlock()
			// The status line and headers are still to come: a failure
			// from here on is in reading the response.
			t.phase = PhaseHTTP
			if t.hop == 1 && !t.wrote.IsZero() {
				t.ttfb = time.Since(t.wrote)
			}
		},
	}
}

// takeFirst hands out the connection dialed before the request, once.
func (t *httpTrace) takeFirst() net.Conn {
	t.mu.Lock()
	defer t.mu.Unlock()
	c := t.first
	if c == nil {
		return nil
	}
	t.first, t.conn = nil, c
	return c
}

// dialed records the outcome of a redirect's dial.
func (t *httpTrace) dialed(c *boundConn, f *Failure) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if f != nil {
		t.dialFailed = f
		return
	}
	t.conn = c
}

func (t *httpTrace) setPhase(p Phase) {
	t.mu.Lock()
	t.phase = p
	t.mu.Unlock()
}

func (t *httpTrace) timings(into *Timings) {
	t.mu.Lock()
	defer t.mu.Unlock()
	into.TLS = t.tls
	into.TTFB = t.ttfb
}

// failure classifies an error of client.Do in the phase the request had
// reached.
func (t *httpTrace) failure(ctx context.Context, err error) *Failure {
	if errors.Is(err, errTooManyRedirects) {
		return &Failure{Class: ClassHTTPStatus, Phase: PhaseHTTP, Err: errTooManyRedirects}
	}
	t.mu.Lock()
	phase, conn, dialFailed := t.phase, t.conn, t.dialFailed
	t.mu.Unlock()
	// The transport reports its context's end rather than the dial's
	// failure when both happen; the dial's says more.
	if dialFailed != nil {
		return dialFailed
	}
	if phase == "" {
		phase = PhaseRequest
	}
	f := classify(ctx, err, phase)
	if f.Class != ClassProtocol || conn == nil {
		return f
	}
	// net/http words some failures of the connection its own way ("server
	// closed idle connection"); what the connection met has a type.
	if ioErr := conn.ioErr(); ioErr != nil {
		if g := classify(ctx, ioErr, phase); g.Class != ClassProtocol {
			return g
		}
	}
	return f
}
