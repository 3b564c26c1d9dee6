package probe

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/xml"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/msgprobe/msgprobe/internal/proto/xmpp"
)

// xmpp+deliver://user@domain[:port]: an XMPP round trip with the user's own
// test account. The attempt negotiates as xmpp:// does, logs in (SCRAM, or
// PLAIN inside TLS only), binds a resource, sends one <message> with a
// unique id to deliver.to (by default the account's own full JID, which
// RFC 6121 §8.5.3.1 says the server must deliver to that resource) and
// waits for it to come back. The time from send to arrival is the round
// trip; a message the server accepted and did not deliver within
// deliver.within is not_delivered.

// KindXMPPDeliver is the XMPP delivery probe.
const KindXMPPDeliver Kind = "xmpp+deliver"

// The limits of the wait for the message: a server that floods the
// stream with other stanzas is cut off rather than read forever.
const (
	xmppStanzaBudget = 64 << 10 // bytes granted for each stanza read
	xmppWaitBudget   = 1 << 20  // bytes in all while waiting
)

var xmppDeliverSpec = deliverSpec{
	Keys: []string{"password", "to", "within"},
	Check: func(l *loader, ep *Endpoint, o *deliverOptions, at *yaml.Node) {
		if at == nil {
			at = &yaml.Node{Line: ep.Pos.Line, Column: ep.Pos.Column}
		}
		if o.keys["password"] == nil {
			l.errorf(at, `add password: "${XMPP_PASSWORD}" and set XMPP_PASSWORD in msgprobe's environment`, "deliver has no password")
		}
		if o.To != "" && !validJID(o.To) {
			l.errorf(o.keys["to"], "write a JID: user@example.org, or user@example.org/resource", "deliver.to %q is not a JID", o.To)
		}
	},
}

var xmppDeliverProtocol = Protocol{
	Kind:    KindXMPPDeliver,
	Proves:  "an XMPP server took a login, accepted a message and delivered it back to the account within the bound",
	Blocks:  []string{"deliver", "xmpp", "tls"},
	TLS:     true,
	Target:  xmppDeliverTarget,
	Finish:  xmppDeliverFinish,
	Phases:  []Phase{PhaseDNS, PhaseConnect, PhaseStream, PhaseStartTLS, PhaseTLS, PhaseFeatures, PhaseLogin, PhaseSend, PhaseDeliver},
	Classes: append(slices.Clone(deliverClasses), xmppProtocol.Classes...),
	Prober:  newXMPPDeliverProber,
	Probe: func(ctx context.Context, ep *Endpoint, opt *Options) Attempt {
		return newXMPPDeliverProber(ep)(ctx, ep, opt)
	},
	Notes: func(ep *Endpoint) []string {
		return append(xmppNotes(ep), deliverNotes(ep)...)
	},
	Once: true,
	Account: func(ep *Endpoint) string {
		// Local parts compare without case (RFC 7622 §3.3.1).
		return "xmpp|" + strings.ToLower(xmppJIDOf(ep))
	},
}

// xmppDeliverTarget reads xmpp+deliver://user@domain[:port]: the account
// is the target's user; the password never is.
func xmppDeliverTarget(l *loader, n *yaml.Node, u *url.URL, ep *Endpoint) bool {
	if u.User == nil || u.User.Username() == "" {
		l.errorf(n, fmt.Sprintf("name the account: %s://probe@%s", ep.Kind, u.Host), "%s:// target has no account", ep.Kind)
		return false
	}
	if _, has := u.User.Password(); has {
		l.errorf(n, `put the password in deliver: {password: "${XMPP_PASSWORD}"}`, "%s:// target carries a password: a credential must come from the environment", ep.Kind)
		return false
	}
	user := u.User.Username()
	if !validLocalpart(user) {
		l.errorf(n, "", "%s:// account %q is not a JID's local part", ep.Kind, user)
		return false
	}
	bare := *u
	bare.User = nil
	if !xmppTarget(l, n, &bare, ep) {
		return false
	}
	o := optionsOf[XMPPOptions](ep, "xmpp")
	o.user = user
	return true
}

func xmppDeliverFinish(l *loader, ep *Endpoint) {
	xmppFinish(l, ep)
	finishDeliver(xmppDeliverSpec)(l, ep)
}

// xmppJIDOf is the bare JID of the endpoint's account.
func xmppJIDOf(ep *Endpoint) string {
	o := optionsOf[XMPPOptions](ep, "xmpp")
	return o.user + "@" + o.Domain
}

// validLocalpart accepts a JID's local part (RFC 7622 §3.3) without the
// characters it forbids.
func validLocalpart(s string) bool {
	return s != "" && len(s) <= 1023 && !strings.ContainsAny(s, "\"&'/:<>@ \t\r\n\x00")
}

// validJID accepts [local@]domain[/resource].
func validJID(s string) bool {
	bare, resource, hasRes := strings.Cut(s, "/")
	if hasRes && (resource == "" || strings.ContainsAny(resource, "\r\n\x00")) {
		return false
	}
	local, domain, hasLocal := strings.Cut(bare, "@")
	if !hasLocal {
		domain, local = local, ""
	} else if !validLocalpart(local) {
		return false
	}
	return validXMPPDomain(domain)
}

// bareJID is a JID without its resource, in lower case for comparison.
func bareJID(jid string) string {
	bare, _, _ := strings.Cut(jid, "/")
	return strings.ToLower(bare)
}

// xmppDeliverProber makes the attempts of one run at one endpoint. It
// remembers a refused login, so that the run never asks the server again:
// one refused login per run and endpoint, never a retry storm. Attempts at
// one endpoint run one after another, so it needs no lock.
type xmppDeliverProber struct {
	ep      *Endpoint
	o       *deliverOptions
	x       *XMPPOptions
	refused *Failure
}

func newXMPPDeliverProber(ep *Endpoint) ProbeFunc {
	p := &xmppDeliverProber{ep: ep, o: deliverOf(ep), x: optionsOf[XMPPOptions](ep, "xmpp")}
	return p.probe
}

func (p *xmppDeliverProber) probe(ctx context.Context, ep *Endpoint, opt *Options) (a Attempt) {
	a.Start = opt.now()
	start := time.Now()
	secrets := p.o.secrets()
	defer func() {
		a.Timings.Total = time.Since(start)
		a.Failure = scrub(a.Failure, secrets)
		scrubDetails(&a, secrets)
	}()
	if p.refused != nil {
		a.Failure = p.refused
		a.SetDetail("login", "refused earlier in this run; not asked again")
		return a
	}

	conn, f := xmppDial(ctx, ep, p.x, false, opt, &a.Timings)
	if f != nil {
		a.Failure = f
		return a
	}
	defer conn.Close()
	a.RemoteAddr = conn.RemoteAddr().String()
	s := &xmppSession{ctx: ctx, ep: ep, domain: p.x.Domain, conn: conn, timeout: ep.Timeout}
	info := XMPPInfo{Domain: p.x.Domain}
	feats, f := s.negotiate(&a, p.x, false, &info)
	if f != nil {
		a.Failure = f
		return a
	}

	t := time.Now()
	jid, f := s.login(feats, p.x.user, p.o.Password.value(), a.TLS != nil, &a)
	a.Timings.AddStep(PhaseLogin, time.Since(t))
	if f != nil {
		if f.Class == ClassAuthFailed {
			p.refused = scrub(f, secrets)
		}
		a.Failure = f
		return a
	}
	a.SetDetail("jid", jid)

	to := p.o.To
	if to == "" {
		to = jid
	}
	text, id := probeMessage(opt.now())
	sentAt := opt.now()
	t = time.Now()
	deadline := t.Add(p.o.Within)
	if _, err := s.conn.Write(xmppMessage(to, id, text)); err != nil {
		a.Timings.AddStep(PhaseSend, time.Since(t))
		a.Failure = classify(ctx, err, PhaseSend)
		return a
	}
	a.Timings.AddStep(PhaseSend, time.Since(t))
	a.SetDetail("to", to)
	a.SetDetail("sent_at", sentAt.UTC().Format(time.RFC3339))

	w := time.Now()
	f = s.waitFor(id, to, deadline)
	a.Timings.AddStep(PhaseDeliver, time.Since(w))
	if f != nil {
		if f.Class == ClassNotDelivered {
			f = notDelivered(sentAt, p.o.Within)
		}
		a.Failure = f
		return a
	}
	a.SetDetail("roundtrip_ms", float64(time.Since(t).Microseconds())/1000)
	if info.StartTLS != "" {
		a.SetDetail("starttls", info.StartTLS)
	}
	s.close()
	return a
}

// saslChoice picks the mechanism to log in with: SCRAM, strongest first,
// or PLAIN inside TLS only; never a -PLUS variant (msgprobe does no
// channel binding) and never PLAIN on a plain stream, where it would send
// the password in the clear.
func saslChoice(offered []string, tls bool) (string, bool) {
	for _, m := range xmpp.SCRAMMechanisms {
		if slices.Contains(offered, m) {
			return m, true
		}
	}
	if tls && slices.Contains(offered, "PLAIN") {
		return "PLAIN", true
	}
	return "", false
}

// login authenticates on the stream whose features are feats, restarts the
// stream and binds a resource; it returns the full JID the server bound.
func (s *xmppSession) login(feats xmpp.Features, user, password string, tls bool, a *Attempt) (string, *Failure) {
	mech, ok := saslChoice(feats.Mechanisms, tls)
	if !ok {
		why := "XMPP server offers no SASL mechanism msgprobe may use"
		if !tls {
			why += " on a stream without TLS"
		}
		return "", &Failure{Class: ClassProtocol, Phase: PhaseLogin,
			Err: fmt.Errorf("%s (offered: %s)", why, strings.Join(feats.Mechanisms, ", "))}
	}
	a.SetDetail("sasl_mechanism", mech)
	if f := s.authenticate(mech, user, password); f != nil {
		return "", f
	}
	// RFC 6120 §6.4.6: after success, a new stream on the same connection.
	feats, f := s.open(PhaseLogin, &Timings{})
	if f != nil {
		return "", f
	}
	if !feats.Bind {
		return "", &Failure{Class: ClassProtocol, Phase: PhaseLogin,
			Err: errors.New("XMPP server offers no resource binding after the login")}
	}
	return s.bind()
}

// authenticate runs one SASL exchange: exactly one <auth/>, whatever the
// server answers.
func (s *xmppSession) authenticate(mech, user, password string) *Failure {
	var scram *xmpp.SCRAM
	var initial []byte
	if mech == "PLAIN" {
		initial = xmpp.PlainResponse(user, password)
	} else {
		var err error
		if scram, err = xmpp.NewSCRAM(mech, user, password, nonce()); err != nil {
			return &Failure{Class: ClassProtocol, Phase: PhaseLogin, Err: err}
		}
		initial = scram.ClientFirst()
	}
	auth := "<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='" + mech + "'>" +
		base64.StdEncoding.EncodeToString(initial) + "</auth>"
	if _, err := s.conn.Write([]byte(auth)); err != nil {
		return s.fail(err, PhaseLogin, "answer to the login")
	}
	verified := scram == nil
	for step := 0; ; step++ {
		if step == 4 {
			return &Failure{Class: ClassProtocol, Phase: PhaseLogin, Err: errors.New("XMPP server's SASL exchange does not end")}
		}
		ans, f := s.saslAnswer()
		if f != nil {
			return f
		}
		switch ans.Kind {
		case "failure":
			msg := "XMPP server refused the login: " + ans.Condition
			if ans.Text != "" {
				msg += " (" + ans.Text + ")"
			}
			return &Failure{Class: ClassAuthFailed, Phase: PhaseLogin, Err: errors.New(msg)}
		case "success":
			if !verified {
				if err := scram.Verify(ans.Data); err != nil {
					return &Failure{Class: ClassProtocol, Phase: PhaseLogin, Err: err}
				}
			}
			return nil
		case "challenge":
			var resp []byte
			switch {
			case scram == nil:
				return &Failure{Class: ClassProtocol, Phase: PhaseLogin, Err: errors.New("XMPP server sent a SASL challenge to PLAIN")}
			case step == 0:
				final, err := scram.ClientFinal(ans.Data)
				if err != nil {
					return &Failure{Class: ClassProtocol, Phase: PhaseLogin, Err: err}
				}
				resp = final
			default:
				// The server's signature in a challenge rather than in
				// <success/> (RFC 6120 §6.3.10 allows both).
				if err := scram.Verify(ans.Data); err != nil {
					return &Failure{Class: ClassProtocol, Phase: PhaseLogin, Err: err}
				}
				verified = true
			}
			r := "<response xmlns='urn:ietf:params:xml:ns:xmpp-sasl'>" + base64.StdEncoding.EncodeToString(resp) + "</response>"
			if len(resp) == 0 {
				r = "<response xmlns='urn:ietf:params:xml:ns:xmpp-sasl'/>"
			}
			if _, err := s.conn.Write([]byte(r)); err != nil {
				return s.fail(err, PhaseLogin, "answer to the login")
			}
		}
	}
}

func (s *xmppSession) saslAnswer() (xmpp.SASLAnswer, *Failure) {
	e, err := s.r.Next()
	if err != nil {
		return xmpp.SASLAnswer{}, s.fail(err, PhaseLogin, "answer to the login")
	}
	ans, err := xmpp.ParseSASL(e)
	if err != nil {
		return xmpp.SASLAnswer{}, &Failure{Class: ClassProtocol, Phase: PhaseLogin, Err: err}
	}
	return ans, nil
}

// bind asks for a resource of msgprobe's own and returns the full JID.
func (s *xmppSession) bind() (string, *Failure) {
	resource := s.bindResource
	if resource == "" {
		resource = "msgprobe-" + nonce()[:8]
	}
	req := "<iq type='set' id='bind-1'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'><resource>" +
		resource + "</resource></bind></iq>"
	if _, err := s.conn.Write([]byte(req)); err != nil {
		return "", s.fail(err, PhaseLogin, "answer to resource binding")
	}
	for range 16 {
		e, err := s.r.Next()
		if err != nil {
			return "", s.fail(err, PhaseLogin, "answer to resource binding")
		}
		if !e.Is(xmpp.NSClient, "iq") || e.AttrValue("id") != "bind-1" {
			continue // a stanza the server sends on its own
		}
		if e.AttrValue("type") == "error" {
			return "", &Failure{Class: ClassProtocol, Phase: PhaseLogin,
				Err: fmt.Errorf("XMPP server refused to bind a resource: %s", stanzaError(e))}
		}
		jid := strings.TrimSpace(e.Child(xmpp.NSBind, "bind").ChildText(xmpp.NSBind, "jid"))
		if !validJID(jid) || !strings.Contains(jid, "/") {
			return "", &Failure{Class: ClassProtocol, Phase: PhaseLogin,
				Err: errors.New("XMPP server bound a resource without a full JID")}
		}
		return jid, nil
	}
	return "", &Failure{Class: ClassProtocol, Phase: PhaseLogin, Err: errors.New("XMPP server never answered resource binding")}
}

// xmppMessage is the probe message: marked as a probe, with hints
// (XEP-0334) that servers keep it out of archives and offline storage, so
// that it leaves nothing behind, and marked private (XEP-0280) so that no
// carbon copy goes to the account's other clients: only `to` receives it.
func xmppMessage(to, id, text string) []byte {
	var b strings.Builder
	b.WriteString("<message type='chat' to='")
	_ = xml.EscapeText(&b, []byte(to))
	b.WriteString("' id='" + id + "'><body>")
	_ = xml.EscapeText(&b, []byte(text))
	b.WriteString("</body><no-store xmlns='urn:xmpp:hints'/><no-permanent-store xmlns='urn:xmpp:hints'/>" +
		"<private xmlns='urn:xmpp:carbons:2'/></message>")
	return []byte(b.String())
}

// waitFor reads stanzas until the message with id comes back, or an error
// for it, until deadline. An echo service may answer with an id of its own:
// a message from `to` whose body carries the probe's id counts too.
func (s *xmppSession) waitFor(id, to string, deadline time.Time) *Failure {
	if ctxDeadline, ok := s.ctx.Deadline(); !ok || deadline.Before(ctxDeadline) {
		_ = s.conn.SetReadDeadline(deadline)
		if s.ctx.Err() != nil {
			_ = s.conn.SetReadDeadline(time.Unix(1, 0))
		}
	}
	base := s.r.Read()
	for {
		if s.r.Read()-base > xmppWaitBudget {
			return &Failure{Class: ClassProtocol, Phase: PhaseDeliver,
				Err: fmt.Errorf("XMPP server sent more than %s of other stanzas while msgprobe waited for its message", "1 MiB")}
		}
		s.r.Grant(xmppStanzaBudget)
		e, err := s.r.Next()
		if err != nil {
			if !time.Now().Before(deadline) && s.ctx.Err() == nil {
				return &Failure{Class: ClassNotDelivered, Phase: PhaseDeliver}
			}
			return s.fail(err, PhaseDeliver, "probe message back")
		}
		switch {
		case e.Is(xmpp.NSClient, "message"):
			if e.AttrValue("id") != id && !(bareJID(e.AttrValue("from")) == bareJID(to) && strings.Contains(e.ChildText(xmpp.NSClient, "body"), id)) {
				continue
			}
			if e.AttrValue("type") == "error" {
				return &Failure{Class: ClassSendRefused, Phase: PhaseSend,
					Err: fmt.Errorf("XMPP server bounced the message: %s", stanzaError(e))}
			}
			return nil
		case e.Is(xmpp.NSClient, "iq"):
			s.answerIQ(e)
		}
	}
}

// answerIQ answers a request the server sends while msgprobe waits: a
// ping (XEP-0199) with a result, anything else with
// service-unavailable, as RFC 6120 §8.2.3 asks of every entity.
func (s *xmppSession) answerIQ(e *xmpp.Element) {
	typ := e.AttrValue("type")
	if typ != "get" && typ != "set" {
		return
	}
	var b strings.Builder
	b.WriteString("<iq id='")
	_ = xml.EscapeText(&b, []byte(e.AttrValue("id")))
	if from := e.AttrValue("from"); from != "" {
		b.WriteString("' to='")
		_ = xml.EscapeText(&b, []byte(from))
	}
	if len(e.Children) == 1 && e.Children[0].Is("urn:xmpp:ping", "ping") {
		b.WriteString("' type='result'/>")
	} else {
		b.WriteString("' type='error'><error type='cancel'><service-unavailable xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></iq>")
	}
	_, _ = s.conn.Write([]byte(b.String()))
}

// stanzaError is the condition of a stanza's <error/> (RFC 6120 §8.3),
// "undefined-condition" when it names none.
func stanzaError(e *xmpp.Element) string {
	for _, c := range e.ChildElements(xmpp.NSClient, "error") {
		if c.Name.Space == xmpp.NSStanzaErrors && c.Name.Local != "text" {
			return cleanText(c.Name.Local)
		}
	}
	return "undefined-condition"
}

// nonce is a fresh random string for SCRAM and resource names.
func nonce() string {
	var b [18]byte
	_, _ = rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}
