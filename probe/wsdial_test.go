package probe

import (
	"bytes"
	"context"
	"crypto/tls"
	"net/http"
	"net/url"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/msgprobe/msgprobe/internal/fixture"
)

// wsDialResult is what one wsDial and, when it connected, one read gave.
type wsDialResult struct {
	a    Attempt
	msg  []byte
	fail *Failure
}

// dialAndRead dials target with wsDial under timeout and, when that works,
// reads one message; it fails the test when either outlives the timeout by
// more than a second.
func dialAndRead(t *testing.T, target string, tlsCfg *tls.Config, timeout time.Duration) wsDialResult {
	t.Helper()
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	ep := &Endpoint{Name: target, Target: target, Host: u.Hostname(), Port: u.Port(),
		Settings: Settings{Timeout: timeout}}
	ctx, cancel := context.WithTimeout(t.Context(), timeout)
	defer cancel()
	start := time.Now()
	var r wsDialResult
	c, f := wsDial(ctx, ep, nil, &r.a, u, http.Header{"Origin": {"https://client.test"}}, nil, tlsCfg)
	if f != nil {
		r.fail = f
	} else {
		_, r.msg, r.fail = c.readMessage(ctx, PhaseDialogue)
		c.close()
	}
	if took := time.Since(start); took > timeout+time.Second {
		t.Errorf("took %v with a timeout of %v", took, timeout)
	}
	return r
}

func wantWSFailure(t *testing.T, r wsDialResult, class Class, phase Phase, msg string) {
	t.Helper()
	if r.fail == nil {
		t.Fatalf("succeeded with %q, want %s at %s", r.msg, class, phase)
	}
	if r.fail.Class != class || r.fail.Phase != phase || r.fail.Error() != msg {
		t.Fatalf("got %s at %s: %q\nwant %s at %s: %q", r.fail.Class, r.fail.Phase, r.fail.Error(), class, phase, msg)
	}
}

func TestWSDialReadsAMessage(t *testing.T) {
	base := fixture.WSServer(t, nil, nil, fixture.WSSend(`{"op":10}`))
	r := dialAndRead(t, base+"/gateway?v=10", nil, 5*time.Second)
	if r.fail != nil {
		t.Fatalf("failed: %s at %s: %v", r.fail.Class, r.fail.Phase, r.fail)
	}
	if string(r.msg) != `{"op":10}` {
		t.Errorf("message %q", r.msg)
	}
	steps := r.a.Timings.Steps
	if r.a.Timings.Connect <= 0 || len(steps) != 1 || steps[0].Phase != PhaseUpgrade || steps[0].D <= 0 ||
		r.a.TLS != nil || r.a.RemoteAddr == "" {
		t.Errorf("attempt %+v: want connect and upgrade timed, no TLS, a remote address", r.a)
	}
}

func TestWSDialTLSVerifiesTheCertificate(t *testing.T) {
	ca := fixture.NewCA(t)
	cert := ca.Valid("127.0.0.1")
	base := fixture.WSServer(t, &cert, nil, fixture.WSSend("hello"))

	r := dialAndRead(t, base+"/", &tls.Config{RootCAs: ca.Pool(), ServerName: "127.0.0.1"}, 5*time.Second)
	if r.fail != nil {
		t.Fatalf("failed: %s at %s: %v", r.fail.Class, r.fail.Phase, r.fail)
	}
	if r.a.TLS == nil || !r.a.TLS.Verified || r.a.Timings.TLS <= 0 {
		t.Errorf("TLS %+v, tls time %v: want a verified, timed handshake", r.a.TLS, r.a.Timings.TLS)
	}

	other := fixture.NewCA(t)
	r = dialAndRead(t, base+"/", &tls.Config{RootCAs: other.Pool(), ServerName: "127.0.0.1"}, 5*time.Second)
	if r.fail == nil || r.fail.Class != ClassTLSCertUntrusted || r.fail.Phase != PhaseTLS {
		t.Fatalf("with another CA: %+v, want tls_cert_untrusted at tls", r.fail)
	}
}

func TestWSDialHostileServers(t *testing.T) {
	const timeout = 400 * time.Millisecond
	tests := []struct {
		name   string
		target func(t *testing.T) string
		class  Class
		phase  Phase
		msg    string
	}{
		{"accepts and never answers", func(t *testing.T) string { return "ws://" + fixture.TCPListener(t) },
			ClassProtocolTimeout, PhaseUpgrade, "connected, no WebSocket upgrade in 400ms"},
		{"answers 403", func(t *testing.T) string {
			return "ws" + strings.TrimPrefix(fixture.HTTPServer(t, fixture.Respond(http.StatusForbidden, "no"), nil), "http")
		}, ClassWSUpgrade, PhaseUpgrade, "connected, no WebSocket upgrade (HTTP 403)"},
		{"answers garbage", func(t *testing.T) string {
			return "ws://" + fixture.DripServer(t, []byte("\x00\xffSSH-2.0-nonsense\r\n\r\n"), 0)
		}, ClassProtocol, PhaseUpgrade, "connected, answer to the WebSocket upgrade is not HTTP"},
		{"drips the 101 byte by byte", func(t *testing.T) string {
			return fixture.WSRaw{Interval: 50 * time.Millisecond}.Serve(t)
		}, ClassProtocolTimeout, PhaseUpgrade, "connected, WebSocket upgrade answer incomplete after 400ms"},
		{"wrong Sec-WebSocket-Accept", func(t *testing.T) string {
			return fixture.WSRaw{Head: func(string) string { return fixture.WSHead101("not the key") }}.Serve(t)
		}, ClassWSUpgrade, PhaseUpgrade, "connected, HTTP 101 with a wrong Sec-WebSocket-Accept"},
		{"upgrades, then silence", func(t *testing.T) string { return fixture.WSRaw{}.Serve(t) },
			ClassProtocolTimeout, PhaseDialogue, "connected, no WebSocket message in 400ms"},
		{"closes mid-dialogue", func(t *testing.T) string {
			return fixture.WSServer(t, nil, nil, fixture.WSClose(websocket.StatusPolicyViolation, "go away"))
		}, ClassProtocol, PhaseDialogue, "WebSocket closed by the server: 1008 `go away`"},
		{"half a frame header, then silence", func(t *testing.T) string {
			return fixture.WSRaw{After: []byte{0x81}}.Serve(t)
		}, ClassProtocolTimeout, PhaseDialogue, "connected, no WebSocket message in 400ms"},
		{"hangs up without a close frame", func(t *testing.T) string {
			return fixture.WSRaw{After: fixture.WSFrame(0x1, []byte("partial"))[:4], HangUp: true}.Serve(t)
		}, ClassEOF, PhaseDialogue, "connection closed by the peer"},
		{"unknown opcode", func(t *testing.T) string {
			return fixture.WSRaw{After: fixture.WSFrame(0x3, nil)}.Serve(t)
		}, ClassProtocol, PhaseDialogue, "WebSocket protocol error: received unknown opcode opcode(3)"},
		{"announces a 100 MB frame", func(t *testing.T) string {
			return fixture.WSRaw{After: fixture.WSFrameHeader(0x2, 100<<20)}.Serve(t)
		}, ClassProtocol, PhaseDialogue, "WebSocket message over 1 MiB"},
		{"100 MB in fragments", func(t *testing.T) string {
			after := fixture.WSFrame(0x2, make([]byte, 512<<10))
			after[0] &^= 0x80 // not final
			after = append(after, fixture.WSFrameHeader(0x0, 100<<20)...)
			return fixture.WSRaw{After: after}.Serve(t)
		}, ClassProtocol, PhaseDialogue, "WebSocket message over 1 MiB"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := dialAndRead(t, tt.target(t)+"/", nil, timeout)
			wantWSFailure(t, r, tt.class, tt.phase, tt.msg)
		})
	}
}

// TestWSDialAnswersPings: a ping before the message is answered with its
// pong and does not take the message's place.
func TestWSDialAnswersPings(t *testing.T) {
	rec := &fixture.WSRecord{}
	after := append(fixture.WSFrame(0x9, []byte("are you there")), fixture.WSFrame(0x1, []byte("one"))...)
	target := fixture.WSRaw{After: after, Record: rec}.Serve(t)
	r := dialAndRead(t, target+"/", nil, 5*time.Second)
	if r.fail != nil || string(r.msg) != "one" {
		t.Fatalf("got %q, %v; want the message after the ping", r.msg, r.fail)
	}
	// The close frame comes after the pong, and dialAndRead has closed.
	frames := rec.Wait(t, 5*time.Second, func(fs []fixture.WSFrameSeen) bool {
		return len(fs) > 0 && fs[len(fs)-1].Opcode == 0x8
	})
	if f := frames[0]; f.Opcode != 0xA || string(f.Payload) != "are you there" {
		t.Errorf("first client frame %x %q, want the pong with the ping's payload", f.Opcode, f.Payload)
	}
	if f := frames[len(frames)-1]; len(f.Payload) < 2 || f.Payload[0] != 0x03 || f.Payload[1] != 0xE8 {
		t.Errorf("close frame %q, want status 1000", f.Payload)
	}
}

// TestWSDialRefusesBigFramesByHeader: a frame header announcing 100 MB is
// refused before any payload is read, so the heap does not grow.
func TestWSDialRefusesBigFramesByHeader(t *testing.T) {
	// Some payload follows the header, as a real sender's would, but far
	// less than the limit: the refusal must come from the header alone.
	after := append(fixture.WSFrameHeader(0x2, 100<<20), bytes.Repeat([]byte{'x'}, 64<<10)...)
	target := fixture.WSRaw{After: after}.Serve(t)
	var before, later runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	r := dialAndRead(t, target+"/", nil, 5*time.Second)
	runtime.ReadMemStats(&later)
	wantWSFailure(t, r, ClassProtocol, PhaseDialogue, "WebSocket message over 1 MiB")
	grew := later.TotalAlloc - before.TotalAlloc
	t.Logf("allocated %d bytes for an attempt at a 100 MB frame", grew)
	if grew > 4<<20 {
		t.Errorf("allocated %d bytes in the attempt, want < 4 MiB", grew)
	}
}

func TestWSDialReadLimit(t *testing.T) {
	base := fixture.WSServer(t, nil, nil, fixture.WSSend(strings.Repeat("x", 2000)))
	u, _ := url.Parse(base + "/")
	ep := &Endpoint{Host: u.Hostname(), Port: u.Port(), Settings: Settings{Timeout: 5 * time.Second}}
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	var a Attempt
	c, f := wsDial(ctx, ep, nil, &a, u, nil, nil, nil)
	if f != nil {
		t.Fatal(f)
	}
	defer c.close()
	c.SetReadLimit(1000)
	_, _, f = c.readMessage(ctx, PhaseDialogue)
	if f == nil || f.Class != ClassProtocol || f.Error() != "WebSocket message over 1000 bytes" {
		t.Fatalf("got %v, want protocol: WebSocket message over 1000 bytes", f)
	}
}

func TestFrameGuard(t *testing.T) {
	head := "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n"
	small := fixture.WSFrame(0x1, []byte("hello"))
	ping := fixture.WSFrame(0x9, []byte("p"))
	big := fixture.WSFrameHeader(0x2, 2000)
	tests := []struct {
		name   string
		stream []byte
		ok     int // bytes handed on before the error; -1: no error
	}{
		{"frames under the limit", append(append([]byte(head), small...), ping...), -1},
		{"oversized frame after a small one", append(append([]byte(head), small...), big...), len(head) + len(small)},
		{"not a 101: not guarded", append([]byte("HTTP/1.1 403 Forbidden\r\n\r\n"), big...), -1},
		{"100 Continue, then 101", append([]byte("HTTP/1.1 100 Continue\r\n\r\n"+head), big...), len(head) + 25},
		{"fragments add up", append(append([]byte(head), 0x02, 126, 0x02, 0x00), append(make([]byte, 512), 0x80, 126, 0x02, 0x00)...), len(head) + 4 + 512},
	}
	for _, tt := range tests {
		for _, chunk := range []int{1, 3, 4096} {
			g := &frameGuard{limit: 1000}
			passed := 0
			var err error
			for i := 0; i < len(tt.stream) && err == nil; i += chunk {
				var n int
				n, err = g.feed(tt.stream[i:min(i+chunk, len(tt.stream))])
				passed += n
			}
			switch {
			case tt.ok < 0 && err != nil:
				t.Errorf("%s, chunks of %d: %v", tt.name, chunk, err)
			case tt.ok >= 0 && err == nil:
				t.Errorf("%s, chunks of %d: no error", tt.name, chunk)
			case tt.ok >= 0 && passed > tt.ok+13:
				// The bytes of the oversized header that came in earlier
				// chunks were handed on; the client waits for the rest.
				t.Errorf("%s, chunks of %d: handed on %d bytes, want at most %d", tt.name, chunk, passed, tt.ok)
			case tt.ok >= 0 && chunk == 4096 && passed != tt.ok:
				t.Errorf("%s, one chunk: handed on %d bytes, want %d", tt.name, passed, tt.ok)
			}
		}
	}
}

// FuzzWSFrameGuard feeds the guard arbitrary server streams in arbitrary
// chunks: it never panics, never hands on more than it was given, and
// once it fails it stays failed.
func FuzzWSFrameGuard(f *testing.F) {
	head := []byte("HTTP/1.1 101 Switching Protocols\r\n\r\n")
	f.Add(append(head, fixture.WSFrame(0x1, []byte("hi"))...), uint8(1), int64(1000))
	f.Add(append(head, fixture.WSFrameHeader(0x2, 100<<20)...), uint8(7), int64(1<<20))
	f.Add(append(head, 0x82, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 1, 2, 3, 4), uint8(3), int64(0))
	f.Fuzz(func(t *testing.T, stream []byte, chunk uint8, limit int64) {
		g := &frameGuard{limit: limit}
		size := int(chunk%64) + 1
		var failed error
		for i := 0; i < len(stream); i += size {
			part := stream[i:min(i+size, len(stream))]
			n, err := g.feed(part)
			if n < 0 || n > len(part) {
				t.Fatalf("handed on %d of %d bytes", n, len(part))
			}
			if failed != nil && err == nil {
				t.Fatal("guard recovered after failing")
			}
			if err != nil {
				failed = err
			}
		}
	})
}
