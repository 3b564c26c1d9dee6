package probe

import (
	"bytes"
	"encoding/hex"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/msgprobe/msgprobe/internal/fixture"
)

// loadWSEndpoint loads a one-endpoint configuration whose endpoint lines
// are given, indented under "- ", and returns the endpoint.
func loadWSEndpoint(t *testing.T, lines ...string) *Endpoint {
	t.Helper()
	cfg, err := Load("ws.yaml", []byte(wsDoc(lines...)), nil)
	if err != nil {
		t.Fatal(err)
	}
	return cfg.Services[0].Endpoints[0]
}

func wsDoc(lines ...string) string {
	return "version: 1\nservices:\n  - name: s\n    endpoints:\n      - " + strings.Join(lines, "\n        ") + "\n"
}

func TestLoadWebSocket(t *testing.T) {
	ep := loadWSEndpoint(t,
		"target: wss://gateway.discord.test/?v=10&encoding=json",
		"websocket:",
		"  subprotocols: [chat, superchat]",
		"  headers: {User-Agent: msgprobe, X-Token: '${TOKEN:-hunter2}'}",
		"  origin: https://web.example.test/",
		"  max_message: 64KiB",
		"  dialogue:",
		`    - expect: '"op":10'`,
		`    - send: '{"op":1,"d":null}'`,
		"    - send_hex: 'de ad:be ef'",
		"    - expect_hex: CAFE",
	)
	if ep.Kind != KindWSS || ep.Host != "gateway.discord.test" || ep.Port != "443" || ep.URL.RawQuery != "v=10&encoding=json" {
		t.Errorf("kind %s host %s port %s query %q", ep.Kind, ep.Host, ep.Port, ep.URL.RawQuery)
	}
	if ep.TLSConfig == nil {
		t.Error("wss:// endpoint has no TLS configuration")
	}
	o := wsOptions(ep)
	want := []WSStep{
		{WSExpect, []byte(`"op":10`)},
		{WSSend, []byte(`{"op":1,"d":null}`)},
		{WSSendHex, []byte{0xde, 0xad, 0xbe, 0xef}},
		{WSExpectHex, []byte{0xca, 0xfe}},
	}
	if fmt.Sprint(o.Dialogue) != fmt.Sprint(want) {
		t.Errorf("dialogue %v, want %v", o.Dialogue, want)
	}
	if strings.Join(o.Subprotocols, ",") != "chat,superchat" || o.Origin != "https://web.example.test" ||
		o.Headers["X-Token"] != "hunter2" || o.MaxMessage != 64<<10 {
		t.Errorf("options %+v", o)
	}
	notes := strings.Join(wsNotes(ep), "; ")
	if notes != "subprotocols chat,superchat; origin https://web.example.test; 2 headers; 4 dialogue steps; max message 64 KiB" {
		t.Errorf("notes %q", notes)
	}
	if strings.Contains(notes, "hunter2") {
		t.Error("notes show a header value")
	}

	plain := loadWSEndpoint(t, "target: ws://127.0.0.1")
	if plain.Kind != KindWS || plain.Port != "80" || plain.TLSConfig != nil {
		t.Errorf("ws:// endpoint: kind %s port %s TLS %v", plain.Kind, plain.Port, plain.TLSConfig)
	}
}

func TestLoadWebSocketErrors(t *testing.T) {
	tests := []struct {
		name  string
		lines []string
		want  string
	}{
		{"two keys in a step", []string{"target: ws://h/", "websocket:", "  dialogue:", "    - {send: a, expect: b}"},
			"ws.yaml:8:25: websocket.dialogue step 1 has both send and expect; a step does one thing\nhint: write them as two steps, each its own list item"},
		{"bad hex", []string{"target: ws://h/", "websocket: {dialogue: [{expect: x}, {send_hex: '0a zz'}]}"},
			"ws.yaml:6:56: websocket.dialogue step 2 send_hex: character 4 is not a hex digit\nhint: two hex digits per byte, like 0a1b2c; spaces or colons between bytes are allowed"},
		{"odd hex", []string{"target: ws://h/", "websocket: {dialogue: [{expect_hex: abc}]}"},
			"ws.yaml:6:45: websocket.dialogue step 1 expect_hex: odd number of hex digits\nhint: two hex digits per byte, like 0a1b2c; spaces or colons between bytes are allowed"},
		{"empty dialogue", []string{"target: ws://h/", "websocket: {dialogue: []}"},
			"ws.yaml:6:31: websocket.dialogue is empty\nhint: leave dialogue out to check the upgrade only"},
		{"empty step", []string{"target: ws://h/", "websocket: {dialogue: [{}]}"},
			"ws.yaml:6:32: websocket.dialogue step 1 is empty\nhint: a step is one of {send: TEXT}, {send_hex: HEX}, {expect: TEXT}, {expect_hex: HEX}"},
		{"step a string", []string{"target: ws://h/", "websocket: {dialogue: [send]}"},
			"ws.yaml:6:32: websocket.dialogue step 1 must be a mapping, got a string\nhint: a step is one of {send: TEXT}, {send_hex: HEX}, {expect: TEXT}, {expect_hex: HEX}"},
		{"misspelt step", []string{"target: ws://h/", "websocket: {dialogue: [{expct: x}]}"},
			"ws.yaml:6:33: unknown key \"expct\" in websocket.dialogue step 1\nhint: did you mean \"expect\"?"},
		{"empty expect", []string{"target: ws://h/", "websocket: {dialogue: [{expect: ''}]}"},
			"ws.yaml:6:41: websocket.dialogue step 1 expect is empty\nhint: an empty expectation matches anything; leave the step out, or expect the message's text"},
		{"reserved header", []string{"target: ws://h/", "websocket: {headers: {Sec-WebSocket-Protocol: chat}}"},
			"ws.yaml:6:31: websocket.headers: Sec-WebSocket-Protocol is set by the WebSocket handshake\nhint: use websocket.subprotocols"},
		{"header with a line break", []string{"target: ws://h/", `websocket: {headers: {X-Token: "hunter2\r\nX: y"}}`},
			"ws.yaml:6:40: header \"X-Token\" has a line break or NUL in its value"},
		{"origin twice", []string{"target: ws://h/", "websocket: {origin: 'https://a.test', headers: {Origin: 'https://hunter2.test'}}"},
			"ws.yaml:6:21: websocket.origin and websocket.headers.Origin both set the Origin\nhint: keep one of them"},
		{"origin with a path", []string{"target: ws://h/", "websocket: {origin: 'https://a.test/app'}"},
			"ws.yaml:6:29: websocket.origin \"https://a.test/app\" has a path\nhint: did you mean \"https://a.test\"?"},
		{"subprotocol not a token", []string{"target: ws://h/", "websocket: {subprotocols: ['a b']}"},
			"ws.yaml:6:36: websocket.subprotocols item \"a b\" is not a token\nhint: a subprotocol is a token: letters, digits and !#$%&'*+-.^_`|~"},
		{"max_message too big", []string{"target: ws://h/", "websocket: {max_message: 100MiB}"},
			"ws.yaml:6:34: websocket.max_message must be between 1 byte and 16 MiB"},
		{"max_message words", []string{"target: ws://h/", "websocket: {max_message: big}"},
			"ws.yaml:6:34: websocket.max_message \"big\" is not a size\nhint: write a size like 65536, \"64KiB\" or \"1MiB\""},
		{"unknown key", []string{"target: ws://h/", "websocket: {subprotocol: [a]}"},
			"ws.yaml:6:21: unknown key \"subprotocol\" in websocket\nhint: did you mean \"subprotocols\"?"},
		{"tls on ws", []string{"target: ws://h/", "tls: {server_name: h}"},
			"ws.yaml:6:9: tls block does not apply to ws:// targets\nhint: use a wss:// target"},
		{"fragment", []string{"target: 'wss://h/chat#x'"},
			"ws.yaml:5:17: wss:// target must not have a fragment\nhint: leave out the #...; a WebSocket URL has none (RFC 6455 §3)"},
		{"websocket on https", []string{"target: https://h/", "websocket: {origin: 'https://a.test'}"},
			"ws.yaml:6:9: websocket block does not apply to https:// targets"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Load("ws.yaml", []byte(wsDoc(tt.lines...)), nil)
			if err == nil {
				t.Fatalf("loaded:\n%s", wsDoc(tt.lines...))
			}
			if err.Error() != tt.want {
				t.Errorf("got\n%v\nwant\n%s", err, tt.want)
			}
			if strings.Contains(err.Error(), "hunter2") {
				t.Errorf("error shows a header value: %v", err)
			}
		})
	}
}

// discordLike plays the opening of Discord's gateway (research/protocols.md
// §2d): Hello (op 10) at once, then a Heartbeat ACK (op 11) for each
// Heartbeat (op 1).
func discordLike(ack string) []fixture.WSAction {
	return []fixture.WSAction{
		fixture.WSSend(`{"t":null,"s":null,"op":10,"d":{"heartbeat_interval":41250}}`),
		fixture.WSExpect(`"op":1`),
		fixture.WSSend(ack),
	}
}

var discordDialogue = []string{
	"websocket:",
	"  dialogue:",
	`    - expect: '"op":10'`,
	`    - send: '{"op":1,"d":null}'`,
	`    - expect: '"op":11'`,
}

func TestWSProbeDialogue(t *testing.T) {
	base := fixture.WSServer(t, nil, nil, discordLike(`{"op":11}`)...)
	ep := loadWSEndpoint(t, append([]string{"target: " + base + "/?v=10&encoding=json"}, discordDialogue...)...)
	a := runProbe(t, ep, nil, 5*time.Second)
	wantOK(t, a)
	var phases []Phase
	for _, s := range a.Timings.Steps {
		phases = append(phases, s.Phase)
	}
	if fmt.Sprint(phases) != "[upgrade dialogue]" {
		t.Errorf("steps %v, want upgrade and dialogue timed", phases)
	}
}

func TestWSSProbeDialogue(t *testing.T) {
	ca := fixture.NewCA(t)
	cert := ca.Valid("127.0.0.1")
	base := fixture.WSServer(t, &cert, []string{"json"}, discordLike(`{"op":11}`)...)
	pem := strings.ReplaceAll(strings.TrimSpace(string(ca.PEM())), "\n", "\n            ")
	lines := append([]string{"target: " + base + "/", "tls:", "  ca_pem: |", "    " + pem}, discordDialogue...)
	lines = append(lines, "  subprotocols: [json]")
	ep := loadWSEndpoint(t, lines...)
	a := runProbe(t, ep, nil, 5*time.Second)
	wantOK(t, a)
	if a.TLS == nil || !a.TLS.Verified || a.Details["subprotocol"] != "json" {
		t.Errorf("TLS %+v, details %v: want a verified handshake and the subprotocol", a.TLS, a.Details)
	}

	// Without the test CA, the system roots do not know the certificate.
	ep = loadWSEndpoint(t, "target: "+base+"/")
	wantFailure(t, runProbe(t, ep, nil, 5*time.Second), ClassTLSCertUntrusted, PhaseTLS)
}

func TestWSProbeSendsHeadersAndOrigin(t *testing.T) {
	seen := make(chan http.Header, 1)
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case seen <- r.Header.Clone():
		default:
		}
		c, err := websocket.Accept(w, r, &websocket.AcceptOptions{OriginPatterns: []string{"web.example.test"}})
		if err != nil {
			return
		}
		_ = c.Close(websocket.StatusNormalClosure, "")
	})
	base := "ws" + strings.TrimPrefix(fixture.HTTPServer(t, h, nil), "http")
	ep := loadWSEndpoint(t, "target: "+base+"/chat", "websocket: {origin: 'https://web.example.test', headers: {X-Probe: yes-it-is}}")
	wantOK(t, runProbe(t, ep, nil, 5*time.Second))
	hdr := <-seen
	if hdr.Get("Origin") != "https://web.example.test" || hdr.Get("X-Probe") != "yes-it-is" {
		t.Errorf("request headers %v", hdr)
	}

	// coder/websocket's Accept refuses an origin it does not know with 403.
	ep = loadWSEndpoint(t, "target: "+base+"/chat", "websocket: {origin: 'https://evil.test'}")
	a := runProbe(t, ep, nil, 5*time.Second)
	wantFailure(t, a, ClassWSUpgrade, PhaseUpgrade)
	if a.Failure.Error() != "connected, no WebSocket upgrade (HTTP 403)" {
		t.Errorf("message %q", a.Failure.Error())
	}
}

func TestWSProbeHostileServers(t *testing.T) {
	long := strings.Repeat("the expectation text is long and private ", 4)
	tests := []struct {
		name   string
		target func(t *testing.T) string
		steps  []string
		class  Class
		phase  Phase
		msg    string
	}{
		{"wrong answer", func(t *testing.T) string {
			return fixture.WSServer(t, nil, nil, discordLike(`{"t":null,"s":null,"op":9,"d":false,"padding":"`+strings.Repeat("x", 200)+`"}`)...)
		}, discordDialogue[2:], ClassProtocol, PhaseDialogue,
			"WebSocket dialogue step 3 (expect) not met: got `{\"t\":null,\"s\":null,\"op\":9,\"d\":false,\"pad`…"},
		{"wrong binary answer", func(t *testing.T) string {
			return fixture.WSServer(t, nil, nil, fixture.WSSendBinary(bytes.Repeat([]byte{0xff, 0x00}, 40)))
		}, []string{"    - expect_hex: 'ca fe'"}, ClassProtocol, PhaseDialogue,
			"WebSocket dialogue step 1 (expect_hex) not met: got 80 bytes ff00ff00ff00ff00ff00ff00ff00ff00ff00ff00…"},
		{"long expectation not echoed", func(t *testing.T) string {
			return fixture.WSServer(t, nil, nil, fixture.WSSend("short"))
		}, []string{"    - expect: '" + long + "'"}, ClassProtocol, PhaseDialogue,
			"WebSocket dialogue step 1 (expect) not met: got `short`"},
		{"silence after the upgrade", func(t *testing.T) string { return fixture.WSRaw{}.Serve(t) },
			discordDialogue[2:], ClassProtocolTimeout, PhaseDialogue, "connected, no WebSocket message for dialogue step 1 in 500ms"},
		{"no answer to the heartbeat", func(t *testing.T) string {
			return fixture.WSServer(t, nil, nil, discordLike(`{"op":11}`)[:2]...)
		}, discordDialogue[2:], ClassProtocolTimeout, PhaseDialogue, "connected, no WebSocket message for dialogue step 3 in 500ms"},
		{"drips the hello", func(t *testing.T) string {
			return fixture.WSRaw{After: fixture.WSFrame(0x1, []byte(`{"op":10}`)), Interval: 100 * time.Millisecond}.Serve(t)
		}, discordDialogue[2:], ClassProtocolTimeout, PhaseUpgrade, "connected, WebSocket upgrade answer incomplete after 500ms"},
		{"closes mid-dialogue", func(t *testing.T) string {
			return fixture.WSServer(t, nil, nil, fixture.WSSend(`{"op":10}`), fixture.WSClose(4004, "Authentication failed."))
		}, discordDialogue[2:], ClassProtocol, PhaseDialogue, "WebSocket closed by the server: 4004 `Authentication failed.`"},
		{"100 MB frame", func(t *testing.T) string {
			return fixture.WSRaw{After: fixture.WSFrameHeader(0x1, 100<<20)}.Serve(t)
		}, discordDialogue[2:], ClassProtocol, PhaseDialogue, "WebSocket message over 1 MiB"},
		{"accepts and never answers", func(t *testing.T) string { return "ws://" + fixture.TCPListener(t) },
			discordDialogue[2:], ClassProtocolTimeout, PhaseUpgrade, "connected, no WebSocket upgrade in 500ms"},
		{"garbage", func(t *testing.T) string { return "ws://" + fixture.DripServer(t, []byte("220 smtp ready\r\n\r\n"), 0) },
			discordDialogue[2:], ClassProtocol, PhaseUpgrade, "connected, answer to the WebSocket upgrade is not HTTP"},
		{"refused", func(t *testing.T) string { return "ws://" + fixture.ClosedPort(t) },
			discordDialogue[2:], ClassConnectionRefused, PhaseConnect, "connection refused"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			lines := append([]string{"target: " + tt.target(t) + "/", "timeout: 500ms", "websocket:", "  dialogue:"}, tt.steps...)
			ep := loadWSEndpoint(t, lines...)
			start := time.Now()
			a := runProbe(t, ep, nil, ep.Timeout)
			if took := time.Since(start); took > ep.Timeout+time.Second {
				t.Errorf("took %v with a timeout of %v", took, ep.Timeout)
			}
			wantFailure(t, a, tt.class, tt.phase)
			if a.Failure.Error() != tt.msg {
				t.Errorf("message\n%s\nwant\n%s", a.Failure.Error(), tt.msg)
			}
			if strings.Contains(a.Failure.Error(), "private") {
				t.Error("the message echoes the expectation")
			}
		})
	}
}

// A server ping between two messages is answered, and the expect after it
// still sees the message, not the ping.
func TestWSProbePingDuringDialogue(t *testing.T) {
	rec := &fixture.WSRecord{}
	after := append(fixture.WSFrame(0x1, []byte(`{"op":10}`)), fixture.WSFrame(0x9, []byte("beat"))...)
	after = append(after, fixture.WSFrame(0xA, []byte("unasked pong"))...)
	after = append(after, fixture.WSFrame(0x1, []byte(`{"op":11}`))...)
	target := fixture.WSRaw{After: after, Record: rec}.Serve(t)
	ep := loadWSEndpoint(t, "target: "+target+"/", "websocket: {dialogue: [{expect: '\"op\":10'}, {expect: '\"op\":11'}]}")
	wantOK(t, runProbe(t, ep, nil, 5*time.Second))
	frames := rec.Wait(t, 5*time.Second, func(fs []fixture.WSFrameSeen) bool { return len(fs) >= 1 })
	if frames[0].Opcode != 0xA || string(frames[0].Payload) != "beat" {
		t.Errorf("client's first frame %x %q, want the pong", frames[0].Opcode, frames[0].Payload)
	}
}

func TestDecodeWSHex(t *testing.T) {
	for in, want := range map[string]string{"": "", "0a": "0a", "DE:AD:be:ef": "deadbeef", " 01 02\t03\n": "010203"} {
		got, err := decodeWSHex(in)
		if err != nil || hex.EncodeToString(got) != want {
			t.Errorf("decodeWSHex(%q) = %x, %v; want %s", in, got, err, want)
		}
	}
	for in, want := range map[string]string{"0": "odd number of hex digits", "0 a": "odd hex digit before character 2", "0g": "character 2 is not a hex digit", "0x0a": "character 2 is not a hex digit"} {
		if _, err := decodeWSHex(in); err == nil || err.Error() != want {
			t.Errorf("decodeWSHex(%q) error %v, want %s", in, err, want)
		}
	}
}

// FuzzWSDialogue feeds the pure parts that see a server's words: the hex
// of a step, the matcher and the description of a message that did not
// match. They never panic, hex round-trips, and a failure's message stays
// short and never carries the expectation.
func FuzzWSDialogue(f *testing.F) {
	f.Add("0a 1b:2C", []byte(`{"op":11}`), `"op":11`, false)
	f.Add("zz", []byte{0xff, 0xfe, 0x00}, "x", true)
	f.Add("", []byte("€€€€€€€€€€€€€€€€€€€€€€€€€€€€€€€€€€€€€€€€€"), "€", false)
	f.Fuzz(func(t *testing.T, hexText string, msg []byte, want string, asHex bool) {
		if b, err := decodeWSHex(hexText); err == nil {
			if again, err := decodeWSHex(hex.EncodeToString(b)); err != nil || !bytes.Equal(again, b) {
				t.Fatalf("hex of %x does not round-trip: %x, %v", b, again, err)
			}
		}
		if want == "" {
			return
		}
		kind := WSExpect
		if asHex {
			kind = WSExpectHex
		}
		err := matchWSStep(WSStep{Kind: kind, Data: []byte(want)}, 1, msg)
		if (err == nil) != bytes.Contains(msg, []byte(want)) {
			t.Fatalf("match of %q in %q: %v", want, msg, err)
		}
		if err == nil {
			return
		}
		text := err.Error()
		if len(text) > 200 || strings.ContainsAny(text, "\r\n") {
			t.Fatalf("message too long or on several lines: %q", text)
		}
		if len(want) > shortPrefix+10 && strings.Contains(text, want) {
			t.Fatalf("message carries the expectation: %q", text)
		}
	})
}
