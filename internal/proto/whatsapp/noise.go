package whatsapp

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/sha256"
	"encoding/binary"
	"errors"
)

// ProtocolName is the Noise protocol WhatsApp speaks. It is exactly 32
// bytes, the hash's size, so it is the initial handshake hash itself rather
// than its digest (Noise spec §5.2 InitializeSymmetric).
const ProtocolName = "Noise_XX_25519_AESGCM_SHA256\x00\x00\x00\x00"

// SymmetricState is Noise's symmetric state as WhatsApp's clients drive it
// (whatsmeow's socket.NoiseHandshake, Baileys' noise-handler): the
// handshake hash h, the chaining key ck, and an AES-256-GCM key with its
// counter nonce. WhatsApp departs from a stock Noise library in two ways
// that matter here: the initiator does not EncryptAndHash the empty payload
// of its first message, and the nonce is 8 zero bytes then the big-endian
// 32-bit counter (Noise's own layout for AESGCM is 4 zero bytes then a
// 64-bit counter; the two agree while the counter is small, as it is here).
// Both sides of a handshake use it: msgprobe as initiator, the loopback
// server of its tests as responder.
type SymmetricState struct {
	h     [32]byte
	ck    [32]byte
	aead  cipher.AEAD
	nonce uint32
}

// NewSymmetricState starts a handshake of ProtocolName and mixes in the
// prologue, WhatsApp's 4-byte connection header.
func NewSymmetricState(prologue []byte) *SymmetricState {
	s := &SymmetricState{}
	copy(s.h[:], ProtocolName)
	s.ck = s.h
	s.MixHash(prologue)
	return s
}

// Hash is the current handshake hash.
func (s *SymmetricState) Hash() [32]byte { return s.h }

// MixHash sets h = SHA-256(h || data).
func (s *SymmetricState) MixHash(data []byte) {
	d := sha256.New()
	d.Write(s.h[:])
	d.Write(data)
	d.Sum(s.h[:0])
}

// MixKey derives a new chaining key and cipher key from ck and the shared
// secret ikm with HKDF-SHA256 (ck as salt, no info, 64 bytes: the first 32
// are the new ck, the last 32 the new AES-256-GCM key), and resets the
// nonce.
func (s *SymmetricState) MixKey(ikm []byte) error {
	okm, err := hkdf.Key(sha256.New, ikm, s.ck[:], "", 64)
	if err != nil {
		return err
	}
	copy(s.ck[:], okm[:32])
	block, err := aes.NewCipher(okm[32:])
	if err != nil {
		return err
	}
	if s.aead, err = cipher.NewGCM(block); err != nil {
		return err
	}
	s.nonce = 0
	return nil
}

func (s *SymmetricState) nextNonce() []byte {
	var iv [12]byte
	binary.BigEndian.PutUint32(iv[8:], s.nonce)
	s.nonce++
	return iv[:]
}

var errNoKey = errors.New("whatsapp: cipher used before any key was mixed in")

// EncryptAndHash seals plaintext with h as associated data and mixes the
// ciphertext into h.
func (s *SymmetricState) EncryptAndHash(plaintext []byte) ([]byte, error) {
	if s.aead == nil {
		return nil, errNoKey
	}
	ct := s.aead.Seal(nil, s.nextNonce(), plaintext, s.h[:])
	s.MixHash(ct)
	return ct, nil
}

// DecryptAndHash opens ciphertext with h as associated data and, when it
// opens, mixes the ciphertext into h.
func (s *SymmetricState) DecryptAndHash(ciphertext []byte) ([]byte, error) {
	if s.aead == nil {
		return nil, errNoKey
	}
	pt, err := s.aead.Open(nil, s.nextNonce(), ciphertext, s.h[:])
	if err != nil {
		return nil, err
	}
	s.MixHash(ciphertext)
	return pt, nil
}
