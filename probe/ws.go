package probe

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/coder/websocket"
	"gopkg.in/yaml.v3"
)

// ws:// and wss://: a WebSocket upgrade on a fresh connection, then, when
// the endpoint gives one, a dialogue of messages sent and expected, the
// send/expect shape of blackbox_exporter's query_response over WebSocket
// messages. Dialing, the upgrade and reading are wsdial.go's.

// KindWS and KindWSS are the WebSocket schemes.
const (
	KindWS  Kind = "ws"
	KindWSS Kind = "wss"
)

// maxWSMessage bounds websocket.max_message: one attempt never holds more.
const maxWSMessage = 16 << 20

var wsClasses = []ClassInfo{
	{Class: ClassWSUpgrade, Short: "no WebSocket upgrade", SelfDescribed: true},
}

var wsProtocol = Protocol{
	Kind:    KindWS,
	Proves:  "a WebSocket upgrade (101, Sec-WebSocket-Accept checked) and the dialogue",
	Blocks:  []string{"websocket"},
	Target:  wsTarget("80"),
	Hints:   map[string]string{"tls": "use a wss:// target", "http": "the upgrade's headers go under websocket.headers"},
	Phases:  []Phase{PhaseDNS, PhaseConnect, PhaseUpgrade, PhaseDialogue},
	Classes: wsClasses,
	Probe:   probeWS,
	Prober:  newWSProber,
	Notes:   wsNotes,
}

var wssProtocol = Protocol{
	Kind:    KindWSS,
	Proves:  "a verified TLS handshake, a WebSocket upgrade (101, Sec-WebSocket-Accept checked) and the dialogue",
	Blocks:  []string{"websocket", "tls"},
	TLS:     true,
	Target:  wsTarget("443"),
	Hints:   map[string]string{"http": "the upgrade's headers go under websocket.headers"},
	Phases:  []Phase{PhaseDNS, PhaseConnect, PhaseTLS, PhaseUpgrade, PhaseDialogue},
	Classes: wsClasses,
	Probe:   probeWS,
	Prober:  newWSProber,
	Notes:   wsNotes,
}

// WSOptions are an endpoint's websocket block.
type WSOptions struct {
	Subprotocols []string
	// Headers go with the upgrade request. Values may be secrets: no
	// message or listing ever shows one.
	Headers    map[string]string
	Origin     string
	Dialogue   []WSStep
	MaxMessage int64 // largest message read; 0: DefaultWSReadLimit
}

// WSStepKind says what a dialogue step does.
type WSStepKind uint8

// The kinds of dialogue step.
const (
	WSSend      WSStepKind = iota + 1 // send Data as a text message
	WSSendHex                         // send Data as a binary message
	WSExpect                          // the next message must contain Data
	WSExpectHex                       // the same, Data given in hex
)

var wsStepKeys = []string{"send", "send_hex", "expect", "expect_hex"}

func (k WSStepKind) String() string {
	if k >= WSSend && int(k) <= len(wsStepKeys) {
		return wsStepKeys[k-1]
	}
	return "step(" + strconv.Itoa(int(k)) + ")"
}

// WSStep is one step of a dialogue.
type WSStep struct {
	Kind WSStepKind
	Data []byte
}

func (s WSStep) expects() bool { return s.Kind == WSExpect || s.Kind == WSExpectHex }

func wsOptions(ep *Endpoint) *WSOptions { return optionsOf[WSOptions](ep, "websocket") }

// wsTarget is urlTarget that also refuses what RFC 6455 §3 does: a
// fragment. A path and query are kept for the request.
func wsTarget(defaultPort string) func(l *loader, n *yaml.Node, u *url.URL, ep *Endpoint) bool {
	base := urlTarget(defaultPort)
	return func(l *loader, n *yaml.Node, u *url.URL, ep *Endpoint) bool {
		if u.Fragment != "" || strings.HasSuffix(u.String(), "#") {
			l.errorf(n, "leave out the #...; a WebSocket URL has none (RFC 6455 §3)", "%s:// target must not have a fragment", ep.Kind)
			return false
		}
		return base(l, n, u, ep)
	}
}

func wsNotes(ep *Endpoint) []string {
	o := wsOptions(ep)
	var n []string
	if len(o.Subprotocols) > 0 {
		n = append(n, "subprotocols "+strings.Join(o.Subprotocols, ","))
	}
	if o.Origin != "" {
		n = append(n, "origin "+o.Origin)
	}
	if len(o.Headers) > 0 {
		n = append(n, fmt.Sprintf("%d headers", len(o.Headers)))
	}
	if k := len(o.Dialogue); k == 1 {
		n = append(n, "1 dialogue step")
	} else if k > 1 {
		n = append(n, fmt.Sprintf("%d dialogue steps", k))
	}
	if o.MaxMessage > 0 {
		n = append(n, "max message "+formatSize(o.MaxMessage))
	}
	return n
}

// ---- the websocket block ----

var wsKeys = []string{"subprotocols", "headers", "origin", "dialogue", "max_message"}

var websocketBlock = Block{Name: "websocket", Keys: wsKeys, Decode: (*loader).wsOptions}

// wsReservedHeaders are set by the handshake itself, as is every other
// Sec-WebSocket-* header.
var wsReservedHeaders = map[string]string{
	"upgrade":                  "",
	"connection":               "",
	"sec-websocket-key":        "",
	"sec-websocket-version":    "",
	"sec-websocket-accept":     "",
	"sec-websocket-extensions": "msgprobe asks for no extension",
	"sec-websocket-protocol":   "use websocket.subprotocols",
}

func (l *loader) wsOptions(n *yaml.Node, ep *Endpoint) {
	f := l.fields(n, keySchema{what: "websocket", keys: wsKeys})
	if f == nil {
		return
	}
	o := &WSOptions{}
	if p, ok := f["subprotocols"]; ok {
		list, _ := l.stringList(p.v, "websocket.subprotocols")
		items := resolveAlias(p.v).Content
		for i, s := range list {
			if !httpTokenRE.MatchString(s) {
				at := resolveAlias(p.v)
				if i < len(items) {
					at = resolveAlias(items[i])
				}
				l.errorf(at, "a subprotocol is a token: letters, digits and !#$%&'*+-.^_`|~", "websocket.subprotocols item %q is not a token", s)
				continue
			}
			o.Subprotocols = append(o.Subprotocols, s)
		}
	}
	if p, ok := f["headers"]; ok {
		o.Headers = l.headerMap(p.v, "websocket.headers")
		for _, k := range resolveAlias(p.v).Content {
			k = resolveAlias(k)
			name := strings.ToLower(k.Value)
			hint, reserved := wsReservedHeaders[name]
			if reserved || strings.HasPrefix(name, "sec-websocket-") && k.Kind == yaml.ScalarNode {
				l.errorf(k, hint, "websocket.headers: %s is set by the WebSocket handshake", k.Value)
				delete(o.Headers, k.Value)
			}
		}
	}
	if p, ok := f["origin"]; ok {
		if s, good := l.str(p.v, "websocket.origin"); good {
			u, err := url.Parse(s)
			switch {
			case err != nil || u.Scheme == "" || u.Host == "" || u.User != nil:
				l.errorf(resolveAlias(p.v), `an origin is scheme://host[:port], like "https://web.whatsapp.com"`, "websocket.origin %q is not an origin", s)
			case u.Path != "" && u.Path != "/" || u.RawQuery != "" || u.Fragment != "":
				l.errorf(resolveAlias(p.v), fmt.Sprintf("did you mean %q?", u.Scheme+"://"+u.Host), "websocket.origin %q has a path", s)
			default:
				o.Origin = strings.TrimSuffix(s, "/")
			}
		}
		for k := range o.Headers {
			if strings.EqualFold(k, "Origin") {
				l.errorf(p.k, "keep one of them", "websocket.origin and websocket.headers.%s both set the Origin", k)
			}
		}
	}
	if p, ok := f["dialogue"]; ok {
		o.Dialogue = l.wsDialogue(p.v)
	}
	if p, ok := f["max_message"]; ok {
		if size, good := l.size(p.v, "websocket.max_message"); good {
			if size < 1 || size > maxWSMessage {
				l.errorf(resolveAlias(p.v), "", "websocket.max_message must be between 1 byte and %s", formatSize(maxWSMessage))
			} else {
				o.MaxMessage = size
			}
		}
	}
	setOptions(ep, "websocket", o)
}

// wsDialogue reads the dialogue: a list of one-key steps.
func (l *loader) wsDialogue(n *yaml.Node) []WSStep {
	n = resolveAlias(n)
	if n.Kind != yaml.SequenceNode {
		l.errorf(n, "write a list: dialogue: [{send: TEXT}, {expect: TEXT}]", "websocket.dialogue must be a list of steps, got %s", nodeDesc(n))
		return nil
	}
	if len(n.Content) == 0 {
		l.errorf(n, "leave dialogue out to check the upgrade only", "websocket.dialogue is empty")
		return nil
	}
	steps := make([]WSStep, 0, len(n.Content))
	for i, c := range n.Content {
		what := fmt.Sprintf("websocket.dialogue step %d", i+1)
		c = resolveAlias(c)
		if c.Kind != yaml.MappingNode {
			l.errorf(c, "a step is one of {send: TEXT}, {send_hex: HEX}, {expect: TEXT}, {expect_hex: HEX}", "%s must be a mapping, got %s", what, nodeDesc(c))
			continue
		}
		f := l.fields(c, keySchema{what: what, keys: wsStepKeys})
		if f == nil {
			continue
		}
		var found []string
		for _, k := range wsStepKeys {
			if _, ok := f[k]; ok {
				found = append(found, k)
			}
		}
		switch {
		case len(found) == 0:
			if len(c.Content) == 0 {
				l.errorf(c, "a step is one of {send: TEXT}, {send_hex: HEX}, {expect: TEXT}, {expect_hex: HEX}", "%s is empty", what)
			}
			continue
		case len(found) > 1:
			l.errorf(f[found[1]].k, "write them as two steps, each its own list item", "%s has both %s and %s; a step does one thing", what, found[0], found[1])
			continue
		}
		kind := WSStepKind(1 + indexOf(wsStepKeys, found[0]))
		v := f[found[0]].v
		s, good := l.str(v, what+" "+found[0])
		if !good {
			continue
		}
		step := WSStep{Kind: kind, Data: []byte(s)}
		if kind == WSSendHex || kind == WSExpectHex {
			data, err := decodeWSHex(s)
			if err != nil {
				l.errorf(resolveAlias(v), "two hex digits per byte, like 0a1b2c; spaces or colons between bytes are allowed", "%s %s: %v", what, found[0], err)
				continue
			}
			step.Data = data
		}
		if step.expects() && len(step.Data) == 0 {
			l.errorf(resolveAlias(v), "an empty expectation matches anything; leave the step out, or expect the message's text", "%s %s is empty", what, found[0])
			continue
		}
		steps = append(steps, step)
	}
	return steps
}

func indexOf(list []string, s string) int {
	for i, x := range list {
		if x == s {
			return i
		}
	}
	return -1
}

// size reads a byte count: an integer, or a number with a unit B, KiB,
// MiB (KB and MB taken as the binary ones, as people mean them here).
func (l *loader) size(n *yaml.Node, field string) (int64, bool) {
	n = resolveAlias(n)
	if n.Kind == yaml.ScalarNode && n.ShortTag() == "!!int" {
		v, err := strconv.ParseInt(n.Value, 0, 64)
		if err != nil {
			l.errorf(n, "", "%s %s is out of range", field, n.Value)
			return 0, false
		}
		return v, true
	}
	if n.Kind != yaml.ScalarNode || isNullNode(n) {
		l.errorf(n, `write a size like 65536, "64KiB" or "1MiB"`, "%s must be a size, got %s", field, nodeDesc(n))
		return 0, false
	}
	s, ok := l.scalarText(n)
	if !ok {
		return 0, false
	}
	v, err := parseSize(s)
	if err != nil {
		l.errorf(n, `write a size like 65536, "64KiB" or "1MiB"`, "%s %q is not a size", field, s)
		return 0, false
	}
	return v, true
}

func parseSize(s string) (int64, error) {
	s = strings.TrimSpace(s)
	i := 0
	for i < len(s) && s[i] >= '0' && s[i] <= '9' {
		i++
	}
	num, unit := s[:i], strings.ToLower(strings.TrimSpace(s[i:]))
	v, err := strconv.ParseInt(num, 10, 64)
	if err != nil {
		return 0, errors.New("no number")
	}
	mult := map[string]int64{"": 1, "b": 1, "k": 1 << 10, "kb": 1 << 10, "kib": 1 << 10, "m": 1 << 20, "mb": 1 << 20, "mib": 1 << 20}[unit]
	if mult == 0 {
		return 0, errors.New("unknown unit")
	}
	if v > (1<<62)/mult {
		return 0, errors.New("too large")
	}
	return v * mult, nil
}

// decodeWSHex reads hex bytes, with optional spaces or colons between
// them. An error names the first character it cannot read, never the
// whole text.
func decodeWSHex(s string) ([]byte, error) {
	out := make([]byte, 0, len(s)/2)
	var hi int = -1
	for i, r := range s {
		if r == ' ' || r == ':' || r == '\t' || r == '\n' {
			if hi >= 0 {
				return nil, fmt.Errorf("odd hex digit before character %d", i+1)
			}
			continue
		}
		d := hexDigit(r)
		if d < 0 {
			return nil, fmt.Errorf("character %d is not a hex digit", i+1)
		}
		if hi < 0 {
			hi = d
			continue
		}
		out = append(out, byte(hi<<4|d))
		hi = -1
	}
	if hi >= 0 {
		return nil, errors.New("odd number of hex digits")
	}
	return out, nil
}

func hexDigit(r rune) int {
	switch {
	case r >= '0' && r <= '9':
		return int(r - '0')
	case r >= 'a' && r <= 'f':
		return int(r-'a') + 10
	case r >= 'A' && r <= 'F':
		return int(r-'A') + 10
	}
	return -1
}

// ---- the prober ----

func probeWS(ctx context.Context, ep *Endpoint, opt *Options) Attempt {
	return newWSProber(ep)(ctx, ep, opt)
}

// newWSProber builds once what every attempt at ep shares: the upgrade's
// headers, the TLS configuration, the read limit.
func newWSProber(ep *Endpoint) ProbeFunc {
	o := wsOptions(ep)
	hdr := http.Header{}
	for k, v := range o.Headers {
		hdr.Set(k, v)
	}
	if o.Origin != "" {
		hdr.Set("Origin", o.Origin)
	}
	limit := o.MaxMessage
	if limit <= 0 {
		limit = DefaultWSReadLimit
	}
	var cfg *tls.Config
	if ep.Kind == KindWSS {
		cfg = clientTLSConfig(ep)
	}
	dialogue := o.Dialogue
	subprotocols := o.Subprotocols
	return func(ctx context.Context, ep *Endpoint, opt *Options) (a Attempt) {
		a.Start = opt.now()
		start := time.Now()
		defer func() {
			if a.Timings.Total == 0 {
				a.Timings.Total = time.Since(start)
			}
		}()
		u := ep.URL
		if u == nil {
			u = &url.URL{Scheme: string(ep.Kind), Host: ep.Address(), Path: "/"}
		}
		c, f := wsDial(ctx, ep, opt, &a, u, hdr, subprotocols, cfg)
		if f != nil {
			a.Failure = f
			return a
		}
		c.SetReadLimit(limit)
		if sp := c.Subprotocol(); sp != "" {
			a.SetDetail("subprotocol", sp)
		}
		if len(dialogue) > 0 {
			ds := time.Now()
			a.Failure = runWSDialogue(ctx, c, dialogue)
			a.Timings.AddStep(PhaseDialogue, time.Since(ds))
		}
		// The goodbye is not part of what the endpoint is measured on.
		a.Timings.Total = time.Since(start)
		c.close()
		return a
	}
}

// runWSDialogue plays the steps in order: a send writes a message, an
// expect reads the next data message (pings answered on the way) and
// judges it.
func runWSDialogue(ctx context.Context, c *wsConn, steps []WSStep) *Failure {
	for i, s := range steps {
		n := i + 1
		switch s.Kind {
		case WSSend, WSSendHex:
			typ := websocket.MessageText
			if s.Kind == WSSendHex {
				typ = websocket.MessageBinary
			}
			if f := c.writeMessage(ctx, typ, s.Data, PhaseDialogue); f != nil {
				return stepFailure(f, n, c.timeout)
			}
		case WSExpect, WSExpectHex:
			_, msg, f := c.readMessage(ctx, PhaseDialogue)
			if f != nil {
				return stepFailure(f, n, c.timeout)
			}
			if err := matchWSStep(s, n, msg); err != nil {
				return &Failure{Class: ClassProtocol, Phase: PhaseDialogue, Err: err}
			}
		}
	}
	return nil
}

// stepFailure names the step in a timeout's message, where "no message"
// alone would not say which of several waits it was.
func stepFailure(f *Failure, n int, timeout time.Duration) *Failure {
	if f.Class != ClassProtocolTimeout {
		return f
	}
	msg := fmt.Sprintf("connected, no WebSocket message for dialogue step %d in %s", n, formatTimeout(timeout))
	return &Failure{Class: f.Class, Phase: f.Phase, Err: &describedError{msg, f.Err}}
}

// matchWSStep judges the message an expect step n received: it must
// contain the step's bytes. The error quotes a short prefix of what came,
// never the expectation (which may be long, or private).
func matchWSStep(s WSStep, n int, msg []byte) error {
	if bytes.Contains(msg, s.Data) {
		return nil
	}
	return fmt.Errorf("WebSocket dialogue step %d (%s) not met: got %s", n, s.Kind, describeMessage(msg, s.Kind == WSExpectHex))
}

// readable reports whether msg is text a person can read in a reason:
// valid UTF-8 without control characters. Anything else is shown in hex,
// which escapes cannot blow up.
func readable(msg []byte) bool {
	if !utf8.Valid(msg) {
		return false
	}
	for _, r := range string(msg) {
		if !unicode.IsPrint(r) && r != ' ' {
			return false
		}
	}
	return true
}

// describeMessage is a short prefix of a message for a failure: quoted
// text, or hex for binary data, text with control characters and a hex
// expectation.
func describeMessage(msg []byte, asHex bool) string {
	switch {
	case len(msg) == 0:
		return "an empty message"
	case asHex || !readable(msg):
		const maxHex = shortPrefix / 2
		if len(msg) > maxHex {
			return fmt.Sprintf("%d bytes %s…", len(msg), hex.EncodeToString(msg[:maxHex]))
		}
		return fmt.Sprintf("%d bytes %s", len(msg), hex.EncodeToString(msg))
	}
	cut := msg
	if len(cut) > shortPrefix {
		cut = cut[:shortPrefix]
		for len(cut) > 0 && !utf8.Valid(cut) {
			cut = cut[:len(cut)-1]
		}
	}
	q := quoteText(cut)
	if len(cut) < len(msg) {
		q += "…"
	}
	return q
}
