package threema

import (
	"bytes"
	"crypto/rand"
	"errors"
	"strings"
	"testing"

	"golang.org/x/crypto/nacl/box"
)

// testServer is a Threema-like server's permanent key pair.
type testServer struct {
	public, secret *[KeyLen]byte
}

func newTestServer(t testing.TB) testServer {
	t.Helper()
	pub, sec, err := box.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return testServer{pub, sec}
}

// answer seals a server hello for the client hello, with a fresh cookie and
// temporary key; echo nil echoes the client's cookie.
func (s testServer) answer(t testing.TB, hello []byte, cookie *[CookieLen]byte, echo []byte) []byte {
	t.Helper()
	var c [CookieLen]byte
	if cookie != nil {
		c = *cookie
	} else {
		rand.Read(c[:])
	}
	tempPub, _, err := box.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	b, err := SealServerHello(hello, s.secret, c, *tempPub, echo)
	if err != nil {
		t.Fatal(err)
	}
	if len(b) != ServerHelloLen {
		t.Fatalf("server hello %d bytes", len(b))
	}
	return b
}

func TestPublishedKeys(t *testing.T) {
	keys := PublishedKeys()
	if len(keys) != 2 {
		t.Fatalf("%d keys", len(keys))
	}
	// The first and last bytes as PublicKeys.kt writes them out.
	if keys[0][0] != 0x45 || keys[0][31] != 0x09 || keys[1][0] != 0xda || keys[1][31] != 0x15 {
		t.Errorf("keys %x", keys)
	}
	for _, bad := range []string{"45", "zz", strings.Repeat("00", 33)} {
		if _, err := ParseKey(bad); err == nil {
			t.Errorf("ParseKey(%q) accepted", bad)
		}
	}
}

func TestClientHelloLayout(t *testing.T) {
	c, err := NewClientHello(nil)
	if err != nil {
		t.Fatal(err)
	}
	b := c.Bytes()
	pub := c.PublicKey()
	if len(b) != ClientHelloLen || !bytes.Equal(b[:KeyLen], pub[:]) || !bytes.Equal(b[KeyLen:], c.Cookie[:]) {
		t.Fatalf("client hello %x", b)
	}
	if n := Nonce([CookieLen]byte{1, 2}); !bytes.Equal(n[CookieLen:], []byte{1, 0, 0, 0, 0, 0, 0, 0}) || n[0] != 1 {
		t.Fatalf("nonce %x", n)
	}
}

func TestOpen(t *testing.T) {
	main, alt := newTestServer(t), newTestServer(t)
	keys := [][KeyLen]byte{*main.public, *alt.public}
	for i, srv := range []testServer{main, alt} {
		c, _ := NewClientHello(nil)
		s, err := c.Open(srv.answer(t, c.Bytes(), nil, nil), keys)
		if err != nil {
			t.Fatalf("key %d: %v", i, err)
		}
		if s.KeyIndex != i || s.PermanentKey != keys[i] {
			t.Errorf("opened under key %d, want %d", s.KeyIndex, i)
		}
	}

	c, _ := NewClientHello(nil)
	other := newTestServer(t)
	_, err := c.Open(other.answer(t, c.Bytes(), nil, nil), keys)
	var ue *UntrustedError
	if !errors.As(err, &ue) || err.Error() != "Threema server hello opens under none of the 2 server keys" {
		t.Errorf("another server's key: %v", err)
	}
	_, err = c.Open(other.answer(t, c.Bytes(), nil, nil), keys[:1])
	if err == nil || err.Error() != "Threema server hello does not open under the server key" {
		t.Errorf("one key: %v", err)
	}

	var pe *ProtocolError
	_, err = c.Open(main.answer(t, c.Bytes(), nil, bytes.Repeat([]byte{7}, CookieLen)), keys)
	if !errors.As(err, &pe) || !strings.Contains(err.Error(), "another cookie") {
		t.Errorf("wrong cookie: %v", err)
	}
	_, err = c.Open(main.answer(t, c.Bytes(), &c.Cookie, nil), keys)
	if !errors.As(err, &pe) || !strings.Contains(err.Error(), "repeats our cookie") {
		t.Errorf("cookie reflected: %v", err)
	}
	good := main.answer(t, c.Bytes(), nil, nil)
	for _, b := range [][]byte{good[:79], append(good, 0), nil} {
		if _, err := c.Open(b, keys); !errors.As(err, &pe) || !strings.Contains(err.Error(), "not 80") {
			t.Errorf("%d bytes: %v", len(b), err)
		}
	}
	flipped := append([]byte{}, good...)
	flipped[40] ^= 1
	if _, err := c.Open(flipped, keys); !errors.As(err, &ue) {
		t.Errorf("tampered box: %v", err)
	}
	// The cookie is part of the nonce: another cookie, same box, fails.
	flipped = append([]byte{}, good...)
	flipped[0] ^= 1
	if _, err := c.Open(flipped, keys); !errors.As(err, &ue) {
		t.Errorf("tampered cookie: %v", err)
	}
	if _, err := SealServerHello(c.Bytes()[:10], main.secret, [CookieLen]byte{}, [KeyLen]byte{}, nil); err == nil {
		t.Errorf("short client hello sealed")
	}
}

// FuzzThreemaHello feeds arbitrary bytes as a server hello: no panic, and
// nothing opens without the server's secret key.
func FuzzThreemaHello(f *testing.F) {
	srv := newTestServer(f)
	c, err := NewClientHello(bytes.NewReader(bytes.Repeat([]byte{3}, 64)))
	if err != nil {
		f.Fatal(err)
	}
	good := srv.answer(f, c.Bytes(), nil, nil)
	f.Add(good)
	f.Add(good[:48])
	f.Add(make([]byte, ServerHelloLen))
	f.Add([]byte("garbage"))
	keys := append(PublishedKeys(), *srv.public)
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := c.Open(b, keys)
		if err != nil {
			var pe *ProtocolError
			var ue *UntrustedError
			if !errors.As(err, &pe) && !errors.As(err, &ue) {
				t.Fatalf("error of no answer kind: %T %v", err, err)
			}
			return
		}
		// Only the seed sealed by the test key opens (or a fuzzer that
		// forged Poly1305).
		if s.KeyIndex != len(keys)-1 || !bytes.Equal(b[CookieLen:], good[CookieLen:]) {
			t.Fatalf("opened %x under key %d", b, s.KeyIndex)
		}
	})
}
