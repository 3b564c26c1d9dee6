// Package whatsapp is the client side of the start of WhatsApp's chat
// handshake, far enough to prove that a server holding a key WhatsApp
// signed answered: it builds the ClientHello (connection header, then a
// framed HandshakeMessage with a fresh X25519 ephemeral key), and from the
// server's ServerHello it decrypts the static key and the certificate chain
// and verifies that chain against WhatsApp's root key. It stops there: no
// ClientFinish is built, nothing is logged in.
//
// The handshake is Noise_XX_25519_AESGCM_SHA256 as whatsmeow and Baileys
// drive it (see SymmetricState for where it departs from a stock Noise
// library); the certificates carry libsignal Curve25519 signatures (see
// VerifySignature). The package does no I/O beyond ReadFrame and keeps
// every parser of the server's bytes a pure function with a size bound.
package whatsapp

import (
	"crypto/ecdh"
	"io"
	"time"
)

// Client is the initiator's state between its ClientHello and the server's
// ServerHello.
type Client struct {
	ephemeral *ecdh.PrivateKey
	state     *SymmetricState
	hello     []byte
}

// NewClient starts a handshake behind the connection header (HeaderWeb or
// HeaderMobile) with a fresh ephemeral key drawn from random.
func NewClient(header []byte, random io.Reader) (*Client, error) {
	eph, err := ecdh.X25519().GenerateKey(random)
	if err != nil {
		return nil, err
	}
	return newClient(header, eph)
}

// newClient is NewClient with the ephemeral key given, for fuzzing with a
// fixed key.
func newClient(header []byte, eph *ecdh.PrivateKey) (*Client, error) {
	pub := eph.PublicKey().Bytes()
	state := NewSymmetricState(header)
	// The textbook XX initiator would EncryptAndHash its empty payload
	// here, which with no key yet is MixHash(""); WhatsApp's clients skip
	// it, and so must we for the hashes to agree.
	state.MixHash(pub)

	msg := AppendClientHello(make([]byte, 0, 4+KeySize), pub)
	hello := append(make([]byte, 0, len(header)+FrameLengthSize+len(msg)), header...)
	hello, err := AppendFrame(hello, msg)
	if err != nil {
		return nil, err
	}
	return &Client{ephemeral: eph, state: state, hello: hello}, nil
}

// Hello is what the client sends first, in one write (over WebSocket, one
// binary message): the connection header, then the ClientHello frame.
func (c *Client) Hello() []byte { return c.hello }

// Result is what a verified ServerHello showed.
type Result struct {
	Static [KeySize]byte // the server's static key, decrypted
	Chain  *CertChain
}

// ReadServerHello processes the server's answer frame (without its length
// prefix) and verifies the certificate chain in it against root at now:
//
//	MixHash(re); MixKey(DH(e, re)); static = DecryptAndHash(s)
//	MixKey(DH(e, static)); chain = DecryptAndHash(payload); verify chain
//
// A ServerHello that does not parse, decrypt or decode is ErrMalformed; one
// whose chain does not verify is ErrUntrusted. The Client is used up.
func (c *Client) ReadServerHello(frame []byte, root [KeySize]byte, now time.Time) (*Result, error) {
	hello, err := ParseServerHello(frame)
	if err != nil {
		return nil, err
	}
	s := c.state
	s.MixHash(hello.Ephemeral)
	if err := c.mixDH(hello.Ephemeral, "ephemeral"); err != nil {
		return nil, err
	}
	static, err := s.DecryptAndHash(hello.Static)
	if err != nil {
		return nil, malformed("WhatsApp ServerHello static key does not decrypt")
	}
	if err := c.mixDH(static, "static"); err != nil {
		return nil, err
	}
	payload, err := s.DecryptAndHash(hello.Payload)
	if err != nil {
		return nil, malformed("WhatsApp ServerHello certificate payload does not decrypt")
	}
	chain, err := ParseCertChain(payload)
	if err != nil {
		return nil, err
	}
	if err := chain.Verify(root, static, now); err != nil {
		return nil, err
	}
	return &Result{Static: [KeySize]byte(static), Chain: chain}, nil
}

// mixDH mixes DH(e, remote) into the key. A remote key of low order makes
// the shared secret zero, which crypto/ecdh refuses: a server that sends one
// is not doing the handshake.
func (c *Client) mixDH(remote []byte, which string) error {
	pub, err := ecdh.X25519().NewPublicKey(remote)
	if err != nil {
		return malformed("WhatsApp ServerHello %s key is not an X25519 key", which)
	}
	secret, err := c.ephemeral.ECDH(pub)
	if err != nil {
		return malformed("WhatsApp ServerHello %s key is a low-order point", which)
	}
	if err := c.state.MixKey(secret); err != nil {
		return malformed("WhatsApp handshake key derivation failed: %v", err)
	}
	return nil
}
