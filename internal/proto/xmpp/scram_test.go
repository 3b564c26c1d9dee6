package xmpp

import (
	"encoding/base64"
	"errors"
	"strings"
	"testing"
)

// The exchanges of RFC 5802 §5 (SHA-1) and RFC 7677 §3 (SHA-256).
var scramVectors = []struct {
	mech, nonce, serverFirst, clientFinal, serverFinal string
}{
	{"SCRAM-SHA-1", "fyko+d2lbbFgONRv9qkxdawL",
		"r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,s=QSXCR+Q6sek8bf92,i=4096",
		"c=biws,r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,p=v0X8v3Bz2T0CJGbJQyF0X+HI4Ts=",
		"v=rmF9pqV8S7suAoZWja4dJRkFsKQ="},
	{"SCRAM-SHA-256", "rOprNGfwEbeRWgbNEkqO",
		"r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096",
		"c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=",
		"v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4="},
}

func TestSCRAMVectors(t *testing.T) {
	for _, v := range scramVectors {
		s, err := NewSCRAM(v.mech, "user", "pencil", v.nonce)
		if err != nil {
			t.Fatal(err)
		}
		if got := string(s.ClientFirst()); got != "n,,n=user,r="+v.nonce {
			t.Errorf("%s: client-first = %q", v.mech, got)
		}
		final, err := s.ClientFinal([]byte(v.serverFirst))
		if err != nil {
			t.Fatalf("%s: %v", v.mech, err)
		}
		if string(final) != v.clientFinal {
			t.Errorf("%s: client-final = %q, want %q", v.mech, final, v.clientFinal)
		}
		if err := s.Verify([]byte(v.serverFinal)); err != nil {
			t.Errorf("%s: verify: %v", v.mech, err)
		}
		if err := s.Verify([]byte("v=" + base64.StdEncoding.EncodeToString(make([]byte, 20)))); err == nil {
			t.Errorf("%s: a wrong server signature verified", v.mech)
		}
	}
}

func TestSCRAMHostileServer(t *testing.T) {
	for _, tc := range []struct{ name, serverFirst, want string }{
		{"nonce not extended", "r=other,s=QSXCR+Q6sek8bf92,i=4096", "does not extend"},
		{"nonce equal", "r=abc,s=QSXCR+Q6sek8bf92,i=4096", "does not extend"},
		{"huge iterations", "r=abcdef,s=QSXCR+Q6sek8bf92,i=1000000000", "more than 200000"},
		{"zero iterations", "r=abcdef,s=QSXCR+Q6sek8bf92,i=0", "not a positive number"},
		{"bad salt", "r=abcdef,s=!!!,i=4096", "salt"},
		{"extension", "m=x,r=abcdef,s=QSXCR+Q6sek8bf92,i=4096", "extension"},
		{"garbage", "hello", "malformed"},
		{"repeat", "r=abcdef,r=abcdefg,s=QSXCR+Q6sek8bf92,i=4096", "repeats"},
		{"too long", strings.Repeat("a", 5000), "longer than 4 KiB"},
	} {
		s, _ := NewSCRAM("SCRAM-SHA-1", "user", "pencil", "abc")
		_, err := s.ClientFinal([]byte(tc.serverFirst))
		var se *SCRAMError
		if !errors.As(err, &se) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err = %v, want a SCRAMError with %q", tc.name, err, tc.want)
		}
	}
	s, _ := NewSCRAM("SCRAM-SHA-1", "user", "pencil", scramVectors[0].nonce)
	_, _ = s.ClientFinal([]byte(scramVectors[0].serverFirst))
	if err := s.Verify([]byte("e=invalid-proof")); err == nil || !strings.Contains(err.Error(), "invalid-proof") {
		t.Errorf("server error: %v", err)
	}
}

func TestSCRAMUserEscaping(t *testing.T) {
	s, err := NewSCRAM("SCRAM-SHA-1", "a=b,c", "p", "n")
	if err != nil {
		t.Fatal(err)
	}
	if got := string(s.ClientFirst()); got != "n,,n=a=3Db=2Cc,r=n" {
		t.Errorf("client-first = %q", got)
	}
	if _, err := NewSCRAM("SCRAM-SHA-1", "u", "p", "a,b"); err == nil {
		t.Error("a nonce with ',' was accepted")
	}
	if _, err := NewSCRAM("DIGEST-MD5", "u", "p", "n"); err == nil {
		t.Error("an unknown mechanism was accepted")
	}
}

func TestParseSASL(t *testing.T) {
	read := func(in string) *Element {
		r := NewReader(strings.NewReader(`<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'>`+in), 0)
		if _, err := r.Header(); err != nil {
			t.Fatal(err)
		}
		e, err := r.Next()
		if err != nil {
			t.Fatal(err)
		}
		return e
	}
	a, err := ParseSASL(read(`<challenge xmlns='urn:ietf:params:xml:ns:xmpp-sasl'>` + base64.StdEncoding.EncodeToString([]byte("r=x,s=y,i=1")) + `</challenge>`))
	if err != nil || a.Kind != "challenge" || string(a.Data) != "r=x,s=y,i=1" {
		t.Errorf("challenge = %+v, %v", a, err)
	}
	a, err = ParseSASL(read(`<failure xmlns='urn:ietf:params:xml:ns:xmpp-sasl'><not-authorized/><text>Invalid username or password</text></failure>`))
	if err != nil || a.Kind != "failure" || a.Condition != "not-authorized" || a.Text != "Invalid username or password" {
		t.Errorf("failure = %+v, %v", a, err)
	}
	a, err = ParseSASL(read(`<success xmlns='urn:ietf:params:xml:ns:xmpp-sasl'/>`))
	if err != nil || a.Kind != "success" || a.Data != nil {
		t.Errorf("success = %+v, %v", a, err)
	}
	if _, err := ParseSASL(read(`<success xmlns='urn:ietf:params:xml:ns:xmpp-sasl'>!!</success>`)); err == nil {
		t.Error("bad base64 accepted")
	}
	if _, err := ParseSASL(read(`<message/>`)); err == nil {
		t.Error("a message taken for a SASL answer")
	}
}

// FuzzSCRAM feeds arbitrary server-first and server-final messages to the
// SCRAM client: no panic, and any error is a SCRAMError.
func FuzzSCRAM(f *testing.F) {
	f.Add([]byte(scramVectors[0].serverFirst), []byte(scramVectors[0].serverFinal))
	f.Add([]byte(scramVectors[1].serverFirst), []byte(scramVectors[1].serverFinal))
	f.Add([]byte("r=fyko+d2lbbFgONRv9qkxdawLx,s=,i=1"), []byte("e=other-error"))
	f.Fuzz(func(t *testing.T, first, final []byte) {
		s, err := NewSCRAM("SCRAM-SHA-1", "user", "pencil", "fyko+d2lbbFgONRv9qkxdawL")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.ClientFinal(first); err != nil {
			var se *SCRAMError
			if !errors.As(err, &se) {
				t.Fatalf("ClientFinal error %v is not a SCRAMError", err)
			}
			return
		}
		if err := s.Verify(final); err != nil {
			var se *SCRAMError
			if !errors.As(err, &se) {
				t.Fatalf("Verify error %v is not a SCRAMError", err)
			}
		}
	})
}
