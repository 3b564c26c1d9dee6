package probe

import (
	"strings"
	"testing"
	"time"

	"github.com/msgprobe/msgprobe/internal/fixture"
)

func threemaEndpoint(t *testing.T, addr string, keys ...string) *Endpoint {
	t.Helper()
	return loadEndpoint(t, "target: threema://"+addr+"\ntimeout: 800ms\nthreema: {server_keys: ["+strings.Join(keys, ", ")+"]}")
}

func TestThreemaHello(t *testing.T) {
	srv := fixture.Threema(t, fixture.ThreemaOptions{})
	a := runProbe(t, threemaEndpoint(t, srv.Addr, srv.PublicKeyHex()), nil, 5*time.Second)
	wantOK(t, a)
	if a.Details["server_key"] != srv.PublicKeyHex() {
		t.Errorf("details %v", a.Details)
	}
	if _, ok := stepOf(a, PhaseHandshake); !ok {
		t.Errorf("no handshake step")
	}
	// The second key is tried when the first does not open the box, as
	// the app falls back to its alternate key.
	other := fixture.Threema(t, fixture.ThreemaOptions{})
	wantOK(t, runProbe(t, threemaEndpoint(t, srv.Addr, other.PublicKeyHex(), srv.PublicKeyHex()), nil, 5*time.Second))

	// Without server_keys, the published keys are expected, which no
	// fixture holds.
	a = runProbe(t, loadEndpoint(t, "target: threema://"+srv.Addr), nil, 5*time.Second)
	wantFailure(t, a, ClassProtocolUntrusted, PhaseHandshake)
	if want := "Threema server hello opens under none of the 2 server keys"; a.Failure.Error() != want {
		t.Errorf("message %q, want %q", a.Failure, want)
	}
}

func TestThreemaHostileServers(t *testing.T) {
	const timeout = 800 * time.Millisecond
	impostor := fixture.Threema(t, fixture.ThreemaOptions{OtherKey: true})
	for _, tc := range []struct {
		name  string
		srv   *fixture.ThreemaServer
		class Class
		msg   string
	}{
		{"accepts and never answers", &fixture.ThreemaServer{Addr: fixture.TCPListener(t)}, ClassProtocolTimeout, "connected, no Threema server hello in 800ms"},
		{"drips slower than the timeout", fixture.Threema(t, fixture.ThreemaOptions{Drip: 100 * time.Millisecond}), ClassProtocolTimeout, "connected, Threema server hello incomplete in 800ms"},
		{"closes mid-hello", fixture.Threema(t, fixture.ThreemaOptions{CloseAfter: 40}), ClassEOF, "connection closed by the peer"},
		{"another key", impostor, ClassProtocolUntrusted, "Threema server hello does not open under the server key"},
		{"wrong cookie", fixture.Threema(t, fixture.ThreemaOptions{WrongCookie: true}), ClassProtocol, "Threema server hello echoes another cookie than ours"},
		{"reflected cookie", fixture.Threema(t, fixture.ThreemaOptions{ReflectCookie: true}), ClassProtocol, "Threema server hello repeats our cookie as its own"},
		{"80 bytes of garbage", fixture.Threema(t, fixture.ThreemaOptions{Garbage: []byte(strings.Repeat("garbage!", 10))}), ClassProtocolUntrusted, "does not open"},
		{"a huge answer", fixture.Threema(t, fixture.ThreemaOptions{Garbage: make([]byte, 1<<20)}), ClassProtocolUntrusted, "does not open"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			key := impostor.PublicKeyHex()
			if tc.srv != impostor && tc.srv.PublicKey != [32]byte{} {
				key = tc.srv.PublicKeyHex()
			}
			start := time.Now()
			a := runProbe(t, threemaEndpoint(t, tc.srv.Addr, key), nil, timeout)
			wantFailure(t, a, tc.class, PhaseHandshake)
			if !strings.Contains(a.Failure.Error(), tc.msg) {
				t.Errorf("message %q, want it to contain %q", a.Failure, tc.msg)
			}
			if took := time.Since(start); took > timeout+time.Second {
				t.Errorf("took %v", took)
			}
		})
	}
}

func TestThreemaOptionErrors(t *testing.T) {
	for _, tc := range []struct{ block, want string }{
		{"{server_keys: []}", "t.yaml:6:32: threema.server_keys is empty: no hello could open\nhint: leave server_keys out to use Threema's published keys"},
		{"{server_keys: [abcd]}", "t.yaml:6:33: threema.server_keys item is 2 bytes, a key is 32\nhint: " + serverKeyHint},
		{"{server_keys: [" + strings.Repeat("zz", 32) + "]}", "t.yaml:6:33: threema.server_keys item is not hex: encoding/hex: invalid byte: U+007A 'z'\nhint: " + serverKeyHint},
		{"{server_key: [a]}", "t.yaml:6:19: unknown key \"server_key\" in threema\nhint: did you mean \"server_keys\"?"},
	} {
		if got := loadError(t, "target: threema://127.0.0.1:5222\nthreema: "+tc.block); got != tc.want {
			t.Errorf("%s:\n got %s\nwant %s", tc.block, got, tc.want)
		}
	}
	// The catalog's form: published keys, no block.
	ep := loadEndpoint(t, "target: threema://g-33.0.threema.ch:5222")
	if ep.Kind != KindThreema || ep.Port != "5222" || threemaProtocol.Notes(ep) != nil {
		t.Errorf("endpoint %+v", ep)
	}
}

// BenchmarkThreemaAttempt is one client hello → server hello against a
// loopback Threema server, both sides' Curve25519 in the figures.
func BenchmarkThreemaAttempt(b *testing.B) {
	srv := fixture.Threema(b, fixture.ThreemaOptions{})
	ep := benchEndpoint(b, "threema://"+srv.Addr)
	setOptions(ep, "threema", &ThreemaOptions{ServerKeys: [][32]byte{srv.PublicKey}})
	benchAttempts(b, ep)
}
