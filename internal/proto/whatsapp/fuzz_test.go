package whatsapp_test

import (
	"crypto/ecdh"
	"errors"
	"testing"
	"time"

	"github.com/msgprobe/msgprobe/internal/proto/whatsapp"
	"github.com/msgprobe/msgprobe/internal/proto/whatsapp/watest"
)

// classed fails the fuzz run when err is not one of the package's kinds:
// every way a server's bytes can be wrong must come back as ErrMalformed or
// ErrUntrusted, so the prober can class it.
func classed(t *testing.T, err error) {
	if err != nil && !errors.Is(err, whatsapp.ErrMalformed) && !errors.Is(err, whatsapp.ErrUntrusted) {
		t.Fatalf("unclassed error %T: %v", err, err)
	}
}

// fuzzNow is inside the validity of every seed chain.
var fuzzNow = time.Now()

// FuzzServerHello feeds arbitrary frames to a client whose ephemeral key is
// fixed, so that the seeds (real ServerHellos answering that client) get
// through decryption and mutations explore every later step: a hostile
// server must never panic msgprobe, and every rejection is classed.
func FuzzServerHello(f *testing.F) {
	eph, err := ecdh.X25519().NewPrivateKey(make([]byte, 32))
	if err != nil {
		f.Fatal(err)
	}
	pki := watest.NewPKI(fuzzNow)
	root := pki.Root.Public
	seed := func(srv *watest.Server) {
		c, err := whatsapp.NewClientWithKey(whatsapp.HeaderWeb, eph)
		if err != nil {
			f.Fatal(err)
		}
		answer, err := srv.ServerHello(c.Hello()[len(whatsapp.HeaderWeb)+whatsapp.FrameLengthSize:])
		if err != nil {
			f.Fatal(err)
		}
		f.Add(answer[whatsapp.FrameLengthSize:])
	}
	seed(pki.Server())
	other := pki.Server()
	other.Static = watest.NewKey()
	seed(other)
	f.Add([]byte{})
	f.Add([]byte{0x1a, 0x00})
	f.Add([]byte("\x1a\x80\x80\x80\x80\x10"))

	f.Fuzz(func(t *testing.T, frame []byte) {
		c, err := whatsapp.NewClientWithKey(whatsapp.HeaderWeb, eph)
		if err != nil {
			t.Fatal(err)
		}
		res, err := c.ReadServerHello(frame, root, fuzzNow)
		classed(t, err)
		if err == nil && string(res.Chain.Leaf.Details.Key) != string(res.Static[:]) {
			t.Fatal("accepted a chain whose leaf is not the static key")
		}
	})
}

// FuzzCertChain parses and verifies arbitrary decrypted payloads.
func FuzzCertChain(f *testing.F) {
	pki := watest.NewPKI(fuzzNow)
	f.Add(pki.Chain())
	pki.LeafCert.NotAfter = fuzzNow.Add(-time.Hour)
	f.Add(pki.Chain())
	pki.LeafCert.IssuerSerial = 1
	f.Add(pki.Chain())
	f.Add([]byte{0x0a, 0x00, 0x12, 0x00})
	root, static := pki.Root.Public, pki.Leaf.Public

	f.Fuzz(func(t *testing.T, payload []byte) {
		chain, err := whatsapp.ParseCertChain(payload)
		classed(t, err)
		if err != nil {
			return
		}
		if len(chain.Leaf.Signature) != whatsapp.SignatureSize || len(chain.Intermediate.Details.Key) != whatsapp.KeySize {
			t.Fatal("parsed a chain with parts of the wrong size")
		}
		classed(t, chain.Verify(root, static[:], fuzzNow))
	})
}
