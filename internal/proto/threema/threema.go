// Package threema speaks the first round of Threema's chat server protocol
// (CSP): the client hello, a temporary Curve25519 public key and a cookie,
// and the server hello, a cookie and a NaCl box that only a holder of the
// server's permanent secret key can seal. Opening that box under Threema's
// published permanent keys proves the answer came from Threema's chat
// server, with no account: the login that would follow is never sent.
//
// Layouts: threema-android domain/.../connection/csp/CspSession.kt
// (sendClientHello, processServerHello), csp/ProtocolDefines.java
// (SERVER_HELLO_LEN), base/crypto/NonceCounter.java (counters start at 1),
// buildSrc/src/main/kotlin/config/PublicKeys.kt (prodServer, prodServerAlt).
package threema

import (
	"bytes"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"io"

	"golang.org/x/crypto/nacl/box"
)

// Sizes of the hellos and their parts.
const (
	KeyLen            = 32
	CookieLen         = 16
	ClientHelloLen    = KeyLen + CookieLen                // 48
	serverBoxLen      = KeyLen + CookieLen + box.Overhead // 64: server temp key, client cookie, MAC
	ServerHelloLen    = CookieLen + serverBoxLen          // 80
	serverHelloPlainN = KeyLen + CookieLen
)

// PublishedKeys are Threema's chat servers' permanent public keys, the main
// and the alternate one the client falls back to (threema-android
// PublicKeys.kt prodServer, prodServerAlt).
func PublishedKeys() [][KeyLen]byte {
	return [][KeyLen]byte{
		mustKey("450b975735279fdecb3313648f5fc6ee9ff4360ea92a8c1751c661e4c0d8c909"),
		mustKey("da7c73798f97d587c3a25ebe0a91417f76dbcccdda2930e6a9090af62eba6f15"),
	}
}

func mustKey(s string) [KeyLen]byte {
	k, err := ParseKey(s)
	if err != nil {
		panic(err)
	}
	return k
}

// ParseKey reads a 32-byte public key written in hex.
func ParseKey(s string) ([KeyLen]byte, error) {
	var k [KeyLen]byte
	b, err := hex.DecodeString(s)
	if err != nil {
		return k, fmt.Errorf("not hex: %v", err)
	}
	if len(b) != KeyLen {
		return k, fmt.Errorf("%d bytes, a key is %d", len(b), KeyLen)
	}
	copy(k[:], b)
	return k, nil
}

// A ProtocolError is a server hello that is not one: short, or opening to a
// plaintext that does not answer our hello.
type ProtocolError struct{ Msg string }

func (e *ProtocolError) Error() string { return e.Msg }

// An UntrustedError is a server hello whose box opens under none of the
// known permanent keys: something answered 80 bytes, but it does not hold a
// Threema chat server's secret key.
type UntrustedError struct{ Keys int }

func (e *UntrustedError) Error() string {
	if e.Keys == 1 {
		return "Threema server hello does not open under the server key"
	}
	return fmt.Sprintf("Threema server hello opens under none of the %d server keys", e.Keys)
}

// ClientHello is our half of the first round: a fresh temporary key pair
// and cookie.
type ClientHello struct {
	Cookie    [CookieLen]byte
	publicKey *[KeyLen]byte
	secretKey *[KeyLen]byte
}

// NewClientHello draws a temporary key pair and a cookie from random (nil
// means crypto/rand).
func NewClientHello(random io.Reader) (*ClientHello, error) {
	if random == nil {
		random = rand.Reader
	}
	pub, sec, err := box.GenerateKey(random)
	if err != nil {
		return nil, fmt.Errorf("threema: temporary key: %w", err)
	}
	c := &ClientHello{publicKey: pub, secretKey: sec}
	if _, err := io.ReadFull(random, c.Cookie[:]); err != nil {
		return nil, fmt.Errorf("threema: cookie: %w", err)
	}
	return c, nil
}

// Bytes is the 48-byte client hello: the temporary public key and the
// cookie, sent raw (no length prefix before login).
func (c *ClientHello) Bytes() []byte {
	b := make([]byte, 0, ClientHelloLen)
	b = append(b, c.publicKey[:]...)
	return append(b, c.Cookie[:]...)
}

// PublicKey is the temporary public key the hello carries.
func (c *ClientHello) PublicKey() [KeyLen]byte { return *c.publicKey }

// ServerHello is what a genuine server hello told us.
type ServerHello struct {
	Cookie       [CookieLen]byte
	TemporaryKey [KeyLen]byte // the server's key for the session a login would open
	PermanentKey [KeyLen]byte // the known key the box opened under
	KeyIndex     int          // its index in the keys given to Open
}

// Nonce is the nonce of the server's first box: its cookie followed by the
// counter 1, little-endian.
func Nonce(cookie [CookieLen]byte) [24]byte {
	var n [24]byte
	copy(n[:], cookie[:])
	binary.LittleEndian.PutUint64(n[CookieLen:], 1)
	return n
}

// Open checks the 80-byte server hello b against our hello: the box opens
// under one of keys (tried in order, as the client tries its main key and
// then the alternate), the server's cookie differs from ours, and the
// plaintext echoes our cookie. b shorter or longer than 80 bytes is a
// ProtocolError; a box no key opens is an UntrustedError.
func (c *ClientHello) Open(b []byte, keys [][KeyLen]byte) (*ServerHello, error) {
	if len(b) != ServerHelloLen {
		return nil, &ProtocolError{Msg: fmt.Sprintf("Threema server hello is %d bytes, not %d", len(b), ServerHelloLen)}
	}
	s := &ServerHello{}
	copy(s.Cookie[:], b)
	nonce := Nonce(s.Cookie)
	var plain []byte
	opened := false
	for i := range keys {
		var ok bool
		plain, ok = box.Open(make([]byte, 0, serverHelloPlainN), b[CookieLen:], &nonce, &keys[i], c.secretKey)
		if ok {
			s.PermanentKey, s.KeyIndex, opened = keys[i], i, true
			break
		}
	}
	if !opened {
		return nil, &UntrustedError{Keys: len(keys)}
	}
	if s.Cookie == c.Cookie {
		return nil, &ProtocolError{Msg: "Threema server hello repeats our cookie as its own"}
	}
	if !bytes.Equal(plain[KeyLen:], c.Cookie[:]) {
		return nil, &ProtocolError{Msg: "Threema server hello echoes another cookie than ours"}
	}
	copy(s.TemporaryKey[:], plain)
	return s, nil
}

// SealServerHello is the server's side, for test servers: the 80-byte hello
// answering clientHello, sealed with the server's permanent secret key,
// with the given cookie and temporary public key, echoing echoCookie (the
// client's own, unless a test wants otherwise).
func SealServerHello(clientHello []byte, permanentSecret *[KeyLen]byte, cookie [CookieLen]byte, temporaryPublic [KeyLen]byte, echoCookie []byte) ([]byte, error) {
	if len(clientHello) != ClientHelloLen {
		return nil, &ProtocolError{Msg: fmt.Sprintf("Threema client hello is %d bytes, not %d", len(clientHello), ClientHelloLen)}
	}
	var clientKey [KeyLen]byte
	copy(clientKey[:], clientHello)
	if echoCookie == nil {
		echoCookie = clientHello[KeyLen:]
	}
	if len(echoCookie) != CookieLen {
		return nil, fmt.Errorf("threema: a cookie is %d bytes, not %d", CookieLen, len(echoCookie))
	}
	plain := append(append(make([]byte, 0, serverHelloPlainN), temporaryPublic[:]...), echoCookie...)
	nonce := Nonce(cookie)
	return box.Seal(append(make([]byte, 0, ServerHelloLen), cookie[:]...), plain, &nonce, &clientKey, permanentSecret), nil
}
