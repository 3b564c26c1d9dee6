package probe

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/msgprobe/msgprobe/internal/proto/mtproto"
)

// mtproto:// asks a Telegram data centre for the first step of a key
// exchange, an unencrypted req_pq_multi, and checks the resPQ: our nonce
// echoed, a pq to factor, and Telegram's server key among the fingerprints.
// It stops there: no proof of work, no key, no account. Plain framing and
// the obfuscated framing the official clients use are separate endpoints,
// so that "plain MTProto is blocked here" and "the DC is down" read apart.

// KindMTProto is Telegram's MTProto over TCP.
const KindMTProto Kind = "mtproto"

// ClassMTProtoTransportError is a DC answering one of MTProto's negative
// transport codes (-404, -429, -444) instead of resPQ.
const ClassMTProtoTransportError Class = "mtproto_transport_error"

// MTProtoOptions are an mtproto:// endpoint's `mtproto:` block.
type MTProtoOptions struct {
	Transport  mtproto.Transport // "" means intermediate
	Obfuscated bool
	DC         int16    // written into the obfuscation header; 0 writes zeros
	Keys       []uint64 // fingerprints, one of which the resPQ must list; nil: Telegram's production key
}

var mtprotoKeys = []string{"transport", "obfuscated", "dc", "fingerprints"}

var mtprotoBlock = Block{Name: "mtproto", Keys: mtprotoKeys, Decode: (*loader).mtprotoOptions}

var mtprotoProtocol = Protocol{
	Kind:    KindMTProto,
	Proves:  "a Telegram DC answered req_pq_multi with our nonce and Telegram's key fingerprint",
	Blocks:  []string{"mtproto"},
	Target:  hostPortTarget(""),
	Phases:  []Phase{PhaseDNS, PhaseConnect, PhaseHandshake},
	Classes: []ClassInfo{{Class: ClassMTProtoTransportError, SelfDescribed: true}},
	Hints:   map[string]string{"tls": "Telegram's DCs speak MTProto, not TLS: drop the tls block"},
	Probe:   probeMTProto,
	Notes:   mtprotoNotes,
}

func (l *loader) mtprotoOptions(n *yaml.Node, ep *Endpoint) {
	f := l.fields(n, keySchema{what: "mtproto", keys: mtprotoKeys})
	if f == nil {
		return
	}
	o := &MTProtoOptions{}
	if p, ok := f["transport"]; ok {
		if s, good := l.str(p.v, "mtproto.transport"); good {
			names := make([]string, len(mtproto.Transports))
			for i, t := range mtproto.Transports {
				names[i] = string(t)
			}
			if t, known := mtproto.ParseTransport(strings.ToLower(strings.TrimSpace(s))); known {
				o.Transport = t
			} else {
				hint := "one of " + strings.Join(names, ", ")
				if near := nearestWord(s, names); near != "" {
					hint = fmt.Sprintf("did you mean %q?", near)
				}
				l.errorf(resolveAlias(p.v), hint, "mtproto.transport %q is not an MTProto transport", s)
			}
		}
	}
	if p, ok := f["obfuscated"]; ok {
		o.Obfuscated, _ = l.boolean(p.v, "mtproto.obfuscated")
		if o.Obfuscated && o.Transport == mtproto.Full {
			l.errorf(resolveAlias(p.v), "obfuscation carries abridged or intermediate framing: set transport: intermediate",
				"the full transport cannot be obfuscated")
		}
	}
	if p, ok := f["dc"]; ok {
		if dc, good := l.integer(p.v, "mtproto.dc"); good {
			switch {
			case dc == 0 || dc < math.MinInt16 || dc > math.MaxInt16:
				l.errorf(resolveAlias(p.v), "Telegram's DCs are 1 to 5", "mtproto.dc %d is not a DC id", dc)
			case !o.Obfuscated:
				l.errorf(resolveAlias(p.v), "set obfuscated: true, or leave dc out",
					"mtproto.dc is only sent in the obfuscation header")
			default:
				o.DC = int16(dc)
			}
		}
	}
	if p, ok := f["fingerprints"]; ok {
		o.Keys = l.fingerprints(p.v)
	}
	setOptions(ep, "mtproto", o)
}

const fingerprintHint = "write it as 0x and up to 16 hex digits, like 0xd09d1d85de64fd85"

// fingerprints reads mtproto.fingerprints: unsigned 64-bit numbers in hex,
// quoted or not. They are read from each node's own text, because YAML
// gives 0xd09d1d85de64fd85, above 2^63, no signed integer to hold it.
func (l *loader) fingerprints(n *yaml.Node) []uint64 {
	n = resolveAlias(n)
	if n.Kind != yaml.SequenceNode {
		l.errorf(n, "write a list: fingerprints: [0xd09d1d85de64fd85]", "mtproto.fingerprints must be a list of key fingerprints, got %s", nodeDesc(n))
		return nil
	}
	if len(n.Content) == 0 {
		l.errorf(n, "leave fingerprints out to expect Telegram's production key", "mtproto.fingerprints is empty: no answer could pass")
		return nil
	}
	out := make([]uint64, 0, len(n.Content))
	for _, c := range n.Content {
		c = resolveAlias(c)
		var text string
		switch {
		case c.Kind == yaml.ScalarNode && c.ShortTag() == "!!int":
			text = c.Value
		case c.Kind == yaml.ScalarNode && c.ShortTag() == "!!str":
			s, ok := l.scalarText(c)
			if !ok {
				continue
			}
			text = s
		default:
			l.errorf(c, fingerprintHint, "mtproto.fingerprints item must be a hex number, got %s", nodeDesc(c))
			continue
		}
		fp, err := parseFingerprint(text)
		if err != nil {
			l.errorf(c, fingerprintHint, "mtproto.fingerprints item %q %v", text, err)
			continue
		}
		out = append(out, fp)
	}
	return out
}

// parseFingerprint reads 0x and 1 to 16 hex digits.
func parseFingerprint(s string) (uint64, error) {
	s = strings.TrimSpace(s)
	digits, ok := strings.CutPrefix(strings.ToLower(s), "0x")
	if !ok {
		return 0, errors.New("is not written in hex")
	}
	if digits == "" || len(digits) > 16 {
		return 0, errors.New("is not a 64-bit number")
	}
	v, err := strconv.ParseUint(digits, 16, 64)
	if err != nil {
		return 0, errors.New("is not a hex number")
	}
	return v, nil
}

func mtprotoNotes(ep *Endpoint) []string {
	o := optionsOf[MTProtoOptions](ep, "mtproto")
	t := o.Transport
	if t == "" {
		t = mtproto.Intermediate
	}
	notes := []string{string(t)}
	if o.Obfuscated {
		s := "obfuscated"
		if o.DC != 0 {
			s += fmt.Sprintf(" (dc %d)", o.DC)
		}
		notes = append(notes, s)
	}
	if o.Keys != nil {
		notes = append(notes, "fingerprints replaced")
	}
	return notes
}

// probeMTProto connects, sends req_pq_multi and checks the resPQ, then
// hangs up.
func probeMTProto(ctx context.Context, ep *Endpoint, opt *Options) (a Attempt) {
	a.Start = opt.now()
	start := time.Now()
	defer func() { a.Timings.Total = time.Since(start) }()
	o := optionsOf[MTProtoOptions](ep, "mtproto")

	conn := dial(ctx, ep, opt, &a)
	if conn == nil {
		return a
	}
	defer conn.Close()

	hs := time.Now()
	defer func() { a.Timings.AddStep(PhaseHandshake, time.Since(hs)) }()
	ex, err := mtproto.NewExchange(mtproto.Config{
		Transport: o.Transport, Obfuscated: o.Obfuscated, DC: o.DC, Fingerprints: o.Keys,
	}, rand.Reader, time.Now())
	if err != nil {
		a.Failure = &Failure{Class: ClassLocalResource, Phase: PhaseHandshake, Err: err}
		return a
	}
	a.SetDetail("transport", string(ex.Transport()))
	a.SetDetail("obfuscated", o.Obfuscated)
	if _, err := conn.Write(ex.Request()); err != nil {
		a.Failure = handshakeFailure(ctx, err, "MTProto answer", 0, ep.Timeout, start)
		return a
	}
	in := &countingReader{r: conn}
	res, err := ex.ReadAnswer(in)
	if res != nil {
		a.SetDetail("fingerprints", hexFingerprints(res.Fingerprints))
	}
	if err != nil {
		a.Failure = mtprotoFailure(ctx, err, in.n, ep.Timeout, start)
		return a
	}
	return a
}

// mtprotoFailure classes what ReadAnswer returned.
func mtprotoFailure(ctx context.Context, err error, read int64, timeout time.Duration, start time.Time) *Failure {
	var (
		te *mtproto.TransportError
		ue *mtproto.UntrustedError
		pe *mtproto.ProtocolError
	)
	switch {
	case errors.As(err, &te):
		return &Failure{Class: ClassMTProtoTransportError, Phase: PhaseHandshake, Err: err}
	case errors.As(err, &ue):
		return &Failure{Class: ClassProtocolUntrusted, Phase: PhaseHandshake, Err: err}
	case errors.As(err, &pe):
		return &Failure{Class: ClassProtocol, Phase: PhaseHandshake, Err: err}
	}
	return handshakeFailure(ctx, err, "MTProto answer", read, timeout, start)
}

func hexFingerprints(fps []uint64) []string {
	out := make([]string, len(fps))
	for i, fp := range fps {
		out[i] = fmt.Sprintf("%#016x", fp)
	}
	return out
}

// handshakeFailure classes an error of the connection during a protocol's
// first exchange (MTProto's, Threema's): the deadline passing is
// protocol_timeout, read as "connected, no X in 5s" when nothing came back
// and "connected, X incomplete in 5s" when some bytes did; the rest (the
// peer hanging up, a reset, the run being stopped) is classed as any
// connection error is.
func handshakeFailure(ctx context.Context, err error, what string, read int64, timeout time.Duration, start time.Time) *Failure {
	f := classify(ctx, err, PhaseHandshake)
	if f.Class != ClassTimeout {
		return f
	}
	if timeout <= 0 {
		if deadline, ok := ctx.Deadline(); ok {
			timeout = deadline.Sub(start).Round(time.Millisecond)
		}
	}
	msg := noAnswer(what, timeout)
	if read > 0 {
		msg = fmt.Sprintf("connected, %s incomplete in %s", what, FormatDuration(timeout))
	}
	return &Failure{Class: ClassProtocolTimeout, Phase: PhaseHandshake, Err: &describedError{msg, err}}
}

// countingReader counts the bytes read through it, to tell a silent peer
// from one that stopped halfway.
type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(b []byte) (int, error) {
	n, err := c.r.Read(b)
	c.n += int64(n)
	return n, err
}
