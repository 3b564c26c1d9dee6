package probe

import (
	"context"
	"fmt"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/msgprobe/msgprobe/internal/fixture"
	"github.com/msgprobe/msgprobe/internal/proto/xmpp"
)

const (
	alicePassword = "alice-" + testSecret
	bobPassword   = "bob-pw-4711"
)

// deliverEndpoint loads an xmpp+deliver endpoint for user at the Prosody
// p, with XMPP_PASSWORD set to password.
func deliverEndpoint(t testing.TB, p *fixture.Prosody, ca *fixture.CA, user, password, extra string) *Endpoint {
	t.Helper()
	cfg := fmt.Sprintf(`version: 1
services:
  - name: chat
    endpoints:
      - name: roundtrip
        target: xmpp+deliver://%s@%s
        xmpp: {domain: %s}
        deliver: {password: "${XMPP_PASSWORD}", within: 2s%s}
`, user, p.Addr, p.Domain, extra)
	if ca != nil {
		cfg += caBlock(ca)
	}
	c, err := Load("delivery.yaml", []byte(cfg), envOf(map[string]string{"XMPP_PASSWORD": password}))
	if err != nil {
		t.Fatalf("load:\n%s\n%v", cfg, err)
	}
	return c.Services[0].Endpoints[0]
}

// wantDeliverBound checks that a not_delivered attempt gave up within
// deliver.within + 1s of sending, and the whole attempt within its
// timeout: the login before the send is the server's time, not the bound's.
func wantDeliverBound(t *testing.T, a Attempt, within, took, timeout time.Duration) {
	t.Helper()
	waited := false
	for _, s := range a.Timings.Steps {
		if s.Phase == PhaseDeliver {
			waited = true
			if s.D < within-50*time.Millisecond || s.D > within+time.Second {
				t.Errorf("waited %v for the message, want deliver.within %v (+ at most 1s)", s.D, within)
			}
		}
	}
	if !waited {
		t.Error("no deliver step recorded")
	}
	if took > timeout+time.Second {
		t.Errorf("attempt took %v, beyond its timeout %v", took, timeout)
	}
}

func stepsOf(a Attempt) []Phase {
	var out []Phase
	for _, s := range a.Timings.Steps {
		out = append(out, s.Phase)
	}
	return out
}

// TestXMPPDeliverProsody: a message to the account's own full JID comes
// back through a real Prosody, with the round-trip time in the details and
// exactly one login.
func TestXMPPDeliverProsody(t *testing.T) {
	t.Parallel() // each test runs a Prosody of its own
	ca := fixture.NewCA(t)
	p := fixture.StartProsody(t, ca, fixture.ProsodyConfig{Users: map[string]string{"alice": alicePassword, "bob": bobPassword}})
	ep := deliverEndpoint(t, p, ca, "alice", alicePassword, "")
	if ep.Samples != 1 || ep.Role != RoleDelivery {
		t.Errorf("samples %d, role %q", ep.Samples, ep.Role)
	}
	a := runProbe(t, ep, nil, ep.Timeout)
	wantOK(t, a)
	rtt, _ := a.Details["roundtrip_ms"].(float64)
	if rtt <= 0 || rtt > 2000 {
		t.Errorf("roundtrip_ms = %v", a.Details["roundtrip_ms"])
	}
	if jid, _ := a.Details["jid"].(string); !strings.HasPrefix(jid, "alice@example.test/msgprobe-") || a.Details["to"] != jid {
		t.Errorf("jid %v, to %v: want the message sent to the bound full JID", a.Details["jid"], a.Details["to"])
	}
	if a.Details["sasl_mechanism"] != "SCRAM-SHA-1" {
		t.Errorf("mechanism %v, want SCRAM-SHA-1 (Prosody's hashed storage offers no SHA-256)", a.Details["sasl_mechanism"])
	}
	want := []Phase{PhaseStream, PhaseStartTLS, PhaseFeatures, PhaseLogin, PhaseSend, PhaseDeliver}
	if got := stepsOf(a); !slices.Equal(got, want) {
		t.Errorf("steps %v, want %v", got, want)
	}
	if a.TLS == nil || !a.TLS.Verified {
		t.Errorf("TLS %+v", a.TLS)
	}
	if n, f := p.AuthAttempts(), p.AuthFailures(); n != 1 || f != 0 {
		t.Errorf("Prosody saw %d logins and %d failures, want 1 and 0", n, f)
	}
	if strings.Contains(fmt.Sprintf("%+v", a), testSecret) {
		t.Error("the attempt carries the password")
	}
}

// TestXMPPDeliverDropped: Prosody accepts the message and a module drops
// it: down, not_delivered at deliver, within the bound plus a second.
func TestXMPPDeliverDropped(t *testing.T) {
	t.Parallel() // each test runs a Prosody of its own
	ca := fixture.NewCA(t)
	p := fixture.StartProsody(t, ca, fixture.ProsodyConfig{Users: map[string]string{"alice": alicePassword}, DropMessages: true})
	ep := deliverEndpoint(t, p, ca, "alice", alicePassword, "")
	start := time.Now()
	a := runProbe(t, ep, nil, ep.Timeout)
	took := time.Since(start)
	wantFailure(t, a, ClassNotDelivered, PhaseDeliver)
	if !strings.HasPrefix(a.Failure.Error(), "sent ") || !strings.HasSuffix(a.Failure.Error(), ", not delivered within 2s") {
		t.Errorf("message = %q", a.Failure.Error())
	}
	wantDeliverBound(t, a, 2*time.Second, took, ep.Timeout)
	if p.Dropped() != 1 {
		t.Errorf("Prosody dropped %d messages, want the one probe message", p.Dropped())
	}
}

// TestXMPPDeliverWrongPassword: a refused login is auth_failed after
// exactly one <auth/>, and the prober never asks again in the same run.
func TestXMPPDeliverWrongPassword(t *testing.T) {
	t.Parallel() // each test runs a Prosody of its own
	ca := fixture.NewCA(t)
	p := fixture.StartProsody(t, ca, fixture.ProsodyConfig{Users: map[string]string{"alice": alicePassword}})
	ep := deliverEndpoint(t, p, ca, "alice", "wrong-"+testSecret, "")
	probe := newXMPPDeliverProber(ep)
	for i := range 3 {
		ctx, cancel := context.WithTimeout(t.Context(), ep.Timeout)
		a := probe(ctx, ep, nil)
		cancel()
		wantFailure(t, a, ClassAuthFailed, PhaseLogin)
		if !strings.HasPrefix(a.Failure.Error(), "XMPP server refused the login: not-authorized") {
			t.Errorf("attempt %d: message %q", i, a.Failure.Error())
		}
		if strings.Contains(a.Failure.Error(), testSecret) {
			t.Errorf("the failure carries the password: %q", a.Failure.Error())
		}
	}
	if n, f := p.AuthAttempts(), p.AuthFailures(); n != 1 || f != 1 {
		t.Errorf("Prosody saw %d logins and %d failures, want exactly 1 of each", n, f)
	}
}

// echoBot logs in to p as user on resource "echo" with the prober's own
// session code and sends every message back to its sender with the same
// id and body. Before echoing, it calls onMessage.
func echoBot(t *testing.T, p *fixture.Prosody, ca *fixture.CA, user, password string, onMessage func()) {
	t.Helper()
	ep := deliverEndpoint(t, p, ca, user, password, "")
	ctx, cancel := context.WithCancel(t.Context())
	conn, f := dialHost(ctx, "127.0.0.1", ep.Port, nil, &Timings{}, nil)
	if f != nil {
		t.Fatal(f)
	}
	s := &xmppSession{ctx: ctx, ep: ep, domain: p.Domain, conn: conn, timeout: 5 * time.Second}
	var a Attempt
	feats, f := s.negotiate(&a, optionsOf[XMPPOptions](ep, "xmpp"), false, &XMPPInfo{})
	if f == nil {
		s.bindResource = "echo"
		_, f = s.login(feats, user, password, true, &a)
	}
	if f != nil {
		t.Fatalf("echo bot login: %v", f)
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			s.r.Grant(xmppStanzaBudget)
			e, err := s.r.Next()
			if err != nil {
				return
			}
			if !e.Is(xmpp.NSClient, "message") || e.Child(xmpp.NSClient, "body") == nil {
				continue
			}
			onMessage()
			body := e.Child(xmpp.NSClient, "body").Text
			_, _ = s.conn.Write(xmppMessage(e.AttrValue("from"), e.AttrValue("id"), body))
		}
	}()
	t.Cleanup(func() { cancel(); conn.Close(); wg.Wait() })
}

// TestXMPPDeliverToAnotherAccount: with two accounts, a message to an echo
// service on the second comes back to the first.
func TestXMPPDeliverToAnotherAccount(t *testing.T) {
	t.Parallel() // each test runs a Prosody of its own
	ca := fixture.NewCA(t)
	p := fixture.StartProsody(t, ca, fixture.ProsodyConfig{Users: map[string]string{"alice": alicePassword, "bob": bobPassword}})
	echoBot(t, p, ca, "bob", bobPassword, func() {})
	ep := deliverEndpoint(t, p, ca, "alice", alicePassword, ", to: bob@example.test/echo")
	a := runProbe(t, ep, nil, ep.Timeout)
	wantOK(t, a)
	if a.Details["to"] != "bob@example.test/echo" {
		t.Errorf("to = %v", a.Details["to"])
	}
}

// TestXMPPDeliverServerPaused: the server routes the message to the echo
// service and is then stopped (SIGSTOP) before the echo can come back: the
// attempt is not_delivered at deliver, within the bound plus a second.
func TestXMPPDeliverServerPaused(t *testing.T) {
	t.Parallel() // each test runs a Prosody of its own
	ca := fixture.NewCA(t)
	p := fixture.StartProsody(t, ca, fixture.ProsodyConfig{Users: map[string]string{"alice": alicePassword, "bob": bobPassword}})
	echoBot(t, p, ca, "bob", bobPassword, p.Pause)
	ep := deliverEndpoint(t, p, ca, "alice", alicePassword, ", to: bob@example.test/echo")
	start := time.Now()
	a := runProbe(t, ep, nil, ep.Timeout)
	took := time.Since(start)
	p.Resume()
	wantFailure(t, a, ClassNotDelivered, PhaseDeliver)
	wantDeliverBound(t, a, 2*time.Second, took, ep.Timeout)
}

// TestXMPPDeliverBounced: a message to an account that does not exist
// comes back as an error stanza: send_refused.
func TestXMPPDeliverBounced(t *testing.T) {
	t.Parallel() // each test runs a Prosody of its own
	ca := fixture.NewCA(t)
	p := fixture.StartProsody(t, ca, fixture.ProsodyConfig{Users: map[string]string{"alice": alicePassword}})
	ep := deliverEndpoint(t, p, ca, "alice", alicePassword, ", to: nobody@example.test/x")
	a := runProbe(t, ep, nil, ep.Timeout)
	wantFailure(t, a, ClassSendRefused, PhaseSend)
	if !strings.HasPrefix(a.Failure.Error(), "XMPP server bounced the message: ") {
		t.Errorf("message = %q", a.Failure.Error())
	}
}

func TestSASLChoice(t *testing.T) {
	for _, tc := range []struct {
		offered []string
		tls     bool
		want    string
	}{
		{[]string{"PLAIN", "SCRAM-SHA-1", "SCRAM-SHA-256"}, true, "SCRAM-SHA-256"},
		{[]string{"PLAIN", "SCRAM-SHA-1"}, true, "SCRAM-SHA-1"},
		{[]string{"SCRAM-SHA-1-PLUS", "PLAIN"}, true, "PLAIN"},
		{[]string{"SCRAM-SHA-1-PLUS", "PLAIN"}, false, ""},
		{[]string{"PLAIN"}, false, ""},
		{[]string{"SCRAM-SHA-1"}, false, "SCRAM-SHA-1"},
		{[]string{"DIGEST-MD5", "X-OAUTH2"}, true, ""},
	} {
		got, ok := saslChoice(tc.offered, tc.tls)
		if got != tc.want || ok != (tc.want != "") {
			t.Errorf("saslChoice(%v, tls %v) = %q, %v; want %q", tc.offered, tc.tls, got, ok, tc.want)
		}
	}
}

func TestXMPPDeliverConfig(t *testing.T) {
	env := envOf(map[string]string{"XMPP_PASSWORD": testSecret})
	for _, tc := range []struct{ lines, want string }{
		{`target: xmpp+deliver://example.test
        deliver: {password: "${XMPP_PASSWORD}"}`, "has no account"},
		{`target: xmpp+deliver://probe:hunter2@example.test
        deliver: {password: "${XMPP_PASSWORD}"}`, "carries a password"},
		{`target: xmpp+deliver://probe@example.test
        deliver: {password: "hunter2"}`, "deliver.password is written in the file"},
		{`target: xmpp+deliver://probe@example.test
        deliver: {to: "probe@example.test/other"}`, "deliver has no password"},
		{`target: xmpp+deliver://probe@example.test
        deliver: {password: "${XMPP_PASSWORD}", to: "not a jid"}`, `deliver.to "not a jid" is not a JID`},
		{`target: xmpp+deliver://probe@example.test
        deliver: {password: "${XMPP_PASSWORD}", room: "!r:x"}`, "deliver.room does not apply to xmpp+deliver:// targets"},
		{`target: xmpp+deliver://probe@example.test
        timeout: 5s
        deliver: {password: "${XMPP_PASSWORD}", within: 10s}`, "deliver.within 10s is not below the endpoint's timeout 5s"},
		{`target: xmpp+deliver://probe@127.0.0.1:5222
        deliver: {password: "${XMPP_PASSWORD}"}`, "the XMPP domain is not named"},
	} {
		cfg := "version: 1\nservices:\n  - name: chat\n    endpoints:\n      - " + tc.lines + "\n"
		_, err := Load("delivery.yaml", []byte(cfg), env)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s\nerr = %v, want %q", tc.lines, err, tc.want)
		}
		if err != nil && (strings.Contains(err.Error(), "hunter2") || strings.Contains(err.Error(), testSecret)) {
			t.Errorf("the error quotes the password: %v", err)
		}
	}
	cfg := `version: 1
services:
  - name: chat
    endpoints:
      - target: xmpp+deliver://Probe@example.test
        deliver: {password: "${XMPP_PASSWORD}"}
`
	c, err := Load("delivery.yaml", []byte(cfg), env)
	if err != nil {
		t.Fatal(err)
	}
	ep := c.Services[0].Endpoints[0]
	if x := optionsOf[XMPPOptions](ep, "xmpp"); !x.SRV || x.Domain != "example.test" || x.user != "Probe" {
		t.Errorf("xmpp options %+v", x)
	}
	if got := ProtocolOf(ep.Kind).Account(ep); got != "xmpp|probe@example.test" {
		t.Errorf("account %q", got)
	}
	if ep.Timeout != DefaultDeliverWithin+deliverSlack || ep.Samples != 1 {
		t.Errorf("timeout %v samples %d", ep.Timeout, ep.Samples)
	}
}

// TestXMPPDeliverSilentLogin: a server that never answers <auth/> is a
// protocol timeout at login, within the endpoint's timeout.
func TestXMPPDeliverSilentLogin(t *testing.T) {
	ca := fixture.NewCA(t)
	addr := fixture.XMPPServer(t, ca, "example.test", fixture.XMPPGood)
	cfg := fmt.Sprintf(`version: 1
services:
  - name: chat
    endpoints:
      - target: xmpp+deliver://alice@%s
        timeout: 2s
        xmpp: {domain: example.test}
        deliver: {password: "${XMPP_PASSWORD}", within: 1s}
`, addr) + caBlock(ca)
	c, err := Load("delivery.yaml", []byte(cfg), envOf(map[string]string{"XMPP_PASSWORD": testSecret}))
	if err != nil {
		t.Fatal(err)
	}
	ep := c.Services[0].Endpoints[0]
	start := time.Now()
	a := runProbe(t, ep, nil, ep.Timeout)
	wantFailure(t, a, ClassProtocolTimeout, PhaseLogin)
	if got := a.Failure.Error(); got != "connected, no answer to the login in 2s" {
		t.Errorf("message = %q", got)
	}
	if took := time.Since(start); took > ep.Timeout+time.Second {
		t.Errorf("took %v", took)
	}
}

// TestXMPPDeliverHostile: a server that logs the client in and then
// misbehaves ends each attempt within its timeout, with the class and
// phase of what it did, and without the prober's memory growing with a
// flood.
func TestXMPPDeliverHostile(t *testing.T) {
	ca := fixture.NewCA(t)
	for _, tc := range []struct {
		name  string
		after fixture.XMPPAfterLogin
		class Class
		phase Phase
		msg   string
	}{
		{"echo", fixture.XMPPEcho, "", "", ""},
		{"ping while waiting", fixture.XMPPPingWhileWaiting, "", "", ""},
		{"bind without jid", fixture.XMPPBindWithoutJID, ClassProtocol, PhaseLogin, "XMPP server bound a resource without a full JID"},
		{"bounce without condition", fixture.XMPPBounceWithoutCondition, ClassSendRefused, PhaseSend, "XMPP server bounced the message: undefined-condition"},
		{"flood while waiting", fixture.XMPPFloodWhileWaiting, ClassProtocol, PhaseDeliver, "XMPP server sent more than 1 MiB of other stanzas"},
		{"huge stanza while waiting", fixture.XMPPHugeWhileWaiting, ClassProtocol, PhaseDeliver, "XMPP server sent more than 128 KiB without finishing its answer"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			addr := fixture.XMPPLoginServer(t, ca, "example.test", tc.after)
			cfg := fmt.Sprintf(`version: 1
services:
  - name: chat
    endpoints:
      - target: xmpp+deliver://user@%s
        timeout: 3s
        xmpp: {domain: example.test}
        deliver: {password: "${XMPP_PASSWORD}", within: 2s}
`, addr) + caBlock(ca)
			c, err := Load("delivery.yaml", []byte(cfg), envOf(map[string]string{"XMPP_PASSWORD": testSecret}))
			if err != nil {
				t.Fatal(err)
			}
			ep := c.Services[0].Endpoints[0]
			runtime.GC()
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			start := time.Now()
			a := runProbe(t, ep, nil, ep.Timeout)
			took := time.Since(start)
			runtime.ReadMemStats(&after)
			if took > ep.Timeout+time.Second {
				t.Errorf("took %v", took)
			}
			if grew := after.TotalAlloc - before.TotalAlloc; grew > 32<<20 {
				t.Errorf("allocated %d MiB during the attempt", grew>>20)
			}
			if tc.class == "" {
				wantOK(t, a)
				if a.Details["sasl_mechanism"] != "PLAIN" {
					t.Errorf("mechanism %v, want PLAIN (inside TLS)", a.Details["sasl_mechanism"])
				}
				return
			}
			wantFailure(t, a, tc.class, tc.phase)
			if !strings.HasPrefix(a.Failure.Error(), tc.msg) {
				t.Errorf("message %q, want it to start with %q", a.Failure.Error(), tc.msg)
			}
		})
	}
}

func TestXMPPMessage(t *testing.T) {
	got := string(xmppMessage("a'b@example.test/r<1>", "0123", "msgprobe probe 2026-12-01T09:38:02Z 0123 & more"))
	want := "<message type='chat' to='a&#39;b@example.test/r&lt;1&gt;' id='0123'><body>msgprobe probe 2026-12-01T09:38:02Z 0123 &amp; more</body>" +
		"<no-store xmlns='urn:xmpp:hints'/><no-permanent-store xmlns='urn:xmpp:hints'/><private xmlns='urn:xmpp:carbons:2'/></message>"
	if got != want {
		t.Errorf("message\n%s\nwant\n%s", got, want)
	}
}
