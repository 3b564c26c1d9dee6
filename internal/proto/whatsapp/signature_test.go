package whatsapp

import (
	"crypto/ecdh"
	"crypto/rand"
	"encoding/hex"
	"testing"
)

func unhex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// libsignal's own test vector (libsignal-protocol-c tests/test_curve25519.c,
// test_curve25519_signature; the same bytes are in libsignal-protocol-java's
// Curve25519Test): Alice's identity key signs her ephemeral public key in its
// serialized form (0x05 type byte first). The signature's top bit is set, so
// a verifier that ignores the sign bit in it rejects this one.
const (
	vectorPrivate   = "c097248412e58bf05df487968205132794178e367637f5818f81e0e6ce73e865"
	vectorPublic    = "ab7e717d4a163b7d9a1d8071dfe9dcf8cdcd1cea3339b6356be84d887e322c64"
	vectorMessage   = "05edce9d9c415ca78cb7252e72c2c4a554d3eb29485a0e1d503118d1a82d99fb4a"
	vectorSignature = "5de88ca9a89b4a115da79109c67c9c7464a3e4180274f1cb8c63c2984e286dfb" +
		"ede82deb9dcd9fae0bfbb821569b3d9001bd8130cd11d486cef047bd60b86e88"
)

func TestVerifySignatureLibsignalVector(t *testing.T) {
	pub := [32]byte(unhex(t, vectorPublic))
	msg := unhex(t, vectorMessage)
	sig := [64]byte(unhex(t, vectorSignature))
	if sig[63]&0x80 == 0 {
		t.Fatal("the vector was meant to carry sign bit 1")
	}
	if !VerifySignature(pub, msg, sig) {
		t.Fatal("libsignal's test signature does not verify")
	}
	// One bit off anywhere, including the sign bit, must fail.
	for _, flip := range []struct {
		name string
		do   func(*[32]byte, []byte, *[64]byte)
	}{
		{"message", func(_ *[32]byte, m []byte, _ *[64]byte) { m[5] ^= 1 }},
		{"R", func(_ *[32]byte, _ []byte, s *[64]byte) { s[0] ^= 1 }},
		{"S", func(_ *[32]byte, _ []byte, s *[64]byte) { s[40] ^= 1 }},
		{"sign bit", func(_ *[32]byte, _ []byte, s *[64]byte) { s[63] ^= 0x80 }},
		{"key", func(k *[32]byte, _ []byte, _ *[64]byte) { k[3] ^= 1 }},
	} {
		k, m, s := pub, append([]byte(nil), msg...), sig
		flip.do(&k, m, &s)
		if VerifySignature(k, m, s) {
			t.Errorf("a signature with the %s changed verifies", flip.name)
		}
	}
}

func TestPublicKeyMatchesX25519(t *testing.T) {
	priv := [32]byte(unhex(t, vectorPrivate))
	pub, err := PublicKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	if got := hex.EncodeToString(pub[:]); got != vectorPublic {
		t.Fatalf("PublicKey = %s, libsignal's vector says %s", got, vectorPublic)
	}
	for range 20 {
		k, err := ecdh.X25519().GenerateKey(rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		pub, err := PublicKey([32]byte(k.Bytes()))
		if err != nil {
			t.Fatal(err)
		}
		if want := k.PublicKey().Bytes(); string(pub[:]) != string(want) {
			t.Fatalf("PublicKey = %x, crypto/ecdh says %x", pub, want)
		}
	}
}

// Keys of both Edwards signs must sign and verify: the sign bit travels in
// the signature. Drawing 64 keys makes missing either sign vanishingly
// unlikely, and the test checks it saw both.
func TestSignVerifyBothSignBits(t *testing.T) {
	seen := map[byte]bool{}
	msg := []byte("details bytes")
	for range 64 {
		var priv [32]byte
		if _, err := rand.Read(priv[:]); err != nil {
			t.Fatal(err)
		}
		pub, err := PublicKey(priv)
		if err != nil {
			t.Fatal(err)
		}
		sig, err := Sign(priv, msg, rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		seen[sig[63]&0x80] = true
		if !VerifySignature(pub, msg, sig) {
			t.Fatalf("own signature does not verify (sign bit %d)", sig[63]>>7)
		}
		other, _ := PublicKey([32]byte(append(priv[1:], priv[0])))
		if VerifySignature(other, msg, sig) {
			t.Fatal("signature verifies under another key")
		}
	}
	if !seen[0] || !seen[0x80] {
		t.Fatalf("64 keys gave only sign bits %v", seen)
	}
}

func TestVerifySignatureRejectsUMinusOne(t *testing.T) {
	// u = p - 1 = -1 has no Edwards image.
	var u [32]byte
	copy(u[:], unhex(t, "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f"))
	if VerifySignature(u, []byte("x"), [64]byte{}) {
		t.Fatal("u = -1 verified")
	}
}
