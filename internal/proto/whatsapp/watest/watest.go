// Package watest plays the server side of WhatsApp's chat handshake for
// msgprobe's tests: a test certificate authority (root, intermediate and
// leaf, signed with libsignal Curve25519 signatures as WhatsApp's are) and a
// Noise XX responder that answers a ClientHello with a ServerHello carrying
// its static key and that chain. It follows the published protocol as
// whatsmeow's client expects it (handshake.go, socket/noisehandshake.go);
// nothing here talks to WhatsApp.
package watest

import (
	"bytes"
	"crypto/ecdh"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"time"

	"google.golang.org/protobuf/encoding/protowire"

	"github.com/msgprobe/msgprobe/internal/proto/whatsapp"
)

// Key is an X25519 key pair.
type Key struct {
	Private [32]byte
	Public  [32]byte
}

// NewKey draws a fresh key pair.
func NewKey() Key {
	var k Key
	if _, err := rand.Read(k.Private[:]); err != nil {
		panic(err) // crypto/rand does not fail on the systems Go supports
	}
	pub, err := whatsapp.PublicKey(k.Private)
	if err != nil {
		panic(err)
	}
	k.Public = pub
	return k
}

// Cert is what a test certificate says; its key is the key pair's public
// half.
type Cert struct {
	Serial       uint32
	IssuerSerial uint32
	NotBefore    time.Time
	NotAfter     time.Time
}

// PKI is a test WhatsApp certificate authority. The fields are meant to be
// changed to build the broken chains a test needs (a leaf expired, a serial
// that does not chain, another signer); Chain signs what they say.
type PKI struct {
	Root             Key // signs the intermediate
	Intermediate     Key // signs the leaf
	Leaf             Key // the key the leaf certifies: the server's static key
	IntermediateCert Cert
	LeafCert         Cert
}

// NewPKI makes a chain valid from an hour before now to thirty days after,
// with serials that chain as WhatsApp's do (the root is serial 0).
func NewPKI(now time.Time) *PKI {
	from, to := now.Add(-time.Hour).Truncate(time.Second), now.Add(30*24*time.Hour).Truncate(time.Second)
	return &PKI{
		Root:             NewKey(),
		Intermediate:     NewKey(),
		Leaf:             NewKey(),
		IntermediateCert: Cert{Serial: 4711, IssuerSerial: whatsapp.RootIssuerSerial, NotBefore: from, NotAfter: to},
		LeafCert:         Cert{Serial: 815, IssuerSerial: 4711, NotBefore: from, NotAfter: to},
	}
}

// Chain is the serialized CertChain{leaf, intermediate}: the intermediate
// signed by Root, the leaf by Intermediate.
func (p *PKI) Chain() []byte {
	intermDetails, intermSig := signedDetails(p.IntermediateCert, p.Intermediate.Public, p.Root)
	leafDetails, leafSig := signedDetails(p.LeafCert, p.Leaf.Public, p.Intermediate)
	return EncodeChain(leafDetails, leafSig, intermDetails, intermSig)
}

// EncodeChain serializes CertChain{leaf = 1, intermediate = 2}, each a
// NoiseCertificate{details = 1, signature = 2}, from their parts as given.
func EncodeChain(leafDetails, leafSig, intermDetails, intermSig []byte) []byte {
	var b []byte
	b = protowire.AppendTag(b, 1, protowire.BytesType)
	b = protowire.AppendBytes(b, certificate(leafDetails, leafSig))
	b = protowire.AppendTag(b, 2, protowire.BytesType)
	return protowire.AppendBytes(b, certificate(intermDetails, intermSig))
}

func certificate(details, sig []byte) []byte {
	var b []byte
	b = protowire.AppendTag(b, 1, protowire.BytesType)
	b = protowire.AppendBytes(b, details)
	b = protowire.AppendTag(b, 2, protowire.BytesType)
	return protowire.AppendBytes(b, sig)
}

// Server is the responder with this PKI's leaf as its static key and its
// chain as the payload, expecting clients of the web header.
func (p *PKI) Server() *Server {
	return &Server{Header: whatsapp.HeaderWeb, Static: p.Leaf, Chain: p.Chain()}
}

// signedDetails serializes Details{serial = 1, issuerSerial = 2, key = 3,
// notBefore = 4, notAfter = 5} and signs them with signer.
func signedDetails(c Cert, key [32]byte, signer Key) (details, sig []byte) {
	details = protowire.AppendTag(details, 1, protowire.VarintType)
	details = protowire.AppendVarint(details, uint64(c.Serial))
	details = protowire.AppendTag(details, 2, protowire.VarintType)
	details = protowire.AppendVarint(details, uint64(c.IssuerSerial))
	details = protowire.AppendTag(details, 3, protowire.BytesType)
	details = protowire.AppendBytes(details, key[:])
	details = protowire.AppendTag(details, 4, protowire.VarintType)
	details = protowire.AppendVarint(details, uint64(c.NotBefore.Unix()))
	details = protowire.AppendTag(details, 5, protowire.VarintType)
	details = protowire.AppendVarint(details, uint64(c.NotAfter.Unix()))
	signature, err := whatsapp.Sign(signer.Private, details, rand.Reader)
	if err != nil {
		panic(err)
	}
	return details, signature[:]
}

// Server is a Noise XX responder of WhatsApp's variant.
type Server struct {
	Header []byte // the connection header a client must send
	Static Key    // the key the ServerHello proves
	Chain  []byte // the ServerHello's payload, encrypted as sent
	// Prologue, when set, is mixed into the handshake instead of Header:
	// a server whose transcript differs from the client's from the start.
	Prologue []byte
}

// ErrHeader is a client that sent another connection header.
var ErrHeader = errors.New("watest: client sent another connection header")

// ReadClientHello reads the connection header and the ClientHello frame
// from r and returns the frame.
func (s *Server) ReadClientHello(r io.Reader) ([]byte, error) {
	header := make([]byte, len(s.Header))
	if _, err := io.ReadFull(r, header); err != nil {
		return nil, err
	}
	if !bytes.Equal(header, s.Header) {
		return nil, fmt.Errorf("%w: % x", ErrHeader, header)
	}
	return whatsapp.ReadFrame(r, whatsapp.MaxFrame)
}

// ServerHello answers a ClientHello frame (without its length prefix) with
// the framed ServerHello:
//
//	MixHash(prologue); MixHash(e); MixHash(e'); MixKey(DH(e', e))
//	s' = EncryptAndHash(static); MixKey(DH(static, e))
//	payload = EncryptAndHash(chain)
func (s *Server) ServerHello(clientHello []byte) ([]byte, error) {
	clientEph, err := parseClientHello(clientHello)
	if err != nil {
		return nil, err
	}
	remote, err := ecdh.X25519().NewPublicKey(clientEph)
	if err != nil {
		return nil, err
	}
	eph, err := ecdh.X25519().GenerateKey(rand.Reader)
	if err != nil {
		return nil, err
	}
	static, err := ecdh.X25519().NewPrivateKey(s.Static.Private[:])
	if err != nil {
		return nil, err
	}
	prologue := s.Header
	if s.Prologue != nil {
		prologue = s.Prologue
	}
	st := whatsapp.NewSymmetricState(prologue)
	st.MixHash(clientEph)
	st.MixHash(eph.PublicKey().Bytes())
	if err := mixDH(st, eph, remote); err != nil {
		return nil, err
	}
	encStatic, err := st.EncryptAndHash(s.Static.Public[:])
	if err != nil {
		return nil, err
	}
	if err := mixDH(st, static, remote); err != nil {
		return nil, err
	}
	payload, err := st.EncryptAndHash(s.Chain)
	if err != nil {
		return nil, err
	}
	var hello []byte
	hello = protowire.AppendTag(hello, 1, protowire.BytesType)
	hello = protowire.AppendBytes(hello, eph.PublicKey().Bytes())
	hello = protowire.AppendTag(hello, 2, protowire.BytesType)
	hello = protowire.AppendBytes(hello, encStatic)
	hello = protowire.AppendTag(hello, 3, protowire.BytesType)
	hello = protowire.AppendBytes(hello, payload)
	var msg []byte
	msg = protowire.AppendTag(msg, 3, protowire.BytesType)
	msg = protowire.AppendBytes(msg, hello)
	return whatsapp.AppendFrame(nil, msg)
}

func mixDH(st *whatsapp.SymmetricState, priv *ecdh.PrivateKey, pub *ecdh.PublicKey) error {
	secret, err := priv.ECDH(pub)
	if err != nil {
		return err
	}
	return st.MixKey(secret)
}

// parseClientHello finds clientHello(2).ephemeral(1) in a HandshakeMessage.
func parseClientHello(b []byte) ([]byte, error) {
	hello, err := field(b, 2)
	if err != nil {
		return nil, err
	}
	eph, err := field(hello, 1)
	if err != nil {
		return nil, err
	}
	if len(eph) != whatsapp.KeySize {
		return nil, fmt.Errorf("watest: ClientHello ephemeral of %d bytes", len(eph))
	}
	return eph, nil
}

// field is the last length-delimited field num of message b.
func field(b []byte, num protowire.Number) ([]byte, error) {
	var found []byte
	for len(b) > 0 {
		n, typ, l := protowire.ConsumeTag(b)
		if l < 0 {
			return nil, protowire.ParseError(l)
		}
		b = b[l:]
		if n == num && typ == protowire.BytesType {
			v, l := protowire.ConsumeBytes(b)
			if l < 0 {
				return nil, protowire.ParseError(l)
			}
			found = v
			b = b[l:]
			continue
		}
		l = protowire.ConsumeFieldValue(n, typ, b)
		if l < 0 {
			return nil, protowire.ParseError(l)
		}
		b = b[l:]
	}
	if found == nil {
		return nil, fmt.Errorf("watest: no field %d", num)
	}
	return found, nil
}

// Respond reads a client's header and ClientHello from rw and writes the
// ServerHello, as one write. It returns the ServerHello written.
func (s *Server) Respond(rw io.ReadWriter) ([]byte, error) {
	hello, err := s.ReadClientHello(rw)
	if err != nil {
		return nil, err
	}
	answer, err := s.ServerHello(hello)
	if err != nil {
		return nil, err
	}
	_, err = rw.Write(answer)
	return answer, err
}
