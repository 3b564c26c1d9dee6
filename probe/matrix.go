package probe

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// Matrix round trip: log in (or take an access token), send an
// m.room.message to a room the account is in, and read /sync until the
// event comes back in the room's timeline, as the account's other devices
// would see it (matrix-org/matrix-spec client-server: room_send.yaml,
// sync.yaml). The time from the send to the sync that shows the event is
// the round trip. The event is redacted afterwards.

// The kinds of Matrix delivery probe.
const (
	KindMatrixDeliver     Kind = "matrix+deliver"      // https
	KindMatrixDeliverHTTP Kind = "matrix+deliver+http" // plain HTTP, for tests
)

var matrixDeliverSpec = deliverSpec{
	Keys: []string{"access_token", "user", "password", "room", "within"},
	Check: func(l *loader, ep *Endpoint, o *deliverOptions, at *yaml.Node) {
		if at == nil {
			at = &yaml.Node{Line: ep.Pos.Line, Column: ep.Pos.Column}
		}
		hasPassword := o.keys["password"] != nil
		hasUser := o.keys["user"] != nil
		hasToken := o.keys["access_token"] != nil
		switch {
		case o.keys["room"] == nil:
			l.errorf(at, `add room: "!ROOMID:server" (or "#alias:server"), a room the account has joined`, "deliver has no room")
		case o.Room != "" && o.Room[0] != '!' && o.Room[0] != '#':
			l.errorf(o.keys["room"], `a room id starts with "!", an alias with "#"`, "deliver.room %q is not a room id or alias", o.Room)
		}
		switch {
		case hasToken && (hasPassword || hasUser):
			l.errorf(at, "give an access_token, or a user and password, not both", "deliver has both an access_token and a user/password login")
		case !hasToken && !(hasPassword && hasUser):
			l.errorf(at, `add access_token: "${MATRIX_TOKEN}", or user: "@probe:server" and password: "${MATRIX_PASSWORD}"`,
				"deliver has no Matrix credentials")
		}
	},
}

var matrixDeliverProtocol = Protocol{
	Kind:    KindMatrixDeliver,
	Proves:  "a message sent to a Matrix room came back in /sync",
	Blocks:  []string{"deliver", "tls"},
	TLS:     true,
	Target:  matrixTarget("443"),
	Finish:  finishDeliver(matrixDeliverSpec),
	Phases:  []Phase{PhaseDNS, PhaseConnect, PhaseTLS, PhaseLogin, PhaseSend, PhaseDeliver},
	Classes: deliverClasses,
	Prober:  newMatrixProber,
	Probe: func(ctx context.Context, ep *Endpoint, opt *Options) Attempt {
		return newMatrixProber(ep)(ctx, ep, opt)
	},
	Notes:   deliverNotes,
	Once:    true,
	Account: deliverAccount,
}

var matrixDeliverHTTPProtocol = Protocol{
	Kind:    KindMatrixDeliverHTTP,
	Proves:  "a message sent to a Matrix room came back in /sync (plain HTTP)",
	Blocks:  []string{"deliver"},
	Target:  matrixTarget("80"),
	Finish:  finishDeliver(matrixDeliverSpec),
	Hints:   map[string]string{"tls": "use a matrix+deliver:// target"},
	Phases:  []Phase{PhaseDNS, PhaseConnect, PhaseLogin, PhaseSend, PhaseDeliver},
	Classes: deliverClasses,
	Prober:  newMatrixProber,
	Probe: func(ctx context.Context, ep *Endpoint, opt *Options) Attempt {
		return newMatrixProber(ep)(ctx, ep, opt)
	},
	Notes:   deliverNotes,
	Once:    true,
	Account: deliverAccount,
}

// matrixTarget takes the homeserver's client API as HOST[:PORT][/PREFIX]:
// no credentials in the URL (they go in the deliver block, from the
// environment), no query.
func matrixTarget(defaultPort string) func(l *loader, n *yaml.Node, u *url.URL, ep *Endpoint) bool {
	return func(l *loader, n *yaml.Node, u *url.URL, ep *Endpoint) bool {
		if u.User != nil {
			l.errorf(n, `put the account in deliver: {user: ..., password: "${MATRIX_PASSWORD}"}`, "%s:// target must not carry a user name or password", ep.Kind)
			return false
		}
		if u.RawQuery != "" || u.Fragment != "" {
			l.errorf(n, "", "%s:// target must not have a query or fragment", ep.Kind)
			return false
		}
		return urlTarget(defaultPort)(l, n, u, ep)
	}
}

// matrixSession is what the run's one login gave.
type matrixSession struct {
	token    secret
	userID   string
	roomID   string // the room's id, the alias resolved
	password bool   // logged in with a password: log out after the last attempt
}

// matrixProber makes the attempts of one run at one endpoint: it logs in
// once, on the first attempt, and every later attempt of the run reuses
// the session, or the login's refusal. Attempts at one endpoint run one
// after another, so it needs no lock.
type matrixProber struct {
	o        *deliverOptions
	session  *matrixSession
	refused  *Failure // the login was refused: never asked again this run
	attempts int
}

func newMatrixProber(ep *Endpoint) ProbeFunc {
	p := &matrixProber{o: deliverOf(ep)}
	return p.probe
}

// The escaping of a path segment: room ids hold "!" and ":", aliases "#".
func seg(s string) string { return url.PathEscape(s) }

func (p *matrixProber) probe(ctx context.Context, ep *Endpoint, opt *Options) (a Attempt) {
	a.Start = opt.now()
	start := time.Now()
	p.attempts++
	last := p.attempts >= max(ep.Samples, 1)
	secrets := p.o.secrets()
	if p.session != nil {
		secrets = append(secrets, p.session.token.value())
	}
	c := newAPIClient(ctx, ep, opt, &a, ep.Kind == KindMatrixDeliver, secrets)
	defer func() {
		c.close()
		a.Timings.Total = time.Since(start)
		if p.session != nil {
			secrets = append(secrets, p.session.token.value())
		}
		a.Failure = scrub(a.Failure, secrets)
		scrubDetails(&a, secrets)
	}()

	if p.refused != nil {
		a.Failure = p.refused
		a.SetDetail("login", "refused earlier in this run; not asked again")
		return a
	}
	if p.session == nil {
		t := time.Now()
		s, f := p.login(ctx, c)
		a.Timings.AddStep(PhaseLogin, time.Since(t))
		if f != nil {
			if f.Class == ClassAuthFailed {
				p.refused = f
			}
			a.Failure = f
			return a
		}
		p.session = s
		c.secrets = append(c.secrets, s.token.value())
	}
	s := p.session
	if last && s.password {
		defer p.logout(ctx, c)
	}
	a.SetDetail("user", s.userID)
	auth := http.Header{"Authorization": {"Bearer " + s.token.value()}}
	filter := matrixFilter(s.roomID)

	// Where the account's sync stands before the message, so that the
	// wait reads only what comes after it.
	t := time.Now()
	ans, f := matrixCall(ctx, c, PhaseSend, "GET", "/_matrix/client/v3/sync?timeout=0&filter="+url.QueryEscape(filter), auth, nil, maxMatrixSync, "reading the room's position")
	if f != nil {
		a.Failure = f
		return a
	}
	since, _, err := parseMatrixSync(ans.Body, s.roomID, "")
	if err != nil {
		a.Failure = &Failure{Class: ClassProtocol, Phase: PhaseSend, Err: err}
		return a
	}

	text, id := probeMessage(opt.now())
	sentAt := opt.now()
	sendStart := time.Now()
	deadline := sendStart.Add(p.o.Within)
	body := map[string]string{"msgtype": "m.notice", "body": text}
	ans, f = matrixCall(ctx, c, PhaseSend, "PUT", "/_matrix/client/v3/rooms/"+seg(s.roomID)+"/send/m.room.message/"+seg("msgprobe-"+id), auth, body, maxMatrixAnswer, "")
	a.Timings.AddStep(PhaseSend, time.Since(t))
	if f != nil {
		a.Failure = f
		return a
	}
	event, err := parseMatrixField(ans.Body, "event_id")
	if err != nil {
		a.Failure = &Failure{Class: ClassProtocol, Phase: PhaseSend, Err: err}
		return a
	}
	a.SetDetail("sent_at", sentAt.UTC().Format(time.RFC3339))

	t = time.Now()
	seen, f := p.wait(ctx, c, auth, filter, since, event, deadline)
	a.Timings.AddStep(PhaseDeliver, time.Since(t))
	if f != nil {
		if f.Class == ClassNotDelivered {
			f = notDelivered(sentAt, p.o.Within)
		}
		a.Failure = f
		// Still take the message back, briefly: the server that did not
		// deliver it may not answer this either.
		p.redact(ctx, c, &a, auth, event, id, 500*time.Millisecond)
		return a
	}
	rtt := seen.Sub(sendStart)
	a.SetDetail("roundtrip_ms", float64(rtt.Microseconds())/1000)
	p.redact(ctx, c, &a, auth, event, id, 2*time.Second)
	return a
}

// login proves the credentials: a password login (with a fixed device id,
// so that runs do not pile up devices on the account) or a whoami with the
// access token; then the room alias, if one was given, is resolved.
func (p *matrixProber) login(ctx context.Context, c *apiClient) (*matrixSession, *Failure) {
	s := &matrixSession{}
	if p.o.AccessToken.set() {
		s.token = p.o.AccessToken
		ans, f := matrixCall(ctx, c, PhaseLogin, "GET", "/_matrix/client/v3/account/whoami", bearer(s.token), nil, maxMatrixAnswer, "")
		if f != nil {
			return nil, f
		}
		user, err := parseMatrixField(ans.Body, "user_id")
		if err != nil {
			return nil, &Failure{Class: ClassProtocol, Phase: PhaseLogin, Err: err}
		}
		s.userID = user
	} else {
		body := map[string]any{
			"type":                        "m.login.password",
			"identifier":                  map[string]string{"type": "m.id.user", "user": p.o.User},
			"password":                    p.o.Password.value(),
			"device_id":                   "MSGPROBE",
			"initial_device_display_name": "msgprobe delivery probe",
		}
		ans, f := matrixCall(ctx, c, PhaseLogin, "POST", "/_matrix/client/v3/login", nil, body, maxMatrixAnswer, "")
		if f != nil {
			return nil, f
		}
		l, err := parseMatrixLogin(ans.Body)
		if err != nil {
			return nil, &Failure{Class: ClassProtocol, Phase: PhaseLogin, Err: err}
		}
		s.token, s.userID, s.password = secret{l.AccessToken}, l.UserID, true
		c.secrets = append(c.secrets, l.AccessToken)
	}
	s.roomID = p.o.Room
	if strings.HasPrefix(p.o.Room, "#") {
		ans, f := matrixCall(ctx, c, PhaseLogin, "GET", "/_matrix/client/v3/directory/room/"+seg(p.o.Room), bearer(s.token), nil, maxMatrixAnswer, "looking up the room alias")
		if f != nil {
			return nil, f
		}
		id, err := parseMatrixField(ans.Body, "room_id")
		if err != nil {
			return nil, &Failure{Class: ClassProtocol, Phase: PhaseLogin, Err: err}
		}
		s.roomID = id
	}
	return s, nil
}

func bearer(s secret) http.Header { return http.Header{"Authorization": {"Bearer " + s.value()}} }

// wait reads /sync from since until event shows in the room's timeline,
// and returns when it was seen. Each sync long-polls for what is left of
// the bound; the bound cuts the last one short. A failure is
// not_delivered when the bound passed, what the connection met otherwise.
func (p *matrixProber) wait(ctx context.Context, c *apiClient, auth http.Header, filter, since, event string, deadline time.Time) (time.Time, *Failure) {
	dctx, cancel := context.WithDeadline(ctx, deadline)
	defer cancel()
	for {
		left := time.Until(deadline)
		if left <= 0 {
			return time.Time{}, &Failure{Class: ClassNotDelivered, Phase: PhaseDeliver}
		}
		// The server answers a little before the bound, so that an empty
		// answer is read rather than cut.
		poll := min(left-left/10, 30*time.Second)
		q := "since=" + url.QueryEscape(since) + "&timeout=" + strconv.FormatInt(poll.Milliseconds(), 10) +
			"&filter=" + url.QueryEscape(filter)
		ans, f := c.do(dctx, PhaseDeliver, "GET", "/_matrix/client/v3/sync?"+q, auth, nil, maxMatrixSync)
		if f != nil {
			if dctx.Err() != nil && ctx.Err() == nil || !time.Now().Before(deadline) {
				return time.Time{}, &Failure{Class: ClassNotDelivered, Phase: PhaseDeliver}
			}
			return time.Time{}, f
		}
		if f := matrixStatus(ans, PhaseDeliver, "waiting for the message", c.secrets); f != nil {
			return time.Time{}, f
		}
		next, seen, err := parseMatrixSync(ans.Body, p.sessionRoom(), event)
		if err != nil {
			return time.Time{}, &Failure{Class: ClassProtocol, Phase: PhaseDeliver, Err: err}
		}
		if seen {
			return time.Now(), nil
		}
		since = next
	}
}

func (p *matrixProber) sessionRoom() string {
	if p.session == nil {
		return p.o.Room
	}
	return p.session.roomID
}

// redact takes the probe message back, within at most bound. A failure
// is noted in the details, not judged: the message was delivered.
func (p *matrixProber) redact(ctx context.Context, c *apiClient, a *Attempt, auth http.Header, event, id string, bound time.Duration) {
	rctx, cancel := context.WithTimeout(ctx, bound)
	defer cancel()
	ans, f := c.do(rctx, PhaseDeliver, "PUT", "/_matrix/client/v3/rooms/"+seg(p.sessionRoom())+"/redact/"+seg(event)+"/"+seg("msgprobe-redact-"+id),
		auth, map[string]string{"reason": "msgprobe probe message"}, maxMatrixAnswer)
	a.SetDetail("redacted", f == nil && ans.Status == http.StatusOK)
}

// logout ends a password login's session after the run's last attempt,
// so that no valid token of msgprobe's stays on the server.
func (p *matrixProber) logout(ctx context.Context, c *apiClient) {
	if p.session == nil || !p.session.password {
		return
	}
	lctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	_, _ = c.do(lctx, PhaseDeliver, "POST", "/_matrix/client/v3/logout", bearer(p.session.token), map[string]string{}, maxMatrixAnswer)
	p.session = nil
}

// matrixFilter keeps a sync to the new messages of one room: no presence,
// no account data, no state, a short timeline (sync.yaml accepts the
// filter inline as JSON).
func matrixFilter(room string) string {
	none := map[string]any{"types": []string{}}
	f := map[string]any{
		"presence":     none,
		"account_data": none,
		"room": map[string]any{
			"rooms":        []string{room},
			"timeline":     map[string]any{"limit": 50, "types": []string{"m.room.message"}},
			"state":        map[string]any{"types": []string{}, "lazy_load_members": true},
			"ephemeral":    none,
			"account_data": none,
		},
	}
	b, _ := json.Marshal(f)
	return string(b)
}

// matrixStatus judges an answer's status; nil for 200. what names the
// step in the message when it is not the phase's own.
// matrixCall is c.do for the Matrix client API: an answer other than 200
// is a failure classed by matrixStatus, what naming the step.
func matrixCall(ctx context.Context, c *apiClient, phase Phase, method, path string, auth http.Header, body any, limit int64, what string) (apiAnswer, *Failure) {
	ans, f := c.do(ctx, phase, method, path, auth, body, limit)
	if f == nil {
		f = matrixStatus(ans, phase, what, c.secrets)
	}
	return ans, f
}

func matrixStatus(ans apiAnswer, phase Phase, what string, secrets []string) *Failure {
	if ans.Status == http.StatusOK {
		return nil
	}
	why := fmt.Sprintf("HTTP %d", ans.Status)
	if e, ok := parseMatrixError(ans.Body); ok {
		why = e.Errcode
		if e.Error != "" {
			why += ": " + serverWords(e.Error, secrets)
		}
		if e.RetryAfterMs > 0 {
			why += fmt.Sprintf(", retry after %s", FormatDuration(time.Duration(e.RetryAfterMs)*time.Millisecond))
		}
		if !strings.HasPrefix(why, "HTTP") {
			why = fmt.Sprintf("HTTP %d %s", ans.Status, why)
		}
	}
	if what != "" {
		why += " (" + what + ")"
	}
	switch {
	case ans.Status == http.StatusUnauthorized:
		return &Failure{Class: ClassAuthFailed, Phase: phase, Err: fmt.Errorf("Matrix refused the access token: %s", why)}
	case ans.Status == http.StatusForbidden && phase == PhaseLogin:
		return &Failure{Class: ClassAuthFailed, Phase: phase, Err: fmt.Errorf("Matrix refused the login: %s", why)}
	case phase == PhaseSend && ans.Status >= 400 && ans.Status < 500:
		return &Failure{Class: ClassSendRefused, Phase: phase, Err: fmt.Errorf("Matrix refused the message: %s", why)}
	}
	return &Failure{Class: ClassHTTPStatus, Phase: phase, Err: fmt.Errorf("status %s", strings.TrimPrefix(why, "HTTP "))}
}
