package mtproto

import (
	"crypto/cipher"
	"errors"
	"fmt"
	"io"
	"time"
)

// Config says how to ask a DC for resPQ and which answer to accept.
type Config struct {
	Transport  Transport // "" means Intermediate
	Obfuscated bool      // wrap the transport in the 64-byte AES-256-CTR obfuscation
	// DC is the DC id written into the obfuscation header, as tdesktop and
	// tdlib always write it (the documentation says only proxies read it);
	// 0 writes zeros.
	DC int16
	// Fingerprints are the key fingerprints one of which the resPQ must
	// list; nil means ProductionFingerprints.
	Fingerprints []uint64
	// MaxFrame caps the answer's frame; 0 means DefaultMaxFrame.
	MaxFrame int
}

// Exchange is one req_pq_multi and the check of its answer. Make it with
// NewExchange, write Request to the connection, then call ReadAnswer once.
type Exchange struct {
	Nonce     [NonceLen]byte
	MessageID uint64

	cfg     Config
	request []byte
	frames  FrameReader
	dec     cipher.Stream // nil on a plain connection
}

// NewExchange draws the nonce (and the obfuscation header) from random and
// builds the request, stamped with now.
func NewExchange(cfg Config, random io.Reader, now time.Time) (*Exchange, error) {
	if cfg.Transport == "" {
		cfg.Transport = Intermediate
	}
	if _, ok := ParseTransport(string(cfg.Transport)); !ok {
		return nil, fmt.Errorf("mtproto: unknown transport %q", cfg.Transport)
	}
	if cfg.Fingerprints == nil {
		cfg.Fingerprints = ProductionFingerprints()
	}
	e := &Exchange{cfg: cfg, MessageID: MessageID(now)}
	e.frames = FrameReader{Transport: cfg.Transport, Max: cfg.MaxFrame}
	if _, err := io.ReadFull(random, e.Nonce[:]); err != nil {
		return nil, fmt.Errorf("mtproto: random bytes for the nonce: %w", err)
	}
	framer := Framer{Transport: cfg.Transport}
	frame := framer.Frame(ReqPQMulti(e.MessageID, e.Nonce))
	if !cfg.Obfuscated {
		e.request = append(cfg.Transport.tag(), frame...)
		return e, nil
	}
	tag, ok := cfg.Transport.obfuscatedTag()
	if !ok {
		return nil, fmt.Errorf("mtproto: the %s transport cannot be obfuscated", cfg.Transport)
	}
	header, enc, dec, err := newObfuscation(random, tag, cfg.DC)
	if err != nil {
		return nil, err
	}
	e.dec = dec
	e.request = make([]byte, len(header)+len(frame))
	copy(e.request, header)
	enc.XORKeyStream(e.request[len(header):], frame)
	return e, nil
}

// Transport is the framing the exchange speaks.
func (e *Exchange) Transport() Transport { return e.cfg.Transport }

// Request is the bytes to send: the transport's tag (or the obfuscation
// header) and the framed req_pq_multi.
func (e *Exchange) Request() []byte { return e.request }

// ReadAnswer reads one frame from r (through the obfuscation stream when
// there is one) and checks it: a *TransportError for a negative code, a
// *ProtocolError for anything that is not a resPQ answering our nonce, an
// *UntrustedError for a resPQ without an expected fingerprint. Errors of r
// itself (timeouts, io.EOF before any byte, io.ErrUnexpectedEOF inside the
// frame) come back as they are, for the caller to class.
func (e *Exchange) ReadAnswer(r io.Reader) (*ResPQ, error) {
	if e.dec != nil {
		r = cipher.StreamReader{S: e.dec, R: r}
	}
	payload, err := e.frames.ReadFrame(r)
	if err != nil {
		return nil, err
	}
	res, err := ParseResPQ(payload, e.Nonce)
	if err != nil {
		return nil, err
	}
	if err := CheckFingerprints(res, e.cfg.Fingerprints); err != nil {
		return res, err
	}
	return res, nil
}

// IsAnswerError reports whether err is the DC's answer judged (a protocol,
// trust or transport error), as opposed to an error of the connection.
func IsAnswerError(err error) bool {
	var (
		pe *ProtocolError
		ue *UntrustedError
		te *TransportError
	)
	return errors.As(err, &pe) || errors.As(err, &ue) || errors.As(err, &te)
}
