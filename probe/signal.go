package probe

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"time"

	"github.com/coder/websocket"
	"gopkg.in/yaml.v3"

	"github.com/msgprobe/msgprobe/internal/proto/signal"
)

// Signal without an account (Signal-Server, protocols.md §2c): the chat
// WebSocket accepts an upgrade without credentials, and over Signal's own
// message framing (a WebSocketMessage protobuf per binary message) answers
// GET /v1/keepalive with 200 and an X-Signal-Timestamp header, which
// Signal-Server's filter stamps on every answer and a load balancer or an
// imitation does not. The provisioning socket, which a new device opens to
// be linked, starts the dialogue itself: its first message is a request
// PUT /v1/address carrying the socket's fresh address, made by the server
// behind the load balancer (ProvisioningConnectListener).

// KindSignal is the scheme of Signal's WebSockets, always over TLS.
const KindSignal Kind = "signal"

// The sockets a signal:// endpoint may open, and their default paths
// (Signal-Server WhisperServerService; libsignal rust/net/src/env.rs).
const (
	signalChat         = "chat"
	signalProvisioning = "provisioning"

	signalChatPath         = "/v1/websocket/"
	signalProvisioningPath = "/v1/websocket/provisioning/"
)

// signalOptions is the signal block.
type signalOptions struct {
	Socket string // signalChat or signalProvisioning
}

var signalKeys = []string{"socket"}

var signalBlock = Block{Name: "signal", Keys: signalKeys, Decode: func(l *loader, n *yaml.Node, ep *Endpoint) {
	f := l.fields(n, keySchema{what: "signal", keys: signalKeys})
	if f == nil {
		return
	}
	o := &signalOptions{}
	if p, ok := f["socket"]; ok {
		if s, good := l.str(p.v, "signal.socket"); good {
			switch s {
			case signalChat, signalProvisioning:
				o.Socket = s
			default:
				l.errorf(resolveAlias(p.v), "socket: chat (the keepalive) or socket: provisioning (the server's address request)",
					"signal.socket %q is not chat or provisioning", s)
			}
		}
	}
	setOptions(ep, "signal", o)
}}

var signalProtocol = Protocol{
	Kind:   KindSignal,
	Proves: "Signal's server answered on its chat or provisioning WebSocket, in Signal's framing, with its timestamp",
	Blocks: []string{"signal", "tls"},
	TLS:    true,
	Target: signalTarget,
	Finish: func(_ *loader, ep *Endpoint) {
		o := optionsOf[signalOptions](ep, "signal")
		if o.Socket == "" {
			o.Socket = signalChat
			setOptions(ep, "signal", o)
		}
		if ep.URL != nil && (ep.URL.Path == "" || ep.URL.Path == "/") {
			u := *ep.URL
			u.Path = signalChatPath
			if o.Socket == signalProvisioning {
				u.Path = signalProvisioningPath
			}
			ep.URL = &u
		}
	},
	Phases:  []Phase{PhaseDNS, PhaseConnect, PhaseTLS, PhaseUpgrade, PhaseDialogue},
	Classes: []ClassInfo{{Class: ClassWSUpgrade, Short: "no WebSocket upgrade", SelfDescribed: true}},
	Probe:   probeSignal,
	Notes: func(ep *Endpoint) []string {
		o := optionsOf[signalOptions](ep, "signal")
		path := ""
		if ep.URL != nil {
			path = ep.URL.Path
		}
		return []string{o.Socket + " socket " + path}
	},
}

// signalTarget takes signal://HOST[:PORT][/PATH]: port 443 and the socket's
// path by default, no credentials, query or fragment.
func signalTarget(l *loader, n *yaml.Node, u *url.URL, ep *Endpoint) bool {
	if u.User != nil {
		l.errorf(n, "", "signal:// target must not carry a user name or password")
		return false
	}
	if u.RawQuery != "" || u.Fragment != "" {
		l.errorf(n, "", "signal:// target must not have a query or fragment")
		return false
	}
	return urlTarget("443")(l, n, u, ep)
}

// signalKeepaliveID is the id of msgprobe's keepalive request; the answer
// must carry it.
const signalKeepaliveID = 1

// signalSkip bounds the messages of other kinds read while waiting for
// the one expected: a server may send requests of its own first.
const signalSkip = 8

func probeSignal(ctx context.Context, ep *Endpoint, opt *Options) (a Attempt) {
	a.Start = opt.now()
	start := time.Now()
	defer func() { a.Timings.Total = time.Since(start) }()

	o := optionsOf[signalOptions](ep, "signal")
	u := url.URL{Scheme: "wss", Host: joinHostPort(ep.Host, ep.Port), Path: signalChatPath}
	if ep.URL != nil && ep.URL.Path != "" && ep.URL.Path != "/" {
		u.Path, u.RawPath = ep.URL.Path, ep.URL.RawPath
	} else if o.Socket == signalProvisioning {
		u.Path = signalProvisioningPath
	}
	c, f := wsDial(ctx, ep, opt, &a, &u, nil, nil, nil)
	if f != nil {
		a.Failure = f
		return a
	}
	defer c.close()
	c.SetReadLimit(signal.MaxMessage)

	t := time.Now()
	if o.Socket == signalProvisioning {
		a.Failure = signalProvision(ctx, c, &a)
	} else {
		a.Failure = signalKeepalive(ctx, c, &a)
	}
	a.Timings.AddStep(PhaseDialogue, time.Since(t))
	return a
}

// signalKeepalive sends GET /v1/keepalive and judges the answer.
func signalKeepalive(ctx context.Context, c *wsConn, a *Attempt) *Failure {
	if f := c.writeMessage(ctx, websocket.MessageBinary, signal.KeepaliveRequest(signalKeepaliveID), PhaseDialogue); f != nil {
		return f
	}
	for range signalSkip {
		m, f := signalRead(ctx, c, "keepalive answer")
		if f != nil {
			return f
		}
		if m.Type != signal.TypeResponse || m.Response == nil {
			continue // a request of the server's own: not the answer
		}
		r := m.Response
		switch {
		case r.ID != signalKeepaliveID:
			return signalProtocolError("Signal answered the keepalive under id %d, not %d", r.ID, signalKeepaliveID)
		case r.Status != 200:
			return signalProtocolError("Signal answered the keepalive with status %d%s", r.Status, signalReason(r.Message))
		}
		ts, ok := signal.Header(r.Headers, "X-Signal-Timestamp")
		if !ok {
			return &Failure{Class: ClassProtocolUntrusted, Phase: PhaseDialogue,
				Err: errors.New("keepalive answered 200 without X-Signal-Timestamp: not Signal's server")}
		}
		signalServerTime(a, ts)
		return nil
	}
	return signalProtocolError("no keepalive answer among the first %d Signal messages", signalSkip)
}

// signalProvision waits for the address request a provisioning socket
// starts with, and answers it 200 as a linking client does.
func signalProvision(ctx context.Context, c *wsConn, a *Attempt) *Failure {
	m, f := signalRead(ctx, c, "provisioning address")
	if f != nil {
		return f
	}
	r := m.Request
	if m.Type != signal.TypeRequest || r == nil {
		return signalProtocolError("Signal's provisioning socket opened with a message that is not a request")
	}
	if r.Verb != "PUT" || r.Path != "/v1/address" {
		return signalProtocolError("Signal's provisioning socket opened with %s %s, not PUT /v1/address",
			shortQuote([]byte(r.Verb)), shortQuote([]byte(r.Path)))
	}
	addr, err := signal.ParseProvisioningAddress(r.Body)
	if err != nil {
		return signalProtocolError("Signal's provisioning address is malformed: %v", err)
	}
	if addr == "" {
		return signalProtocolError("Signal's provisioning socket sent an empty address")
	}
	// The address stays out of the report: it names a linking session.
	a.SetDetail("address_length", len(addr))
	if ts, ok := signal.Header(r.Headers, "X-Signal-Timestamp"); ok {
		signalServerTime(a, ts)
	}
	ack := signal.AppendResponse(nil, signal.Response{ID: r.ID, Status: 200, Message: "OK"})
	if f := c.writeMessage(ctx, websocket.MessageBinary, ack, PhaseDialogue); f != nil {
		return f
	}
	return nil
}

// signalRead reads one binary message and decodes it; what names the
// awaited answer in the message of a timeout.
func signalRead(ctx context.Context, c *wsConn, what string) (signal.Message, *Failure) {
	typ, b, f := c.readMessage(ctx, PhaseDialogue)
	if f != nil {
		if f.Class == ClassProtocolTimeout {
			f = &Failure{Class: ClassProtocolTimeout, Phase: PhaseDialogue,
				Err: &describedError{noAnswer("Signal "+what, c.timeout), f.Err}}
		}
		return signal.Message{}, f
	}
	if typ != websocket.MessageBinary {
		return signal.Message{}, signalProtocolError("Signal answered in a text message %s", shortQuote(b))
	}
	m, err := signal.Parse(b)
	if err != nil {
		return signal.Message{}, signalProtocolError("Signal answered with a malformed WebSocket message: %v", err)
	}
	return m, nil
}

func signalProtocolError(format string, args ...any) *Failure {
	return &Failure{Class: ClassProtocol, Phase: PhaseDialogue, Err: fmt.Errorf(format, args...)}
}

func signalReason(msg string) string {
	if msg == "" {
		return ""
	}
	return " " + shortQuote([]byte(msg))
}

// signalServerTime records the server's clock from X-Signal-Timestamp
// (milliseconds since the epoch), which shows a skewed clock on either side.
func signalServerTime(a *Attempt, ts string) {
	ms, err := strconv.ParseInt(ts, 10, 64)
	if err != nil || ms <= 0 {
		return
	}
	a.SetDetail("server_time", time.UnixMilli(ms).UTC().Format(time.RFC3339Nano))
}
