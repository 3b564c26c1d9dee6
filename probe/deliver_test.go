package probe

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// A secret no legitimate output contains: any appearance is a leak.
const testSecret = "s3cr3t-Zq9-never-print-me"

func envOf(m map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) {
		v, ok := m[k]
		return v, ok
	}
}

func loadDeliver(t *testing.T, doc string, env map[string]string) (*Config, error) {
	t.Helper()
	return Load("delivery.yaml", []byte(doc), envOf(env))
}

func TestDeliverConfigDefaults(t *testing.T) {
	cfg, err := loadDeliver(t, `version: 1
defaults: {samples: 3, timeout: 4s}
services:
  - name: Telegram
    samples: 5
    endpoints:
      - target: tcp://127.0.0.1:443
      - name: bot
        target: telegram+bot://api.telegram.org
        deliver: {token: "${BOT_TOKEN}", chat_id: "-1001234"}
`, map[string]string{"BOT_TOKEN": testSecret})
	if err != nil {
		t.Fatal(err)
	}
	tcp, bot := cfg.Services[0].Endpoints[0], cfg.Services[0].Endpoints[1]
	if tcp.Samples != 5 || tcp.Timeout != 4*time.Second {
		t.Errorf("tcp endpoint: samples %d, timeout %v; the inherited settings apply to it", tcp.Samples, tcp.Timeout)
	}
	o := deliverOf(bot)
	if o.Within != DefaultDeliverWithin || o.Token.value() != testSecret || o.ChatID != "-1001234" {
		t.Errorf("deliver %+v", o)
	}
	// A delivery probe sends a real message per attempt: inherited samples
	// do not apply, and its timeout leaves room for the wait.
	if bot.Samples != 1 || bot.Timeout != DefaultDeliverWithin+deliverSlack || bot.Role != RoleDelivery {
		t.Errorf("bot endpoint: samples %d, timeout %v, role %q", bot.Samples, bot.Timeout, bot.Role)
	}
	if s := fmt.Sprintf("%v %+v %#v", o, o, o.Token); strings.Contains(s, testSecret) {
		t.Errorf("formatting the options shows the secret: %s", s)
	}
}

func TestDeliverConfigEndpointSettingsApply(t *testing.T) {
	cfg, err := loadDeliver(t, `version: 1
services:
  - name: Matrix
    endpoints:
      - target: matrix+deliver://matrix.example.org
        samples: 2
        timeout: 30s
        role: messaging
        deliver: {access_token: "${T}", room: "!r:example.org", within: 20s}
`, map[string]string{"T": testSecret})
	if err != nil {
		t.Fatal(err)
	}
	ep := cfg.Services[0].Endpoints[0]
	if ep.Samples != 2 || ep.Timeout != 30*time.Second || deliverOf(ep).Within != 20*time.Second || ep.Role != "messaging" {
		t.Errorf("samples %d, timeout %v, within %v, role %q", ep.Samples, ep.Timeout, deliverOf(ep).Within, ep.Role)
	}
}

func TestDeliverConfigErrors(t *testing.T) {
	env := map[string]string{"T": testSecret, "EMPTY": ""}
	for _, tc := range []struct {
		name, endpoint, want string
	}{
		{"literal token", `{target: "telegram+bot://api.telegram.org", deliver: {token: "` + testSecret + `", chat_id: "1"}}`,
			"deliver.token is written in the file: a credential must come from the environment"},
		{"default in the file", `{target: "telegram+bot://api.telegram.org", deliver: {token: "${NOPE:-` + testSecret + `}", chat_id: "1"}}`,
			"deliver.token is written in the file"},
		{"literal around a reference", `{target: "matrix+deliver://m.example", deliver: {user: "@p:m.example", password: "x${T}", room: "!r:m.example"}}`,
			"deliver.password is written in the file"},
		{"number", `{target: "matrix+deliver://m.example", deliver: {user: "@p:m.example", password: 12345678, room: "!r:m.example"}}`,
			"deliver.password is written in the file"},
		{"unset", `{target: "telegram+bot://api.telegram.org", deliver: {token: "${UNSET_VAR}", chat_id: "1"}}`,
			`environment variable "UNSET_VAR" is not set`},
		{"empty", `{target: "telegram+bot://api.telegram.org", deliver: {token: "${EMPTY}", chat_id: "1"}}`,
			`environment variable "EMPTY" is set but empty`},
		{"no block", `{target: "telegram+bot://api.telegram.org"}`, "telegram+bot:// endpoint has no deliver block"},
		{"wrong key", `{target: "telegram+bot://api.telegram.org", deliver: {token: "${T}", chat_id: "1", room: "!r:x"}}`,
			"deliver.room does not apply to telegram+bot:// targets"},
		{"within not below timeout", `{target: "telegram+bot://api.telegram.org", timeout: 5s, deliver: {token: "${T}", chat_id: "1"}}`,
			"deliver.within 10s is not below the endpoint's timeout 5s"},
		{"no chat", `{target: "telegram+bot://api.telegram.org", deliver: {token: "${T}"}}`, "deliver has no chat_id"},
		{"bad chat", `{target: "telegram+bot://api.telegram.org", deliver: {token: "${T}", chat_id: "my group"}}`, "is not a chat id"},
		{"token in target", `{target: "telegram+bot://api.telegram.org/bot123:abc", deliver: {token: "${T}", chat_id: "1"}}`,
			"must not carry the bot token"},
		{"password in target", `{target: "matrix+deliver://probe:` + testSecret + `@m.example", deliver: {access_token: "${T}", room: "!r:m.example"}}`,
			"must not carry a user name or password"},
		{"both logins", `{target: "matrix+deliver://m.example", deliver: {access_token: "${T}", user: "@p:m.example", password: "${T}", room: "!r:m.example"}}`,
			"both an access_token and a user/password login"},
		{"no credentials", `{target: "matrix+deliver://m.example", deliver: {user: "@p:m.example", room: "!r:m.example"}}`,
			"deliver has no Matrix credentials"},
		{"no room", `{target: "matrix+deliver://m.example", deliver: {access_token: "${T}"}}`, "deliver has no room"},
		{"bad room", `{target: "matrix+deliver://m.example", deliver: {access_token: "${T}", room: "general"}}`, "is not a room id or alias"},
		{"deliver on tcp", `{target: "tcp://127.0.0.1:1", deliver: {within: 1s}}`, "deliver block does not apply to tcp:// targets"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			doc := "version: 1\nservices:\n  - name: S\n    endpoints:\n      - " + tc.endpoint + "\n"
			_, err := loadDeliver(t, doc, env)
			if err == nil {
				t.Fatal("loaded")
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error\n%v\nwant it to say %q", err, tc.want)
			}
			if strings.Contains(err.Error(), testSecret) {
				t.Errorf("the error shows the secret:\n%v", err)
			}
			var ce ConfigErrors
			if errors.As(err, &ce) {
				for _, e := range ce {
					if e.Pos.Line == 0 {
						t.Errorf("error without a position: %v", e)
					}
				}
			}
		})
	}
}

func TestDeliverScrub(t *testing.T) {
	f := scrub(&Failure{Class: ClassSendRefused, Phase: PhaseSend,
		Err: fmt.Errorf("Bad Request: in /bot%s/sendMessage", testSecret)}, []string{testSecret})
	if strings.Contains(f.Error(), testSecret) || !strings.Contains(f.Error(), "[secret]") {
		t.Errorf("scrubbed: %v", f)
	}
	if errors.Unwrap(f) != nil && strings.Contains(errors.Unwrap(f).Error(), testSecret) {
		t.Error("the cause still holds the secret")
	}
	text, id := probeMessage(time.Date(2026, 12, 1, 9, 38, 2, 0, time.UTC))
	if !strings.HasPrefix(text, "msgprobe probe 2026-12-01T09:38:02Z ") || !strings.HasSuffix(text, " "+id) || len(id) != 16 {
		t.Errorf("probe message %q, id %q", text, id)
	}
	sent := time.Date(2026, 12, 1, 9, 38, 2, 0, time.Local)
	if got := notDelivered(sent, 10*time.Second).Error(); got != "sent 09:38:02, not delivered within 10s" {
		t.Errorf("not delivered: %q", got)
	}
}

// Two endpoints of one account never run at once, even with workers to
// spare; endpoints of other accounts do.
func TestRunnerSerialisesOneAccount(t *testing.T) {
	cfg, err := loadDeliver(t, `version: 1
services:
  - name: T
    endpoints:
      - {name: a1, target: "telegram+bot://a.test", deliver: {token: "${A}", chat_id: "1"}}
      - {name: a2, target: "telegram+bot://a.test", deliver: {token: "${A}", chat_id: "2"}}
      - {name: b1, target: "telegram+bot://a.test", deliver: {token: "${B}", chat_id: "1"}}
`, map[string]string{"A": "token-a", "B": "token-b"})
	if err != nil {
		t.Fatal(err)
	}
	var (
		mu      sync.Mutex
		running = map[string]int{}
		most    = map[string]int{}
		both    atomic.Bool
		total   atomic.Int32
	)
	r := &Runner{Concurrency: 3, Probe: func(ctx context.Context, ep *Endpoint, _ *Options) Attempt {
		key := deliverOf(ep).Token.value()
		mu.Lock()
		running[key]++
		most[key] = max(most[key], running[key])
		if running["token-a"] > 0 && running["token-b"] > 0 {
			both.Store(true)
		}
		mu.Unlock()
		total.Add(1)
		// Long enough for a second worker to try the same account.
		timer := time.NewTimer(150 * time.Millisecond)
		defer timer.Stop()
		select {
		case <-timer.C:
		case <-ctx.Done():
		}
		mu.Lock()
		running[key]--
		mu.Unlock()
		return Attempt{Timings: Timings{Total: time.Millisecond}}
	}}
	r.Run(t.Context(), cfg)
	if most["token-a"] != 1 {
		t.Errorf("%d attempts of one account ran at once", most["token-a"])
	}
	if !both.Load() {
		t.Error("two accounts never ran at the same time")
	}
	if total.Load() != 3 {
		t.Errorf("%d attempts, want one per endpoint", total.Load())
	}
}

// A down delivery endpoint takes messaging down even when every connect
// probe of messaging is up, and says why in the service's reason.
func TestDeliveryDecidesMessaging(t *testing.T) {
	svc := &Service{Name: "Matrix", Functions: map[string]Function{"messaging": {Critical: true}}}
	up := func(name, role string) EndpointResult {
		return EndpointResult{Endpoint: &Endpoint{Name: name, Role: role}, Status: Up}
	}
	sent := time.Date(2026, 12, 1, 9, 38, 2, 0, time.Local)
	f := notDelivered(sent, 10*time.Second)
	down := EndpointResult{Endpoint: &Endpoint{Name: "roundtrip", Role: RoleDelivery}, Status: Down,
		Errors: []ErrorCount{{Class: f.Class, Phase: f.Phase, Message: f.Error(), Count: 1}}, Failures: 1}
	res := JudgeService(svc, []EndpointResult{up("chat", "messaging"), up("site", "web"), down})
	if res.Status != Down {
		t.Errorf("status %v, want down", res.Status)
	}
	for _, want := range []string{"messaging down (roundtrip: sent 09:38:02, not delivered within 10s", "web up"} {
		if !strings.Contains(res.Reason, want) {
			t.Errorf("reason %q does not say %q", res.Reason, want)
		}
	}
	res = JudgeService(svc, []EndpointResult{up("chat", "messaging"), up("roundtrip", RoleDelivery)})
	if res.Status != Up {
		t.Errorf("all up: %v %q", res.Status, res.Reason)
	}
}
