package probe

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"io"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/msgprobe/msgprobe/internal/proto/threema"
)

// threema:// sends Threema's 48-byte client hello and opens the server's
// 80-byte hello with NaCl under Threema's published permanent keys: a box
// that opens, echoing our cookie, was sealed by a holder of the chat
// server's secret key. The login that would follow is never sent.

// KindThreema is Threema's chat server protocol (CSP).
const KindThreema Kind = "threema"

// ThreemaOptions are a threema:// endpoint's `threema:` block.
type ThreemaOptions struct {
	// ServerKeys replace Threema's published permanent keys; nil: the
	// published ones.
	ServerKeys [][threema.KeyLen]byte
}

var threemaKeys = []string{"server_keys"}

var threemaBlock = Block{Name: "threema", Keys: threemaKeys, Decode: (*loader).threemaOptions}

var threemaProtocol = Protocol{
	Kind:   KindThreema,
	Proves: "a Threema chat server's hello opened under Threema's permanent key and echoed our cookie",
	Blocks: []string{"threema"},
	Target: hostPortTarget(""),
	Phases: []Phase{PhaseDNS, PhaseConnect, PhaseHandshake},
	Hints:  map[string]string{"tls": "Threema's chat servers speak their own NaCl protocol, not TLS: drop the tls block"},
	Probe:  probeThreema,
	Notes: func(ep *Endpoint) []string {
		if o := optionsOf[ThreemaOptions](ep, "threema"); o.ServerKeys != nil {
			return []string{"server keys replaced"}
		}
		return nil
	},
}

const serverKeyHint = "a key is 64 hex digits (32 bytes), like 450b975735279fdecb3313648f5fc6ee9ff4360ea92a8c1751c661e4c0d8c909"

func (l *loader) threemaOptions(n *yaml.Node, ep *Endpoint) {
	f := l.fields(n, keySchema{what: "threema", keys: threemaKeys})
	if f == nil {
		return
	}
	o := &ThreemaOptions{}
	if p, ok := f["server_keys"]; ok {
		v := resolveAlias(p.v)
		keys, good := l.stringList(v, "threema.server_keys")
		switch {
		case !good:
		case len(keys) == 0:
			l.errorf(v, "leave server_keys out to use Threema's published keys", "threema.server_keys is empty: no hello could open")
		default:
			for i, s := range keys {
				k, err := threema.ParseKey(s)
				if err != nil {
					l.errorf(resolveAlias(v.Content[i]), serverKeyHint, "threema.server_keys item is %v", err)
					continue
				}
				o.ServerKeys = append(o.ServerKeys, k)
			}
		}
	}
	setOptions(ep, "threema", o)
}

// probeThreema connects, sends the client hello, opens the server hello,
// then hangs up.
func probeThreema(ctx context.Context, ep *Endpoint, opt *Options) (a Attempt) {
	a.Start = opt.now()
	start := time.Now()
	defer func() { a.Timings.Total = time.Since(start) }()
	o := optionsOf[ThreemaOptions](ep, "threema")
	keys := o.ServerKeys
	if keys == nil {
		keys = threema.PublishedKeys()
	}

	conn := dial(ctx, ep, opt, &a)
	if conn == nil {
		return a
	}
	defer conn.Close()

	hs := time.Now()
	defer func() { a.Timings.AddStep(PhaseHandshake, time.Since(hs)) }()
	hello, err := threema.NewClientHello(rand.Reader)
	if err != nil {
		a.Failure = &Failure{Class: ClassLocalResource, Phase: PhaseHandshake, Err: err}
		return a
	}
	const what = "Threema server hello"
	if _, err := conn.Write(hello.Bytes()); err != nil {
		a.Failure = handshakeFailure(ctx, err, what, 0, ep.Timeout, start)
		return a
	}
	// The hello has a fixed size: the buffer is the cap.
	answer := make([]byte, threema.ServerHelloLen)
	n, err := io.ReadFull(conn, answer)
	if err != nil {
		a.Failure = handshakeFailure(ctx, err, what, int64(n), ep.Timeout, start)
		return a
	}
	s, err := hello.Open(answer, keys)
	if err != nil {
		class := ClassProtocol
		if errors.As(err, new(*threema.UntrustedError)) {
			class = ClassProtocolUntrusted
		}
		a.Failure = &Failure{Class: class, Phase: PhaseHandshake, Err: err}
		return a
	}
	a.SetDetail("server_key", hex.EncodeToString(s.PermanentKey[:]))
	return a
}
