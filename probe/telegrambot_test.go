package probe

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/msgprobe/msgprobe/internal/fixture"
)

const testBotToken = "7000001:AAH" + testSecret

// botConfig is a configuration of one telegram+bot+http:// endpoint at
// the fixture, with extra endpoint keys.
func botConfig(t *testing.T, bot *fixture.TelegramBot, chat, extra string) *Config {
	t.Helper()
	target := "telegram+bot+http://" + strings.TrimPrefix(bot.URL, "http://")
	doc := `version: 1
services:
  - name: Telegram
    endpoints:
      - name: bot
        target: ` + target + `
        deliver: {token: "${BOT_TOKEN}", chat_id: "` + chat + `", within: 2s}
` + extra
	cfg, err := loadDeliver(t, doc, map[string]string{"BOT_TOKEN": testBotToken})
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

func runConfig(t *testing.T, cfg *Config) *Report {
	t.Helper()
	r := &Runner{}
	return r.Run(t.Context(), cfg)
}

func onlyEndpoint(t *testing.T, rep *Report) EndpointResult {
	t.Helper()
	return rep.Services[0].Endpoints[0]
}

func TestTelegramBotRoundTrip(t *testing.T) {
	bot := fixture.StartTelegramBot(t, testBotToken, "-1001234", fixture.TelegramHealthy)
	res := onlyEndpoint(t, runConfig(t, botConfig(t, bot, "-1001234", "")))
	if res.Status != Up {
		t.Fatalf("status %v: %s", res.Status, res.Reason)
	}
	if n := len(res.Attempts); n != 1 {
		t.Errorf("%d attempts, want 1 (a delivery probe sends one message per round)", n)
	}
	if bot.Calls("getMe") != 1 || bot.Calls("sendMessage") != 1 || bot.Calls("deleteMessage") != 1 {
		t.Errorf("calls: getMe %d, sendMessage %d, deleteMessage %d", bot.Calls("getMe"), bot.Calls("sendMessage"), bot.Calls("deleteMessage"))
	}
	if left := bot.Stored(); len(left) != 0 {
		t.Errorf("messages left behind: %q", left)
	}
	sent := bot.Sent()
	if len(sent) != 1 || !strings.HasPrefix(sent[0], "msgprobe probe ") {
		t.Errorf("sent %q", sent)
	}
	a := res.Attempts[0]
	if _, ok := a.Details["roundtrip_ms"]; !ok || a.Details["deleted"] != true || a.Details["bot"] != "@msgprobe_test_bot" {
		t.Errorf("details %v", a.Details)
	}
	var phases []Phase
	for _, s := range a.Timings.Steps {
		phases = append(phases, s.Phase)
	}
	if got := strings.Join(phasesText(phases), " "); got != "login send deliver" {
		t.Errorf("steps %q", got)
	}
}

func phasesText(ps []Phase) []string {
	out := make([]string, len(ps))
	for i, p := range ps {
		out[i] = string(p)
	}
	return out
}

// A refused token is asked once per run, however many attempts the user
// asked for: never a retry storm.
func TestTelegramBotWrongTokenOneLogin(t *testing.T) {
	bot := fixture.StartTelegramBot(t, "other:token", "-1001234", fixture.TelegramHealthy)
	res := onlyEndpoint(t, runConfig(t, botConfig(t, bot, "-1001234", "        samples: 3\n")))
	if res.Status != Down || len(res.Attempts) != 3 {
		t.Fatalf("status %v after %d attempts: %s", res.Status, len(res.Attempts), res.Reason)
	}
	for _, a := range res.Attempts {
		wantFailure(t, a, ClassAuthFailed, PhaseLogin)
	}
	if bot.Calls("getMe") != 1 || bot.Calls("sendMessage") != 0 {
		t.Errorf("getMe %d times, sendMessage %d times; want one login and no send", bot.Calls("getMe"), bot.Calls("sendMessage"))
	}
	if !strings.Contains(res.Reason, "Telegram refused the bot token: 401 Unauthorized") {
		t.Errorf("reason %q", res.Reason)
	}
}

func TestTelegramBotFailures(t *testing.T) {
	for _, tc := range []struct {
		name  string
		mode  fixture.TelegramMode
		chat  string
		class Class
		phase Phase
		says  string
	}{
		{"chat not found", fixture.TelegramHealthy, "-42", ClassSendRefused, PhaseSend, "Telegram refused the message: 400 Bad Request: chat not found"},
		{"error echoes the token", fixture.TelegramEchoToken, "-1001234", ClassSendRefused, PhaseSend, "[secret]"},
		{"flood", fixture.TelegramFlood, "-1001234", ClassSendRefused, PhaseSend, "Telegram rate-limited the bot: 429, retry after 17s"},
		{"another message", fixture.TelegramWrongMessage, "-1001234", ClassProtocol, PhaseDeliver, "not the one sent"},
		{"no answer", fixture.TelegramHangSend, "-1001234", ClassNotDelivered, PhaseDeliver, ", not delivered within 2s"},
		{"endless answer", fixture.TelegramEndlessSend, "-1001234", ClassProtocol, PhaseSend, "answer over 64 KiB"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			bot := fixture.StartTelegramBot(t, testBotToken, "-1001234", tc.mode)
			start := time.Now()
			res := onlyEndpoint(t, runConfig(t, botConfig(t, bot, tc.chat, "")))
			took := time.Since(start)
			if res.Status != Down {
				t.Fatalf("status %v", res.Status)
			}
			a := res.Attempts[0]
			wantFailure(t, a, tc.class, tc.phase)
			if !strings.Contains(a.Failure.Error(), tc.says) {
				t.Errorf("failure %q does not say %q", a.Failure, tc.says)
			}
			if b, _ := json.Marshal(res); strings.Contains(string(b)+a.Failure.Error()+res.Reason, testSecret) {
				t.Errorf("the result shows the token")
			}
			if tc.class == ClassNotDelivered && took > 3*time.Second {
				t.Errorf("not_delivered after %v, want within 2s + 1s", took)
			}
			if tc.mode == fixture.TelegramWrongMessage && len(bot.Stored()) != 0 {
				t.Error("the odd message was not deleted")
			}
		})
	}
}
