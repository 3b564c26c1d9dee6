package probe

import (
	"strings"
	"testing"
	"time"

	"github.com/msgprobe/msgprobe/internal/fixture"
)

// signalEndpoint loads a signal:// endpoint at addr that trusts ca, with
// the given signal block (empty: none) and a 2s timeout.
func signalEndpoint(t *testing.T, addr string, ca *fixture.CA, block string) *Endpoint {
	t.Helper()
	doc := "version: 1\nservices:\n  - name: Signal\n    endpoints:\n      - target: signal://" + addr + "\n" +
		"        timeout: 2s\n        tls:\n          ca_pem: |\n"
	for _, line := range strings.Split(strings.TrimSpace(string(ca.PEM())), "\n") {
		doc += "            " + line + "\n"
	}
	if block != "" {
		doc += "        signal: " + block + "\n"
	}
	cfg, err := Load("signal.yaml", []byte(doc), nil)
	if err != nil {
		t.Fatal(err)
	}
	return cfg.Services[0].Endpoints[0]
}

func stepPhases(a Attempt) string {
	var ps []string
	for _, s := range a.Timings.Steps {
		ps = append(ps, string(s.Phase))
	}
	return strings.Join(ps, " ")
}

func TestSignalKeepalive(t *testing.T) {
	ca := fixture.NewCA(t)
	srv := fixture.StartSignal(t, ca.Valid("127.0.0.1"), fixture.SignalHealthy)
	ep := signalEndpoint(t, srv.Addr, ca, "")
	if ep.URL.Path != "/v1/websocket/" || optionsOf[signalOptions](ep, "signal").Socket != "chat" {
		t.Errorf("defaults: path %q, socket %q", ep.URL.Path, optionsOf[signalOptions](ep, "signal").Socket)
	}
	a := runProbe(t, ep, nil, 5*time.Second)
	wantOK(t, a)
	if srv.Keepalives() != 1 {
		t.Errorf("server read %d keepalives", srv.Keepalives())
	}
	if a.TLS == nil || a.Timings.TLS <= 0 || stepPhases(a) != "upgrade dialogue" {
		t.Errorf("tls %v (%v), steps %q", a.TLS, a.Timings.TLS, stepPhases(a))
	}
	if _, ok := a.Details["server_time"]; !ok {
		t.Errorf("details %v, want the server's time", a.Details)
	}
}

func TestSignalProvisioning(t *testing.T) {
	ca := fixture.NewCA(t)
	srv := fixture.StartSignal(t, ca.Valid("127.0.0.1"), fixture.SignalHealthy)
	ep := signalEndpoint(t, srv.Addr, ca, "{socket: provisioning}")
	if ep.URL.Path != "/v1/websocket/provisioning/" {
		t.Errorf("path %q", ep.URL.Path)
	}
	a := runProbe(t, ep, nil, 5*time.Second)
	wantOK(t, a)
	if a.Details["address_length"] != 24 {
		t.Errorf("details %v", a.Details)
	}
	// The keepalive path on the provisioning socket is not what it is for:
	// the chat path given explicitly with socket: provisioning is judged
	// as a provisioning socket, and the chat socket sends no address.
	ep = signalEndpoint(t, srv.Addr+"/v1/websocket/", ca, "{socket: provisioning}")
	wantFailure(t, runProbe(t, ep, nil, 5*time.Second), ClassProtocolTimeout, PhaseDialogue)
}

func TestSignalHostileServers(t *testing.T) {
	ca := fixture.NewCA(t)
	for _, tc := range []struct {
		name   string
		mode   fixture.SignalMode
		socket string
		class  Class
		says   string
	}{
		{"silent after upgrade", fixture.SignalSilent, "", ClassProtocolTimeout, "connected, no Signal keepalive answer in 2s"},
		{"wrong id", fixture.SignalWrongID, "", ClassProtocol, "under id 2, not 1"},
		{"status 500", fixture.SignalStatus500, "", ClassProtocol, "with status 500"},
		{"no timestamp", fixture.SignalNoTimestamp, "", ClassProtocolUntrusted, "without X-Signal-Timestamp"},
		{"huge message", fixture.SignalHuge, "", ClassProtocol, "WebSocket message over "},
		{"garbage", fixture.SignalGarbage, "", ClassProtocol, "malformed WebSocket message"},
		{"text", fixture.SignalText, "", ClassProtocol, "in a text message"},
		{"provisioning silent", fixture.SignalSilent, "{socket: provisioning}", ClassProtocolTimeout, "connected, no Signal provisioning address in 2s"},
		{"provisioning elsewhere", fixture.SignalWrongID, "{socket: provisioning}", ClassProtocol, "not PUT /v1/address"},
		{"provisioning empty", fixture.SignalShortAddress, "{socket: provisioning}", ClassProtocol, "empty address"},
		{"provisioning huge", fixture.SignalHuge, "{socket: provisioning}", ClassProtocol, "WebSocket message over "},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := fixture.StartSignal(t, ca.Valid("127.0.0.1"), tc.mode)
			start := time.Now()
			a := runProbe(t, signalEndpoint(t, srv.Addr, ca, tc.socket), nil, 2*time.Second)
			wantFailure(t, a, tc.class, PhaseDialogue)
			if !strings.Contains(a.Failure.Error(), tc.says) {
				t.Errorf("failure %q does not say %q", a.Failure, tc.says)
			}
			if took := time.Since(start); took > 3*time.Second {
				t.Errorf("took %v with a 2s timeout", took)
			}
			if tc.class != ClassProtocolTimeout && time.Since(start) > time.Second {
				t.Errorf("a wrong answer took %v to judge: it must not wait for the timeout", time.Since(start))
			}
		})
	}
}

// Under signal://, TLS comes first: a listener that accepts and says
// nothing times out in the handshake, before any Signal framing.
func TestSignalSilentListenerFailsAtTLS(t *testing.T) {
	ca := fixture.NewCA(t)
	a := runProbe(t, signalEndpoint(t, fixture.TCPListener(t), ca, ""), nil, 2*time.Second)
	wantFailure(t, a, ClassTimeout, PhaseTLS)
}

func TestSignalUntrustedCertificate(t *testing.T) {
	ca, other := fixture.NewCA(t), fixture.NewCA(t)
	srv := fixture.StartSignal(t, other.Valid("127.0.0.1"), fixture.SignalHealthy)
	a := runProbe(t, signalEndpoint(t, srv.Addr, ca, ""), nil, 2*time.Second)
	wantFailure(t, a, ClassTLSCertUntrusted, PhaseTLS)
	if srv.Keepalives() != 0 {
		t.Error("a keepalive reached a server whose certificate was refused")
	}
}

func TestSignalConfigErrors(t *testing.T) {
	for _, tc := range []struct{ endpoint, want string }{
		{`{target: "signal://chat.signal.org", signal: {socket: chats}}`, `signal.socket "chats" is not chat or provisioning`},
		{`{target: "signal://u:p@chat.signal.org"}`, "must not carry a user name or password"},
		{`{target: "signal://chat.signal.org/?x=1"}`, "must not have a query"},
		{`{target: "tls://chat.signal.org:443", signal: {socket: chat}}`, "signal block does not apply to tls:// targets"},
		{`{target: "signal://chat.signal.org", signal: {sock: chat}}`, "sock"},
	} {
		doc := "version: 1\nservices:\n  - name: S\n    endpoints:\n      - " + tc.endpoint + "\n"
		_, err := Load("s.yaml", []byte(doc), nil)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want %q", tc.endpoint, err, tc.want)
		}
	}
}
