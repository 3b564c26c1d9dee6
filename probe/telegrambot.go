package probe

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// Telegram through the Bot API (core.telegram.org/bots/api): getMe proves
// the token once per run, sendMessage hands a message to Telegram and
// answers with the Message it stored, which must be ours, and
// deleteMessage takes it back. This proves Telegram's backend accepted and
// stored the message; it does not see it delivered to another device: a
// bot is not sent its own messages (protocols.md §2e).

// The kinds of Telegram Bot API probe.
const (
	KindTelegramBot     Kind = "telegram+bot"      // https
	KindTelegramBotHTTP Kind = "telegram+bot+http" // plain HTTP, for tests
)

// maxBotAnswer bounds a Bot API answer: a Message or a User is a few
// hundred bytes.
const maxBotAnswer = 64 << 10

var telegramBotSpec = deliverSpec{
	Keys: []string{"token", "chat_id", "within"},
	Check: func(l *loader, ep *Endpoint, o *deliverOptions, at *yaml.Node) {
		if at == nil {
			at = &yaml.Node{Line: ep.Pos.Line, Column: ep.Pos.Column}
		}
		if o.keys["token"] == nil {
			l.errorf(at, `add token: "${TELEGRAM_TOKEN}", the bot's token from @BotFather`, "deliver has no bot token")
		}
		switch {
		case o.keys["chat_id"] == nil:
			l.errorf(at, `add chat_id: "-1001234567890" (a group the bot is in) or "@channelname"`, "deliver has no chat_id")
		case o.ChatID != "" && !validChatID(o.ChatID):
			l.errorf(o.keys["chat_id"], `a chat id is an integer ("-1001234567890") or "@channelname"`, "deliver.chat_id %q is not a chat id", o.ChatID)
		}
	},
}

func validChatID(s string) bool {
	if name, ok := strings.CutPrefix(s, "@"); ok {
		return name != "" && !strings.ContainsAny(name, " /?#")
	}
	_, err := strconv.ParseInt(s, 10, 64)
	return err == nil
}

var telegramBotProtocol = Protocol{
	Kind:    KindTelegramBot,
	Proves:  "Telegram's Bot API stored a message in the chat (not that another device got it)",
	Blocks:  []string{"deliver", "tls"},
	TLS:     true,
	Target:  botTarget("443"),
	Finish:  finishDeliver(telegramBotSpec),
	Phases:  []Phase{PhaseDNS, PhaseConnect, PhaseTLS, PhaseLogin, PhaseSend, PhaseDeliver},
	Classes: deliverClasses,
	Prober:  newBotProber,
	Probe:   func(ctx context.Context, ep *Endpoint, opt *Options) Attempt { return newBotProber(ep)(ctx, ep, opt) },
	Notes:   deliverNotes,
	Once:    true,
	Account: deliverAccount,
}

var telegramBotHTTPProtocol = Protocol{
	Kind:    KindTelegramBotHTTP,
	Proves:  "a Bot API server stored a message in the chat (plain HTTP)",
	Blocks:  []string{"deliver"},
	Target:  botTarget("80"),
	Finish:  finishDeliver(telegramBotSpec),
	Hints:   map[string]string{"tls": "use a telegram+bot:// target"},
	Phases:  []Phase{PhaseDNS, PhaseConnect, PhaseLogin, PhaseSend, PhaseDeliver},
	Classes: deliverClasses,
	Prober:  newBotProber,
	Probe:   func(ctx context.Context, ep *Endpoint, opt *Options) Attempt { return newBotProber(ep)(ctx, ep, opt) },
	Notes:   deliverNotes,
	Once:    true,
	Account: deliverAccount,
}

// botTarget takes the Bot API server as HOST[:PORT] (a local Bot API
// server may sit under a path prefix). The token is never in the target:
// it goes in the deliver block, from the environment.
func botTarget(defaultPort string) func(l *loader, n *yaml.Node, u *url.URL, ep *Endpoint) bool {
	return func(l *loader, n *yaml.Node, u *url.URL, ep *Endpoint) bool {
		if u.User != nil || strings.Contains(u.Path, "/bot") {
			l.errorf(n, `put the token in deliver: {token: "${TELEGRAM_TOKEN}"}`, "%s:// target must not carry the bot token", ep.Kind)
			return false
		}
		if u.RawQuery != "" || u.Fragment != "" {
			l.errorf(n, "", "%s:// target must not have a query or fragment", ep.Kind)
			return false
		}
		return urlTarget(defaultPort)(l, n, u, ep)
	}
}

// botAnswer is the envelope of every Bot API answer.
type botAnswer struct {
	OK          bool            `json:"ok"`
	Result      json.RawMessage `json:"result"`
	ErrorCode   int             `json:"error_code"`
	Description string          `json:"description"`
	Parameters  struct {
		RetryAfter int `json:"retry_after"`
	} `json:"parameters"`
}

// botMessage is what the probe reads of a Message.
type botMessage struct {
	MessageID int64 `json:"message_id"`
	Chat      struct {
		ID       int64  `json:"id"`
		Username string `json:"username"`
	} `json:"chat"`
	Text string `json:"text"`
}

var errBotAnswer = errors.New("not a Bot API answer")

// parseBotAnswer reads a Bot API answer's envelope.
func parseBotAnswer(b []byte) (botAnswer, error) {
	var a botAnswer
	if len(b) > maxBotAnswer {
		return a, fmt.Errorf("%w: answer over %s", errBotAnswer, formatBytes(maxBotAnswer))
	}
	if err := json.Unmarshal(b, &a); err != nil {
		return botAnswer{}, fmt.Errorf("%w: invalid JSON", errBotAnswer)
	}
	if !a.OK && a.ErrorCode == 0 && a.Description == "" {
		return botAnswer{}, fmt.Errorf("%w: neither a result nor an error", errBotAnswer)
	}
	return a, nil
}

// parseBotMessage reads the Message a sendMessage answered with.
func parseBotMessage(raw json.RawMessage) (botMessage, error) {
	var m botMessage
	if len(raw) > maxBotAnswer {
		return m, fmt.Errorf("%w: message over %s", errBotAnswer, formatBytes(maxBotAnswer))
	}
	if err := json.Unmarshal(raw, &m); err != nil || m.MessageID == 0 {
		return botMessage{}, fmt.Errorf("%w: result is not a Message", errBotAnswer)
	}
	return m, nil
}

// sameChat reports whether a Message's chat is the one configured.
func (m botMessage) sameChat(chatID string) bool {
	if name, ok := strings.CutPrefix(chatID, "@"); ok {
		return strings.EqualFold(m.Chat.Username, name)
	}
	id, err := strconv.ParseInt(chatID, 10, 64)
	return err == nil && m.Chat.ID == id
}

// botProber makes the attempts of one run at one endpoint: getMe once,
// on the first attempt; a refused token is not offered again that run.
type botProber struct {
	o        *deliverOptions
	checked  bool
	refused  *Failure
	username string
}

func newBotProber(ep *Endpoint) ProbeFunc {
	p := &botProber{o: deliverOf(ep)}
	return p.probe
}

func (p *botProber) probe(ctx context.Context, ep *Endpoint, opt *Options) (a Attempt) {
	a.Start = opt.now()
	start := time.Now()
	secrets := p.o.secrets()
	c := newAPIClient(ctx, ep, opt, &a, ep.Kind == KindTelegramBot, secrets)
	defer func() {
		c.close()
		a.Timings.Total = time.Since(start)
		a.Failure = scrub(a.Failure, secrets)
		scrubDetails(&a, secrets)
	}()
	method := func(name string) string { return "/bot" + p.o.Token.value() + "/" + name }

	if p.refused != nil {
		a.Failure = p.refused
		a.SetDetail("login", "refused earlier in this run; not asked again")
		return a
	}
	if !p.checked {
		t := time.Now()
		ans, f := c.do(ctx, PhaseLogin, "GET", method("getMe"), nil, nil, maxBotAnswer)
		if f == nil {
			f = p.judge(ans, PhaseLogin)
		}
		a.Timings.AddStep(PhaseLogin, time.Since(t))
		if f != nil {
			if f.Class == ClassAuthFailed {
				p.refused = f
			}
			a.Failure = f
			return a
		}
		var me struct {
			Username string `json:"username"`
		}
		env, _ := parseBotAnswer(ans.Body)
		_ = json.Unmarshal(env.Result, &me)
		p.checked, p.username = true, me.Username
	}
	if p.username != "" {
		a.SetDetail("bot", "@"+p.username)
	}

	text, _ := probeMessage(opt.now())
	sentAt := opt.now()
	t := time.Now()
	// The wait for Telegram's answer is the delivery bound: the answer is
	// Telegram saying it stored the message.
	sctx, cancel := context.WithDeadline(ctx, t.Add(p.o.Within))
	defer cancel()
	body := map[string]any{"chat_id": p.o.ChatID, "text": text, "disable_notification": true}
	ans, f := c.do(sctx, PhaseSend, "POST", method("sendMessage"), nil, body, maxBotAnswer)
	sent := time.Since(t)
	a.Timings.AddStep(PhaseSend, sent)
	if f != nil {
		if sctx.Err() != nil && ctx.Err() == nil {
			f = notDelivered(sentAt, p.o.Within)
		}
		a.Failure = f
		return a
	}
	if f := p.judge(ans, PhaseSend); f != nil {
		a.Failure = f
		return a
	}
	t = time.Now()
	env, _ := parseBotAnswer(ans.Body)
	m, err := parseBotMessage(env.Result)
	switch {
	case err != nil:
		a.Failure = &Failure{Class: ClassProtocol, Phase: PhaseDeliver, Err: err}
	case m.Text != text || !m.sameChat(p.o.ChatID):
		a.Failure = &Failure{Class: ClassProtocol, Phase: PhaseDeliver,
			Err: errors.New("Telegram answered sendMessage with a message that is not the one sent")}
	}
	a.Timings.AddStep(PhaseDeliver, time.Since(t))
	a.SetDetail("sent_at", sentAt.UTC().Format(time.RFC3339))
	if m.MessageID != 0 {
		// Taken back even when the answer was odd: a message was stored.
		p.delete(ctx, c, &a, method("deleteMessage"), m.MessageID)
	}
	if a.Failure == nil {
		a.SetDetail("roundtrip_ms", float64(sent.Microseconds())/1000)
	}
	return a
}

// judge reads the envelope of an answer; nil when ok is true.
func (p *botProber) judge(ans apiAnswer, phase Phase) *Failure {
	env, err := parseBotAnswer(ans.Body)
	if err != nil {
		if ans.Status != http.StatusOK {
			return &Failure{Class: ClassHTTPStatus, Phase: phase, Err: fmt.Errorf("status %d", ans.Status)}
		}
		return &Failure{Class: ClassProtocol, Phase: phase, Err: err}
	}
	if env.OK {
		return nil
	}
	code := env.ErrorCode
	if code == 0 {
		code = ans.Status
	}
	why := fmt.Sprintf("%d", code)
	if env.Description != "" {
		why += " " + serverWords(env.Description, p.o.secrets())
	}
	switch {
	case code == http.StatusUnauthorized || (code == http.StatusNotFound && phase == PhaseLogin):
		// An unknown token's path is not found (404) as often as it is
		// unauthorized.
		return &Failure{Class: ClassAuthFailed, Phase: phase, Err: fmt.Errorf("Telegram refused the bot token: %s", why)}
	case code == http.StatusTooManyRequests:
		if env.Parameters.RetryAfter > 0 {
			why = fmt.Sprintf("429, retry after %ds", env.Parameters.RetryAfter)
		}
		return &Failure{Class: ClassSendRefused, Phase: phase, Err: fmt.Errorf("Telegram rate-limited the bot: %s", why)}
	case phase == PhaseSend && code >= 400 && code < 500:
		return &Failure{Class: ClassSendRefused, Phase: phase, Err: fmt.Errorf("Telegram refused the message: %s", why)}
	}
	return &Failure{Class: ClassHTTPStatus, Phase: phase, Err: fmt.Errorf("status %s", why)}
}

// delete takes the probe message back; a failure is noted, not judged.
func (p *botProber) delete(ctx context.Context, c *apiClient, a *Attempt, path string, id int64) {
	dctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	ans, f := c.do(dctx, PhaseDeliver, "POST", path, nil, map[string]any{"chat_id": p.o.ChatID, "message_id": id}, maxBotAnswer)
	ok := false
	if f == nil {
		env, err := parseBotAnswer(ans.Body)
		ok = err == nil && env.OK
	}
	a.SetDetail("deleted", ok)
}
