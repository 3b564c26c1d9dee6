package probe

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"
)

// maxAPIHeader bounds the head of an API answer.
const maxAPIHeader = 64 << 10

// apiClient makes the HTTP requests of one delivery attempt (Matrix's
// client-server API, the Telegram Bot API) over the project's own dial:
// the first connection's dns, connect and tls are the attempt's timings,
// every connection is bounded by the attempt's context, and the
// connection is kept between the attempt's requests and closed with it.
// No error it returns carries a URL: the Bot API puts its token in the
// path.
type apiClient struct {
	ctx          context.Context // the attempt's; bounds every connection
	ep           *Endpoint
	opt          *Options
	a            *Attempt
	base         url.URL // scheme and host; path prefix without the trailing /
	client       *http.Client
	tr           *http.Transport
	mu           sync.Mutex
	dialed       bool
	firstTimings Timings
	remote       string
	tlsInfo      *TLSInfo
	dialFailure  *Failure
	dialing      Phase // the phase of a dial in progress, "" when none is
	cfg          *tls.Config
	secrets      []string
}

func newAPIClient(ctx context.Context, ep *Endpoint, opt *Options, a *Attempt, secure bool, secrets []string) *apiClient {
	c := &apiClient{ctx: ctx, ep: ep, opt: opt, a: a, secrets: secrets}
	c.base = url.URL{Scheme: "http", Host: net.JoinHostPort(ep.Host, ep.Port)}
	if ep.URL != nil {
		c.base.Path = strings.TrimRight(ep.URL.Path, "/")
	}
	c.tr = &http.Transport{
		Proxy:                  nil, // a probe measures the direct path
		DialContext:            c.dial,
		MaxResponseHeaderBytes: maxAPIHeader,
		ForceAttemptHTTP2:      false,
		MaxIdleConnsPerHost:    1,
		DisableCompression:     true,
	}
	if secure {
		// The handshake happens in dial, on the project's connection, so
		// that it is timed and classed as the tls phase; the transport
		// is handed that connection for a plain http:// URL and speaks
		// HTTP/1.1 over it.
		c.cfg = clientTLSConfig(ep)
	}
	c.client = &http.Client{
		Transport: c.tr,
		// An API that redirects has not answered: and following a
		// redirect could carry credentials to another host.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	return c
}

// dial opens a connection for the transport. The first one's phases are
// the attempt's; a later one (the server closed the kept one) is bounded
// the same way and timed apart. The transport dials in a goroutine of its
// own, which may outlive a request cut short: what it measures is kept
// under the lock and copied into the attempt by record.
func (c *apiClient) dial(_ context.Context, _, _ string) (net.Conn, error) {
	c.mu.Lock()
	first := !c.dialed
	c.dialed = true
	c.mu.Unlock()
	var t Timings
	defer c.setDialing("")
	conn, f := dialHost(c.ctx, c.ep.Host, c.ep.Port, c.opt, &t, c.setDialing)
	if f != nil {
		if first {
			c.keep(t, "", nil, f)
		}
		return nil, f
	}
	var info *TLSInfo
	var out net.Conn = conn
	if c.cfg != nil {
		c.setDialing(PhaseTLS)
		tc := tls.Client(conn, c.cfg)
		hs := time.Now()
		err := tc.HandshakeContext(c.ctx)
		t.TLS = time.Since(hs)
		if err != nil {
			_ = conn.Close()
			f := classify(c.ctx, err, PhaseTLS)
			if first {
				c.keep(t, conn.RemoteAddr().String(), nil, f)
			}
			return nil, f
		}
		state := tc.ConnectionState()
		info = tlsInfo(&state, !c.cfg.InsecureSkipVerify)
		out = tc
	}
	if first {
		c.keep(t, conn.RemoteAddr().String(), info, nil)
	}
	return out, nil
}

func (c *apiClient) setDialing(p Phase) {
	c.mu.Lock()
	c.dialing = p
	c.mu.Unlock()
}

func (c *apiClient) keep(t Timings, remote string, info *TLSInfo, f *Failure) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.firstTimings, c.remote, c.tlsInfo, c.dialFailure = t, remote, info, f
}

// record copies what the first connection measured into the attempt.
func (c *apiClient) record() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.a.Timings.DNS, c.a.Timings.Connect, c.a.Timings.TLS = c.firstTimings.DNS, c.firstTimings.Connect, c.firstTimings.TLS
	if c.remote != "" {
		c.a.RemoteAddr = c.remote
	}
	if c.tlsInfo != nil {
		c.a.TLS = c.tlsInfo
	}
}

// close drops the kept connection and records what the first one
// measured.
func (c *apiClient) close() {
	c.tr.CloseIdleConnections()
	c.record()
}

// apiAnswer is an API's answer: its status and at most the cap's bytes of
// its body.
type apiAnswer struct {
	Status int
	Body   []byte
}

// do sends one request and reads its answer, at most limit bytes of body.
// body, when not nil, is sent as JSON. ctx bounds this request (the
// deliver phase's is shorter than the attempt's). A failure is classed in
// phase: the dial's own phase for a connection that failed, a timeout, a
// reset, or protocol for an answer too large.
func (c *apiClient) do(ctx context.Context, phase Phase, method, path string, header http.Header, body any, limit int64) (apiAnswer, *Failure) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return apiAnswer{}, &Failure{Class: ClassProtocol, Phase: phase, Err: err}
		}
		rd = bytes.NewReader(b)
	}
	// path comes escaped (room ids hold ! and :, aliases #): it is used as
	// it is.
	u := c.base
	p, q, _ := strings.Cut(path, "?")
	u.RawPath = c.base.Path + p
	if un, err := url.PathUnescape(u.RawPath); err == nil {
		u.Path = un
	} else {
		u.Path, u.RawPath = u.RawPath, ""
	}
	u.RawQuery = q
	req, err := http.NewRequestWithContext(ctx, method, u.String(), rd)
	if err != nil {
		return apiAnswer{}, &Failure{Class: ClassProtocol, Phase: phase, Err: errors.New("cannot build the request")}
	}
	for k, vs := range header {
		req.Header[k] = vs
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("User-Agent", "msgprobe")
	resp, err := c.client.Do(req)
	if err != nil {
		return apiAnswer{}, c.failure(ctx, err, phase)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, limit+1))
	if err != nil {
		return apiAnswer{}, c.failure(ctx, err, phase)
	}
	if int64(len(b)) > limit {
		return apiAnswer{}, &Failure{Class: ClassProtocol, Phase: phase,
			Err: fmt.Errorf("answer over %s", formatBytes(limit))}
	}
	return apiAnswer{Status: resp.StatusCode, Body: b}, nil
}

// failure classes an error of the client: a failure of the dial as it is,
// anything else without the URL the client wraps it in.
func (c *apiClient) failure(ctx context.Context, err error, phase Phase) *Failure {
	var f *Failure
	if errors.As(err, &f) {
		return f
	}
	c.mu.Lock()
	df, dialing := c.dialFailure, c.dialing
	c.mu.Unlock()
	if ctx.Err() != nil {
		// The request gave up while the transport's goroutine was still
		// dialing, or its dial was failing: the dial's phase says more.
		if df != nil {
			return df
		}
		if dialing != "" {
			phase = dialing
		}
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	return scrub(classify(ctx, err, phase), c.secrets)
}

// formatBytes writes a size cap: "1 MiB", "64 KiB".
func formatBytes(n int64) string {
	switch {
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%d MiB", n>>20)
	case n >= 1<<10 && n%(1<<10) == 0:
		return fmt.Sprintf("%d KiB", n>>10)
	}
	return fmt.Sprintf("%d bytes", n)
}

// serverWords is at most a line of what a server said, credentials cut
// out, for a reason: servers echo requests in their errors.
func serverWords(s string, secrets []string) string {
	s = scrubText(strings.Join(strings.Fields(s), " "), secrets)
	const most = 120
	if len(s) > most {
		s = s[:most] + "…"
	}
	return s
}
