package probe

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/coder/websocket"
	"gopkg.in/yaml.v3"

	"github.com/msgprobe/msgprobe/internal/proto/whatsapp"
)

// WhatsApp's chat handshake: the prober sends the connection header and a
// ClientHello, reads the ServerHello, decrypts the server's static key and
// certificate chain, and verifies the chain against WhatsApp's root key
// (internal/proto/whatsapp). Then it hangs up: no ClientFinish is sent,
// nothing is logged in. Up proves that a server holding a key WhatsApp
// signed answered WhatsApp's own protocol, which a TCP connect to an edge
// that accepts whatever the backend does cannot.

// The WhatsApp kinds: raw TCP framing, and the web client's WebSocket.
const (
	KindWhatsApp    Kind = "whatsapp"
	KindWhatsAppWS  Kind = "whatsapp+ws"
	KindWhatsAppWSS Kind = "whatsapp+wss"
)

// whatsAppOrigin is the Origin WhatsApp's web client sends (whatsmeow
// socket/constants.go); whether the server insists on it is unconfirmed,
// so the prober sends it as the client does.
const whatsAppOrigin = "https://web.whatsapp.com"

// whatsAppDefaultPath is the chat socket's path (whatsmeow
// socket/constants.go URL), for a WebSocket target written without one.
const whatsAppDefaultPath = "/ws/chat"

var whatsAppProtocol = Protocol{
	Kind:   KindWhatsApp,
	Proves: "a server holding a key signed by WhatsApp's root answered WhatsApp's Noise handshake (raw TCP framing)",
	Blocks: []string{"whatsapp"},
	Target: hostPortTarget(""),
	Hints:  map[string]string{"tls": "WhatsApp's raw TCP framing has no TLS; use a whatsapp+wss:// target for the web client's socket"},
	Phases: []Phase{PhaseDNS, PhaseConnect, PhaseHandshake},
	Probe:  probeWhatsApp,
	Notes:  whatsAppNotes,
}

var whatsAppWSProtocol = Protocol{
	Kind:   KindWhatsAppWS,
	Proves: "a server holding a key signed by WhatsApp's root answered WhatsApp's Noise handshake over a WebSocket",
	Blocks: []string{"whatsapp"},
	Target: whatsAppWSTarget("80"),
	Hints:  map[string]string{"tls": "use a whatsapp+wss:// target"},
	Phases: []Phase{PhaseDNS, PhaseConnect, PhaseUpgrade, PhaseHandshake},
	Probe:  probeWhatsApp,
	Notes:  whatsAppNotes,
}

var whatsAppWSSProtocol = Protocol{
	Kind:   KindWhatsAppWSS,
	Proves: "a verified TLS handshake, and a server holding a key signed by WhatsApp's root answered WhatsApp's Noise handshake over a WebSocket",
	Blocks: []string{"whatsapp", "tls"},
	TLS:    true,
	Target: whatsAppWSTarget("443"),
	Phases: []Phase{PhaseDNS, PhaseConnect, PhaseTLS, PhaseUpgrade, PhaseHandshake},
	Probe:  probeWhatsApp,
	Notes:  whatsAppNotes,
}

// whatsAppWSTarget is urlTarget with the chat socket's path when the target
// has none.
func whatsAppWSTarget(defaultPort string) func(l *loader, n *yaml.Node, u *url.URL, ep *Endpoint) bool {
	base := urlTarget(defaultPort)
	return func(l *loader, n *yaml.Node, u *url.URL, ep *Endpoint) bool {
		if u.User != nil {
			l.errorf(n, "", "%s:// target must not carry a user name or password", ep.Kind)
			return false
		}
		if u.Path == "" {
			u.Path = whatsAppDefaultPath
		}
		return base(l, n, u, ep)
	}
}

// WhatsAppOptions are an endpoint's whatsapp block.
type WhatsAppOptions struct {
	// RootKey replaces WhatsApp's published root key when RootSet: for
	// tests, and for the day WhatsApp rotates it.
	RootKey [whatsapp.KeySize]byte
	RootSet bool
	// Header replaces the connection header of the target's scheme (nil:
	// WA 06 03 over WebSocket, WA 05 02 over raw TCP).
	Header []byte
}

var whatsAppKeys = []string{"root_key", "header"}

var whatsAppBlock = Block{Name: "whatsapp", Keys: whatsAppKeys, Decode: (*loader).whatsAppOptions}

func (l *loader) whatsAppOptions(n *yaml.Node, ep *Endpoint) {
	f := l.fields(n, keySchema{what: "whatsapp", keys: whatsAppKeys})
	if f == nil {
		return
	}
	o := &WhatsAppOptions{}
	if p, ok := f["root_key"]; ok {
		if b, good := l.hexBytes(p.v, "whatsapp.root_key", whatsapp.KeySize,
			"the root is a 32-byte Curve25519 public key, 64 hex digits"); good {
			o.RootKey, o.RootSet = [whatsapp.KeySize]byte(b), true
		}
	}
	if p, ok := f["header"]; ok {
		hint := `WhatsApp's header is "WA" and two version bytes: 57410603 (web) or 57410502 (mobile)`
		if b, good := l.hexBytes(p.v, "whatsapp.header", 4, hint); good {
			if b[0] != 'W' || b[1] != 'A' {
				l.errorf(resolveAlias(p.v), hint, `whatsapp.header must start with "WA" (5741)`)
			} else {
				o.Header = b
			}
		}
	}
	setOptions(ep, "whatsapp", o)
}

// hexBytes reads a scalar of exactly size bytes in hex. Spaces and colons
// between bytes are allowed, as keys are often printed that way. The value
// is never quoted back: only its length and the first bad character's place.
func (l *loader) hexBytes(n *yaml.Node, field string, size int, hint string) ([]byte, bool) {
	s, good := l.str(n, field)
	if !good {
		return nil, false
	}
	n = resolveAlias(n)
	clean := strings.NewReplacer(" ", "", ":", "").Replace(strings.TrimPrefix(strings.TrimPrefix(s, "0x"), "0X"))
	for i, c := range clean {
		if !strings.ContainsRune("0123456789abcdefABCDEF", c) {
			h := hint
			if len(clean) == base64Len(size) {
				h = "it looks like base64; write the key in hex"
			}
			l.errorf(n, h, "%s has a character that is not a hex digit (at digit %d)", field, i+1)
			return nil, false
		}
	}
	if len(clean) != 2*size {
		l.errorf(n, hint, "%s must be %d hex digits (%d bytes), got %d", field, 2*size, size, len(clean))
		return nil, false
	}
	b, err := hex.DecodeString(clean)
	if err != nil {
		l.errorf(n, hint, "%s is not hex", field)
		return nil, false
	}
	return b, true
}

func base64Len(size int) int { return (size + 2) / 3 * 4 }

func whatsAppOptionsOf(ep *Endpoint) *WhatsAppOptions {
	return optionsOf[WhatsAppOptions](ep, "whatsapp")
}

// root is the key the chain must be signed by.
func (o *WhatsAppOptions) root() [whatsapp.KeySize]byte {
	if o.RootSet {
		return o.RootKey
	}
	return whatsapp.RootKey
}

// header is the connection header to send: the option's, or the one the
// clients of the target's transport send.
func (o *WhatsAppOptions) header(k Kind) []byte {
	switch {
	case o.Header != nil:
		return o.Header
	case k == KindWhatsApp:
		return whatsapp.HeaderMobile
	}
	return whatsapp.HeaderWeb
}

func whatsAppNotes(ep *Endpoint) []string {
	o := whatsAppOptionsOf(ep)
	var notes []string
	if o.RootSet {
		notes = append(notes, "root key "+hex.EncodeToString(o.RootKey[:4])+"…")
	}
	if o.Header != nil {
		notes = append(notes, fmt.Sprintf("header % x", o.Header))
	}
	return notes
}

// probeWhatsApp makes one handshake attempt at ep.
func probeWhatsApp(ctx context.Context, ep *Endpoint, opt *Options) (a Attempt) {
	a.Start = opt.now()
	start := time.Now()
	defer func() { a.Timings.Total = time.Since(start) }()
	o := whatsAppOptionsOf(ep)
	timeout := attemptTimeout(ctx, ep)

	client, err := whatsapp.NewClient(o.header(ep.Kind), rand.Reader)
	if err != nil {
		a.Failure = &Failure{Class: ClassLocalResource, Phase: PhaseHandshake, Err: err}
		return a
	}
	var hs whatsAppStream
	if ep.Kind == KindWhatsApp {
		conn := dial(ctx, ep, opt, &a)
		if conn == nil {
			return a
		}
		defer conn.Close()
		hs = &whatsAppTCPStream{conn: conn}
	} else {
		u := *ep.URL
		u.Scheme = "ws"
		if ep.Kind == KindWhatsAppWSS {
			u.Scheme = "wss"
		}
		hdr := http.Header{"Origin": {whatsAppOrigin}}
		wc, f := wsDial(ctx, ep, opt, &a, &u, hdr, nil, nil)
		if f != nil {
			a.Failure = f
			return a
		}
		defer wc.close()
		// A frame larger than the handshake's cap is refused by its
		// WebSocket header, before it is read.
		wc.SetReadLimit(whatsapp.MaxFrame + whatsapp.FrameLengthSize)
		hs = &whatsAppWSStream{ctx: ctx, conn: wc}
	}

	began := time.Now()
	res, f := whatsAppHandshake(ctx, hs, client, o.root(), opt.now(), timeout)
	a.Timings.AddStep(PhaseHandshake, time.Since(began))
	if f != nil {
		a.Failure = f
		return a
	}
	recordWhatsAppChain(&a, res)
	return a
}

// recordWhatsAppChain puts the verified chain's fields in the attempt's details.
func recordWhatsAppChain(a *Attempt, res *whatsapp.Result) {
	leaf, interm := res.Chain.Leaf.Details, res.Chain.Intermediate.Details
	a.SetDetail("static_key", hex.EncodeToString(res.Static[:]))
	a.SetDetail("leaf_serial", leaf.Serial)
	a.SetDetail("leaf_issuer_serial", leaf.IssuerSerial)
	a.SetDetail("leaf_not_before", leaf.NotBefore.UTC().Format(time.RFC3339))
	a.SetDetail("leaf_not_after", leaf.NotAfter.UTC().Format(time.RFC3339))
	a.SetDetail("intermediate_serial", interm.Serial)
	a.SetDetail("intermediate_issuer_serial", interm.IssuerSerial)
	a.SetDetail("intermediate_not_after", interm.NotAfter.UTC().Format(time.RFC3339))
}

// whatsAppStream is the transport under the handshake: what is written goes
// out in one piece (one TCP write, one binary WebSocket message), and what is
// read is the server's bytes as one stream, since a frame may span
// WebSocket messages (whatsmeow's FrameSocket reads them so). got counts
// what arrived, so that a timeout can tell silence from a reply cut short.
type whatsAppStream interface {
	io.Reader
	send(ctx context.Context, b []byte) error
	got() int
}

type whatsAppTCPStream struct {
	conn net.Conn
	n    int
}

func (s *whatsAppTCPStream) Read(b []byte) (int, error) {
	n, err := s.conn.Read(b)
	s.n += n
	return n, err
}

func (s *whatsAppTCPStream) send(_ context.Context, b []byte) error {
	_, err := s.conn.Write(b)
	return err
}

func (s *whatsAppTCPStream) got() int { return s.n }

type whatsAppWSStream struct {
	ctx  context.Context
	conn *wsConn
	buf  []byte
	n    int
}

func (s *whatsAppWSStream) Read(b []byte) (int, error) {
	for len(s.buf) == 0 {
		typ, data, f := s.conn.readMessage(s.ctx, PhaseHandshake)
		if ce := (websocket.CloseError{}); f != nil && errors.As(f, &ce) {
			// Over WebSocket, WhatsApp hanging up is a close frame.
			return 0, &whatsAppWSClosed{code: int(ce.Code), err: f}
		}
		if f != nil {
			return 0, f
		}
		if typ != websocket.MessageBinary {
			return 0, &Failure{Class: ClassProtocol, Phase: PhaseHandshake,
				Err: errors.New("WhatsApp answered with a text WebSocket message, not a binary frame")}
		}
		s.buf = data
		s.n += len(data)
	}
	n := copy(b, s.buf)
	s.buf = s.buf[n:]
	return n, nil
}

// whatsAppWSClosed is a close frame where the handshake expected its reply: the
// WebSocket form of the server hanging up.
type whatsAppWSClosed struct {
	code int
	err  error
}

func (e *whatsAppWSClosed) Error() string {
	return fmt.Sprintf("WebSocket closed by the server: %d", e.code)
}
func (e *whatsAppWSClosed) Unwrap() error { return e.err }

func (s *whatsAppWSStream) send(ctx context.Context, b []byte) error {
	if f := s.conn.writeMessage(ctx, websocket.MessageBinary, b, PhaseHandshake); f != nil {
		return f
	}
	return nil
}

func (s *whatsAppWSStream) got() int { return s.n }

// whatsAppHandshake sends the ClientHello and verifies the ServerHello.
func whatsAppHandshake(ctx context.Context, hs whatsAppStream, client *whatsapp.Client,
	root [whatsapp.KeySize]byte, now time.Time, timeout time.Duration) (*whatsapp.Result, *Failure) {
	if err := hs.send(ctx, client.Hello()); err != nil {
		return nil, whatsAppFailure(ctx, err, hs.got(), timeout)
	}
	frame, err := whatsapp.ReadFrame(hs, whatsapp.MaxFrame)
	if err != nil {
		return nil, whatsAppFailure(ctx, err, hs.got(), timeout)
	}
	res, err := client.ReadServerHello(frame, root, now)
	if err != nil {
		return nil, whatsAppFailure(ctx, err, hs.got(), timeout)
	}
	return res, nil
}

// whatsAppFailure classes what stopped the handshake, with a reason that
// names the layer: the server's answer (protocol, protocol_untrusted),
// silence (protocol_timeout), a hang-up (eof), or the connection's own
// errors as classify finds them. got is how many bytes the server sent.
func whatsAppFailure(ctx context.Context, err error, got int, timeout time.Duration) *Failure {
	switch {
	case errors.Is(err, whatsapp.ErrUntrusted):
		return &Failure{Class: ClassProtocolUntrusted, Phase: PhaseHandshake, Err: err}
	case errors.Is(err, whatsapp.ErrMalformed):
		return &Failure{Class: ClassProtocol, Phase: PhaseHandshake, Err: err}
	}
	if wc := (*whatsAppWSClosed)(nil); errors.As(err, &wc) {
		msg := fmt.Sprintf("connected, WhatsApp closed the WebSocket (%d) without a handshake reply", wc.code)
		if got > 0 {
			msg = fmt.Sprintf("WhatsApp closed the WebSocket (%d) inside its handshake reply (%d bytes)", wc.code, got)
		}
		return &Failure{Class: ClassEOF, Phase: PhaseHandshake, Err: &describedError{msg, err}}
	}
	f := classify(ctx, err, PhaseHandshake)
	switch f.Class {
	case ClassTimeout, ClassProtocolTimeout:
		// formatTimeout writes 5s as "5s", as people do (noAnswer's
		// FormatDuration would say "5.00s").
		msg := noAnswer("WhatsApp handshake reply", timeout)
		if got > 0 {
			msg = fmt.Sprintf("connected, WhatsApp handshake reply incomplete after %s (%d bytes)", formatTimeout(timeout), got)
		}
		return &Failure{Class: ClassProtocolTimeout, Phase: PhaseHandshake, Err: &describedError{msg, err}}
	case ClassEOF:
		msg := "connected, WhatsApp closed the connection without a handshake reply"
		if got > 0 {
			msg = fmt.Sprintf("WhatsApp closed the connection inside its handshake reply (%d bytes)", got)
		}
		return &Failure{Class: ClassEOF, Phase: PhaseHandshake, Err: &describedError{msg, err}}
	}
	return f
}
