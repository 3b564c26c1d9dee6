package xmpp

import (
	"bytes"
	"errors"
	"io"
	"slices"
	"strings"
	"testing"
	"testing/iotest"
)

// prosodyFirst is what Prosody 0.12 sends on a fresh client stream with
// STARTTLS required (captured from the loopback fixture).
const prosodyFirst = `<?xml version='1.0'?><stream:stream xmlns='jabber:client' xml:lang='en' ` +
	`xmlns:stream='http://etherx.jabber.org/streams' id='b6a0c7e0-3d8e' version='1.0' from='example.test'>` +
	`<stream:features><starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'><required/></starttls></stream:features>`

// prosodyAfterTLS is the second stream's header and features.
const prosodyAfterTLS = `<?xml version='1.0'?><stream:stream xmlns='jabber:client' xml:lang='en' ` +
	`xmlns:stream='http://etherx.jabber.org/streams' id='77f1' version='1.0' from='example.test'>` +
	`<stream:features><mechanisms xmlns='urn:ietf:params:xml:ns:xmpp-sasl'>` +
	`<mechanism>SCRAM-SHA-1</mechanism><mechanism>SCRAM-SHA-256</mechanism><mechanism>PLAIN</mechanism>` +
	`</mechanisms></stream:features>`

func read(t *testing.T, in string) (StreamHeader, Features, error) {
	t.Helper()
	r := NewReader(strings.NewReader(in), 0)
	h, err := r.Header()
	if err != nil {
		return h, Features{}, err
	}
	f, err := r.Features()
	return h, f, err
}

func TestHeaderAndFeatures(t *testing.T) {
	h, f, err := read(t, prosodyFirst)
	if err != nil {
		t.Fatal(err)
	}
	if h.From != "example.test" || h.Version != "1.0" || h.ID != "b6a0c7e0-3d8e" || h.Lang != "en" {
		t.Errorf("header = %+v", h)
	}
	if !f.StartTLS || !f.StartTLSRequired || len(f.Mechanisms) != 0 {
		t.Errorf("features = %+v", f)
	}

	_, f, err = read(t, prosodyAfterTLS)
	if err != nil {
		t.Fatal(err)
	}
	if f.StartTLS || !slices.Equal(f.Mechanisms, []string{"SCRAM-SHA-1", "SCRAM-SHA-256", "PLAIN"}) {
		t.Errorf("features after TLS = %+v", f)
	}
	if !slices.Equal(f.Names, []string{"mechanisms"}) {
		t.Errorf("names = %v", f.Names)
	}
}

func TestStartTLSOptional(t *testing.T) {
	in := strings.Replace(prosodyFirst, "<required/>", "", 1)
	_, f, err := read(t, in)
	if err != nil || !f.StartTLS || f.StartTLSRequired {
		t.Fatalf("features = %+v, %v", f, err)
	}
}

func TestByteByByte(t *testing.T) {
	r := NewReader(iotest.OneByteReader(strings.NewReader(prosodyAfterTLS)), 0)
	if _, err := r.Header(); err != nil {
		t.Fatal(err)
	}
	f, err := r.Features()
	if err != nil || len(f.Mechanisms) != 3 {
		t.Fatalf("features = %+v, %v", f, err)
	}
}

func TestStreamError(t *testing.T) {
	in := `<?xml version='1.0'?><stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' version='1.0'>` +
		`<stream:error><host-unknown xmlns='urn:ietf:params:xml:ns:xmpp-streams'/>` +
		`<text xmlns='urn:ietf:params:xml:ns:xmpp-streams'>This server does not serve nope.test</text></stream:error></stream:stream>`
	_, _, err := read(t, in)
	var se *StreamError
	if !errors.As(err, &se) {
		t.Fatalf("err = %v, want a StreamError", err)
	}
	if se.Condition != "host-unknown" || se.Text != "This server does not serve nope.test" {
		t.Errorf("stream error = %+v", se)
	}
	if got := se.Error(); got != "XMPP stream error: host-unknown (This server does not serve nope.test)" {
		t.Errorf("message = %q", got)
	}
}

func TestStreamErrorWithoutCondition(t *testing.T) {
	in := `<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'><stream:error/>`
	_, _, err := read(t, in)
	if err == nil || err.Error() != "XMPP stream error: undefined-condition" {
		t.Fatalf("err = %v", err)
	}
}

// TestMalformed covers what a server that is not XMPP, or is broken, sends.
func TestMalformed(t *testing.T) {
	for _, tc := range []struct{ name, in, want string }{
		{"http", "HTTP/1.1 400 Bad Request\r\n\r\n", `XMPP server sent text, not a stream header: "HTTP/1.1 400 Bad Request"`},
		{"html", "<html><body>hi</body></html>", "XMPP server sent <html> instead of a stream header"},
		{"server stream", `<stream:stream xmlns='jabber:server' xmlns:stream='http://etherx.jabber.org/streams'>`, `XMPP server opened a "jabber:server" stream, not a client stream`},
		{"binary", "\x16\x03\x01\x00\x05hello", "XMPP server sent text, not a stream header"},
		{"bad char in stream", "<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'>\x00<a/>", "XMPP server sent malformed XML"},
		{"doctype", `<?xml version='1.0'?><!DOCTYPE x [<!ENTITY a "aaaa">]><stream:stream/>`, "DTD"},
		{"comment", `<!-- hi --><stream:stream/>`, "comment"},
		{"wrong element", `<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'><message/>`, "XMPP server sent <message> where stream features were due"},
		{"text", `<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'>hello`, `XMPP server sent text between stanzas: "hello"`},
		{"bad mechanism", `<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'><stream:features><mechanisms xmlns='urn:ietf:params:xml:ns:xmpp-sasl'><mechanism>scram sha1</mechanism></mechanisms></stream:features>`, "invalid SASL mechanism"},
		{"closed", `<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'></stream:stream>`, "XMPP server closed the stream"},
		{"mismatched", `<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'><a></b>`, "malformed XML"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := read(t, tc.in)
			var pe *ProtocolError
			if !errors.As(err, &pe) {
				t.Fatalf("err = %v (%T), want a ProtocolError", err, err)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %q, want it to contain %q", err, tc.want)
			}
		})
	}
}

// TestEOF: a server that hangs up is a transport error, not a protocol one,
// so that the prober classifies it as the peer closing.
func TestEOF(t *testing.T) {
	for _, in := range []string{
		"",
		"<?xml version='1.0'?>",
		`<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'>`,
		`<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'><stream:features><starttls`,
	} {
		_, _, err := read(t, in)
		if !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) {
			t.Errorf("%q: err = %v (%T), want EOF", in, err, err)
		}
	}
}

// TestTransportError: the reader's own error comes back as itself.
func TestTransportError(t *testing.T) {
	boom := errors.New("boom")
	r := NewReader(io.MultiReader(strings.NewReader(prosodyFirst[:120]), iotest.ErrReader(boom)), 0)
	_, err := r.Header()
	if err == nil {
		_, err = r.Features()
	}
	if !errors.Is(err, boom) {
		t.Fatalf("err = %v, want boom", err)
	}
}

// TestLimit: an endless stanza stops at the budget, having read no more.
func TestLimit(t *testing.T) {
	head := `<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'><stream:features><x>`
	endless := io.MultiReader(strings.NewReader(head), &repeat{b: 'a'})
	r := NewReader(endless, 1<<16)
	if _, err := r.Header(); err != nil {
		t.Fatal(err)
	}
	_, err := r.Features()
	var le *LimitError
	if !errors.As(err, &le) {
		t.Fatalf("err = %v, want a LimitError", err)
	}
	if err.Error() != "XMPP server sent more than 64 KiB without finishing its answer" {
		t.Errorf("message = %q", err)
	}
	if r.Read() != 1<<16 {
		t.Errorf("read %d bytes, want exactly the budget", r.Read())
	}
}

func TestDepth(t *testing.T) {
	in := `<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'>` + strings.Repeat("<a>", 100)
	_, _, err := read(t, in)
	if err == nil || !strings.Contains(err.Error(), "nested elements more than 16 deep") {
		t.Fatalf("err = %v", err)
	}
}

func TestGrant(t *testing.T) {
	r := NewReader(strings.NewReader(prosodyFirst+prosodyFirst[len("<?xml version='1.0'?>"):]), int64(len(prosodyFirst)))
	if _, err := r.Header(); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Features(); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Next(); err == nil {
		t.Fatal("read past the budget")
	}
	r2 := NewReader(strings.NewReader(prosodyFirst+"<message/>"), int64(len(prosodyFirst)))
	_, _ = r2.Header()
	_, _ = r2.Features()
	r2.Grant(100)
	if e, err := r2.Next(); err != nil || !e.Is(NSClient, "message") {
		t.Fatalf("after Grant: %v, %v", e, err)
	}
}

// TestBuffered: bytes after <proceed/> are visible to the caller, which
// must refuse them before starting TLS.
func TestBuffered(t *testing.T) {
	in := `<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'>` +
		`<proceed xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>`
	r := NewReader(strings.NewReader(in+"injected"), 0)
	_, _ = r.Header()
	e, err := r.Next()
	if err != nil || !e.Is(NSTLS, "proceed") {
		t.Fatalf("next = %v, %v", e, err)
	}
	if r.Buffered() != len("injected") {
		t.Errorf("buffered = %d", r.Buffered())
	}
	r = NewReader(strings.NewReader(in), 0)
	_, _ = r.Header()
	_, _ = r.Next()
	if r.Buffered() != 0 {
		t.Errorf("buffered = %d, want 0", r.Buffered())
	}
}

type repeat struct{ b byte }

func (r *repeat) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = r.b
	}
	return len(p), nil
}

// FuzzXMPPFeatures feeds arbitrary server bytes to the negotiation reader:
// it must never panic, never read past its budget, and only report
// mechanisms that are valid SASL names.
func FuzzXMPPFeatures(f *testing.F) {
	f.Add([]byte(prosodyFirst))
	f.Add([]byte(prosodyAfterTLS))
	f.Add([]byte(`<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'><stream:error><host-unknown xmlns='urn:ietf:params:xml:ns:xmpp-streams'/></stream:error>`))
	f.Add([]byte("HTTP/1.1 400 Bad Request\r\n\r\n"))
	f.Add([]byte(`<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'><proceed xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>`))
	f.Fuzz(func(t *testing.T, data []byte) {
		const limit = 4096
		r := NewReader(bytes.NewReader(data), limit)
		if _, err := r.Header(); err != nil {
			return
		}
		for range 4 {
			e, err := r.Next()
			if r.Read() > limit {
				t.Fatalf("read %d bytes past the budget of %d", r.Read(), limit)
			}
			if err != nil {
				if err.Error() == "" {
					t.Fatal("empty error message")
				}
				return
			}
			feats, err := ParseFeatures(e)
			if err != nil {
				continue
			}
			for _, m := range feats.Mechanisms {
				if !validMechanism(m) {
					t.Fatalf("invalid mechanism %q kept", m)
				}
			}
		}
	})
}

func TestExcerpt(t *testing.T) {
	if got := excerpt([]byte("\xff\xfe hello\x01")); got != "? hello?" {
		t.Errorf("excerpt = %q", got)
	}
	long := strings.Repeat("é", 50)
	if got := excerpt([]byte(long)); got != strings.Repeat("é", 40)+"…" {
		t.Errorf("excerpt of a long text = %q", got)
	}
	text := "The response provided by the client doesn't match the one we calculated."
	if got := serverText(text); got != text {
		t.Errorf("serverText = %q", got)
	}
}
