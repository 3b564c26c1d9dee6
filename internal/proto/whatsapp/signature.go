package whatsapp

import (
	"crypto/ed25519"
	"crypto/sha512"
	"errors"
	"io"

	"filippo.io/edwards25519"
	"filippo.io/edwards25519/field"
)

// WhatsApp signs its Noise certificates with libsignal's "Curve25519
// signatures": the signer holds an X25519 key pair, signs with the matching
// Edwards scalar as Ed25519 does, and, because a Montgomery u coordinate
// loses the sign of the Edwards x coordinate, carries that sign in the top
// bit of the signature's S half (always zero in a valid Ed25519 S, which is
// below the group order). The verifier maps u to the Edwards y coordinate,
// takes the sign bit from the signature, clears it there, and checks an
// ordinary Ed25519 signature. libsignal's curve25519_verify and its Go port's
// ecc.VerifySignature, which whatsmeow calls on the chain, work this way; a
// strict XEdDSA verifier that fixes the sign bit to 0 rejects about half of
// all valid keys.

// VerifySignature reports whether sig is a valid libsignal Curve25519
// signature of msg under the X25519 public key pub.
func VerifySignature(pub [32]byte, msg []byte, sig [64]byte) bool {
	edPub, ok := edwardsFromMontgomery(pub, sig[63]&0x80)
	if !ok {
		return false
	}
	sig[63] &= 0x7f
	return ed25519.Verify(edPub, msg, sig[:])
}

// edwardsFromMontgomery is the Ed25519 public key encoding of the point
// whose Montgomery u coordinate is pub and whose x has the given sign bit:
// y = (u - 1) / (u + 1). The top bit of pub is ignored, as RFC 7748 says.
func edwardsFromMontgomery(pub [32]byte, signBit byte) (ed25519.PublicKey, bool) {
	u, err := new(field.Element).SetBytes(pub[:])
	if err != nil {
		return nil, false
	}
	one := new(field.Element).One()
	num := new(field.Element).Subtract(u, one)
	den := new(field.Element).Add(u, one)
	// u = -1 has no Edwards image; Invert(0) is 0, which makes y = 0, a
	// point whose signature cannot verify. Saying no at once is clearer.
	if den.Equal(new(field.Element)) == 1 {
		return nil, false
	}
	y := new(field.Element).Multiply(num, den.Invert(den))
	b := y.Bytes()
	b[31] |= signBit
	return ed25519.PublicKey(b), true
}

// PublicKey is the X25519 public key of the private key priv, as
// X25519(priv, 9) computes it.
func PublicKey(priv [32]byte) ([32]byte, error) {
	s, err := edwards25519.NewScalar().SetBytesWithClamping(priv[:])
	if err != nil {
		return [32]byte{}, err
	}
	var pub [32]byte
	copy(pub[:], new(edwards25519.Point).ScalarBaseMult(s).BytesMontgomery())
	return pub, nil
}

// Sign makes a libsignal Curve25519 signature of msg with the X25519 private
// key priv, the kind VerifySignature checks. msgprobe only verifies; Sign
// exists for the loopback WhatsApp server its tests run, which must sign a
// certificate chain the way WhatsApp's servers do. random seeds the nonce
// alongside the key and the message, as libsignal's signer does.
func Sign(priv [32]byte, msg []byte, random io.Reader) ([64]byte, error) {
	var sig [64]byte
	s, err := edwards25519.NewScalar().SetBytesWithClamping(priv[:])
	if err != nil {
		return sig, err
	}
	edPub := new(edwards25519.Point).ScalarBaseMult(s).Bytes()
	signBit := edPub[31] & 0x80

	var noise [64]byte
	if _, err := io.ReadFull(random, noise[:]); err != nil {
		return sig, errors.New("whatsapp: no randomness for the signature nonce")
	}
	h := sha512.New()
	h.Write(noise[:])
	h.Write(priv[:])
	h.Write(msg)
	r, err := edwards25519.NewScalar().SetUniformBytes(h.Sum(nil))
	if err != nil {
		return sig, err
	}
	encodedR := new(edwards25519.Point).ScalarBaseMult(r).Bytes()

	h.Reset()
	h.Write(encodedR)
	h.Write(edPub)
	h.Write(msg)
	k, err := edwards25519.NewScalar().SetUniformBytes(h.Sum(nil))
	if err != nil {
		return sig, err
	}
	S := edwards25519.NewScalar().MultiplyAdd(k, s, r)

	copy(sig[:32], encodedR)
	copy(sig[32:], S.Bytes())
	sig[63] |= signBit
	return sig, nil
}
