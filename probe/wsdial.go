package probe

import (
	"context"
	"crypto/sha1" //nolint:gosec // RFC 6455 fixes SHA-1 for Sec-WebSocket-Accept
	"crypto/tls"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/coder/websocket"
)

// PhaseUpgrade is the HTTP request of a WebSocket and its 101 answer; the
// messages after it are PhaseDialogue (protocol.go).
const PhaseUpgrade Phase = "upgrade"

// ClassWSUpgrade: the server answered the upgrade request, but not with a
// valid 101 (a 403, a redirect, a wrong Sec-WebSocket-Accept).
const ClassWSUpgrade Class = "ws_upgrade"

const (
	// DefaultWSReadLimit is the largest WebSocket message read unless the
	// caller sets another: a larger one is a failure, not a memory spike.
	DefaultWSReadLimit = 1 << 20
	// maxUpgradeHeader bounds the HTTP head of the upgrade's answer.
	maxUpgradeHeader = 64 << 10
	// wsCloseWait bounds the wait for the server's answer to our close
	// frame once an attempt has what it came for.
	wsCloseWait = 500 * time.Millisecond
	// shortPrefix is how much of a server's words a message may quote.
	shortPrefix = 40
)

// wsConn is a WebSocket connection dialed by wsDial: coder/websocket's
// connection on top of the project's own dial, with the guard that rejects
// oversized messages by their frame header and the timeout the failure
// messages name.
type wsConn struct {
	*websocket.Conn
	raw     *boundConn
	guard   *frameGuard
	timeout time.Duration
	broken  bool // a read or write failed: no close handshake to wait for
	// deadline is the attempt's, which the close wait must not pass.
	deadline time.Time
}

// wsDialKey carries the connection an attempt dialed in its request's
// context, to the shared transport's dial.
type wsDialKey struct{}

// wsHandoff holds an attempt's connection until the transport takes it;
// the attempt closes it itself when the transport never did.
type wsHandoff struct {
	mu   sync.Mutex
	conn net.Conn
}

func (h *wsHandoff) take() net.Conn {
	h.mu.Lock()
	defer h.mu.Unlock()
	c := h.conn
	h.conn = nil
	return c
}

// wsClient sends every upgrade request. Its transport never dials: it
// takes the connection the attempt dialed (and, for wss, shook hands on)
// from the request's context, so that dns, connect and tls are measured
// and classified by the attempt, and each attempt has a fresh connection.
var wsClient = &http.Client{
	Transport: wsCheckAccept{&http.Transport{
		Proxy:                  nil, // a probe measures the direct path
		DialContext:            wsTakeConn,
		DialTLSContext:         wsTakeConn,
		DisableKeepAlives:      true,
		DisableCompression:     true,
		ForceAttemptHTTP2:      false,
		MaxResponseHeaderBytes: maxUpgradeHeader,
	}},
	// A redirect is an answer other than 101: the upgrade failed.
	CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
}

// wsCheckAccept lets a 101 through only with the Sec-WebSocket-Accept
// its request's key asks for (RFC 6455 §4.1). coder/websocket checks it
// too, but on a mismatch it reads what follows for its error message, and
// after a 101 that is the raw connection: the attempt would wait out its
// timeout. Here the connection is dropped first, and the check is ours.
type wsCheckAccept struct{ next http.RoundTripper }

func (w wsCheckAccept) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := w.next.RoundTrip(req)
	if err != nil || resp.StatusCode != http.StatusSwitchingProtocols {
		return resp, err
	}
	if resp.Header.Get("Sec-WebSocket-Accept") != wsAccept(req.Header.Get("Sec-WebSocket-Key")) {
		_ = resp.Body.Close()
		resp.Body = http.NoBody
	}
	return resp, nil
}

func wsTakeConn(ctx context.Context, _, _ string) (net.Conn, error) {
	h, _ := ctx.Value(wsDialKey{}).(*wsHandoff)
	if h == nil {
		return nil, errors.New("WebSocket dial outside an attempt")
	}
	if c := h.take(); c != nil {
		return c, nil
	}
	return nil, errors.New("WebSocket attempt dials one connection only")
}

// wsDial opens a fresh WebSocket connection to u (ws:// or wss://; the
// port defaults to 80 or 443): the project's dial, timed into a.Timings,
// then for wss a verified TLS handshake (tlsCfg, or the endpoint's when
// nil), recorded in a.TLS, then the HTTP upgrade with hdr and subprotocols,
// timed as the step "upgrade" (request to the 101's head). Every step is bounded
// by ctx. A failure is classed: connection errors as classify does,
// ws_upgrade for an answer that is not a valid 101, protocol_timeout when
// nothing completes the upgrade in time. The caller closes the connection.
func wsDial(ctx context.Context, ep *Endpoint, opt *Options, a *Attempt, u *url.URL, hdr http.Header,
	subprotocols []string, tlsCfg *tls.Config) (*wsConn, *Failure) {
	timeout := attemptTimeout(ctx, ep)
	secure := u.Scheme == "wss" || u.Scheme == "https"
	host, port := u.Hostname(), u.Port()
	if port == "" {
		port = "80"
		if secure {
			port = "443"
		}
	}
	raw, f := dialHost(ctx, host, port, opt, &a.Timings, nil)
	if f != nil {
		return nil, f
	}
	a.RemoteAddr = raw.RemoteAddr().String()

	var conn net.Conn = raw
	if secure {
		cfg := tlsCfg
		if cfg == nil {
			cfg = clientTLSConfig(ep)
		}
		if cfg.ServerName == "" {
			cfg = cfg.Clone()
			cfg.ServerName = host
		}
		tc := tls.Client(raw, cfg)
		hs := time.Now()
		err := tc.HandshakeContext(ctx)
		a.Timings.TLS = time.Since(hs)
		if err != nil {
			_ = raw.Close()
			return nil, classify(ctx, err, PhaseTLS)
		}
		state := tc.ConnectionState()
		a.TLS = tlsInfo(&state, !cfg.InsecureSkipVerify)
		conn = tc
	}
	guard := &frameGuard{limit: DefaultWSReadLimit}
	guarded := &guardedConn{Conn: conn, guard: guard}
	handoff := &wsHandoff{conn: guarded}
	defer func() {
		if c := handoff.take(); c != nil {
			_ = c.Close()
		}
	}()

	opts := &websocket.DialOptions{
		HTTPClient:   wsClient,
		HTTPHeader:   http.Header{},
		Subprotocols: subprotocols,
	}
	for k, vs := range hdr {
		if strings.EqualFold(k, "Host") && len(vs) > 0 {
			opts.Host = vs[0]
			continue
		}
		opts.HTTPHeader[k] = vs
	}
	target := *u
	switch target.Scheme {
	case "ws":
		target.Scheme = "http"
	case "wss":
		target.Scheme = "https"
	}
	if u.Port() == "" {
		// The request names the host the way the URL does.
		target.Host = u.Host
	}
	dctx := context.WithValue(ctx, wsDialKey{}, handoff)
	start := time.Now()
	c, resp, err := websocket.Dial(dctx, target.String(), opts)
	a.Timings.AddStep(PhaseUpgrade, time.Since(start))
	if err != nil {
		if c := handoff.take(); c != nil {
			_ = c.Close()
		}
		_ = guarded.Close()
		if resp != nil {
			a.HTTPStatus = resp.StatusCode
			return nil, upgradeRefused(resp)
		}
		return nil, upgradeFailure(ctx, err, raw, guard, timeout)
	}
	c.SetReadLimit(DefaultWSReadLimit)
	deadline, _ := ctx.Deadline()
	return &wsConn{Conn: c, raw: raw, guard: guard, timeout: timeout, deadline: deadline}, nil
}

// attemptTimeout is the time an attempt has, for failure messages: the
// endpoint's timeout, or what ctx's deadline leaves when it has none.
func attemptTimeout(ctx context.Context, ep *Endpoint) time.Duration {
	if ep != nil && ep.Timeout > 0 {
		return ep.Timeout
	}
	if deadline, ok := ctx.Deadline(); ok {
		return time.Until(deadline).Round(time.Millisecond)
	}
	return 0
}

// upgradeRefused explains an answer to the upgrade that is not a valid 101.
func upgradeRefused(resp *http.Response) *Failure {
	if resp.StatusCode != http.StatusSwitchingProtocols {
		return &Failure{Class: ClassWSUpgrade, Phase: PhaseUpgrade,
			Err: fmt.Errorf("connected, no WebSocket upgrade (HTTP %d)", resp.StatusCode)}
	}
	var why string
	key := ""
	if resp.Request != nil {
		key = resp.Request.Header.Get("Sec-WebSocket-Key")
	}
	switch {
	case !headerHasToken(resp.Header, "Upgrade", "websocket"):
		why = "without Upgrade: websocket"
	case !headerHasToken(resp.Header, "Connection", "upgrade"):
		why = "without Connection: Upgrade"
	case resp.Header.Get("Sec-WebSocket-Accept") != wsAccept(key):
		why = "with a wrong Sec-WebSocket-Accept"
	case resp.Header.Get("Sec-WebSocket-Protocol") != "":
		why = "with subprotocol " + shortQuote([]byte(resp.Header.Get("Sec-WebSocket-Protocol"))) + ", not one offered"
	case resp.Header.Get("Sec-WebSocket-Extensions") != "":
		why = "with an extension not asked for"
	default:
		why = "that the client rejected"
	}
	return &Failure{Class: ClassWSUpgrade, Phase: PhaseUpgrade,
		Err: errors.New("connected, HTTP 101 " + why)}
}

func headerHasToken(h http.Header, name, token string) bool {
	for _, v := range h.Values(name) {
		for _, t := range strings.Split(v, ",") {
			if strings.EqualFold(strings.TrimSpace(t), token) {
				return true
			}
		}
	}
	return false
}

// wsAccept is the Sec-WebSocket-Accept a server must answer key with
// (RFC 6455 §4.2.2).
func wsAccept(key string) string {
	h := sha1.New() //nolint:gosec // fixed by the RFC
	h.Write([]byte(key))
	h.Write([]byte("258EAFA5-E914-47DA-95CA-C5AB0DC85B11"))
	return base64.StdEncoding.EncodeToString(h.Sum(nil))
}

// upgradeFailure classifies an upgrade that got no HTTP answer at all.
func upgradeFailure(ctx context.Context, err error, raw *boundConn, guard *frameGuard, timeout time.Duration) *Failure {
	f := classify(ctx, err, PhaseUpgrade)
	if f.Class == ClassProtocol {
		// net/http words some failures of the connection its own way; what
		// the connection met has a type.
		if ioErr := raw.ioErr(); ioErr != nil {
			if g := classify(ctx, ioErr, PhaseUpgrade); g.Class != ClassProtocol {
				f = g
			}
		}
	}
	switch f.Class {
	case ClassTimeout:
		msg := noAnswer("WebSocket upgrade", timeout)
		if guard.seenBytes() > 0 {
			msg = "connected, WebSocket upgrade answer incomplete after " + formatTimeout(timeout)
		}
		return &Failure{Class: ClassProtocolTimeout, Phase: PhaseUpgrade, Err: &describedError{msg, err}}
	case ClassProtocol:
		msg := "connected, answer to the WebSocket upgrade is not HTTP"
		if strings.Contains(err.Error(), "exceeded") {
			msg = "connected, WebSocket upgrade answer's header over " + formatSize(maxUpgradeHeader)
		}
		return &Failure{Class: ClassProtocol, Phase: PhaseUpgrade, Err: &describedError{msg, err}}
	}
	return f
}

// SetReadLimit sets the largest message a read accepts, in bytes.
func (c *wsConn) SetReadLimit(n int64) {
	c.guard.setLimit(n)
	c.Conn.SetReadLimit(n)
}

// readMessage reads the next data message, answering pings and noting
// pongs on the way, within ctx and the read limit. A failure is in phase:
// protocol_timeout when no message came in time, protocol for a close frame,
// an oversized message or a broken frame.
func (c *wsConn) readMessage(ctx context.Context, phase Phase) (websocket.MessageType, []byte, *Failure) {
	typ, data, err := c.Conn.Read(ctx)
	if err == nil {
		return typ, data, nil
	}
	return 0, nil, c.readFailure(ctx, err, phase)
}

func (c *wsConn) readFailure(ctx context.Context, err error, phase Phase) *Failure {
	c.broken = true
	if big := (*wsTooBigError)(nil); errors.As(err, &big) {
		return &Failure{Class: ClassProtocol, Phase: phase, Err: &describedError{big.Error(), err}}
	}
	if errors.Is(err, websocket.ErrMessageTooBig) {
		msg := (&wsTooBigError{c.guard.limitNow()}).Error()
		return &Failure{Class: ClassProtocol, Phase: phase, Err: &describedError{msg, err}}
	}
	if ce := (websocket.CloseError{}); errors.As(err, &ce) {
		msg := fmt.Sprintf("WebSocket closed by the server: %d", int(ce.Code))
		if ce.Code == websocket.StatusNoStatusRcvd {
			msg = "WebSocket closed by the server, without a status"
		}
		if ce.Reason != "" {
			msg += " " + shortQuote([]byte(ce.Reason))
		}
		return &Failure{Class: ClassProtocol, Phase: phase, Err: &describedError{msg, err}}
	}
	f := classify(ctx, err, phase)
	if f.Class == ClassProtocol {
		if ioErr := c.raw.ioErr(); ioErr != nil {
			if g := classify(ctx, ioErr, phase); g.Class != ClassProtocol {
				f = g
			}
		}
	}
	switch f.Class {
	case ClassTimeout:
		return &Failure{Class: ClassProtocolTimeout, Phase: phase,
			Err: &describedError{noAnswer("WebSocket message", c.timeout), err}}
	case ClassProtocol:
		return &Failure{Class: ClassProtocol, Phase: phase,
			Err: &describedError{"WebSocket protocol error: " + wsErrorText(err), err}}
	}
	return f
}

// writeMessage sends one data message within ctx.
func (c *wsConn) writeMessage(ctx context.Context, typ websocket.MessageType, data []byte, phase Phase) *Failure {
	err := c.Conn.Write(ctx, typ, data)
	if err == nil {
		return nil
	}
	c.broken = true
	f := classify(ctx, err, phase)
	if ioErr := c.raw.ioErr(); f.Class == ClassProtocol && ioErr != nil {
		if g := classify(ctx, ioErr, phase); g.Class != ClassProtocol {
			f = g
		}
	}
	if f.Class == ClassTimeout {
		return &Failure{Class: ClassProtocolTimeout, Phase: phase,
			Err: &describedError{"connected, WebSocket message not taken in " + formatTimeout(c.timeout), err}}
	}
	return f
}

// close says goodbye with a normal close frame and waits a moment, never
// past the attempt's deadline, for the server's, as RFC 6455 §7 asks; then
// it drops the connection. After a failed read or write there is no one
// to say goodbye to.
func (c *wsConn) close() {
	if !c.broken {
		if wait := time.Now().Add(wsCloseWait); !c.deadlineBefore(wait) {
			_ = c.raw.SetDeadline(wait)
		}
		_ = c.Conn.Close(websocket.StatusNormalClosure, "")
	}
	_ = c.Conn.CloseNow()
	_ = c.raw.Close()
}

func (c *wsConn) deadlineBefore(t time.Time) bool {
	return !c.deadline.IsZero() && c.deadline.Before(t)
}

// wsErrorText is coder/websocket's error without its "failed to …:" chain.
func wsErrorText(err error) string {
	msg := err.Error()
	for {
		i := strings.Index(msg, ": ")
		if i < 0 || !strings.HasPrefix(msg, "failed to ") {
			break
		}
		msg = msg[i+2:]
	}
	if len(msg) > 2*shortPrefix {
		msg = msg[:2*shortPrefix] + "…"
	}
	return msg
}

// shortQuote quotes the first shortPrefix bytes of what a server sent,
// marking a cut: a reason line never carries a whole answer.
func shortQuote(b []byte) string {
	if len(b) > shortPrefix {
		return quoteText(b[:shortPrefix]) + "…"
	}
	return quoteText(b)
}

// quoteText quotes a server's text in backquotes when it can be read so,
// which keeps JSON legible (`{"op":9}`), and Go-quoted otherwise.
func quoteText(b []byte) string { return fmt.Sprintf("%#q", b) }

// formatSize writes a byte count: "1 MiB", "64 KiB", "1000 bytes".
func formatSize(n int64) string {
	switch {
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%d MiB", n>>20)
	case n >= 1<<10 && n%(1<<10) == 0:
		return fmt.Sprintf("%d KiB", n>>10)
	}
	return fmt.Sprintf("%d bytes", n)
}

// guardedConn feeds what the server sends through a frameGuard, which
// fails the read that would hand over the header of an oversized message.
type guardedConn struct {
	net.Conn
	guard *frameGuard
}

func (g *guardedConn) Read(b []byte) (int, error) {
	if err := g.guard.failed(); err != nil {
		return 0, err
	}
	n, err := g.Conn.Read(b)
	ok, gerr := g.guard.feed(b[:n])
	if gerr != nil {
		// The frames before the oversized one are handed over; the next
		// read fails.
		if ok > 0 {
			return ok, nil
		}
		return 0, gerr
	}
	return n, err
}

// wsTooBigError is a message larger than the read limit.
type wsTooBigError struct{ limit int64 }

func (e *wsTooBigError) Error() string { return "WebSocket message over " + formatSize(e.limit) }

// frameGuard follows the byte stream a WebSocket server sends, from the
// HTTP answer to the upgrade through the frames after it, and stops at the
// first frame header that makes a message longer than limit. It is a pure
// parser: it only counts and never holds a payload, so a server announcing
// a 100 MB frame costs nothing before it is refused. coder/websocket
// enforces a limit too, but only after reading up to it.
type frameGuard struct {
	mu    sync.Mutex
	limit int64 // largest message in bytes; negative: none

	state  guardState
	seen   int64 // bytes fed so far
	err    error
	status [12]byte // the start of the current HTTP head: "HTTP/1.1 101"
	headN  int      // bytes of the current head so far
	crlf   int      // how much of "\r\n\r\n" the last bytes matched

	hdr     [14]byte // the frame header being read
	hdrN    int
	payload int64 // bytes of the current frame's payload still to skip
	msgLen  int64 // payload bytes of the current data message so far
}

type guardState uint8

const (
	guardHead   guardState = iota // reading HTTP heads
	guardFrames                   // after a 101: frames
	guardOff                      // the answer was not a 101: nothing to guard
)

func (g *frameGuard) setLimit(n int64) {
	g.mu.Lock()
	g.limit = n
	g.mu.Unlock()
}

func (g *frameGuard) limitNow() int64 {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.limit
}

func (g *frameGuard) seenBytes() int64 {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.seen
}

func (g *frameGuard) failed() error {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.err
}

// feed takes the next bytes the server sent. It returns how many of them
// may be handed on and, once an oversized message shows, the error that
// every later feed returns too.
func (g *frameGuard) feed(b []byte) (int, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.err != nil {
		return 0, g.err
	}
	g.seen += int64(len(b))
	for i := 0; i < len(b); {
		switch g.state {
		case guardOff:
			return len(b), nil
		case guardHead:
			i += g.head(b[i:])
		case guardFrames:
			n, at, err := g.frames(b[i:])
			if err != nil {
				g.err = err
				return max(i+at, 0), err
			}
			i += n
		}
	}
	return len(b), nil
}

// head scans an HTTP head for its end and decides, from its status line,
// what follows: frames after a 101, another head after any other 1xx,
// nothing to guard otherwise.
func (g *frameGuard) head(b []byte) int {
	const end = "\r\n\r\n"
	for i, c := range b {
		if g.headN < len(g.status) {
			g.status[g.headN] = c
		}
		g.headN++
		switch {
		case c == end[g.crlf]:
			g.crlf++
		case c == '\r':
			g.crlf = 1
		default:
			g.crlf = 0
		}
		if g.crlf < len(end) {
			continue
		}
		st := g.status[:min(g.headN, len(g.status))]
		switch {
		case len(st) == 12 && string(st[:5]) == "HTTP/" && string(st[9:12]) == "101":
			g.state = guardFrames
		case len(st) == 12 && string(st[:5]) == "HTTP/" && st[9] == '1':
			// 100 Continue, 103 Early Hints: the answer is still to come.
		default:
			g.state = guardOff
		}
		g.headN, g.crlf = 0, 0
		return i + 1
	}
	return len(b)
}

// frames reads frame headers and skips payloads; it returns the bytes it
// took, or the error for a header that makes a message too long with where
// in b that header began (negative when it began in an earlier feed).
func (g *frameGuard) frames(b []byte) (int, int, error) {
	i, at := 0, -g.hdrN
	for i < len(b) {
		if g.payload > 0 {
			skip := min(int64(len(b)-i), g.payload)
			g.payload -= skip
			i += int(skip)
			continue
		}
		if g.hdrN == 0 {
			at = i
		}
		g.hdr[g.hdrN] = b[i]
		g.hdrN++
		i++
		need := 2
		if g.hdrN >= 2 {
			switch g.hdr[1] & 0x7f {
			case 126:
				need += 2
			case 127:
				need += 8
			}
			if g.hdr[1]&0x80 != 0 {
				need += 4 // a mask key, which a server must not send; coder/websocket judges that
			}
		}
		if g.hdrN < need {
			continue
		}
		var length int64
		switch n := g.hdr[1] & 0x7f; n {
		case 126:
			length = int64(g.hdr[2])<<8 | int64(g.hdr[3])
		case 127:
			var u uint64
			for _, c := range g.hdr[2:10] {
				u = u<<8 | uint64(c)
			}
			if u > 1<<62 {
				u = 1 << 62 // far over any limit, and no overflow below
			}
			length = int64(u)
		default:
			length = int64(n)
		}
		g.hdrN = 0
		switch opcode := g.hdr[0] & 0x0f; {
		case opcode >= 8: // control frames are not messages
		case opcode == 0:
			g.msgLen += length
		default:
			g.msgLen = length
		}
		if g.limit >= 0 && g.msgLen > g.limit {
			return i, at, &wsTooBigError{g.limit}
		}
		g.payload = length
	}
	return i, at, nil
}
