package probe

import (
	"encoding/hex"
	"fmt"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/msgprobe/msgprobe/internal/fixture"
	"github.com/msgprobe/msgprobe/internal/proto/whatsapp"
	"github.com/msgprobe/msgprobe/internal/proto/whatsapp/watest"
)

func whatsAppNoEnv(string) (string, bool) { return "", false }

// loadWhatsAppEndpoint loads a configuration of one service with the endpoint
// written in YAML (indented for the list) and returns that endpoint, as
// the loader builds it.
func loadWhatsAppEndpoint(t *testing.T, endpoint string) *Endpoint {
	t.Helper()
	cfg, err := Load("test.yaml", []byte("version: 1\nservices:\n  - name: WhatsApp\n    endpoints:\n"+endpoint), whatsAppNoEnv)
	if err != nil {
		t.Fatalf("load: %v", err)
	}
	return cfg.Services[0].Endpoints[0]
}

// whatsAppEndpoint is an endpoint for target that trusts pki's root.
func whatsAppEndpoint(t *testing.T, target string, pki *watest.PKI, extra string) *Endpoint {
	t.Helper()
	root := ""
	if pki != nil {
		root = "          root_key: " + hex.EncodeToString(pki.Root.Public[:]) + "\n"
	}
	return loadWhatsAppEndpoint(t, "      - name: chat\n        target: "+target+"\n        whatsapp:\n"+root+extra)
}

func wantFailureSays(t *testing.T, a Attempt, msg string) {
	t.Helper()
	if a.Failure == nil || !strings.Contains(a.Failure.Error(), msg) {
		t.Fatalf("failure = %v, want it to say %q", a.Failure, msg)
	}
}

func TestWhatsAppHandshakeOverTCPAndWebSocket(t *testing.T) {
	pki := watest.NewPKI(time.Now())
	mobile := pki.Server()
	mobile.Header = whatsapp.HeaderMobile
	ca := fixture.NewCA(t)
	cert := ca.Valid("127.0.0.1")
	web := fixture.WhatsApp{Server: pki.Server(), Origin: "https://web.whatsapp.com"}
	secure := web
	secure.Cert = &cert
	tlsBlock := "        tls:\n          ca_pem: |\n" + indentBlock(string(ca.PEM()), "            ")

	for _, tc := range []struct {
		name, target, extra string
		phases              []Phase
	}{
		// Raw TCP framing speaks the mobile header unless told otherwise.
		{"raw TCP", "whatsapp://" + fixture.WhatsAppTCP(t, fixture.WhatsApp{Server: mobile}), "", nil},
		{"raw TCP, web header", "whatsapp://" + fixture.WhatsAppTCP(t, fixture.WhatsApp{Server: pki.Server()}), "          header: \"57410603\"\n", nil},
		{"WebSocket", strings.Replace(fixture.WhatsAppWS(t, web), "ws://", "whatsapp+ws://", 1), "", []Phase{PhaseUpgrade}},
		{"WebSocket, default path", strings.TrimSuffix(strings.Replace(fixture.WhatsAppWS(t, web), "ws://", "whatsapp+ws://", 1), "/ws/chat"), "", []Phase{PhaseUpgrade}},
		{"WebSocket over TLS", strings.Replace(fixture.WhatsAppWS(t, secure), "wss://", "whatsapp+wss://", 1), tlsBlock, []Phase{PhaseUpgrade}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ep := whatsAppEndpoint(t, tc.target, pki, tc.extra)
			a := runProbe(t, ep, nil, 5*time.Second)
			wantOK(t, a)
			want := map[string]any{
				"leaf_serial": uint32(815), "leaf_issuer_serial": uint32(4711),
				"intermediate_serial": uint32(4711), "intermediate_issuer_serial": uint32(0),
				"leaf_not_after":  pki.LeafCert.NotAfter.UTC().Format(time.RFC3339),
				"static_key":      hex.EncodeToString(pki.Leaf.Public[:]),
				"leaf_not_before": pki.LeafCert.NotBefore.UTC().Format(time.RFC3339),
			}
			for k, v := range want {
				if a.Details[k] != v {
					t.Errorf("detail %s = %v (%T), want %v", k, a.Details[k], a.Details[k], v)
				}
			}
			var got []Phase
			for _, s := range a.Timings.Steps {
				got = append(got, s.Phase)
			}
			if wantSteps := append(tc.phases, PhaseHandshake); fmt.Sprint(got) != fmt.Sprint(wantSteps) {
				t.Errorf("steps = %v, want %v", got, wantSteps)
			}
			if ep.Kind == KindWhatsAppWSS && (a.TLS == nil || !a.TLS.Verified) {
				t.Errorf("TLS = %+v, want a verified handshake", a.TLS)
			}
		})
	}
}

func indentBlock(s, prefix string) string {
	lines := strings.SplitAfter(strings.TrimRight(s, "\n"), "\n")
	return prefix + strings.Join(lines, prefix) + "\n"
}

// Without root_key the chain must be signed by WhatsApp's own root, which
// no test holds: a perfectly formed handshake from anyone else is
// untrusted.
func TestWhatsAppBuiltinRootRejectsOthers(t *testing.T) {
	pki := watest.NewPKI(time.Now())
	ep := whatsAppEndpoint(t, "whatsapp://"+fixture.WhatsAppTCP(t, fixture.WhatsApp{Server: whatsAppMobileServer(pki)}), nil, "")
	a := runProbe(t, ep, nil, 5*time.Second)
	wantFailure(t, a, ClassProtocolUntrusted, PhaseHandshake)
	wantFailureSays(t, a, "WhatsApp certificate chain not signed by WhatsApp's root key")
}

func whatsAppMobileServer(pki *watest.PKI) *watest.Server {
	s := pki.Server()
	s.Header = whatsapp.HeaderMobile
	return s
}

// Every hostile server ends the attempt within its timeout, with the class
// and phase that name what went wrong, over both transports.
func TestWhatsAppHostileServers(t *testing.T) {
	const timeout = 400 * time.Millisecond
	now := time.Now()
	type variant struct {
		name  string
		wa    func(pki *watest.PKI) fixture.WhatsApp
		class Class
		msg   string
	}
	mode := func(m fixture.WhatsAppMode) func(*watest.PKI) fixture.WhatsApp {
		return func(pki *watest.PKI) fixture.WhatsApp {
			return fixture.WhatsApp{Server: pki.Server(), Mode: m, Interval: 30 * time.Millisecond}
		}
	}
	chain := func(change func(p *watest.PKI, s *watest.Server)) func(*watest.PKI) fixture.WhatsApp {
		return func(pki *watest.PKI) fixture.WhatsApp {
			srv := pki.Server()
			change(pki, srv)
			return fixture.WhatsApp{Server: srv}
		}
	}
	for _, v := range []variant{
		{"silent", mode(fixture.WhatsAppSilent), ClassProtocolTimeout, "connected, no WhatsApp handshake reply in 400ms"},
		{"garbage", mode(fixture.WhatsAppGarbage), ClassProtocol, `over the 65536-byte limit (the answer starts "HTT")`},
		{"byte by byte", mode(fixture.WhatsAppDrip), ClassProtocolTimeout, "connected, WhatsApp handshake reply incomplete after 400ms"},
		{"closes midway", mode(fixture.WhatsAppCloseMidway), ClassEOF, "inside its handshake reply"},
		{"huge length prefix", mode(fixture.WhatsAppHugeFrame), ClassProtocol, "WhatsApp frame of 16777215 bytes, over the 65536-byte limit"},
		{"another root", chain(func(p *watest.PKI, s *watest.Server) {
			p.Root = watest.NewKey()
			s.Chain = p.Chain()
		}), ClassProtocolUntrusted, "certificate chain not signed by the root key"},
		{"expired leaf", chain(func(p *watest.PKI, s *watest.Server) {
			p.LeafCert.NotBefore, p.LeafCert.NotAfter = now.AddDate(0, -2, 0), now.AddDate(0, 0, -3)
			s.Chain = p.Chain()
		}), ClassProtocolUntrusted, "WhatsApp leaf certificate expired on " + now.AddDate(0, 0, -3).UTC().Format(time.DateOnly)},
		{"leaf key is not the static key", chain(func(p *watest.PKI, s *watest.Server) {
			s.Static = watest.NewKey()
		}), ClassProtocolUntrusted, "leaf certificate is for another key than the server's static key"},
		{"wrong issuer serial", chain(func(p *watest.PKI, s *watest.Server) {
			p.LeafCert.IssuerSerial = 12
			s.Chain = p.Chain()
		}), ClassProtocolUntrusted, "leaf certificate issued by serial 12, not the intermediate's 4711"},
	} {
		for _, transport := range []string{"tcp", "ws"} {
			t.Run(v.name+"/"+transport, func(t *testing.T) {
				pki := watest.NewPKI(now)
				root := *pki // the client trusts the root the chain was first made with
				wa := v.wa(pki)
				var target, extra string
				if transport == "tcp" {
					target = "whatsapp://" + fixture.WhatsAppTCP(t, wa)
					extra = "          header: 57410603\n"
				} else {
					target = strings.Replace(fixture.WhatsAppWS(t, wa), "ws://", "whatsapp+ws://", 1)
				}
				ep := whatsAppEndpoint(t, target, &root, extra)
				ep.Timeout = timeout
				start := time.Now()
				a := runProbe(t, ep, nil, timeout)
				if took := time.Since(start); took > timeout+time.Second {
					t.Errorf("attempt took %v with a %v timeout", took, timeout)
				}
				wantFailure(t, a, v.class, PhaseHandshake)
				wantFailureSays(t, a, v.msg)
			})
		}
	}
}

// A 16 MiB length prefix is refused from its three bytes: the attempt
// allocates nothing near the frame's size.
func TestWhatsAppHugeFrameAllocatesLittle(t *testing.T) {
	addr := fixture.WhatsAppTCP(t, fixture.WhatsApp{Mode: fixture.WhatsAppHugeFrame})
	ep := whatsAppEndpoint(t, "whatsapp://"+addr, nil, "          header: 57410603\n")
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	a := runProbe(t, ep, nil, 2*time.Second)
	runtime.ReadMemStats(&after)
	wantFailure(t, a, ClassProtocol, PhaseHandshake)
	// The fixture's server runs in this process too; 1 MiB leaves room
	// for both sides' keys and buffers and none for a 16 MiB frame.
	if grew := after.TotalAlloc - before.TotalAlloc; grew > 1<<20 {
		t.Fatalf("the attempt allocated %d bytes", grew)
	}
}

// Over WebSocket the web client's Origin is sent: the fixture refuses an
// upgrade without it.
func TestWhatsAppSendsTheWebOrigin(t *testing.T) {
	pki := watest.NewPKI(time.Now())
	url := fixture.WhatsAppWS(t, fixture.WhatsApp{Server: pki.Server(), Origin: "https://web.whatsapp.com"})
	ep := whatsAppEndpoint(t, strings.Replace(url, "ws://", "whatsapp+ws://", 1), pki, "")
	wantOK(t, runProbe(t, ep, nil, 5*time.Second))

	other := fixture.WhatsAppWS(t, fixture.WhatsApp{Server: pki.Server(), Origin: "https://example.org"})
	ep = whatsAppEndpoint(t, strings.Replace(other, "ws://", "whatsapp+ws://", 1), pki, "")
	a := runProbe(t, ep, nil, 5*time.Second)
	wantFailure(t, a, ClassWSUpgrade, PhaseUpgrade)
}

// The raw TCP framing's default header is the mobile one: a web-header
// server hangs up on it, which reads as WhatsApp closing.
func TestWhatsAppHeaderMismatch(t *testing.T) {
	pki := watest.NewPKI(time.Now())
	ep := whatsAppEndpoint(t, "whatsapp://"+fixture.WhatsAppTCP(t, fixture.WhatsApp{Server: pki.Server()}), pki, "")
	a := runProbe(t, ep, nil, 5*time.Second)
	if a.Failure == nil || (a.Failure.Class != ClassEOF && a.Failure.Class != ClassConnectionReset) || a.Failure.Phase != PhaseHandshake {
		t.Fatalf("failure = %+v, want the server hanging up at handshake", a.Failure)
	}
}

// A silent listener is down under whatsapp:// while tcp:// on the same
// port is up, and the service's reason names both.
func TestWhatsAppSilentListenerNamesBothLayers(t *testing.T) {
	addr := fixture.TCPListener(t)
	cfg, err := Load("test.yaml", []byte(fmt.Sprintf(`version: 1
defaults: {timeout: 300ms, samples: 1}
services:
  - name: WhatsApp
    functions:
      messaging: {critical: true}
    endpoints:
      - {name: chat, target: "whatsapp://%s", role: messaging}
      - {name: chat-tcp, target: "tcp://%s"}
`, addr, addr)), whatsAppNoEnv)
	if err != nil {
		t.Fatal(err)
	}
	res := (&Runner{}).Run(t.Context(), cfg)
	svc := res.Services[0]
	if svc.Status != Down {
		t.Fatalf("service %s (%s), want down", svc.Status, svc.Reason)
	}
	if want := "messaging down (chat: connected, no WhatsApp handshake reply in 300ms), chat-tcp up"; svc.Reason != want {
		t.Fatalf("reason = %q, want %q", svc.Reason, want)
	}
}

func TestWhatsAppConfigErrors(t *testing.T) {
	for _, tc := range []struct {
		block, want string
	}{
		{"root_key: abcd", "test.yaml:7:21: whatsapp.root_key must be 64 hex digits (32 bytes), got 4\nhint: the root is a 32-byte Curve25519 public key, 64 hex digits"},
		{"root_key: " + strings.Repeat("zz", 32), "test.yaml:7:21: whatsapp.root_key has a character that is not a hex digit (at digit 1)"},
		{"root_key: FCN1V00KWHFmqucevlFkN8Sii3PjaVxs4ff5VF2o7ms=", "hint: it looks like base64; write the key in hex"},
		{"header: 41570603", "test.yaml:7:19: whatsapp.header must start with \"WA\" (5741)"},
		{"header: 574106", "whatsapp.header must be 8 hex digits (4 bytes), got 6"},
		{"root: x", `unknown key "root" in whatsapp`},
	} {
		_, err := Load("test.yaml", []byte("version: 1\nservices:\n  - name: WhatsApp\n    endpoints:\n      - target: whatsapp://127.0.0.1:1\n        whatsapp:\n          "+tc.block+"\n"), whatsAppNoEnv)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err = %v, want %q", tc.block, err, tc.want)
		}
	}
	// A secret-looking value is never quoted back.
	_, err := Load("test.yaml", []byte("version: 1\nservices:\n  - name: WhatsApp\n    endpoints:\n      - target: whatsapp://127.0.0.1:1\n        whatsapp: {root_key: s3cr3tvalue}\n"), whatsAppNoEnv)
	if err == nil || strings.Contains(err.Error(), "s3cr3tvalue") {
		t.Errorf("err = %v, want an error that does not quote the value", err)
	}
	// The block belongs to the WhatsApp schemes only.
	_, err = Load("test.yaml", []byte("version: 1\nservices:\n  - name: WhatsApp\n    endpoints:\n      - target: tcp://127.0.0.1:1\n        whatsapp: {root_key: "+strings.Repeat("00", 32)+"}\n"), whatsAppNoEnv)
	if err == nil || !strings.Contains(err.Error(), "whatsapp") {
		t.Errorf("err = %v, want the whatsapp block refused on tcp://", err)
	}
	// whatsapp:// needs a port; the WebSocket forms do not.
	_, err = Load("test.yaml", []byte("version: 1\nservices:\n  - name: WhatsApp\n    endpoints:\n      - target: whatsapp://g.whatsapp.net\n"), whatsAppNoEnv)
	if err == nil || !strings.Contains(err.Error(), "whatsapp:// target has no port") {
		t.Errorf("err = %v, want a missing port", err)
	}
	ep := loadWhatsAppEndpoint(t, "      - target: whatsapp+wss://web.whatsapp.com\n")
	if ep.Port != "443" || ep.URL.Path != "/ws/chat" || ep.TLSConfig == nil {
		t.Errorf("whatsapp+wss://web.whatsapp.com: port %s, path %q, TLS config %v", ep.Port, ep.URL.Path, ep.TLSConfig != nil)
	}
}
