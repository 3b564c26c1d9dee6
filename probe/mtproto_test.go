package probe

import (
	"fmt"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/msgprobe/msgprobe/internal/fixture"
	"github.com/msgprobe/msgprobe/internal/proto/mtproto"
)

// loadEndpoint loads a configuration of one service with one endpoint,
// written as the YAML lines under "endpoints:", and returns the endpoint.
func loadEndpoint(t *testing.T, endpoint string) *Endpoint {
	t.Helper()
	var b strings.Builder
	b.WriteString("version: 1\nservices:\n  - name: s\n    endpoints:\n")
	for i, line := range strings.Split(strings.TrimSpace(endpoint), "\n") {
		if i == 0 {
			b.WriteString("      - " + line + "\n")
		} else {
			b.WriteString("        " + line + "\n")
		}
	}
	cfg, err := Load("t.yaml", []byte(b.String()), func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatalf("loading\n%s\n%v", b.String(), err)
	}
	return cfg.Services[0].Endpoints[0]
}

// loadError is the error of loading one endpoint.
func loadError(t *testing.T, endpoint string) string {
	t.Helper()
	var b strings.Builder
	b.WriteString("version: 1\nservices:\n  - name: s\n    endpoints:\n")
	for i, line := range strings.Split(strings.TrimSpace(endpoint), "\n") {
		if i == 0 {
			b.WriteString("      - " + line + "\n")
		} else {
			b.WriteString("        " + line + "\n")
		}
	}
	_, err := Load("t.yaml", []byte(b.String()), func(string) (string, bool) { return "", false })
	if err == nil {
		t.Fatalf("loaded without error:\n%s", b.String())
	}
	return err.Error()
}

func stepOf(a Attempt, p Phase) (time.Duration, bool) {
	for _, s := range a.Timings.Steps {
		if s.Phase == p {
			return s.D, true
		}
	}
	return 0, false
}

type mtprotoSeen struct {
	tr  mtproto.Transport
	obf bool
	dc  int16
}

// Each transport, plain and obfuscated, reaches the fixture DC as what it
// claims to be (the DC tells them apart from the first bytes), and the
// resPQ is accepted under the fingerprint the block names, written above
// 2^63 and unquoted.
func TestMTProtoEveryTransport(t *testing.T) {
	seen := make(chan mtprotoSeen, 1)
	addr := fixture.MTProtoServer(t, fixture.MTProtoDC{Seen: func(tr mtproto.Transport, obf bool, dc int16) { seen <- mtprotoSeen{tr, obf, dc} }})
	for _, tc := range []struct {
		block string
		want  mtprotoSeen
	}{
		{"{fingerprints: [0xfeedfacecafe0001]}", mtprotoSeen{mtproto.Intermediate, false, 0}},
		{"{transport: abridged, fingerprints: [0xfeedfacecafe0001]}", mtprotoSeen{mtproto.Abridged, false, 0}},
		{"{transport: full, fingerprints: [\"0xFEEDFACECAFE0001\"]}", mtprotoSeen{mtproto.Full, false, 0}},
		{"{obfuscated: true, dc: 2, fingerprints: [0x1, 0xfeedfacecafe0001]}", mtprotoSeen{mtproto.Intermediate, true, 2}},
		{"{transport: abridged, obfuscated: true, dc: -4, fingerprints: ['0xfeedfacecafe0001']}", mtprotoSeen{mtproto.Abridged, true, -4}},
	} {
		t.Run(tc.block, func(t *testing.T) {
			ep := loadEndpoint(t, "target: mtproto://"+addr+"\nmtproto: "+tc.block)
			a := runProbe(t, ep, nil, 10*time.Second)
			wantOK(t, a)
			if got := <-seen; got != tc.want {
				t.Errorf("the DC saw %+v, want %+v", got, tc.want)
			}
			if _, ok := stepOf(a, PhaseHandshake); !ok {
				t.Errorf("no handshake step in %+v", a.Timings)
			}
			if a.Details["transport"] != string(tc.want.tr) || a.Details["obfuscated"] != tc.want.obf {
				t.Errorf("details %v", a.Details)
			}
			if fps, _ := a.Details["fingerprints"].([]string); len(fps) != 1 || fps[0] != "0xfeedfacecafe0001" {
				t.Errorf("fingerprints detail %v", a.Details["fingerprints"])
			}
		})
	}
}

// Without a fingerprints option the resPQ must list Telegram's production
// key: a DC fixture listing only its test key is protocol_untrusted, one
// listing the production fingerprint is up.
func TestMTProtoExpectsTheProductionKey(t *testing.T) {
	ep := loadEndpoint(t, "target: mtproto://"+fixture.MTProtoServer(t, fixture.MTProtoDC{}))
	a := runProbe(t, ep, nil, 10*time.Second)
	wantFailure(t, a, ClassProtocolUntrusted, PhaseHandshake)
	if want := "MTProto resPQ lists none of the expected key fingerprints (it lists 0xfeedfacecafe0001)"; a.Failure.Error() != want {
		t.Errorf("message %q, want %q", a.Failure, want)
	}
	ep = loadEndpoint(t, "target: mtproto://"+fixture.MTProtoServer(t, fixture.MTProtoDC{Fingerprints: []uint64{0x0bc35f3509f7b7a5, mtproto.ProductionFingerprint}}))
	wantOK(t, runProbe(t, ep, nil, 10*time.Second))
}

// Every hostile DC ends within the timeout with its class, at handshake,
// and a message that names the layer.
func TestMTProtoHostileDCs(t *testing.T) {
	const timeout = 800 * time.Millisecond
	ours := fixture.MTProtoTestFingerprint
	tests := []struct {
		name  string
		addr  string
		block string
		class Class
		msg   string
	}{
		{"accepts and never answers", fixture.TCPListener(t), "", ClassProtocolTimeout, "connected, no MTProto answer in 800ms"},
		{"accepts, never answers, obfuscated", fixture.TCPListener(t), "obfuscated: true", ClassProtocolTimeout, "connected, no MTProto answer in 800ms"},
		{"drips slower than the timeout", fixture.MTProtoServer(t, fixture.MTProtoDC{Drip: 100 * time.Millisecond}), "", ClassProtocolTimeout, "connected, MTProto answer incomplete in 800ms"},
		{"hangs up at once", fixture.HangUp(t), "", "", ""},
		{"closes mid-answer", fixture.MTProtoServer(t, fixture.MTProtoDC{CloseAfter: 30}), "", ClassEOF, "connection closed by the peer"},
		{"wrong nonce", fixture.MTProtoServer(t, fixture.MTProtoDC{WrongNonce: true}), "", ClassProtocol, "MTProto resPQ echoes another nonce than ours"},
		{"wrong nonce, obfuscated", fixture.MTProtoServer(t, fixture.MTProtoDC{WrongNonce: true}), "obfuscated: true", ClassProtocol, "MTProto resPQ echoes another nonce than ours"},
		{"another key", fixture.MTProtoServer(t, fixture.MTProtoDC{Fingerprints: []uint64{1, 2}}), "", ClassProtocolUntrusted, "MTProto resPQ lists none of the expected key fingerprints (it lists 0x0000000000000001, 0x0000000000000002)"},
		{"-404", fixture.MTProtoServer(t, fixture.MTProtoDC{TransportError: -404}), "", ClassMTProtoTransportError, "Telegram transport error -404 (auth key not found, or a malformed request)"},
		{"-429 full", fixture.MTProtoServer(t, fixture.MTProtoDC{TransportError: -429}), "transport: full", ClassMTProtoTransportError, "Telegram transport error -429 (too many connections from this address)"},
		{"-444 obfuscated abridged", fixture.MTProtoServer(t, fixture.MTProtoDC{TransportError: -444}), "{transport: abridged, obfuscated: true}", ClassMTProtoTransportError, "Telegram transport error -444 (invalid DC id)"},
		{"huge length", fixture.MTProtoServer(t, fixture.MTProtoDC{HugeLength: true}), "", ClassProtocol, "MTProto frame of 2147483644 bytes is over the 65536-byte cap"},
		{"huge length abridged obfuscated", fixture.MTProtoServer(t, fixture.MTProtoDC{HugeLength: true}), "{transport: abridged, obfuscated: true}", ClassProtocol, "is over the 65536-byte cap"},
		{"an HTTP server", fixture.MTProtoServer(t, fixture.MTProtoDC{Garbage: []byte("HTTP/1.1 400 Bad Request\r\n\r\n")}), "", ClassProtocol, "is over the 65536-byte cap"},
		{"garbage in full framing", fixture.DripServer(t, []byte("\x05\x00\x00\x00garbage, not MTProto"), 0), "transport: full", ClassProtocol, "MTProto full frame length 5 is not a frame's"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			block := fmt.Sprintf("{fingerprints: [%#x]}", ours)
			if tc.block != "" {
				block = strings.TrimSuffix(strings.TrimPrefix(tc.block, "{"), "}")
				block = fmt.Sprintf("{%s, fingerprints: [%#x]}", block, ours)
			}
			ep := loadEndpoint(t, "target: mtproto://"+tc.addr+"\ntimeout: 800ms\nmtproto: "+block)
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			start := time.Now()
			a := runProbe(t, ep, nil, timeout)
			took := time.Since(start)
			runtime.ReadMemStats(&after)
			if tc.class == "" {
				// A peer that closes with our request unread resets the
				// connection, or ends it when the close wins the race.
				if a.Failure == nil || (a.Failure.Class != ClassEOF && a.Failure.Class != ClassConnectionReset) || a.Failure.Phase != PhaseHandshake {
					t.Fatalf("failure %+v, want eof or connection_reset at handshake", a.Failure)
				}
				return
			}
			wantFailure(t, a, tc.class, PhaseHandshake)
			if !strings.Contains(a.Failure.Error(), tc.msg) {
				t.Errorf("message %q, want it to contain %q", a.Failure, tc.msg)
			}
			if took > timeout+time.Second {
				t.Errorf("took %v, timeout %v", took, timeout)
			}
			if grew := after.TotalAlloc - before.TotalAlloc; grew > 8<<20 {
				t.Errorf("allocated %d bytes", grew)
			}
		})
	}
}

func TestMTProtoOptionErrors(t *testing.T) {
	for _, tc := range []struct {
		block, want string
	}{
		{"{transport: intermediat}", "t.yaml:6:30: mtproto.transport \"intermediat\" is not an MTProto transport\nhint: did you mean \"intermediate\"?"},
		{"{transport: full, obfuscated: true}", "t.yaml:6:48: the full transport cannot be obfuscated\nhint: obfuscation carries abridged or intermediate framing: set transport: intermediate"},
		{"{dc: 2}", "t.yaml:6:23: mtproto.dc is only sent in the obfuscation header\nhint: set obfuscated: true, or leave dc out"},
		{"{obfuscated: true, dc: 0}", "t.yaml:6:41: mtproto.dc 0 is not a DC id\nhint: Telegram's DCs are 1 to 5"},
		{"{fingerprints: []}", "t.yaml:6:33: mtproto.fingerprints is empty: no answer could pass\nhint: leave fingerprints out to expect Telegram's production key"},
		{"{fingerprints: 0xd09d1d85de64fd85}", "t.yaml:6:33: mtproto.fingerprints must be a list of key fingerprints, got an integer\nhint: write a list: fingerprints: [0xd09d1d85de64fd85]"},
		{"{fingerprints: [12345]}", "t.yaml:6:34: mtproto.fingerprints item \"12345\" is not written in hex\nhint: " + fingerprintHint},
		{"{fingerprints: [0x1d09d1d85de64fd85]}", "t.yaml:6:34: mtproto.fingerprints item \"0x1d09d1d85de64fd85\" is not a 64-bit number\nhint: " + fingerprintHint},
		{"{fingerprints: ['0xzz']}", "t.yaml:6:34: mtproto.fingerprints item \"0xzz\" is not a hex number\nhint: " + fingerprintHint},
		{"{fingerprints: [{a: 1}]}", "t.yaml:6:34: mtproto.fingerprints item must be a hex number, got a mapping\nhint: " + fingerprintHint},
		{"{keys: [0x1]}", "t.yaml:6:19: unknown key \"keys\" in mtproto\nhint: known keys: transport, obfuscated, dc, fingerprints"},
	} {
		got := loadError(t, "target: mtproto://127.0.0.1:443\nmtproto: "+tc.block)
		if got != tc.want {
			t.Errorf("%s:\n got %s\nwant %s", tc.block, got, tc.want)
		}
	}
	if got := loadError(t, "target: mtproto://127.0.0.1"); !strings.Contains(got, "mtproto:// target has no port") {
		t.Errorf("no port: %s", got)
	}
	if got := loadError(t, "target: tcp://127.0.0.1:443\nmtproto: {obfuscated: true}"); !strings.Contains(got, "mtproto block does not apply to tcp:// targets") {
		t.Errorf("on tcp: %s", got)
	}
	if got := loadError(t, "target: mtproto://127.0.0.1:443\ntls: {server_name: x}"); !strings.Contains(got, "hint: Telegram's DCs speak MTProto, not TLS") {
		t.Errorf("tls block: %s", got)
	}
	ep := loadEndpoint(t, "target: mtproto://127.0.0.1:443\nmtproto: {obfuscated: true, dc: 2, fingerprints: [0xd09d1d85de64fd85, 0x1]}")
	if got := strings.Join(mtprotoNotes(ep), "; "); got != "intermediate; obfuscated (dc 2); fingerprints replaced" {
		t.Errorf("notes %q", got)
	}
	if o := optionsOf[MTProtoOptions](ep, "mtproto"); o.Keys[0] != mtproto.ProductionFingerprint {
		t.Errorf("fingerprint %#x", o.Keys[0])
	}
}

// BenchmarkMTProtoAttempt is one obfuscated req_pq_multi → resPQ against a
// loopback DC (bench_test.go's conventions: the DC's side is in the figures).
func BenchmarkMTProtoAttempt(b *testing.B) {
	ep := benchEndpoint(b, "mtproto://"+fixture.MTProtoServer(b, fixture.MTProtoDC{}))
	setOptions(ep, "mtproto", &MTProtoOptions{Obfuscated: true, DC: 2, Keys: []uint64{fixture.MTProtoTestFingerprint}})
	benchAttempts(b, ep)
}
