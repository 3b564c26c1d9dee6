package whatsapp_test

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"runtime"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/encoding/protowire"

	"github.com/msgprobe/msgprobe/internal/proto/whatsapp"
	"github.com/msgprobe/msgprobe/internal/proto/whatsapp/watest"
)

// The first WebSocket message of a web client, byte for byte as
// protocols.md §2(b) gives it from whatsmeow: header, 3-byte length 0x24,
// HandshakeMessage{clientHello(2){ephemeral(1) = 32 bytes}}.
func TestClientHelloBytes(t *testing.T) {
	for _, header := range [][]byte{whatsapp.HeaderWeb, whatsapp.HeaderMobile} {
		c, err := whatsapp.NewClient(header, rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		hello := c.Hello()
		want := append(append([]byte{}, header...), 0x00, 0x00, 0x24, 0x12, 0x22, 0x0a, 0x20)
		if len(hello) != 43 || !bytes.Equal(hello[:11], want) {
			t.Fatalf("hello = % x, want % x and 32 key bytes", hello, want)
		}
	}
}

// hkdf2 is Noise's HKDF (spec §4.3) written from its definition, to check
// that MixKey's use of crypto/hkdf (ck as salt, no info) is that function.
func hkdf2(ck, ikm []byte) (out1, out2 []byte) {
	mac := func(k []byte, parts ...[]byte) []byte {
		m := hmac.New(sha256.New, k)
		for _, p := range parts {
			m.Write(p)
		}
		return m.Sum(nil)
	}
	temp := mac(ck, ikm)
	out1 = mac(temp, []byte{1})
	return out1, mac(temp, out1, []byte{2})
}

func TestSymmetricStateIsNoise(t *testing.T) {
	prologue := whatsapp.HeaderWeb
	s := whatsapp.NewSymmetricState(prologue)
	want := sha256.Sum256(append([]byte(whatsapp.ProtocolName), prologue...))
	if s.Hash() != want {
		t.Fatalf("h after the prologue = %x, want SHA-256(name || prologue) = %x", s.Hash(), want)
	}
	ikm := []byte("a shared secret of thirty-two b.")
	if err := s.MixKey(ikm); err != nil {
		t.Fatal(err)
	}
	// The cipher key is HKDF's second output; check it by opening what a
	// cipher keyed with it seals, nonce 0, with h as associated data.
	_, key := hkdf2([]byte(whatsapp.ProtocolName), ikm)
	ct, err := s.EncryptAndHash([]byte("static"))
	if err != nil {
		t.Fatal(err)
	}
	opened, err := openGCM(key, 0, ct, want[:])
	if err != nil || string(opened) != "static" {
		t.Fatalf("ciphertext does not open under Noise's HKDF output 2 with nonce 0 and h: %v", err)
	}
	if next := sha256.Sum256(append(want[:], ct...)); s.Hash() != next {
		t.Fatal("EncryptAndHash did not mix the ciphertext into h")
	}
	// The next message uses nonce 1: 8 zero bytes, then 00 00 00 01.
	h := s.Hash()
	ct2, _ := s.EncryptAndHash([]byte("payload"))
	if _, err := openGCM(key, 1, ct2, h[:]); err != nil {
		t.Fatalf("second ciphertext does not open with nonce 1: %v", err)
	}
}

// handshake runs the client against srv over a pipe, as the prober does
// over a connection, and returns the client's verdict.
func handshake(t *testing.T, header []byte, srv *watest.Server, root [32]byte, now time.Time) (*whatsapp.Result, error) {
	t.Helper()
	client, server := net.Pipe()
	defer client.Close()
	served := make(chan error, 1)
	go func() {
		defer server.Close()
		_, err := srv.Respond(server)
		served <- err
	}()
	_ = client.SetDeadline(time.Now().Add(10 * time.Second))
	c, err := whatsapp.NewClient(header, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := client.Write(c.Hello()); err != nil {
		t.Fatalf("write hello: %v", err)
	}
	frame, err := whatsapp.ReadFrame(client, whatsapp.MaxFrame)
	if err != nil {
		t.Fatalf("read ServerHello: %v (server: %v)", err, <-served)
	}
	if err := <-served; err != nil {
		t.Fatalf("server: %v", err)
	}
	return c.ReadServerHello(frame, root, now)
}

func TestHandshakeRoundTrip(t *testing.T) {
	now := time.Now()
	for _, header := range [][]byte{whatsapp.HeaderWeb, whatsapp.HeaderMobile} {
		pki := watest.NewPKI(now)
		srv := pki.Server()
		srv.Header = header
		res, err := handshake(t, header, srv, pki.Root.Public, now)
		if err != nil {
			t.Fatalf("header % x: %v", header, err)
		}
		if res.Static != pki.Leaf.Public {
			t.Errorf("static = %x, want the leaf's %x", res.Static, pki.Leaf.Public)
		}
		leaf, interm := res.Chain.Leaf.Details, res.Chain.Intermediate.Details
		if interm.Serial != 4711 || interm.IssuerSerial != 0 || leaf.Serial != 815 || leaf.IssuerSerial != 4711 {
			t.Errorf("serials: intermediate %d from %d, leaf %d from %d", interm.Serial, interm.IssuerSerial, leaf.Serial, leaf.IssuerSerial)
		}
		if !leaf.NotAfter.Equal(pki.LeafCert.NotAfter) || !interm.NotBefore.Equal(pki.IntermediateCert.NotBefore) {
			t.Errorf("validity: leaf until %v, intermediate from %v", leaf.NotAfter, interm.NotBefore)
		}
	}
}

func TestHandshakeRejects(t *testing.T) {
	now := time.Now()
	for _, tc := range []struct {
		name   string
		break_ func(p *watest.PKI, s *watest.Server, root *[32]byte)
		kind   error
		msg    string
	}{
		{"chain signed by another root", func(p *watest.PKI, s *watest.Server, root *[32]byte) {
			*root = watest.NewKey().Public
		}, whatsapp.ErrUntrusted, "certificate chain not signed by the root key"},
		{"chain against WhatsApp's root", func(p *watest.PKI, s *watest.Server, root *[32]byte) {
			*root = whatsapp.RootKey
		}, whatsapp.ErrUntrusted, "not signed by WhatsApp's root key"},
		{"leaf signed by another intermediate", func(p *watest.PKI, s *watest.Server, root *[32]byte) {
			other := watest.NewPKI(now)
			other.Root, other.Leaf, other.LeafCert = p.Root, p.Leaf, p.LeafCert
			s.Chain = spliceIntermediate(t, other.Chain(), p.Chain())
		}, whatsapp.ErrUntrusted, "leaf certificate not signed by the intermediate's key"},
		{"expired leaf", func(p *watest.PKI, s *watest.Server, root *[32]byte) {
			p.LeafCert.NotBefore = time.Date(2024, 1, 2, 0, 0, 0, 0, time.UTC)
			p.LeafCert.NotAfter = time.Date(2025, 3, 4, 0, 0, 0, 0, time.UTC)
			s.Chain = p.Chain()
		}, whatsapp.ErrUntrusted, "WhatsApp leaf certificate expired on 2025-03-04 (valid 2024-01-02 to 2025-03-04)"},
		{"intermediate not yet valid", func(p *watest.PKI, s *watest.Server, root *[32]byte) {
			p.IntermediateCert.NotBefore = now.Add(48 * time.Hour)
			s.Chain = p.Chain()
		}, whatsapp.ErrUntrusted, "WhatsApp intermediate certificate not valid before"},
		{"leaf key is not the static key", func(p *watest.PKI, s *watest.Server, root *[32]byte) {
			s.Static = watest.NewKey()
		}, whatsapp.ErrUntrusted, "leaf certificate is for another key than the server's static key"},
		{"leaf issuer serial is not the intermediate's", func(p *watest.PKI, s *watest.Server, root *[32]byte) {
			p.LeafCert.IssuerSerial = 99
			s.Chain = p.Chain()
		}, whatsapp.ErrUntrusted, "leaf certificate issued by serial 99, not the intermediate's 4711"},
		{"intermediate not issued by serial 0", func(p *watest.PKI, s *watest.Server, root *[32]byte) {
			p.IntermediateCert.IssuerSerial = 1
			s.Chain = p.Chain()
		}, whatsapp.ErrUntrusted, "intermediate certificate issued by serial 1, not the root's 0"},
		{"server hashes another prologue", func(p *watest.PKI, s *watest.Server, root *[32]byte) {
			// The server takes the mobile header the client sends but
			// mixes the web one: the transcripts differ from the start.
			s.Prologue = whatsapp.HeaderWeb
		}, whatsapp.ErrMalformed, "static key does not decrypt"},
		{"payload is not a chain", func(p *watest.PKI, s *watest.Server, root *[32]byte) {
			s.Chain = []byte("not protobuf at all")
		}, whatsapp.ErrMalformed, "certificate chain"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pki := watest.NewPKI(now)
			srv := pki.Server()
			root := pki.Root.Public
			header := whatsapp.HeaderWeb
			tc.break_(pki, srv, &root)
			if srv.Prologue != nil {
				header = whatsapp.HeaderMobile
				srv.Header = header
			}
			_, err := handshake(t, header, srv, root, now)
			if !errors.Is(err, tc.kind) {
				t.Fatalf("err = %v, want %v", err, tc.kind)
			}
			if !strings.Contains(err.Error(), tc.msg) {
				t.Fatalf("err = %q, want it to say %q", err, tc.msg)
			}
		})
	}
}

// spliceIntermediate takes the leaf of one chain and the intermediate of
// another.
func spliceIntermediate(t *testing.T, leafFrom, intermFrom []byte) []byte {
	t.Helper()
	a, err := whatsapp.ParseCertChain(leafFrom)
	if err != nil {
		t.Fatal(err)
	}
	b, err := whatsapp.ParseCertChain(intermFrom)
	if err != nil {
		t.Fatal(err)
	}
	return watest.EncodeChain(a.Leaf.Raw, a.Leaf.Signature, b.Intermediate.Raw, b.Intermediate.Signature)
}

func TestParseServerHelloRejects(t *testing.T) {
	key := bytes.Repeat([]byte{9}, 32)
	hello := func(parts ...[]byte) []byte { return field(3, bytes.Join(parts, nil)) }
	for _, tc := range []struct {
		name  string
		frame []byte
		msg   string
	}{
		{"garbage", []byte("HTTP/1.1 400 Bad Request\r\n"), "not valid protobuf"},
		{"a ClientHello echoed", field(2, field(1, key)), "answered with a ClientHello"},
		{"empty message", []byte{0x08, 0x01}, "holds no ServerHello"},
		{"short ephemeral", hello(field(1, key[:31]), field(2, make([]byte, 48)), field(3, make([]byte, 40))), "ephemeral key of 31 bytes"},
		{"static without tag", hello(field(1, key), field(2, key), field(3, make([]byte, 40))), "encrypted static key of 32 bytes"},
		{"no payload", hello(field(1, key), field(2, make([]byte, 48))), "without a certificate payload"},
		{"truncated", hello(field(1, key))[:20], "truncated"},
		{"varint ServerHello", []byte{0x18, 0x01}, "wrong wire type"},
		{"group", []byte{0x1b}, "group field"},
	} {
		_, err := whatsapp.ParseServerHello(tc.frame)
		if !errors.Is(err, whatsapp.ErrMalformed) || !strings.Contains(err.Error(), tc.msg) {
			t.Errorf("%s: err = %v, want ErrMalformed saying %q", tc.name, err, tc.msg)
		}
	}
	// Unknown fields (the post-quantum ones) are skipped.
	ok := hello(field(1, key), field(2, make([]byte, 48)), field(3, make([]byte, 40)), field(5, []byte("padding")))
	if _, err := whatsapp.ParseServerHello(ok); err != nil {
		t.Errorf("a ServerHello with paddingBytes: %v", err)
	}
}

func TestServerHelloLowOrderEphemeral(t *testing.T) {
	c, err := whatsapp.NewClient(whatsapp.HeaderWeb, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	zero := make([]byte, 32) // u = 0 is of low order
	frame := field(3, bytes.Join([][]byte{field(1, zero), field(2, make([]byte, 48)), field(3, make([]byte, 40))}, nil))
	_, err = c.ReadServerHello(frame, whatsapp.RootKey, time.Now())
	if !errors.Is(err, whatsapp.ErrMalformed) || !strings.Contains(err.Error(), "low-order") {
		t.Fatalf("err = %v, want a low-order point refused", err)
	}
}

func TestReadFrame(t *testing.T) {
	got, err := whatsapp.ReadFrame(bytes.NewReader([]byte{0, 0, 3, 'a', 'b', 'c', 'd'}), 10)
	if err != nil || string(got) != "abc" {
		t.Fatalf("ReadFrame = %q, %v", got, err)
	}
	if _, err := whatsapp.ReadFrame(bytes.NewReader([]byte{0, 0, 3, 'a'}), 10); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("cut frame: err = %v, want io.ErrUnexpectedEOF", err)
	}
	if _, err := whatsapp.ReadFrame(bytes.NewReader([]byte{0, 0}), 10); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("cut prefix: err = %v, want io.ErrUnexpectedEOF", err)
	}
	if _, err := whatsapp.ReadFrame(bytes.NewReader(nil), 10); err != io.EOF {
		t.Fatalf("nothing: err = %v, want io.EOF", err)
	}
	if _, err := whatsapp.ReadFrame(bytes.NewReader([]byte{0, 0, 0}), 10); !errors.Is(err, whatsapp.ErrMalformed) {
		t.Fatalf("empty frame: err = %v, want ErrMalformed", err)
	}
}

// A 16 MiB length prefix is refused from the prefix: the reader behind it
// would hand out 16 MiB of zeros, and none of them may be read or
// allocated.
func TestReadFrameHugePrefixAllocatesNothing(t *testing.T) {
	src := io.MultiReader(bytes.NewReader([]byte{0xff, 0xff, 0xff}), zeros{})
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	_, err := whatsapp.ReadFrame(src, whatsapp.MaxFrame)
	runtime.ReadMemStats(&after)
	if !errors.Is(err, whatsapp.ErrMalformed) || !strings.Contains(err.Error(), "frame of 16777215 bytes, over the 65536-byte limit") {
		t.Fatalf("err = %v", err)
	}
	if grew := after.TotalAlloc - before.TotalAlloc; grew > 64<<10 {
		t.Fatalf("refusing a huge frame allocated %d bytes", grew)
	}
}

// field is one length-delimited protobuf field.
func field(num protowire.Number, v []byte) []byte {
	return protowire.AppendBytes(protowire.AppendTag(nil, num, protowire.BytesType), v)
}

type zeros struct{}

func (zeros) Read(b []byte) (int, error) { clear(b); return len(b), nil }

// openGCM opens ct with AES-256-GCM under key, WhatsApp's nonce for counter
// n (8 zero bytes, then n big-endian), and associated data ad.
func openGCM(key []byte, n uint32, ct, ad []byte) ([]byte, error) {
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	gcm, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	nonce := make([]byte, 12)
	binary.BigEndian.PutUint32(nonce[8:], n)
	return gcm.Open(nil, nonce, ct, ad)
}
