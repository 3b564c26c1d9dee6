package whatsapp

import (
	"crypto/subtle"
	"encoding/hex"
	"math"
	"time"

	"google.golang.org/protobuf/encoding/protowire"
)

// RootKey is WhatsApp's published certificate root, the X25519 public key
// whose signature the intermediate certificate of every genuine chat
// server carries (whatsmeow handshake.go WACertPubKey).
var RootKey = [KeySize]byte{
	0x14, 0x23, 0x75, 0x57, 0x4d, 0x0a, 0x58, 0x71, 0x66, 0xaa, 0xe7, 0x1e, 0xbe, 0x51, 0x64, 0x37,
	0xc4, 0xa2, 0x8b, 0x73, 0xe3, 0x69, 0x5c, 0x6c, 0xe1, 0xf7, 0xf9, 0x54, 0x5d, 0xa8, 0xee, 0x6b,
}

// RootIssuerSerial is the issuer serial an intermediate signed by the root
// carries (whatsmeow WACertIssuerSerial).
const RootIssuerSerial = 0

// Field numbers of CertChain and its parts (whatsmeow
// proto/waCert/WACert.proto). The leaf comes first.
const (
	fieldLeaf         = 1 // CertChain.leaf
	fieldIntermediate = 2 // CertChain.intermediate

	fieldDetails   = 1 // NoiseCertificate.details (serialized Details)
	fieldSignature = 2 // NoiseCertificate.signature

	fieldSerial       = 1 // Details.serial (uint32)
	fieldIssuerSerial = 2 // Details.issuerSerial (uint32)
	fieldKey          = 3 // Details.key
	fieldNotBefore    = 4 // Details.notBefore (uint64 Unix seconds)
	fieldNotAfter     = 5 // Details.notAfter (uint64 Unix seconds)
)

// SignatureSize is the size of a libsignal Curve25519 signature.
const SignatureSize = 64

// Details are what a Noise certificate certifies: a key, its serial, the
// serial of the certificate that signed it, and the validity window.
type Details struct {
	Serial       uint32
	IssuerSerial uint32
	Key          []byte
	NotBefore    time.Time
	NotAfter     time.Time
}

// Certificate is one certificate of the chain: the serialized details, as
// signed, their decoding, and the signature.
type Certificate struct {
	Raw       []byte // the details bytes the signature covers
	Details   Details
	Signature []byte
}

// CertChain is the ServerHello's decrypted payload.
type CertChain struct {
	Leaf         Certificate
	Intermediate Certificate
}

// ParseCertChain decodes a CertChain{leaf, intermediate}. Missing parts,
// signatures or keys of the wrong size, and invalid protobuf are
// ErrMalformed; nothing is verified here.
func ParseCertChain(b []byte) (*CertChain, error) {
	var (
		chain                  CertChain
		haveLeaf, haveInterm   bool
		leafBytes, intermBytes []byte
	)
	err := walk(b, "certificate chain", func(f pbField) error {
		var dst *[]byte
		switch f.Num {
		case fieldLeaf:
			dst, haveLeaf = &leafBytes, true
		case fieldIntermediate:
			dst, haveInterm = &intermBytes, true
		default:
			return nil
		}
		if f.Type != protowire.BytesType {
			return malformed("WhatsApp certificate chain field %d of the wrong wire type", f.Num)
		}
		*dst = f.Bytes
		return nil
	})
	if err != nil {
		return nil, err
	}
	switch {
	case !haveLeaf:
		return nil, malformed("WhatsApp certificate chain lacks its leaf certificate")
	case !haveInterm:
		return nil, malformed("WhatsApp certificate chain lacks its intermediate certificate")
	}
	if chain.Leaf, err = parseCertificate(leafBytes, "leaf"); err != nil {
		return nil, err
	}
	if chain.Intermediate, err = parseCertificate(intermBytes, "intermediate"); err != nil {
		return nil, err
	}
	return &chain, nil
}

func parseCertificate(b []byte, which string) (Certificate, error) {
	var c Certificate
	var haveDetails bool
	err := walk(b, which+" certificate", func(f pbField) error {
		var dst *[]byte
		switch f.Num {
		case fieldDetails:
			dst, haveDetails = &c.Raw, true
		case fieldSignature:
			dst = &c.Signature
		default:
			return nil
		}
		if f.Type != protowire.BytesType {
			return malformed("WhatsApp %s certificate field %d of the wrong wire type", which, f.Num)
		}
		*dst = f.Bytes
		return nil
	})
	if err != nil {
		return c, err
	}
	if !haveDetails {
		return c, malformed("WhatsApp %s certificate has no details", which)
	}
	if len(c.Signature) != SignatureSize {
		return c, malformed("WhatsApp %s certificate signature of %d bytes, not %d", which, len(c.Signature), SignatureSize)
	}
	c.Details, err = parseDetails(c.Raw, which)
	return c, err
}

func parseDetails(b []byte, which string) (Details, error) {
	var d Details
	err := walk(b, which+" certificate details", func(f pbField) error {
		want := protowire.VarintType
		if f.Num == fieldKey {
			want = protowire.BytesType
		}
		switch f.Num {
		case fieldSerial, fieldIssuerSerial, fieldKey, fieldNotBefore, fieldNotAfter:
			if f.Type != want {
				return malformed("WhatsApp %s certificate detail %d of the wrong wire type", which, f.Num)
			}
		}
		switch f.Num {
		case fieldSerial:
			d.Serial = uint32(f.Varint) // proto2 uint32: the low 32 bits
		case fieldIssuerSerial:
			d.IssuerSerial = uint32(f.Varint)
		case fieldKey:
			d.Key = f.Bytes
		case fieldNotBefore:
			d.NotBefore = unixTime(f.Varint)
		case fieldNotAfter:
			d.NotAfter = unixTime(f.Varint)
		}
		return nil
	})
	if err != nil {
		return d, err
	}
	if len(d.Key) != KeySize {
		return d, malformed("WhatsApp %s certificate key of %d bytes, not %d", which, len(d.Key), KeySize)
	}
	return d, nil
}

// unixTime reads a uint64 of Unix seconds; whatsmeow converts it to int64,
// and a value past that range is clamped rather than wrapped into the past.
func unixTime(s uint64) time.Time {
	if s > math.MaxInt64/2 {
		s = math.MaxInt64 / 2
	}
	return time.Unix(int64(s), 0).UTC()
}

// Verify checks the chain as WhatsApp's clients do (whatsmeow
// verifyServerCert): the intermediate is signed by root over its details
// bytes and names the root's serial as its issuer; the leaf is signed by the
// intermediate's key and names the intermediate's serial; the leaf's key is
// the static key the server proved it holds in the handshake; both are
// valid at now. Any failure is ErrUntrusted, with a reason.
func (c *CertChain) Verify(root [KeySize]byte, static []byte, now time.Time) error {
	interm, leaf := &c.Intermediate, &c.Leaf
	if !VerifySignature(root, interm.Raw, [SignatureSize]byte(interm.Signature)) {
		if root == RootKey {
			return untrusted("WhatsApp certificate chain not signed by WhatsApp's root key")
		}
		return untrusted("WhatsApp certificate chain not signed by the root key %s…", hex.EncodeToString(root[:4]))
	}
	if interm.Details.IssuerSerial != RootIssuerSerial {
		return untrusted("WhatsApp intermediate certificate issued by serial %d, not the root's %d",
			interm.Details.IssuerSerial, RootIssuerSerial)
	}
	if !VerifySignature([KeySize]byte(interm.Details.Key), leaf.Raw, [SignatureSize]byte(leaf.Signature)) {
		return untrusted("WhatsApp leaf certificate not signed by the intermediate's key")
	}
	if leaf.Details.IssuerSerial != interm.Details.Serial {
		return untrusted("WhatsApp leaf certificate issued by serial %d, not the intermediate's %d",
			leaf.Details.IssuerSerial, interm.Details.Serial)
	}
	if subtle.ConstantTimeCompare(leaf.Details.Key, static) != 1 {
		return untrusted("WhatsApp leaf certificate is for another key than the server's static key")
	}
	if err := checkValidity("intermediate", &interm.Details, now); err != nil {
		return err
	}
	return checkValidity("leaf", &leaf.Details, now)
}

func checkValidity(which string, d *Details, now time.Time) error {
	if now.Before(d.NotBefore) || now.After(d.NotAfter) {
		return &ValidityError{Cert: which, NotBefore: d.NotBefore, NotAfter: d.NotAfter, Now: now}
	}
	return nil
}
